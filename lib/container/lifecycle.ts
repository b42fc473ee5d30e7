/**
 * The container lifecycle: create, start, state, kill, delete, exec. The CLI
 * and the public API both drive this; it owns ordering and cleanup.
 *
 * create:  claim the state dir → load + validate (all of it) → prepare what
 *          the plan needs from the host (namespace fds, idmapped trees, the
 *          seccomp filter, the cgroup with every limit, the exec fifo) →
 *          plan (complete) → launch (lib/container/launch.ts) → record
 * exec:    lib/container/exec.ts, over the same launch.
 * A failed create leaves nothing behind: launch kills and reaps the init,
 * create removes the cgroup it made and the state dir.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { loadBundle, type LoadedBundle } from '../config/load.js';
import { validateSpec } from '../config/validate.js';
import { TsrunError } from '../errors.js';
import type { NativeBinding } from '../native/binding.js';
import { buildPlan, type PlanHost } from '../plan/build.js';
import type { ValidationHost } from '../config/validate.js';
import { CLONE_NEWPID } from '../plan/linux.js';
import { PlanFlag, type Plan } from '../plan/types.js';
import { closeAll } from './fds.js';
import { openNamespacePaths } from './namespaces.js';
import { openIdmapMounts } from './idmap.js';
import { runHooks, type HookState } from './hooks.js';
import type { Hooks } from '../config/types.js';
import { compileSeccomp } from '../plan/seccomp.js';
import { containerProcessState, sendToListener } from './seccomp-notify.js';
import { isAlive, readProcStat } from './procfs.js';
import { FIFO_NAME, SECCOMP_NAME, StateStore, rfc3339Nano, type StateJson, type StoredState } from './state.js';
import { canDelete, canKill, canStart } from './status.js';
import type { Timeline } from '../timeline.js';
import { loadCgroupManager, newCgroupManager, type CgroupManager } from '../cgroups/manager.js';
import type { LinuxResources } from '../cgroups/resources.js';
import { launch, type Launched } from './launch.js';
import { execProcess, type ExecOptions } from './exec.js';

export interface CreateOptions {
  bundle: string;
  pidFile?: string;
  consoleSocket?: string;
  noPivot?: boolean;
  noNewKeyring?: boolean;
  preserveFds?: number;
  /** Appended to process.env (LISTEN_FDS/LISTEN_PID of socket activation). */
  extraEnv?: string[];
  /** The runtime will not stay to relay a terminal (create, run --detach). */
  detach: boolean;
}

export interface Created {
  state: StoredState;
  /** The pty master when process.terminal is set and no console socket was given. */
  ptyMaster: number | null;
}

/** How long the init may take to report each step. */
export const SYNC_TIMEOUT_MS = 60_000;

/** What a create made on the host so far: undone, in reverse, when it fails. */
interface Made {
  /** fds for the init only (namespace paths, idmapped trees, the console socket). */
  childFds: number[];
  cgroup: CgroupManager | null;
  /** The cgroup did not exist before this create. */
  cgroupIsOurs: boolean;
  /** No mount namespace: what the init mounted under this rootfs is in ours, and must go. */
  hostMountsUnder: string | null;
  /** A create hook failed: runtime.md continues at "delete", whose poststop hooks still run. */
  hookFailed: { hooks: Hooks | undefined; state: HookState } | null;
}

export class Lifecycle {
  readonly store: StateStore;
  constructor(
    root: string,
    readonly native: NativeBinding,
    readonly host: ValidationHost & PlanHost,
    readonly timeline?: Timeline,
    /** Receives what is ignored rather than refused (e.g. unknown capabilities). */
    readonly warn?: (message: string) => void,
    /** Hears --debug detail (e.g. seccomp syscall names skipped). */
    readonly debug?: (message: string) => void,
  ) {
    this.store = new StateStore(root, native);
  }

  /** `warn`, for hooks whose failure only warns (poststart, poststop). */
  readonly warnFn = (m: string) => this.warn?.(m);

