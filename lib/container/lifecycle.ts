/**
 * The container lifecycle: create, start, state, kill, delete. The CLI and
 * the public API both drive this; it owns ordering and cleanup.
 *
 * create:  claim state dir → load + validate (all of it) → plan → encode →
 *          spawn (clone) → host steps → GO → READY → state.json + pid file
 * Any failure after spawn SIGKILLs the init, reaps it and removes the
 * state dir, so a failed create leaves nothing behind.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { loadBundle } from '../config/load.js';
import { validateSpec } from '../config/validate.js';
import { moveNetDevices } from './netdev.js';
import { InitStepError, TsrunError } from '../errors.js';
import { SyncType, type NativeBinding } from '../native/binding.js';
import { encodePlan } from '../native/plan-codec.js';
import { buildPlan, type PlanHost } from '../plan/build.js';
import type { ValidationHost } from '../config/validate.js';
import { CLONE_NEWPID } from '../plan/linux.js';
import { NsFlag } from '../plan/types.js';
import { closeAll } from './fds.js';
import { namespaceStage, openNamespacePaths } from './namespaces.js';
import { openIdmapMounts } from './idmap.js';
import type { Hooks } from '../config/types.js';
import { runHooks, type HookState } from './hooks.js';
import { compileSeccomp } from '../plan/seccomp.js';
import { containerProcessState, sendToListener } from './seccomp-notify.js';
import { isAlive, readProcStat } from './procfs.js';
import { FIFO_NAME, StateStore, rfc3339Nano, type StateJson, type StoredState } from './state.js';
import { canDelete, canKill, canStart } from './status.js';
import type { Timeline } from '../timeline.js';
import { loadCgroupManager, newCgroupManager, type CgroupManager } from '../cgroups/manager.js';
import type { LinuxResources } from '../cgroups/resources.js';

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

/** How long the init may take to report READY. */
const SYNC_TIMEOUT_MS = 60_000;

export class Lifecycle {
  readonly store: StateStore;
  constructor(
    root: string,
    readonly native: NativeBinding,
    readonly host: ValidationHost & PlanHost,
    readonly timeline?: Timeline,
    /** Receives what is ignored rather than refused (e.g. unknown capabilities). */
    readonly warn?: (message: string) => void,
    /** issue 4: hears --debug detail (e.g. seccomp syscall names skipped). */
    readonly debug?: (message: string) => void,
  ) {
    this.store = new StateStore(root, native);
  }

