/**
 * The Runtime class: what lib/index.ts publishes, and what the CLI imports
 * directly, so that a command loads only what it runs (lib/index.ts also
 * re-exports Images, whose tar and zlib cost every command ~5 ms to load;
 * the Runtime loads lib/image/ when a clean container first asks for it).
 */
import * as fs from 'node:fs';
import type { Readable, Writable } from 'node:stream';

import { builtin } from './builtin.js';
import type { LinuxResources } from './cgroups/resources.js';
import type { CgroupStats } from './cgroups/stats.js';
import { loadBundle } from './config/load.js';
import type { Process } from './config/types.js';
import { resolveExecProcess, type ExecOverrides } from './container/exec.js';
import type { ExecCacheKey } from './container/exec-cache.js';
import { forwardSignals, ownStdio, relayPipes, superviseForeground, type StdioPipes } from './container/foreground.js';
import { realLifecycleHost, type LifecycleHost } from './container/host.js';
import { Lifecycle, type CreateOptions, type RdtUpdate } from './container/lifecycle.js';
import type { Image, Images, ImagesOptions, SpecOverrides } from './image/index.js';
import type { Scratch } from './image/scratch.js';
import type { CheckpointOptions } from './checkpoint/checkpoint.js';
import type { RestoreOptions } from './checkpoint/restore.js';
import { ContainerHandle, heldWhileAwaited, type ContainerOptions } from './handle.js';
import { hostCall } from './native/host.js';
import type { StateJson } from './container/state.js';
import { TsrunError } from './errors.js';
import { loadBinding, type NativeBinding } from './native/binding.js';
import { Timeline } from './timeline.js';

export interface RuntimeOptions {
  /** State directory (runc's --root). Default /run/tsrun, or $XDG_RUNTIME_DIR/tsrun when not the real root (runc's rule). */
  root?: string;
  /**
   * runc's --rootless: ignore cgroup permission errors (where runc does).
   * Default 'auto': when euid != 0 or in a user namespace that is not the initial one.
   */
  rootless?: boolean | 'auto';
  /** `root` is the $XDG_RUNTIME_DIR default: made 0700 with the sticky bit (kept by the XDG cleaner), as runc does. */
  xdgRoot?: boolean;
  /**
   * runc's --systemd-cgroup: a new container's cgroup is a systemd unit's
   * (cgroup v2, systemd as PID 1), linux.cgroupsPath `slice:prefix:name`
   * (default `:tsrun:<id>`); rootless, the user's manager's.
   */
  systemdCgroup?: boolean;
  /** The native addon; tests may inject their own. */
  native?: NativeBinding;
  /** The host the lifecycle reads and acts on (lib/container/host.ts); tests may inject their own. */
  host?: LifecycleHost;
  /**
   * The processes this Runtime starts are its children: it waits for them
   * and reaps them (default true). The CLI says false: it exits right
   * away, and its caller (an engine, a subreaper) must collect their exit
   * statuses.
   */
  reapChildren?: boolean;
  /** Called with what is ignored rather than refused (unknown capabilities…). */
  onWarning?: (message: string) => void;
  /** Called with debug detail (e.g. seccomp syscall names that were skipped). */
  onDebug?: (message: string) => void;
  /** Every step of every call goes here (the CLI's, from its process's start); default: one of the Runtime's own that each create restarts. */
  timeline?: Timeline;
  /**
   * Where images and clean containers' writable layers live (lib/image/):
   * an Images, or the options of one made when first needed.
   */
  images?: Images | ImagesOptions;
  /**
   * When this process exits (normally, or by SIGINT, SIGTERM or SIGHUP
   * that nothing else handles), every container this Runtime created and
   * has not deleted is killed and deleted, with its writable layer. Off by
   * default: a created container is meant to outlive its creator (the CLI).
   */
  cleanupOnExit?: boolean;
  /** Whose words errors about options use: the API's (default) or the CLI's flags. */
  words?: 'cli' | 'api';
}