  create(id: string, opts: CreateOptions): Created {
    const t = this.timeline;
    const lock = this.store.claim(id);
    const made: Made = { childFds: [], cgroup: null, cgroupIsOurs: false, hostMountsUnder: null, hookFailed: null };
    try {
      t?.mark('claim');
      const loaded = loadBundle(opts.bundle);
      t?.mark('load');
      const warnings = validateSpec(loaded.spec, this.host, {
        rootfs: loaded.rootfs,
        detach: opts.detach,
        consoleSocket: opts.consoleSocket !== undefined,
      });
      for (const w of warnings) this.warn?.(w);
      const plan = this.prepare(id, loaded, opts, made);
      t?.mark('plan');
      const launched = this.launchInit(id, loaded, plan, made);
      const state = this.record(id, loaded, plan, launched, opts, made.cgroup);
      t?.mark('state');
      return { state, ptyMaster: launched.ptyMaster };
    } catch (e) {
      closeAll(made.childFds);
      if (made.hostMountsUnder) unmountUnder(this.native, made.hostMountsUnder, this.warnFn);
      try {
        // a cgroup that existed before this create is not ours to remove
        if (made.cgroupIsOurs) made.cgroup?.undoCreate();
      } catch (ce) {
        this.warn?.(`cleanup: ${(ce as Error).message}`);
      }
      this.store.remove(id);
      if (made.hookFailed)
        runHooks(
          this.native,
          made.hookFailed.hooks,
          'poststop',
          { ...made.hookFailed.state, status: 'stopped' },
          { warnOnly: this.warnFn },
        );
      throw e;
    } finally {
      lock.release();
    }
  }

  /**
   * Everything the plan needs from the host, made before any process
   * exists, so a refusal (a namespace path of the wrong type, a limit the
   * kernel rejects, a seccomp action it lacks) fails with nothing started.
   */
  private prepare(id: string, loaded: LoadedBundle, opts: CreateOptions, made: Made): Plan {
    const { spec } = loaded;
    const nsFds = openNamespacePaths(spec, this.native); // checked by type before clone
    made.childFds.push(...nsFds.filter((fd): fd is number => fd !== undefined));
    const idmapTrees = openIdmapMounts(spec, loaded.bundle, this.native); // made by us: the init may lack the privilege
    made.childFds.push(...idmapTrees.values());
    const seccomp = spec.linux?.seccomp ? compileSeccomp(this.native, spec.linux.seccomp, this.debug) : null;
    this.timeline?.mark('validate');
    // The cgroup exists, with every limit, before the init does.
    const cgroup = newCgroupManager(spec.linux?.cgroupsPath, id, this.attachDeviceProgram);
    if (cgroup) {
      const resources = (spec.linux?.resources ?? {}) as LinuxResources;
      for (const w of cgroup.check(resources)) this.warn?.(w);
      made.cgroup = cgroup;
      made.cgroupIsOurs = cgroup.create();
      cgroup.apply(resources);
      this.timeline?.mark('cgroup');
    }
    const stateDir = this.store.dir(id);
    const fifo = path.join(stateDir, FIFO_NAME);
    this.native.mkfifo(fifo, 0o622);
    fs.chmodSync(fifo, 0o622);
    const consoleSocketFd = opts.consoleSocket !== undefined ? this.native.connectUnix(opts.consoleSocket) : -1;
    if (consoleSocketFd >= 0) made.childFds.push(consoleSocketFd);
    return buildPlan(
      spec,
      {
        id,
        bundle: loaded.bundle,
        rootfs: loaded.rootfs,
        stateDir,
        noPivot: opts.noPivot,
        noNewKeyring: opts.noNewKeyring,
        consoleSocketFd,
        preserveFds: opts.preserveFds,
        extraEnv: opts.extraEnv,
        nsFds,
        seccomp: seccomp && { bpf: seccomp.bpf, flags: seccomp.flags },
        idmapTrees,
        cgroupV1: cgroup && !cgroup.v2Dir ? cgroup.v1Hierarchies() : undefined,
        // a foreground run relays the pty to our terminal: it is born that size
        terminalSize: relaysTerminal(opts.detach, opts.consoleSocket) ? this.native.terminalSize(0) : null,
      },
      this.host,
    );
  }

  /** launch, answering the create hooks and the seccomp listener. */
  private launchInit(id: string, loaded: LoadedBundle, plan: Plan, made: Made): Launched {
    const { spec } = loaded;
    const creating = (pid: number): HookState => ({
      ociVersion: spec.ociVersion,
      id,
      status: 'creating',
      pid,
      bundle: loaded.bundle,
      annotations: spec.annotations ?? {},
    });
    const seccomp = spec.linux?.seccomp;
    const listenerPath = seccomp?.listenerPath;
    const childFds = made.childFds;
    made.childFds = []; // launch closes them, whatever happens
    if (plan.init.flags & PlanFlag.HOST_MOUNTS) made.hostMountsUnder = loaded.rootfs;
    const cgroup = made.cgroup;
    const launched = launch(this.native, {
      plan,
      cgroup: cgroup && { v2Dir: cgroup.v2Dir, join: (pid) => cgroup.addProcess(pid) },
      childFds,
      timeoutMs: SYNC_TIMEOUT_MS,
      timeline: this.timeline,
      onHooks: (pid) => {
        const state = creating(pid);
        try {
          runHooks(this.native, spec.hooks, 'prestart', state);
          runHooks(this.native, spec.hooks, 'createRuntime', state);
          runHooks(this.native, spec.hooks, 'createContainer', state, { nsPid: pid, cwd: loaded.rootfs });
        } catch (e) {
          made.hookFailed = { hooks: spec.hooks, state };
          throw e;
        }
      },
      onSeccomp:
        seccomp && listenerPath
          ? (fd, pid) => sendToListener(this.native, listenerPath, containerProcessState(seccomp.listenerMetadata, creating(pid)), fd)
          : undefined,
    });
    return launched;
  }

