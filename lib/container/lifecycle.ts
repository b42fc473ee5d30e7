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

import { loadBundle, type LoadedBundle } from '../config/load.js';
import { validateSpec } from '../config/validate.js';
import type { NativeBinding } from '../native/binding.js';
import { buildPlan, hasMountNamespace } from '../plan/build.js';
import type { LifecycleHost } from './host.js';
import { checkOwnUserNs, checkUnprivileged, PRIVILEGED_WRITER } from '../config/validate-rootless.js';
import { cgroupUsable, rootlessWithoutCgroup, withoutDevices } from '../cgroups/rootless.js';
import { CLONE_NEWPID } from '../plan/linux.js';
import { PlanFlag, type Plan } from '../plan/types.js';
import { closeAll } from './fds.js';
import { checkJoinedSetgroups, openNamespacePaths } from './namespaces.js';
import { openIdmapMounts } from './idmap.js';
import { recordedHooks, runHooks, type HookState } from './hooks.js';
import { InitStepError } from '../errors.js';
import type { Hooks } from '../config/types.js';
import { compileSeccomp, type SeccompCache } from '../plan/seccomp.js';
import { seccompCache } from './seccomp-cache.js';
import { writeFileReplacing } from './safe-files.js';
import { containerProcessState, sendToListener } from './seccomp-notify.js';
import { StateStore, rfc3339Nano, type IntentRecord, type StateJson, type StoredState } from './state.js';
import { fromHost, hostCall, hostCallAsync } from '../native/host.js';
import type { Timeline } from '../timeline.js';
import { loadCgroupManager, newCgroupManager, type CgroupManager, type CgroupState } from '../cgroups/manager.js';
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
  /** The init's fds 0-2 (-1: ours, inherited). */
  stdio?: readonly number[];
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
  /** The cgroup's directories this create made (the container's own: state.json's cgroup.owned). */
  cgroupOwned: string[];
  /** No mount namespace: what the init mounted under this rootfs is in ours, and must go. */
  hostMountsUnder: string | null;
  /** A create hook failed: runtime.md continues at "delete", whose poststop hooks still run. */
  hookFailed: { hooks: Hooks | undefined; state: HookState } | null;
  /** What the intent record says so far (written ahead of each thing made). */
  intent: IntentRecord;
}

export interface LifecycleMode {
  rootless: boolean;
  xdgRoot: boolean;
}

export class Lifecycle {
  readonly store: StateStore;
  constructor(
    root: string,
    readonly native: NativeBinding,
    readonly host: LifecycleHost,
    readonly timeline?: Timeline,
    /** Receives what is ignored rather than refused (e.g. unknown capabilities). */
    readonly warn?: (message: string) => void,
    /** Hears --debug detail (e.g. seccomp syscall names skipped). */
    readonly debug?: (message: string) => void,
    /** runc's --rootless (cgroup permission errors ignored where runc ignores them); the root is the XDG default. */
    readonly mode: LifecycleMode = { rootless: false, xdgRoot: false },
  ) {
    this.store = new StateStore(root, native, mode.xdgRoot);
    this.seccompCache = seccompCache(root, debug);
  }

  /** Compiled filters (libseccomp is slow): kept in memory and in the state root (seccomp-cache.ts). */
  private readonly seccompCache: SeccompCache;

  /** `warn`, for hooks whose failure only warns (poststart, poststop). */
  readonly warnFn = (m: string) => this.warn?.(m);