/**
 * Where a container's (or an exec'd process's) fd 0, 1 or 2 goes:
 * 'inherit' ours, 'ignore' /dev/null, 'pipe' a pipe to this process (a
 * stream on the Container), or an fd of ours. Left out, a foreground run or
 * exec gets pipes that this process relays to and from its own fds 0-2 (they
 * may be the user's terminal); create, a detached run and execDetached give
 * it ours.
 */
export type StdioOption = 'inherit' | 'ignore' | 'pipe' | number;
export type Stdio = StdioOption | readonly [StdioOption, StdioOption, StdioOption];

/**
 * What to create: a bundle directory (`bundle`), or a config object with an
 * image: `config` (a partial config.json merged over the default one and
 * the image's) and `image` (an Image, or a name Images.get understands).
 * With an image the container gets a writable layer of its own over the
 * image's layers (overlayfs), removed at delete; without a bundle tsrun
 * writes the bundle and removes it at delete.
 */
export type RuntimeCreateOptions = Omit<CreateOptions, 'detach' | 'stdio' | 'bundle' | 'rootfsOverlay' | 'words'> & {
  stdio?: Stdio;
  bundle?: string;
  image?: Image | string;
  config?: SpecOverrides;
};

export interface RuntimeRunOptions extends RuntimeCreateOptions {
  /** Return once the program runs (runc's --detach): the exit status is then 0. */
  detach?: boolean;
  /** Keep the container after it exits (default: deleted). */
  keep?: boolean;
  /** Adopt the container's orphans while it runs in the foreground (PR_SET_CHILD_SUBREAPER, what runc does): off for the API. */
  adoptOrphans?: boolean;
}

/** A created container, as create() returns it. */
export interface Container {
  readonly id: string;
  /** The init's host pid. */
  readonly pid: number;
  readonly state: StateJson;
  /** Streams for the fds asked for as 'pipe' (else null). */
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
}

/** What a run or exec with captured output resolves to. */
export interface Output {
  /** The exit status: the code, or 128+N when killed by signal N. */
  status: number;
  stdout: Buffer;
  stderr: Buffer;
}

/** What to exec: a whole process, or runc's exec flags applied to the container's config.json process. */
export type ExecWhat = { process: Process } | ExecOverrides;

export interface RuntimeExecOptions {
  /** AF_UNIX socket to send the pty master to (process.terminal). */
  consoleSocket?: string;
  /** AF_UNIX socket that receives a pidfd of the process (runc's --pidfd-socket; message "setns"). */
  pidfdSocket?: string;
  /** Written with the process's host pid once it runs (atomic, no newline). */
  pidFile?: string;
  /** fds 3 .. 3+n-1 of this process pass to it. */
  preserveFds?: number;
  /** Exec into a paused container too (the process stays frozen until resume). */
  ignorePaused?: boolean;
  /** Existing sub-cgroups of the container's to run in: `[controller[,controller]:]path`. */
  subCgroups?: string[];
  /** Appended to the process environment (socket activation's LISTEN_FDS). */
  extraEnv?: string[];
  stdio?: Stdio;
  /** @internal The front's key for this exec (lib/container/exec-cache.ts): the plan is stored under it once it runs. */
  cacheKey?: ExecCacheKey | null;
}

/**
 * The in-process runtime. Everything that waits (an init setting itself
 * up, start's fifo, delete's kill, a process's exit) waits off the event
 * loop, on the addon's threads: many containers can be driven at once.
 */
export class Runtime {
  private readonly lifecycle: Lifecycle;
  /** Where the last create spent its time, step by step (and what followed it), unless a timeline was given. */
  readonly timeline: Timeline;
  private readonly ownTimeline: boolean;
  private readonly reapChildren: boolean;
  /** The exits of the inits this Runtime created (they are our children). */
  private readonly exits = new Map<string, { pid: number; exit: Promise<number> }>();
  /** Containers created here and not deleted yet (what cleanupOnExit deletes). */
  private readonly made = new Set<string>();
  /** The bundles (and writable layers) tsrun wrote, by container. */
  private readonly scratch = new Map<string, Scratch>();
  private imagesOpt: Images | ImagesOptions | undefined;
  private imagesMade: Promise<Images> | null = null;
  /** lib/image/scratch.js, once images() has loaded it (every scratch dir is made after). */
  private scratchOps: typeof import('./image/scratch.js') | null = null;
  private readonly words: 'cli' | 'api';
  private readonly rootless: boolean;