  /** state.json (and what exec needs later: the compiled filter), then the pid file. */
  private record(
    id: string,
    loaded: LoadedBundle,
    plan: Plan,
    launched: Launched,
    opts: CreateOptions,
    cgroup: CgroupManager | null,
  ): StoredState {
    const { spec } = loaded;
    const state: StoredState = {
      ociVersion: spec.ociVersion,
      id,
      pid: launched.pid,
      pidStartTime: readProcStat(launched.pid)?.startTime ?? 0,
      bundle: loaded.bundle,
      rootfs: loaded.rootfs,
      created: rfc3339Nano(Date.now(), process.hrtime.bigint()),
      owner: os.userInfo().username,
      annotations: spec.annotations ?? {},
      pidNamespace: ((plan.init.cloneFlags | plan.init.unshareFlags) & CLONE_NEWPID) !== 0n,
      hooks: spec.hooks,
      noNewKeyring: opts.noNewKeyring ?? false,
    };
    if (plan.init.flags & PlanFlag.HOST_MOUNTS) state.hostMounts = true;
    const seccomp = plan.init.seccomp;
    if (seccomp) {
      // exec loads the container's filter too: compiled once, here
      fs.writeFileSync(path.join(this.store.dir(id), SECCOMP_NAME), seccomp.bpf, { mode: 0o600 });
      const s = spec.linux!.seccomp!;
      state.seccomp = { flags: seccomp.flags, listenerPath: s.listenerPath ?? null, listenerMetadata: s.listenerMetadata };
    }
    if (cgroup) state.cgroup = cgroup.state;
    this.store.write(state);
    if (opts.pidFile) writePidFile(opts.pidFile, launched.pid);
    return state;
  }

  private get attachDeviceProgram() {
    return this.native.attachDeviceProgram?.bind(this.native);
  }

  /** The container's seccomp filter as create compiled it (null: none). */
  seccompOf(state: StoredState): { bpf: Uint8Array; flags: number } | null {
    return state.seccomp ? { bpf: fs.readFileSync(path.join(this.store.dir(state.id), SECCOMP_NAME)), flags: state.seccomp.flags } : null;
  }

  /** The container's cgroup manager (null: no cgroup recorded). */
  cgroupOf(state: StoredState): CgroupManager | null {
    return state.cgroup ? loadCgroupManager(state.cgroup, this.attachDeviceProgram) : null;
  }

  private hookState(state: StoredState, status: HookState['status']): HookState {
    return {
      ociVersion: state.ociVersion,
      id: state.id,
      status,
      pid: state.pid,
      bundle: state.bundle,
      annotations: state.annotations ?? {},
    };
  }

  start(id: string): StoredState {
    const lock = this.store.lock(id);
    try {
      const state = this.store.read(id);
      canStart(this.store.status(state), id);
      try {
        runHooks(this.native, state.hooks, 'startContainer', this.hookState(state, 'created'), {
          nsPid: state.pid,
          seccomp: this.seccompOf(state),
        });
      } catch (e) {
        trySignal(state.pid, 9); // the program must not run; the container is stopped
        throw e;
      }
      const fifo = this.store.fifo(id);
      const outcome = this.native.releaseFifo(fifo, state.pid, 10_000);
      fs.rmSync(fifo, { force: true });
      if (outcome === 'dead') throw new TsrunError('ESTATE', 'cannot start a container that has stopped');
      runHooks(this.native, state.hooks, 'poststart', this.hookState(state, 'running'), { warnOnly: this.warnFn });
      return state;
    } finally {
      lock.release();
    }
  }

  /**
   * Runs a new process in a created, running (or, with ignorePaused, paused)
   * container: lib/container/exec.ts. Returns once it has exec'd.
   */
  exec(id: string, opts: ExecOptions): Launched {
    return execProcess(this, id, opts);
  }

  state(id: string): StateJson {
    return this.store.toJson(this.store.read(id));
  }