  async create(id: string, opts: CreateOptions): Promise<Created> {
    const t = this.timeline;
    const lock = this.store.claim(id);
    const made: Made = { childFds: [], cgroup: null, cgroupOwned: [], hostMountsUnder: null, hookFailed: null, intent: { id } };
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
      const launched = await this.launchInit(id, loaded, opts, plan, made);
      const state = this.record(id, loaded, plan, launched, opts, made);
      t?.mark('state');
      return { state, ptyMaster: launched.ptyMaster };
    } catch (e) {
      closeAll(made.childFds);
      if (made.hostMountsUnder) for (const w of this.native.unmountUnder(made.hostMountsUnder)) this.warn?.(w);
      try {
        // what this create made, by native/host's routine (delete's too); a
        // cgroup that existed before is not ours to remove
        const dirs = made.cgroup?.madeDirs() ?? [];
        if (dirs.length) await this.native.cgroupRemove(dirs);
      } catch (ce) {
        this.warn?.(`cleanup: ${(fromHost(ce) as Error).message}`);
      }
      this.store.remove(id);
      if (made.hookFailed)
        await runHooks(
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
    // what a runtime without privilege cannot do is refused here, with the field
    const unprivileged = this.host.unprivileged();
    const idMapWriter = checkOwnUserNs(
      spec,
      this.host.ownUserNs(),
      unprivileged ? checkUnprivileged(spec, unprivileged) : PRIVILEGED_WRITER,
    );
    checkJoinedSetgroups(spec);
    const nsFds = openNamespacePaths(spec, this.native); // checked by type before clone
    made.childFds.push(...nsFds.filter((fd): fd is number => fd !== undefined));
    const idmapTrees = openIdmapMounts(spec, loaded.bundle, this.native); // made by us: the init may lack the privilege
    made.childFds.push(...idmapTrees.values());
    this.timeline?.mark('validate');
    const seccomp = spec.linux?.seccomp ? compileSeccomp(this.native, spec.linux.seccomp, this.debug, this.seccompCache) : null;
    if (seccomp) {
      // exec loads the container's filter too: compiled once, kept now
      this.store.keepSeccomp(id, seccomp.bpf);
      this.timeline?.mark('seccomp');
    }
    // The cgroup exists, with every limit, before the init does.
    // device rules are not an unprivileged runtime's to apply (a v2 device
    // program needs CAP_SYS_ADMIN on the host): no program, no rules
    let cgroup = newCgroupManager(spec.linux?.cgroupsPath, id, unprivileged ? undefined : this.attachDeviceProgram);
    let resources = (spec.linux?.resources ?? {}) as LinuxResources;
    if (unprivileged) resources = withoutDevices(resources);
    if (cgroup && this.mode.rootless) {
      const dirs = Object.values(cgroup.state.paths);
      if (!cgroupUsable(dirs, this.host)) cgroup = rootlessWithoutCgroup(spec.linux?.cgroupsPath, resources, dirs[0] ?? '');
    }
    // Written ahead: what the init will mount in our namespace (none of its
    // own) and the cgroup directories about to be made, the container's own
    // (not those that exist: what runs in them is not this container's to
    // kill, nor are they its to remove).
    if (!hasMountNamespace(spec)) made.intent = { ...made.intent, rootfs: loaded.rootfs, hostMounts: true };
    if (cgroup) {
      for (const w of cgroup.check(resources)) this.warn?.(w);
      const fresh = [...new Set(Object.values(cgroup.state.paths))].filter((d) => !fs.existsSync(d));
      made.intent = withOwned(made.intent, cgroup.state, fresh);
    }
    if (made.intent.cgroup || made.intent.hostMounts) this.store.writeIntent(made.intent);
    if (cgroup) {
      made.cgroup = cgroup;
      made.cgroupOwned = cgroup.create();
      // a directory someone else made between the look and our mkdir is theirs
      const ahead = made.intent.cgroup?.owned ?? [];
      if (ahead.length !== made.cgroupOwned.length || ahead.some((d) => !made.cgroupOwned.includes(d)))
        this.store.writeIntent((made.intent = withOwned(made.intent, cgroup.state, made.cgroupOwned)));
      cgroup.apply(resources);
      this.timeline?.mark('cgroup');
    }
    const stateDir = this.store.dir(id);
    const fifo = this.store.fifo(id);
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
        idMapWriter,
        // Unprivileged, we may open the ns links of a created init only if
        // it is dumpable (native/init/exec.c). Its /proc/<pid>/exe is a
        // sealed copy of tsrun-init (native/host/spawn.c), and it holds
        // nothing of ours: safe to let the container's processes see it.
        waitDumpable: !!unprivileged,
        // a foreground run relays the pty to our terminal: it is born that size
        terminalSize: relaysTerminal(opts.detach, opts.consoleSocket) ? this.native.terminalSize(0) : null,
      },
      this.host,
    );
  }

  /** launch, answering the create hooks and the seccomp listener. */
  private launchInit(id: string, loaded: LoadedBundle, opts: CreateOptions, plan: Plan, made: Made): Promise<Launched> {
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
    let pidSeen = 0;
    const launched = launch(this.native, {
      plan,
      stdio: opts.stdio,
      cgroup: cgroup && { v2Dir: cgroup.v2Dir, join: (pid) => cgroup.addProcess(pid) },
      childFds,
      timeoutMs: SYNC_TIMEOUT_MS,
      timeline: this.timeline,
      // before the join: the pid a delete of a dead create must kill
      onPid: (pid) => {
        pidSeen = pid;
        this.store.writeIntent((made.intent = { ...made.intent, pid, pidStartTime: this.startTimeOf(pid) }));
      },
      // prestart and createRuntime: ours to run; the init runs createContainer
      // after them (native/init/hooks.c) and reports its failure as the step "hooks"
      onHooks: async (pid) => {
        const state = creating(pid);
        try {
          await runHooks(this.native, spec.hooks, 'prestart', state);
          await runHooks(this.native, spec.hooks, 'createRuntime', state);
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
    // a createContainer hook failed in the init: runtime.md goes on to delete, whose poststop hooks run
    return launched.catch((e: unknown) => {
      if (e instanceof InitStepError && e.step === 'hooks' && !made.hookFailed && spec.hooks?.createContainer?.length)
        made.hookFailed = { hooks: spec.hooks, state: creating(pidSeen) };
      throw e;
    });
  }

  /** state.json (and what exec needs later: the compiled filter), then the pid file. */
  private record(id: string, loaded: LoadedBundle, plan: Plan, launched: Launched, opts: CreateOptions, made: Made): StoredState {
    const { spec } = loaded;
    const cgroup = made.cgroup;
    const state: StoredState = {
      ociVersion: spec.ociVersion,
      id,
      pid: launched.pid,
      // read once, at PID, for the intent record
      pidStartTime:
        made.intent.pid === launched.pid && made.intent.pidStartTime ? made.intent.pidStartTime : this.startTimeOf(launched.pid),
      bundle: loaded.bundle,
      rootfs: loaded.rootfs,
      // one real-time reading: its seconds and nanoseconds agree (a monotonic
      // fraction could order two containers of the same second wrongly)
      created: rfc3339Nano(this.native.realtimeNs()),
      owner: this.native.userName(process.geteuid?.() ?? 0),
      annotations: spec.annotations ?? {},
      pidNamespace: ((plan.init.cloneFlags | plan.init.unshareFlags) & CLONE_NEWPID) !== 0n,
      hooks: recordedHooks(spec.hooks),
      noNewKeyring: opts.noNewKeyring ?? false,
    };
    if (plan.init.flags & PlanFlag.HOST_MOUNTS) state.hostMounts = true;
    const seccomp = plan.init.seccomp;
    if (seccomp) {
      const s = spec.linux!.seccomp!;
      state.seccomp = { flags: seccomp.flags, listenerPath: s.listenerPath ?? null, listenerMetadata: s.listenerMetadata };
    }
    if (cgroup) state.cgroup = { ...cgroup.state, owned: made.cgroupOwned };
    this.store.write(state);
    if (opts.pidFile) writePidFile(opts.pidFile, launched.pid);
    return state;
  }

  /** The start time (/proc/<pid>/stat field 22) that guards against pid reuse; 0 when it is gone. */
  private startTimeOf(pid: number): number {
    return this.native.procStartTime(pid)?.startTime ?? 0;
  }

  private get attachDeviceProgram() {
    return this.native.attachDeviceProgram?.bind(this.native);
  }

  /** The container's seccomp filter as create compiled it (null: none). */
  seccompOf(state: StoredState): { bpf: Uint8Array; flags: number } | null {
    return state.seccomp ? { bpf: this.store.readSeccomp(state.id), flags: state.seccomp.flags } : null;
  }

  /** The container's cgroup manager (null: no cgroup recorded). */
  cgroupOf(state: StoredState): CgroupManager | null {
    return state.cgroup ? loadCgroupManager(state.cgroup, this.attachDeviceProgram) : null;
  }

  /** Release the exec fifo (the init runs the startContainer hooks, then execs), poststart hooks (native/host). */
  async start(id: string): Promise<void> {
    await hostCallAsync(this.native, 'start', this.store.root, id, 0, false, this.warnFn, this.timeline);
  }

  /**
   * Runs a new process in a created, running (or, with ignorePaused, paused)
   * container: lib/container/exec.ts. Returns once it has exec'd.
   */
  exec(id: string, opts: ExecOptions): Promise<Launched> {
    return execProcess(this, id, opts);
  }

  state(id: string): StateJson {
    return JSON.parse(hostCall(this.native, 'state', this.store.root, id).out!) as StateJson;
  }

  list(): StateJson[] {
    return JSON.parse(hostCall(this.native, 'list', this.store.root).out!) as StateJson[];
  }

  async kill(id: string, signal: number, all: boolean): Promise<void> {
    await hostCallAsync(this.native, 'kill', this.store.root, id, signal, all, this.warnFn, this.timeline);
  }

  /** Host pids of the container's processes, sorted (native/host/members.c: not the other processes of a cgroup that existed before it). */
  async ps(id: string): Promise<number[]> {
    return (await hostCallAsync(this.native, 'ps', this.store.root, id, 0, false, undefined, this.timeline)).pids!;
  }

  async pause(id: string): Promise<void> {
    await hostCallAsync(this.native, 'pause', this.store.root, id, 0, false, this.warnFn, this.timeline);
  }

  async resume(id: string): Promise<void> {
    await hostCallAsync(this.native, 'resume', this.store.root, id, 0, false, this.warnFn, this.timeline);
  }

  /** Kills what runs, removes the cgroup directories its create made and the state, runs poststop hooks; on the threadpool (it waits for the init to die). */
  async delete(id: string, force: boolean): Promise<void> {
    await hostCallAsync(this.native, 'delete', this.store.root, id, 0, force, this.warnFn, this.timeline);
  }
}

/** The intent record with the cgroup and the directories of it that are the container's (none: no cgroup to undo). */
function withOwned(intent: IntentRecord, cgroup: CgroupState, owned: string[]): IntentRecord {
  const { cgroup: _, ...rest } = intent;
  return owned.length ? { ...rest, cgroup: { ...cgroup, owned } } : rest;
}

/** A foreground run or exec without a console socket relays the pty to our own terminal. */
export function relaysTerminal(detach: boolean, consoleSocket: string | undefined): boolean {
  return !detach && consoleSocket === undefined;
}

/**
 * runc's pid file: the pid, no newline, replaced whole. Its directory may be
 * another user's to write: the temporary file is new (O_EXCL|O_NOFOLLOW) at
 * an unpredictable name, never a symlink planted at a name we would use.
 */
export function writePidFile(file: string, pid: number): void {
  writeFileReplacing(file, String(pid), 0o644);
}