  constructor(opts: RuntimeOptions = {}) {
    this.ownTimeline = !opts.timeline;
    this.timeline = opts.timeline ?? new Timeline();
    this.reapChildren = opts.reapChildren ?? true;
    const native = opts.native ?? loadBinding();
    const defaults = opts.root === undefined || opts.rootless === undefined || opts.rootless === 'auto' ? native.rootless('auto') : null;
    this.words = opts.words ?? 'api';
    this.imagesOpt = opts.images;
    this.rootless = typeof opts.rootless === 'boolean' ? opts.rootless : defaults!.rootless!;
    if (opts.cleanupOnExit) cleanupAtExit(this);
    this.lifecycle = new Lifecycle(opts.root ?? defaults!.defaultRoot, native, opts.host ?? realLifecycleHost(native), {
      timeline: this.timeline,
      warn: opts.onWarning,
      debug: opts.onDebug,
      mode: {
        rootless: typeof opts.rootless === 'boolean' ? opts.rootless : defaults!.rootless!,
        xdgRoot: opts.xdgRoot ?? (opts.root === undefined && defaults!.xdg),
        systemdCgroup: opts.systemdCgroup ?? false,
      },
    });
  }

  private get native(): NativeBinding {
    return this.lifecycle.native;
  }

  /** The state directory (runc's --root). */
  get root(): string {
    return this.lifecycle.store.root;
  }

  /** The image cache this Runtime's clean containers come from (made on first use). */
  images(): Promise<Images> {
    this.imagesMade ??= (async () => {
      const { Images: ImagesClass } = await import('./image/index.js');
      const given = this.imagesOpt;
      const images =
        given instanceof ImagesClass
          ? given
          : new ImagesClass({ native: this.native, rootless: this.rootless, onWarning: this.lifecycle.ctx.warn, ...given });
      // what a process that died before deleting left behind
      this.scratchOps = await import('./image/scratch.js');
      this.scratchOps.sweepScratch(images.store, this.native, this.lifecycle.ctx.warn);
      return images;
    })();
    return this.imagesMade;
  }

  /** The bundle to create `id` from: the caller's, or one tsrun writes (with a writable layer over an image). */
  private async bundleFor(id: string, opts: RuntimeCreateOptions): Promise<Pick<CreateOptions, 'bundle' | 'rootfsOverlay'>> {
    if (opts.bundle !== undefined) {
      if (opts.image !== undefined || opts.config !== undefined)
        throw new TsrunError('EUSAGE', 'give either a bundle or an image and a config, not both');
      return { bundle: opts.bundle };
    }
    this.lifecycle.store.checkId(id);
    if (this.scratch.has(id)) throw new TsrunError('EEXIST', `container ${id} already exists`);
    const images = await this.images();
    const image = typeof opts.image === 'string' ? await images.get(opts.image) : (opts.image ?? null);
    const s = this.scratchOps!.makeScratch(images.store, this.native, id, {
      image,
      config: opts.config,
      stateRoot: this.root,
      rootless: this.rootless,
    });
    this.scratch.set(id, s);
    return { bundle: s.bundle, rootfsOverlay: s.overlay ?? undefined };
  }

  /** The bundle and writable layer tsrun wrote for `id`, removed (after its delete, or a failed create); synchronous, for cleanupOnExit too. */
  private dropScratch(id: string): void {
    const s = this.scratch.get(id);
    if (!s) return;
    this.scratch.delete(id);
    this.scratchOps!.removeScratch(s.dir); // loaded by images(), which made it
  }

  /** The writable layer of a clean container (overlayfs' upper dir: what it changed), or null. */
  upperDir(id: string): string | null {
    return this.scratch.get(id)?.upper ?? null;
  }