  list(): StateJson[] {
    const out: StateJson[] = [];
    for (const id of this.store.ids()) {
      try {
        out.push(this.state(id));
      } catch {
        /* raced with delete */
      }
    }
    return out;
  }

  kill(id: string, signal: number, all: boolean): void {
    const lock = this.store.lock(id);
    try {
      const state = this.store.read(id);
      if (!canKill(this.store.status(state), all)) return;
      if (all) this.signalAll(state, signal);
      else process.kill(state.pid, signal);
    } finally {
      lock.release();
    }
  }

  /**
   * Host pids of the container's processes: everything in its cgroup; for a
   * container without one, everything in the init's pid namespace (without
   * a pid namespace: the init only).
   */
  processes(state: StoredState): number[] {
    const cg = this.cgroupOf(state);
    if (cg) return cg.pids();
    if (!state.pidNamespace) return [state.pid];
    let ns: string;
    try {
      ns = fs.readlinkSync(`/proc/${state.pid}/ns/pid`);
    } catch {
      return [];
    }
    const out: number[] = [];
    for (const name of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        if (fs.readlinkSync(`/proc/${name}/ns/pid`) === ns) out.push(Number(name));
      } catch {
        /* exited meanwhile */
      }
    }
    return out;
  }

  async delete(id: string, force: boolean): Promise<void> {
    let lock;
    try {
      lock = this.store.lock(id);
    } catch (e) {
      if ((e as TsrunError).code !== 'ENOTFOUND') throw e;
      // a create that died half-way may have left a claimed dir behind
      if (fs.existsSync(this.store.dir(id))) {
        this.store.remove(id);
        return;
      }
      if (force) return;
      throw e;
    }
    try {
      const state = this.store.read(id);
      const status = this.store.status(state);
      canDelete(status, id, force);
      const cg = this.cgroupOf(state);
      if (status !== 'stopped') {
        this.signalAll(state, 9, cg);
        await this.waitGone(state);
      }
      // kills what the init left behind (no pid namespace) and removes the cgroup
      cg?.destroy();
      if (state.hostMounts) unmountUnder(this.native, state.rootfs, this.warnFn);
      this.store.remove(id);
      runHooks(this.native, state.hooks, 'poststop', this.hookState(state, 'stopped'), { warnOnly: this.warnFn });
    } finally {
      lock.release();
    }
  }

  /** Every process of the container: cgroup.kill or the frozen cgroup's pids, else processes(). */
  private signalAll(state: StoredState, signal: number, cg = this.cgroupOf(state)): void {
    if (cg) cg.signalAll(signal);
    else for (const pid of this.processes(state)) trySignal(pid, signal);
  }

  private async waitGone(state: StoredState): Promise<void> {
    for (let i = 0; i < 1000; i++) {
      if (!isAlive(state.pid, state.pidStartTime)) return;
      // our own child (run, or an API user): reap it; ECHILD: someone else's
      try {
        if (this.native.reap(state.pid) !== null) return;
      } catch {
        /* not our child: its parent reaps it */
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new TsrunError('ESYSTEM', `container init ${state.pid} did not die after SIGKILL`);
  }
}

function trySignal(pid: number, signal: number): void {
  try {
    process.kill(pid, signal);
  } catch {
    /* exited meanwhile */
  }
}

/**
 * Detaches every mount at or below `rootfs` in our mount namespace, deepest
 * first: what the init of a container without a mount namespace mounted
 * there (runc leaves them behind).
 */
export function unmountUnder(native: NativeBinding, rootfs: string, warn: (m: string) => void): void {
  let info: string;
  try {
    info = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return;
  }
  const unescape = (p: string) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  const points = info
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => !!p)
    .map(unescape)
    .filter((p) => p === rootfs || p.startsWith(`${rootfs}/`))
    .sort((a, b) => b.length - a.length);
  for (const p of points) {
    try {
      native.unmount(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EINVAL') warn(`cleanup: unmount ${p}: ${(e as Error).message}`);
    }
  }
}

/** A foreground run or exec without a console socket relays the pty to our own terminal. */
export function relaysTerminal(detach: boolean, consoleSocket: string | undefined): boolean {
  return !detach && consoleSocket === undefined;
}

/** runc's pid file: written to a temp name then renamed, no newline. */
export function writePidFile(file: string, pid: number): void {
  const abs = path.resolve(file);
  const tmp = path.join(path.dirname(abs), `.${path.basename(abs)}`);
  fs.writeFileSync(tmp, String(pid), { flag: 'w', mode: 0o644 });
  fs.renameSync(tmp, abs);
}
