/**
 * tsrun's public API: a typed, in-process OCI runtime. The CLI is built on
 * it.
 *
 * ```ts
 * import { Runtime } from 'tsrun';
 * const rt = new Runtime({ root: '/run/tsrun' });
 * rt.create('web', { bundle: '/srv/bundles/web' });
 * rt.start('web');
 * console.log(rt.state('web').status); // "running"
 * await rt.delete('web', { force: true });
 * ```
 */
import { realHost } from './container/host.js';
import { Lifecycle, type CreateOptions } from './container/lifecycle.js';
import { forwardSignals, superviseForeground } from './container/foreground.js';
import { resolveExecProcess, type ExecOverrides } from './container/exec.js';
import { loadBundle } from './config/load.js';
import type { Process } from './config/types.js';
import type { StateJson } from './container/state.js';
import { loadBinding, type NativeBinding } from './native/binding.js';
import { parseSignal } from './cli/signals.js';
import { Timeline } from './timeline.js';
import * as cgroupOps from './container/cgroup-ops.js';
import type { LinuxResources } from './cgroups/resources.js';
import type { CgroupStats } from './cgroups/stats.js';

export { ConfigError, InitStepError, TsrunError, type ErrorCode } from './errors.js';
export type { Process, Spec } from './config/types.js';
export type { ExecOverrides } from './container/exec.js';
export type { StateJson } from './container/state.js';
export type { Status } from './container/status.js';
export { Timeline, type TimelineEntry } from './timeline.js';
export type { LinuxResources } from './cgroups/resources.js';
export type { CgroupStats } from './cgroups/stats.js';

export interface RuntimeOptions {
  /** State directory (runc's --root). Default /run/tsrun. */
  root?: string;
  /** The native addon; tests may inject their own. */
  native?: NativeBinding;
  /** Called with what is ignored rather than refused (unknown capabilities…). */
  onWarning?: (message: string) => void;
  /** Called with debug detail (e.g. seccomp syscall names that were skipped). */
  onDebug?: (message: string) => void;
}

export type RuntimeCreateOptions = Omit<CreateOptions, 'detach'>;

/** What to exec: a whole process, or runc's exec flags applied to the container's config.json process. */
export type ExecWhat = { process: Process } | ExecOverrides;

export interface RuntimeExecOptions {
  /** AF_UNIX socket to send the pty master to (process.terminal). */
  consoleSocket?: string;
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
}

export class Runtime {
  readonly lifecycle: Lifecycle;
  /** Where the last create spent its time, step by step. */
  readonly timeline = new Timeline();

  constructor(opts: RuntimeOptions = {}) {
    this.lifecycle = new Lifecycle(
      opts.root ?? '/run/tsrun',
      opts.native ?? loadBinding(),
      realHost,
      this.timeline,
      opts.onWarning,
      opts.onDebug,
    );
  }

  /** Creates a container; its init waits for start(). */
  create(id: string, opts: RuntimeCreateOptions): StateJson {
    this.lifecycle.create(id, { ...opts, detach: true });
    return this.lifecycle.state(id);
  }

  start(id: string): void {
    this.lifecycle.start(id);
  }

  /** Creates, starts and waits; resolves to the exit status (128+N for signal N). Deletes the container. */
  async run(id: string, opts: RuntimeCreateOptions): Promise<number> {
    const created = this.lifecycle.create(id, { ...opts, detach: false });
    const forwarding = forwardSignals(this.lifecycle.native, { pid: created.state.pid, ptyMaster: created.ptyMaster });
    try {
      this.lifecycle.start(id);
      return await superviseForeground(this.lifecycle.native, created.state.pid, created.ptyMaster, forwarding.stop);
    } finally {
      forwarding.stop();
      await this.lifecycle.delete(id, true);
    }
  }

  /**
   * Runs a new process in a created or running container and waits for it:
   * resolves to its exit status (128+N when killed by signal N). Signals
   * this process receives are forwarded to it, and a terminal it asks for
   * (process.terminal) is relayed to this process's stdio.
   */
  async exec(id: string, what: ExecWhat, opts: RuntimeExecOptions = {}): Promise<number> {
    const process = this.execProcessOf(id, what);
    // forwarding first: a signal that comes while the process is launched
    // is held and sent on, not left to kill us and orphan it
    const target = { pid: 0, ptyMaster: null as number | null };
    const forwarding = forwardSignals(this.lifecycle.native, target);
    let launched;
    try {
      launched = this.lifecycle.exec(id, { ...opts, process, detach: false });
    } catch (e) {
      forwarding.stop();
      throw e;
    }
    Object.assign(target, launched);
    forwarding.flush();
    return superviseForeground(this.lifecycle.native, launched.pid, launched.ptyMaster, forwarding.stop);
  }

  /**
   * Starts a new process in a created or running container and returns once
   * it has exec'd: its host pid, and its exit status to come. The process is
   * this process's child and is reaped here (a pid namespace's init cannot
   * finish dying while a process of its namespace is an unreaped zombie).
   */
  execDetached(id: string, what: ExecWhat, opts: RuntimeExecOptions = {}): { pid: number; exited: Promise<number> } {
    const { pid } = this.lifecycle.exec(id, { ...opts, process: this.execProcessOf(id, what), detach: true });
    const exited = this.lifecycle.native.waitPid(pid).then((s) => (s.signal !== null ? 128 + s.signal : (s.code ?? 255)));
    exited.catch(() => undefined); // nobody may ask
    return { pid, exited };
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

  kill(id: string, signal: number | string = 'TERM', opts: { all?: boolean } = {}): void {
    this.lifecycle.kill(id, typeof signal === 'number' ? signal : parseSignal(signal), opts.all ?? false);
  }

  delete(id: string, opts: { force?: boolean } = {}): Promise<void> {
    return this.lifecycle.delete(id, opts.force ?? false);
  }

  /** Freezes every process of the container (status "paused"). */
  pause(id: string): void {
    cgroupOps.pause(this.lifecycle, id);
  }

  resume(id: string): void {
    cgroupOps.resume(this.lifecycle, id);
  }

  /** Host pids of the container's processes; [] once it has stopped. */
  ps(id: string): number[] {
    return cgroupOps.ps(this.lifecycle, id);
  }

  /** runc's `events --stats` data. */
  stats(id: string): CgroupStats {
    return cgroupOps.stats(this.lifecycle, id);
  }

  /** OOM kills in the container's cgroup so far, and whether it has stopped. */
  oomKills(id: string): { count: number; stopped: boolean } {
    return cgroupOps.oomKills(this.lifecycle, id);
  }

  /** New limits for a live container (LinuxResources, only what changes). */
  update(id: string, resources: LinuxResources): void {
    cgroupOps.update(this.lifecycle, id, resources);
  }
}