  /**
   * A clean container from an image, started (unless `start: false`), as a
   * handle that deletes it with its writable layer when disposed:
   *
   * ```ts
   * await using c = await rt.container({ image: busybox, config: { process: { args: ['sleep', '60'] } } });
   * const { stdout } = await c.exec(['cat', '/etc/hostname']);
   * ```
   */
  async container(opts: ContainerOptions = {}): Promise<ContainerHandle> {
    return ContainerHandle.create(this, opts);
  }

  /** Synchronously kills and deletes every container made here and not deleted (cleanupOnExit; an 'exit' listener cannot wait). */
  deleteAllSync(): void {
    for (const id of [...this.made]) {
      try {
        hostCall(this.native, 'delete', this.root, id, 0, true);
      } catch {
        // already gone
      }
      this.made.delete(id);
      try {
        this.dropScratch(id);
      } catch {
        // the next Runtime's sweep takes it
      }
    }
  }

  /** Creates a container; its init waits for start(). */
  async create(id: string, opts: RuntimeCreateOptions): Promise<Container> {
    if (this.ownTimeline) this.timeline.restart();
    const { stdio, created } = await this.createWith(id, opts, opts.stdio, true);
    const streams = stdio.opened();
    if (this.reapChildren) this.track(id, created.state.pid);
    return { id, pid: created.state.pid, state: this.lifecycle.state(id), ...streams };
  }

  /** create and run's common part: the bundle or image, the stdio, the create; what failed undone. */
  private async createWith(id: string, opts: RuntimeCreateOptions, io: Stdio | 'pipe' | undefined, detach: boolean) {
    const from = await this.bundleFor(id, opts);
    let stdio;
    let created;
    try {
      stdio = openStdio(this.native, io);
      try {
        created = await this.lifecycle.create(id, { ...createOnly(opts), ...from, stdio: stdio.child, detach, words: this.words });
      } catch (e) {
        stdio.abandon();
        throw e;
      }
    } catch (e) {
      this.dropScratch(id);
      throw e;
    }
    this.made.add(id);
    return { stdio, created };
  }

  /** Starts the program of a created container. */
  start(id: string): Promise<void> {
    return this.lifecycle.start(id);
  }