  create(id: string, opts: CreateOptions): Created {
    const t = this.timeline;
    const lock = this.store.claim(id);
    let pid = 0;
    let consoleFd = -1;
    let syncFd = -1;
    let ptyMaster: number | null = null;
    let hooks: Hooks | undefined;
    let hookState: HookState | undefined;
    let createHookFailed = false;
    let nsFds: (number | undefined)[] = [];
    let cgroup: CgroupManager | null = null;
    let cgroupIsOurs = false;
    try {
      t?.mark('claim');
      const loaded = loadBundle(opts.bundle);
      t?.mark('load');
      hooks = loaded.spec.hooks;
      const warnings = validateSpec(loaded.spec, this.host, {
        rootfs: loaded.rootfs,
        detach: opts.detach,
        consoleSocket: opts.consoleSocket !== undefined,
      });
      for (const w of warnings) this.warn?.(w);
      nsFds = openNamespacePaths(loaded.spec, this.native); // issue 3: before clone, checked by type
      t?.mark('validate');
      // The cgroup exists, with every limit, before the init does: a
      // missing controller or a refused value fails here with nothing started.
      cgroup = newCgroupManager(loaded.spec.linux?.cgroupsPath, id, this.attachDeviceProgram);
      if (cgroup) {
        cgroupIsOurs = cgroup.create();
        cgroup.apply((loaded.spec.linux?.resources ?? {}) as LinuxResources);
        t?.mark('cgroup');
      }
      const cg = cgroup;
      const stateDir = this.store.dir(id);
      const fifo = path.join(stateDir, FIFO_NAME);
      this.native.mkfifo(fifo, 0o622);
      fs.chmodSync(fifo, 0o622);
      if (opts.consoleSocket !== undefined) consoleFd = this.native.connectUnix(opts.consoleSocket);
      const plan = buildPlan(
        loaded.spec,
        {
          id,
          bundle: loaded.bundle,
          rootfs: loaded.rootfs,
          stateDir,
          noPivot: opts.noPivot,
          noNewKeyring: opts.noNewKeyring,
          consoleSocketFd: consoleFd,
          preserveFds: opts.preserveFds,
          extraEnv: opts.extraEnv,
          nsFds,
        },
        cg && !cg.v2Dir ? { ...this.host, cgroupV1Hierarchies: () => cg.v1Hierarchies() } : this.host,
      );
      // issue 4: seccomp is compiled here, in the parent, before clone
      const seccomp = loaded.spec.linux?.seccomp;
      let listenerPath: string | null = null;
      if (seccomp) {
        const compiled = compileSeccomp(this.native, seccomp, this.debug);
        plan.init.seccomp = { bpf: compiled.bpf, flags: compiled.flags };
        listenerPath = compiled.listenerPath;
      }
      // issue 3: idmapped mount trees, made by us (the init may lack the privilege)
      plan.init.idmapMounts = openIdmapMounts(loaded.spec, plan.init, loaded.bundle, this.native);
      nsFds.push(...plan.init.idmapMounts.map((m) => m.fd));
      const buffer = encodePlan(plan.init);
      t?.mark('plan');
      const spawned = this.spawnInto(buffer, cgroup?.v2Dir ?? null);
      pid = spawned.pid;
      syncFd = spawned.syncFd;
      closeAll(nsFds); // the init has its copies
      nsFds = [];
      // issue 3: joins, user namespace id maps, the fork into pid/time
      // namespaces: from here on `pid` is the init's real pid.
      if (plan.init.nsFlags & NsFlag.STAGE) pid = namespaceStage(this.native, syncFd, pid, plan.host.idMaps, SYNC_TIMEOUT_MS);
      const startTime = readProcStat(pid)?.startTime ?? 0;
      // what create hooks and a seccomp listener are told while we set up
      const creating: HookState = {
        ociVersion: loaded.spec.ociVersion,
        id,
        status: 'creating',
        pid,
        bundle: loaded.bundle,
        annotations: loaded.spec.annotations ?? {},
      };
      t?.mark('clone');
      if (consoleFd >= 0) {
        fs.closeSync(consoleFd);
        consoleFd = -1;
      }
      // Host-side steps while the init waits for GO: it runs nothing of
      // the container's before it is in its cgroup.
      cgroup?.addProcess(pid);
      if (plan.host.oomScoreAdj !== null) writeOomScoreAdj(pid, plan.host.oomScoreAdj);
      moveNetDevices(pid, plan.host.netDevices);
      this.native.syncSend(syncFd, SyncType.GO);
      for (;;) {
        const msg = this.native.syncRecv(syncFd, SYNC_TIMEOUT_MS);
        if (msg.type === SyncType.READY) break;
        if (msg.type === SyncType.PTY) {
          ptyMaster = msg.fd;
          // foreground run: unless config.json sets consoleSize, the pty
          // takes our terminal's size before the program can ask for it
          if (!loaded.spec.process!.consoleSize) this.native.copyWinsize(0, ptyMaster);
          continue;
        }
        if (msg.type === SyncType.HOOKS) {
          hookState = creating;
          try {
            runHooks(this.native, hooks, 'prestart', hookState);
            runHooks(this.native, hooks, 'createRuntime', hookState);
            runHooks(this.native, hooks, 'createContainer', hookState, { nsPid: pid });
          } catch (e) {
            createHookFailed = true;
            throw e;
          }
          t?.mark('hooks');
          this.native.syncSend(syncFd, SyncType.GO);
          continue;
        }
        if (msg.type === SyncType.SECCOMP && seccomp && listenerPath) {
          sendToListener(this.native, listenerPath, containerProcessState(seccomp, creating), msg.fd);
          t?.mark('seccomp');
          continue;
        }
        if (msg.type === SyncType.ERROR) {
          throw new InitStepError(this.native.stepNames[msg.step] ?? `step ${msg.step}`, msg.errno, msg.code, msg.message);
        }
        const status = this.native.reap(pid);
        const how = status?.signal ? `was killed by signal ${status.signal}` : 'exited';
        throw new TsrunError('ECHILD', `container init ${how} during setup without reporting an error`);
      }
      t?.mark('init');
      fs.closeSync(syncFd);
      syncFd = -1;
      const now = process.hrtime.bigint();
      const state: StoredState = {
        ociVersion: loaded.spec.ociVersion,
        id,
        pid,
        pidStartTime: startTime,
        bundle: loaded.bundle,
        rootfs: loaded.rootfs,
        created: rfc3339Nano(Date.now(), now),
        owner: os.userInfo().username,
        annotations: loaded.spec.annotations ?? {},
        pidNamespace: ((plan.init.cloneFlags | plan.init.unshareFlags) & CLONE_NEWPID) !== 0n,
        hooks,
      };
      if (cgroup) state.cgroup = cgroup.state;
      this.store.write(state);
      if (opts.pidFile) writePidFile(opts.pidFile, pid);
      t?.mark('state');
      return { state, ptyMaster };
    } catch (e) {
      closeAll([...nsFds, syncFd, consoleFd, ptyMaster ?? -1]);
      if (pid > 0) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
        void this.native.waitPid(pid).catch(() => undefined);
      }
      try {
        // a cgroup that existed before this create is not ours to remove
        if (cgroupIsOurs) cgroup?.destroy();
      } catch (ce) {
        this.warn?.(`cleanup: ${(ce as Error).message}`);
      }
      this.store.remove(id);
      // runtime.md lifecycle: a failed create hook continues at "delete",
      // whose poststop hooks still run
      if (createHookFailed && hookState)
        runHooks(this.native, hooks, 'poststop', { ...hookState, status: 'stopped' }, { warnOnly: this.warnFn });
      throw e;
    } finally {
      lock.release();
    }
  }

  private readonly warnFn = (m: string) => this.warn?.(m);

  /** spawn, born in the v2 cgroup when there is one (CLONE_INTO_CGROUP). */
  private spawnInto(buffer: Uint8Array, cgroupDir: string | null): { pid: number; syncFd: number } {
    if (!cgroupDir) return this.native.spawn(buffer);
    const fd = fs.openSync(cgroupDir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      return this.native.spawn(buffer, fd);
    } finally {
      fs.closeSync(fd);
    }
  }

  private get attachDeviceProgram() {
    return this.native.attachDeviceProgram?.bind(this.native);
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
        runHooks(this.native, state.hooks, 'startContainer', this.hookState(state, 'created'), { nsPid: state.pid });
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

function writeOomScoreAdj(pid: number, value: number): void {
  try {
    fs.writeFileSync(`/proc/${pid}/oom_score_adj`, String(value));
  } catch (e) {
    throw new TsrunError('ESYSTEM', `process.oomScoreAdj: cannot set ${value}: ${(e as Error).message}`, { cause: e });
  }
}

/** runc's pid file: written to a temp name then renamed, no newline. */
export function writePidFile(file: string, pid: number): void {
  const abs = path.resolve(file);
  const tmp = path.join(path.dirname(abs), `.${path.basename(abs)}`);
  fs.writeFileSync(tmp, String(pid), { flag: 'w', mode: 0o644 });
  fs.renameSync(tmp, abs);
}