  /**
   * The exit status of the container's init (the code, or 128+N for signal
   * N) once it has exited: for a container this Runtime created. For one
   * created elsewhere (not our child, its status is not ours to read): null,
   * once it has stopped.
   */
  wait(id: string): Promise<number | null> {
    const mine = this.exits.get(id);
    // our own watch does not keep the process alive; whoever waits on it does
    if (mine) return heldWhileAwaited(mine.exit);
    return (async () => {
      const state = this.lifecycle.store.read(id);
      for (;;) {
        if (!this.native.pidAlive(state.pid, state.pidStartTime)) return null;
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
  }

  /**
   * Creates and starts a container; in the foreground (not detach) forwards
   * our signals to it, relays its terminal (or, without one and without
   * `stdio`, gives it pipes and relays them to our fds 0-2, which it never
   * holds itself, as runc), waits for it and resolves to its exit status
   * (128+N for signal N), then deletes it unless `keep`.
   */
  async run(id: string, opts: RuntimeRunOptions): Promise<number> {
    const { detach = false, keep = false, adoptOrphans = false, ...createOpts } = opts;
    if (!detach && adoptOrphans) this.native.setChildSubreaper();
    // In the foreground with our own stdio the process gets pipes that we
    // relay, never our fds (relayPipes says why); with --detach it has ours.
    const ours = !detach && opts.stdio === undefined ? ownStdio() : null;
    // a foreground run with our own stdio relays a terminal: it need not be detached
    const { stdio, created } = await this.createWith(id, createOpts, ours ? 'pipe' : opts.stdio, detach || opts.stdio !== undefined);
    const pipes = ours ? stdio.handOver() : (stdio.opened(), null);
    const forwarding = detach ? null : forwardSignals(this.native, { pid: created.state.pid, ptyMaster: created.ptyMaster });
    let relay = null;
    try {
      relay = pipes && ours && relayPipes(this.native, pipes, ours, created.ptyMaster);
      await this.lifecycle.start(id);
    } catch (e) {
      forwarding?.stop();
      relay?.stop();
      await this.delete(id, { force: true }).catch(() => undefined);
      throw e;
    }
    if (detach) {
      if (this.reapChildren) this.track(id, created.state.pid);
      return 0;
    }
    try {
      const code = await superviseForeground(this.native, created.state.pid, created.ptyMaster, forwarding!.stop, relay);
      this.timeline.mark('wait');
      return code;
    } finally {
      forwarding!.stop();
      if (!keep) await this.delete(id, { force: true });
    }
  }

  /** run() with stdout and stderr captured (stdin: /dev/null). */
  async output(id: string, opts: Omit<RuntimeCreateOptions, 'stdio'>): Promise<Output> {
    const c = await this.create(id, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = collect(c.stdout!);
    const err = collect(c.stderr!);
    try {
      await this.start(id);
      const status = (await this.wait(id))!;
      return { status, stdout: await out, stderr: await err };
    } finally {
      await this.delete(id, { force: true });
    }
  }

  /**
   * Runs a new process in a created or running container and waits for it:
   * resolves to its exit status (128+N when killed by signal N). Signals
   * this process receives are forwarded to it, and a terminal it asks for
   * (process.terminal) is relayed to this process's stdio; without one (and
   * without `stdio`) it gets pipes, relayed to our fds 0-2, as runc.
   */
  async exec(id: string, what: ExecWhat, opts: RuntimeExecOptions = {}): Promise<number> {
    const process = this.execProcessOf(id, what);
    this.timeline.mark('config');
    // forwarding first: a signal that comes while the process is launched
    // is held and sent on, not left to kill us and orphan it
    const target = { pid: 0, ptyMaster: null as number | null };
    const forwarding = forwardSignals(this.native, target);
    // our own stdio: pipes we relay, as for run
    const ours = opts.stdio === undefined ? ownStdio() : null;
    const stdio = openStdio(this.native, ours ? 'pipe' : opts.stdio);
    let launched;
    try {
      launched = await this.lifecycle.exec(id, { ...opts, stdio: stdio.child, process, detach: opts.stdio !== undefined });
    } catch (e) {
      forwarding.stop();
      stdio.abandon();
      throw e;
    }
    const pipes = ours ? stdio.handOver() : (stdio.opened(), null);
    Object.assign(target, launched);
    forwarding.flush();
    let relay;
    try {
      relay = pipes && ours && relayPipes(this.native, pipes, ours, launched.ptyMaster);
    } catch (e) {
      // (no thread for the relay) the process is not left behind, unreaped
      forwarding.stop();
      globalThis.process.kill(launched.pid, 'SIGKILL');
      await this.native.waitPid(launched.pid).catch(() => undefined);
      throw e;
    }
    const code = await superviseForeground(this.native, launched.pid, launched.ptyMaster, forwarding.stop, relay);
    this.timeline.mark('wait');
    return code;
  }

  /** exec() with stdout and stderr captured (stdin: /dev/null). */
  async execOutput(id: string, what: ExecWhat, opts: Omit<RuntimeExecOptions, 'stdio'> = {}): Promise<Output> {
    const { exited, stdout, stderr } = await this.execDetached(id, what, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    const [status, out, err] = await Promise.all([exited!, collect(stdout!), collect(stderr!)]);
    return { status, stdout: out, stderr: err };
  }

  /**
   * Starts a new process in a created or running container and resolves
   * once it has exec'd: its host pid, its exit status to come, and the
   * streams asked for. The process is this process's child and is reaped
   * here (a pid namespace's init cannot finish dying while a process of its
   * namespace is an unreaped zombie), unless this Runtime leaves its
   * children to its caller (reapChildren false: `exited` is then null).
   */
  async execDetached(
    id: string,
    what: ExecWhat,
    opts: RuntimeExecOptions = {},
  ): Promise<{ pid: number; exited: Promise<number> | null; stdin: Writable | null; stdout: Readable | null; stderr: Readable | null }> {
    const stdio = openStdio(this.native, opts.stdio);
    let launched;
    try {
      launched = await this.lifecycle.exec(id, { ...opts, stdio: stdio.child, process: this.execProcessOf(id, what), detach: true });
    } catch (e) {
      stdio.abandon();
      throw e;
    }
    const streams = stdio.opened();
    let exited: Promise<number> | null = null;
    if (this.reapChildren) {
      const exit = this.native.waitPid(launched.pid, true).then(exitStatus);
      exit.catch(() => undefined); // nobody may ask
      exited = heldWhileAwaited(exit);
    }
    return { pid: launched.pid, exited, ...streams };
  }

  /** The process `what` stands for in container `id` (config.json's process with runc's flags, or as given). */
  execProcessOf(id: string, what: ExecWhat): Process {
    if ('process' in what) return what.process;
    // runc reads the bundle's config.json again: its process is the template
    return resolveExecProcess(loadBundle(this.lifecycle.store.read(id).bundle).spec, what);
  }

  state(id: string): StateJson {
    return this.lifecycle.state(id);
  }

  list(): StateJson[] {
    return this.lifecycle.list();
  }

  /** A signal by number or by name ("9", "KILL", "SIGKILL", "RTMIN+2"); `all`: every process of the container. */
  kill(id: string, signal: number | string = 'TERM', opts: { all?: boolean } = {}): Promise<void> {
    return this.lifecycle.kill(id, typeof signal === 'number' ? signal : this.signalNumber(signal), opts.all ?? false);
  }

  /** A signal's number from its name, as kill takes it (native/host's table, the front's too). */
  signalNumber(text: string): number {
    const n = this.native.parseSignal(text);
    if (n < 0) throw new TsrunError('EUSAGE', `invalid signal ${JSON.stringify(text)}`);
    return n;
  }

  async delete(id: string, opts: { force?: boolean } = {}): Promise<void> {
    await this.lifecycle.delete(id, opts.force ?? false);
    this.made.delete(id);
    this.dropScratch(id);
    const mine = this.exits.get(id);
    if (mine) {
      this.exits.delete(id);
      // reaped: no zombie stays behind (our watch is unref'd: this wait holds the process until it is)
      await heldWhileAwaited(mine.exit.catch(() => undefined));
    }
  }

  /** Freezes every process of the container (status "paused"). */
  pause(id: string): Promise<void> {
    return this.lifecycle.pause(id);
  }

  resume(id: string): Promise<void> {
    return this.lifecycle.resume(id);
  }

  /** Host pids of the container's processes; [] once it has stopped. */
  ps(id: string): Promise<number[]> {
    return this.lifecycle.ps(id);
  }

  /** runc's `events --stats` data. */
  stats(id: string): CgroupStats {
    return this.lifecycle.stats(id);
  }

  /** OOM kills in the container's cgroup so far, and whether it has stopped. */
  oomKills(id: string): { count: number; stopped: boolean } {
    return this.lifecycle.oomKills(id);
  }

  /**
   * CRIU dumps the container's processes into `imagePath` (runc's
   * checkpoint): without leaveRunning (or preDump) the container is then
   * gone, as runc leaves it.
   */
  checkpoint(id: string, opts: CheckpointOptions = {}): Promise<void> {
    return this.lifecycle.checkpoint(id, opts);
  }

  /**
   * A container made again from a checkpoint (runc's restore): detached,
   * it resolves to 0 once the restored program runs; in the foreground it
   * waits for it (forwarding our signals, relaying a terminal), deletes the
   * container and resolves to its exit status.
   */
  async restore(id: string, opts: Omit<RestoreOptions, 'words' | 'stdio'> & { stdio?: Stdio }): Promise<number> {
    const stdio = openStdio(this.native, opts.stdio);
    if (!opts.detach && !opts.noSubreaper) this.native.setChildSubreaper();
    let restored;
    try {
      restored = await this.lifecycle.restore(id, { ...opts, stdio: stdio.child, words: this.words });
    } catch (e) {
      stdio.abandon();
      throw e;
    }
    stdio.opened();
    const pid = restored.state.pid;
    if (opts.detach) {
      if (this.reapChildren) this.track(id, pid);
      this.made.add(id);
      return 0;
    }
    const forwarding = forwardSignals(this.native, { pid, ptyMaster: restored.ptyMaster });
    try {
      return await superviseForeground(this.native, pid, restored.ptyMaster, forwarding.stop);
    } finally {
      forwarding.stop();
      await this.lifecycle.delete(id, true);
    }
  }

  /** New limits for a live container (LinuxResources, only what changes), and new Intel RDT schemata. */
  update(id: string, resources: LinuxResources, rdt?: RdtUpdate): Promise<void> {
    return this.lifecycle.update(id, resources, rdt);
  }

  /** The init is our child: its exit is waited for (and it is reaped) off the event loop. */
  private track(id: string, pid: number): void {
    // unref'd: a container this process made does not keep it alive (wait() does)
    const exit = this.native.waitPid(pid, true).then(exitStatus);
    exit.catch(() => undefined);
    this.exits.set(id, { pid, exit });
  }
}

/** CreateOptions without what only the Runtime decides (the bundle, the overlay, the words). */
function createOnly(opts: RuntimeCreateOptions): Omit<CreateOptions, 'detach' | 'bundle'> {
  const { image: _image, config: _config, bundle: _bundle, stdio: _stdio, ...rest } = opts;
  return rest;
}

const exiting = new Set<Runtime>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * cleanupOnExit: the Runtime's containers go when the process does. An
 * 'exit' listener cannot wait, so deletion is synchronous (native/host's
 * delete). A signal nothing else handles is handled: clean up, then die of
 * it as we would have.
 */
function cleanupAtExit(rt: Runtime): void {
  if (exiting.size === 0) {
    process.on('exit', () => {
      for (const r of exiting) r.deleteAllSync();
    });
    for (const sig of SIGNALS) {
      if (process.listenerCount(sig) > 0) continue;
      const onSignal = () => {
        for (const r of exiting) r.deleteAllSync();
        for (const s of SIGNALS) process.removeListener(s, onSignal);
        process.kill(process.pid, sig);
      };
      process.on(sig, onSignal);
    }
  }
  exiting.add(rt);
}

function exitStatus(s: { code: number | null; signal: number | null }): number {
  return s.signal !== null ? 128 + s.signal : (s.code ?? 255);
}

/** The child's fds 0-2 for `stdio`, and our ends of its pipes once it has its copies. */
function openStdio(native: NativeBinding, stdio: Stdio | undefined) {
  const each = (typeof stdio === 'object' ? [...stdio] : [stdio ?? 'inherit', stdio ?? 'inherit', stdio ?? 'inherit']) as StdioOption[];
  const child: number[] = [];
  const ours: (number | null)[] = [];
  const close: number[] = [];
  each.forEach((o, i) => {
    if (o === 'pipe') {
      const [r, w] = native.pipe();
      child.push(i === 0 ? r : w);
      ours.push(i === 0 ? w : r);
      close.push(i === 0 ? r : w);
    } else if (o === 'ignore') {
      const fd = fs.openSync('/dev/null', i === 0 ? 'r' : 'w');
      child.push(fd);
      ours.push(null);
      close.push(fd);
    } else {
      child.push(o === 'inherit' ? -1 : o);
      ours.push(null);
    }
  });
  return {
    child,
    /** The child has them: close its ends here; streams for ours. */
    opened() {
      for (const fd of close) fs.closeSync(fd);
      // node:net only when a stream is asked for: loading it costs Bun ~10 ms
      const socket = (fd: number | null, writable: boolean) =>
        fd === null ? null : new (builtin('node:net').Socket)({ fd, readable: !writable, writable });
      return { stdin: socket(ours[0]!, true), stdout: socket(ours[1]!, false), stderr: socket(ours[2]!, false) };
    },
    /** The child has them: close its ends here; our ends as fds, for relayPipes ('pipe' for all three). */
    handOver(): StdioPipes {
      for (const fd of close) fs.closeSync(fd);
      return { stdin: ours[0]!, stdout: ours[1]!, stderr: ours[2]! };
    },
    /** Nothing was started: every fd goes. */
    abandon() {
      for (const fd of [...close, ...ours]) if (fd !== null) fs.closeSync(fd);
    },
  };
}

function collect(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}
