/**
 * create: a container from a bundle, in phases that each own one thing.
 *
 *   claim    the state dir, locked (lib/container/state.ts)
 *   load     config.json's shape; validate: every rule (lib/config/)
 *   decide   what will be made, from the config and host facts: data only,
 *            nothing exists yet, so every refusal leaves nothing behind
 *   make     what the plan needs (namespace fds, idmapped trees, the
 *            seccomp filter, the cgroup with every limit, the exec fifo, the
 *            console socket), each pushed with its undo
 *   plan     pure and complete (lib/plan/build.ts)
 *   launch   spawn + the sync loop (lib/container/launch.ts)
 *   record   state.json, then the pid file
 *
 * A failure anywhere runs the undo stack, last first (lib/container/undo.ts):
 * launch has already killed and reaped its process; then go what the init
 * mounted in our namespace (without one of its own), the cgroup directories
 * this create made, the fds, the state dir. When a create hook failed,
 * poststop hooks run after (runtime.md goes on at delete).
 */
import { cgroupUsable, rootlessWithoutCgroup, withoutDevices } from '../cgroups/rootless.js';
import type { CgroupManager, CgroupState } from '../cgroups/manager.js';
import type { LinuxResources } from '../cgroups/resources.js';
import { loadBundle, type LoadedBundle } from '../config/load.js';
import type { Hooks, Spec } from '../config/types.js';
import { validateSpec } from '../config/validate.js';
import { checkOwnUserNs, checkUnprivileged, PRIVILEGED_WRITER, type IdMapWriter } from '../config/validate-rootless.js';
import { resctrlOf } from '../config/validate-process.js';
import { InitStepError, TsrunError } from '../errors.js';
import { buildPlan, hasMountNamespace, overlayData } from '../plan/build.js';
import { CLONE_NEWPID } from '../plan/linux.js';
import { planRdt, type RdtGroup, type RdtPlan } from '../plan/resctrl.js';
import { compileSeccomp, type PlanSeccomp } from '../plan/seccomp.js';
import { PlanFlag, type Plan, type RootfsOverlay } from '../plan/types.js';
import { attachDeviceProgram, systemdBus, type LifecycleContext } from './context.js';
import { closeAll } from './fds.js';
import { relaysTerminal } from './foreground.js';
import { recordedHooks, runHooks, type HookState } from './hooks.js';
import { openMountTrees } from './mount-trees.js';
import { launch, SYNC_TIMEOUT_MS, type Launched } from './launch.js';
import { checkJoinedSetgroups, openNamespacePaths } from './namespaces.js';
import { writePidFile } from './safe-files.js';
import { containerProcessState, sendToListener } from './seccomp-notify.js';
import { rfc3339Nano, type IntentRecord, type StoredState } from './state.js';
import { Undo } from './undo.js';

export type { RootfsOverlay } from '../plan/types.js';

export interface CreateOptions {
  bundle: string;
  pidFile?: string;
  consoleSocket?: string;
  /** AF_UNIX socket that receives a pidfd of the container's init (runc's --pidfd-socket). */
  pidfdSocket?: string;
  noPivot?: boolean;
  noNewKeyring?: boolean;
  preserveFds?: number;
  /** Appended to process.env (LISTEN_FDS/LISTEN_PID of socket activation). */
  extraEnv?: string[];
  /** The runtime will not stay to relay a terminal (create, run --detach). */
  detach: boolean;
  /** The init's fds 0-2 (-1: ours, inherited). */
  stdio?: readonly number[];
  /**
   * The API's clean containers (never from a config): an overlay of these
   * directories is mounted on the rootfs path in the container's mount
   * namespace instead of the rootfs's bind, and dies with it.
   */
  rootfsOverlay?: RootfsOverlay;
  /** Whose words errors about options use: the CLI's flags or the API's options (lib/config/validate.ts). */
  words?: 'cli' | 'api';
}

export interface Created {
  state: StoredState;
  /** The pty master when process.terminal is set and no console socket was given. */
  ptyMaster: number | null;
}

/** What create will make, decided before anything exists. */
export interface CreateDecision {
  /** How the new user namespace's maps are written (lib/config/validate-rootless.ts). */
  idMapWriter: IdMapWriter;
  /** The runtime is unprivileged: the init waits dumpable (native/init/exec.c), no device rules. */
  unprivileged: boolean;
  /**
   * The container's cgroup, not made yet; null: none (the host has no
   * cgroups we manage, or a rootless runtime has no usable one).
   * `fresh`: its directories that do not exist yet, which this create will
   * make and which are then the container's own.
   */
  cgroup: { manager: CgroupManager; resources: LinuxResources; fresh: string[] } | null;
  /** linux.intelRdt's groups and writes, not made yet (null: none). */
  rdt: RdtPlan | null;
  /** No mount namespace: the init mounts in ours (and delete unmounts). */
  hostMounts: boolean;
  /** A foreground run relays the pty to our terminal: the pty is born that size. */
  terminalSize: { rows: number; cols: number } | null;
  /** What is only warned about (a cgroup that already holds processes). */
  warnings: string[];
}

/** What make made for the plan. */
export interface Made {
  nsFds: (number | undefined)[];
  mountTrees: Map<number, number>;
  seccomp: PlanSeccomp | null;
  consoleSocketFd: number;
  pidfdSocketFd: number;
  /** fds for the init only, handed to launch (which closes them whatever happens). */
  childFds: number[];
  /** The intent record as written (lib/container/state.ts). */
  intent: IntentRecord;
  /** The resctrl groups as made (owned: delete removes the CTRL_MON group), or null. */
  rdt: RdtGroup | null;
}

/** A create hook failed: runtime.md goes on at delete, whose poststop hooks still run. */
class CreateHookFailed extends Error {
  constructor(
    readonly error: unknown,
    readonly hooks: Hooks | undefined,
    readonly state: HookState,
  ) {
    super('create hook failed');
  }
}

export async function createContainer(ctx: LifecycleContext, id: string, opts: CreateOptions): Promise<Created> {
  const t = ctx.timeline;
  // v1 hierarchies: the grace period the init's cgroup join waits for starts now, on a thread (native/host/launch.c)
  ctx.native.cgroupWarm();
  const lock = ctx.store.claim(id);
  const undo = new Undo();
  undo.push('the state dir', () => ctx.store.remove(id));
  try {
    t?.mark('claim');
    const loaded = loadBundle(opts.bundle);
    t?.mark('load');
    const opt = {
      rootfs: loaded.rootfs,
      bundle: loaded.bundle,
      detach: opts.detach,
      consoleSocket: opts.consoleSocket !== undefined,
      words: opts.words,
    };
    for (const w of validateSpec(loaded.spec, ctx.host, opt)) ctx.warn(w);
    if (opts.rootfsOverlay) {
      overlayData(opts.rootfsOverlay);
      if (!loaded.spec.linux?.namespaces?.some((n) => n.type === 'mount' && !n.path))
        throw new TsrunError(
          'EUSAGE',
          'an overlay rootfs needs a new mount namespace (linux.namespaces: {"type": "mount"} without a path)',
        );
    }
    const decided = decideCreate(ctx, id, loaded, opts);
    for (const w of decided.warnings) ctx.warn(w);
    const made = await make(ctx, id, loaded, opts, decided, undo);
    const plan = planInit(ctx, id, loaded, opts, decided, made);
    t?.mark('plan');
    if (decided.hostMounts)
      undo.push('what the init mounted under the rootfs', () => {
        for (const w of ctx.native.unmountUnder(loaded.rootfs)) ctx.warn(w);
      });
    const launched = await launchInit(ctx, id, loaded, opts, decided, plan, made);
    undo.push('the init', async () => {
      ctx.host.kill(launched.pid, 9);
      await ctx.native.waitPid(launched.pid).catch(() => undefined);
    });
    const state = record(ctx, id, loaded, opts, decided, plan, made, launched);
    t?.mark('state');
    return { state, ptyMaster: launched.ptyMaster };
  } catch (e) {
    await undo.run(ctx.warn);
    if (e instanceof CreateHookFailed) {
      await runHooks(ctx.native, e.hooks, 'poststop', { ...e.state, status: 'stopped' }, { warnOnly: ctx.warn });
      throw e.error;
    }
    throw e;
  } finally {
    lock.release();
  }
}

/**
 * Everything create will make, decided from the config and host facts
 * before anything exists: a refusal here (what an unprivileged runtime may
 * not do, a cgroup a rootless one may not use, a frozen cgroup) leaves
 * nothing behind.
 */
export function decideCreate(ctx: LifecycleContext, id: string, loaded: LoadedBundle, opts: CreateOptions): CreateDecision {
  const { spec } = loaded;
  const unprivileged = ctx.host.unprivileged();
  const idMapWriter = checkOwnUserNs(spec, ctx.host.ownUserNs(), unprivileged ? checkUnprivileged(spec, unprivileged) : PRIVILEGED_WRITER);
  checkJoinedSetgroups(spec);
  // Device rules are not a rootless runtime's to apply (a v2 device program
  // needs CAP_SYS_ADMIN in the host's user namespace, which root in a user
  // namespace, podman's rootless runtime, lacks too): no program, no rules,
  // as runc's rootless cgroups.
  const noDevices = !!unprivileged || ctx.mode.rootless;
  let manager = ctx.host.newCgroup({
    cgroupsPath: spec.linux?.cgroupsPath,
    id,
    attach: noDevices ? undefined : attachDeviceProgram(ctx),
    // rootless: the user's own manager, over the user's bus (runc's rule)
    systemd: ctx.mode.systemdCgroup ? { bus: systemdBus(ctx), user: ctx.mode.rootless, annotations: spec.annotations } : undefined,
  });
  let resources = (spec.linux?.resources ?? {}) as LinuxResources;
  if (noDevices) resources = withoutDevices(resources);
  // (a systemd unit is made by the user's manager, which may: no directory of ours to judge)
  if (manager && ctx.mode.rootless && !manager.state.systemd) {
    const dirs = Object.values(manager.state.paths);
    if (!cgroupUsable(dirs, ctx.host)) manager = rootlessWithoutCgroup(spec.linux?.cgroupsPath, resources, dirs[0] ?? '');
  }
  const warnings = manager ? manager.check(resources) : [];
  const fresh = manager ? [...new Set(Object.values(manager.state.paths))].filter((d) => !ctx.host.exists(d)) : [];
  return {
    idMapWriter,
    unprivileged: !!unprivileged,
    cgroup: manager && { manager, resources, fresh },
    // validation found resctrl (lib/config/validate-process.ts)
    rdt: spec.linux?.intelRdt ? planRdt(spec.linux.intelRdt, id, resctrlOf(ctx.host)!) : null,
    hostMounts: !hasMountNamespace(spec),
    terminalSize: relaysTerminal(opts.detach, opts.consoleSocket) ? ctx.native.terminalSize(0) : null,
    warnings,
  };
}

/**
 * What the plan needs from the host, made before any process exists, each
 * with its undo. The intent record is written ahead of what a delete of a
 * create that died here would have to undo: the cgroup directories about to
 * be made (the container's own), the mounts the init will make in our
 * namespace.
 */
async function make(
  ctx: LifecycleContext,
  id: string,
  loaded: LoadedBundle,
  opts: CreateOptions,
  d: CreateDecision,
  undo: Undo,
): Promise<Made> {
  const { spec } = loaded;
  const t = ctx.timeline;
  const childFds: number[] = [];
  undo.push('the fds for the init', () => closeAll(childFds.splice(0)));
  const nsFds = openNamespacePaths(spec, ctx.native); // checked by type before clone
  childFds.push(...nsFds.filter((fd): fd is number => fd !== undefined));
  const mountTrees = openMountTrees(spec, loaded.bundle, ctx.native); // ours: the init may lack the privilege or the access
  childFds.push(...mountTrees.values());
  t?.mark('validate');
  const compiled = spec.linux?.seccomp ? compileSeccomp(ctx.native, spec.linux.seccomp, ctx.debug, ctx.seccompCache) : null;
  const seccomp = compiled && { bpf: compiled.bpf, flags: compiled.flags };
  if (seccomp) {
    ctx.store.keepSeccomp(id, seccomp.bpf); // exec loads it too; it goes with the state dir
    t?.mark('seccomp');
  }
  let intent: IntentRecord = { id };
  if (d.hostMounts) intent = { ...intent, rootfs: loaded.rootfs, hostMounts: true };
  if (d.cgroup) intent = withOwned(intent, d.cgroup.manager.state, d.cgroup.fresh);
  if (intent.cgroup || intent.hostMounts) ctx.store.writeIntent(intent);
  if (d.cgroup) intent = await makeCgroup(ctx, d.cgroup, intent, undo);
  let rdt: RdtGroup | null = null;
  if (d.rdt) {
    const { group, schemata, mustExist, named } = d.rdt;
    // a group named by no closID that is not there yet is this create's:
    // the intent says so before the mkdir, so a delete of a create that
    // dies here removes it (a named group is never ours to remove)
    const fresh = !named && !ctx.host.exists(`${group.root}/${group.clos}`);
    ctx.store.writeIntent((intent = { ...intent, intelRdt: { ...group, owned: fresh } }));
    undo.push('the resctrl group', () => ctx.native.rdt('remove', rdt ?? { ...group, owned: false }));
    try {
      const isNew = ctx.native.rdt('make', group, { schemata, mustExist, named });
      rdt = { ...group, owned: !named && isNew };
    } catch (e) {
      throw new TsrunError('ESYSTEM', `linux.intelRdt: ${(e as Error).message}`, { cause: e });
    }
    if (rdt.owned !== fresh) ctx.store.writeIntent((intent = { ...intent, intelRdt: rdt }));
    t?.mark('intelRdt');
  }
  ctx.store.makeFifo(id);
  const consoleSocketFd = opts.consoleSocket !== undefined ? ctx.native.connectUnix(opts.consoleSocket) : -1;
  if (consoleSocketFd >= 0) childFds.push(consoleSocketFd);
  const pidfdSocketFd = opts.pidfdSocket !== undefined ? ctx.native.connectUnix(opts.pidfdSocket) : -1;
  if (pidfdSocketFd >= 0) childFds.push(pidfdSocketFd);
  return { nsFds, mountTrees, seccomp, consoleSocketFd, pidfdSocketFd, childFds, intent, rdt };
}

function planInit(ctx: LifecycleContext, id: string, loaded: LoadedBundle, opts: CreateOptions, d: CreateDecision, made: Made): Plan {
  const manager = d.cgroup?.manager;
  return buildPlan(
    loaded.spec,
    {
      id,
      bundle: loaded.bundle,
      rootfs: loaded.rootfs,
      stateDir: ctx.store.dir(id),
      noPivot: opts.noPivot,
      noNewKeyring: opts.noNewKeyring,
      consoleSocketFd: made.consoleSocketFd,
      pidfdSocketFd: made.pidfdSocketFd,
      preserveFds: opts.preserveFds,
      extraEnv: opts.extraEnv,
      nsFds: made.nsFds,
      seccomp: made.seccomp,
      mountTrees: made.mountTrees,
      cgroupV1: manager?.state.version === 1 ? manager.v1Hierarchies() : undefined,
      idMapWriter: d.idMapWriter,
      // Unprivileged, we may open the ns links of a created init only if it
      // is dumpable (native/init/exec.c). Its /proc/<pid>/exe is a sealed
      // copy of tsrun-init (native/host/spawn.c), and it holds nothing of
      // ours: safe to let the container's processes see it.
      waitDumpable: d.unprivileged,
      terminalSize: d.terminalSize,
      rdt: made.rdt,
      rootfsOverlay: opts.rootfsOverlay,
    },
    ctx.host,
  );
}

/** launch, answering the runtime's create hooks and the seccomp listener. */
async function launchInit(
  ctx: LifecycleContext,
  id: string,
  loaded: LoadedBundle,
  opts: CreateOptions,
  d: CreateDecision,
  plan: Plan,
  made: Made,
): Promise<Launched> {
  const { spec } = loaded;
  const creating = creatingState(spec, id, loaded.bundle);
  const seccomp = spec.linux?.seccomp;
  const listenerPath = seccomp?.listenerPath;
  const manager = d.cgroup?.manager;
  let pid = 0; // the init's, once PID told it: the state a failed hook's poststop reads
  try {
    return await launch(ctx.native, ctx.host, {
      plan,
      stdio: opts.stdio,
      cgroup: manager ? { v2Dir: manager.v2Dir, join: (p) => manager.addProcess(p) } : null,
      childFds: made.childFds.splice(0),
      timeoutMs: SYNC_TIMEOUT_MS,
      timeline: ctx.timeline,
      // before the join: the pid a delete of a dead create must kill
      onPid: (p, startTime) => {
        pid = p;
        ctx.store.writeIntent({ ...made.intent, pid: p, pidStartTime: startTime });
      },
      // prestart and createRuntime are ours to run; the init runs
      // createContainer after them (native/init/hooks.c) and reports its
      // failure as the step "hooks"
      onHooks: async (p) => {
        try {
          await runHooks(ctx.native, spec.hooks, 'prestart', creating(p));
          await runHooks(ctx.native, spec.hooks, 'createRuntime', creating(p));
        } catch (e) {
          throw new CreateHookFailed(e, spec.hooks, creating(p));
        }
      },
      onSeccomp:
        seccomp && listenerPath
          ? (fd, p) => sendToListener(ctx.native, listenerPath, containerProcessState(seccomp.listenerMetadata, creating(p)), fd)
          : undefined,
    });
  } catch (e) {
    if (e instanceof InitStepError && e.step === 'hooks' && spec.hooks?.createContainer?.length)
      throw new CreateHookFailed(e, spec.hooks, creating(pid));
    throw e;
  }
}

/** state.json (with the cgroup directories that are the container's), then the pid file. */
function record(
  ctx: LifecycleContext,
  id: string,
  loaded: LoadedBundle,
  opts: CreateOptions,
  d: CreateDecision,
  plan: Plan,
  made: Made,
  launched: Launched,
): StoredState {
  const state = stateRecord(ctx, id, loaded, {
    pid: launched.pid,
    pidStartTime: launched.pidStartTime,
    pidNamespace: ((plan.init.cloneFlags | plan.init.unshareFlags) & CLONE_NEWPID) !== 0n,
    hostMounts: (plan.init.flags & PlanFlag.HOST_MOUNTS) !== 0,
    seccompFlags: made.seccomp?.flags ?? null,
    cgroup: d.cgroup ? { ...d.cgroup.manager.state, owned: d.cgroup.manager.owned() } : undefined,
    intelRdt: made.rdt ?? undefined,
    noNewKeyring: opts.noNewKeyring ?? false,
  });
  ctx.store.write(state);
  if (opts.pidFile) writePidFile(ctx.native, opts.pidFile, launched.pid);
  return state;
}

/**
 * The decided cgroup made, with every limit, its undo pushed; the intent
 * record (already written with the directories about to be made) rewritten
 * if what was made differs. Create's and restore's.
 */
export async function makeCgroup(
  ctx: LifecycleContext,
  cgroup: NonNullable<CreateDecision['cgroup']>,
  intent: IntentRecord,
  undo: Undo,
): Promise<IntentRecord> {
  const { manager, resources, fresh } = cgroup;
  // What this create made goes by native/host's routine (delete's too):
  // the directories it made, the unit it started; a cgroup that existed
  // before is not ours to remove.
  undo.push('the cgroup', () => {
    const made = manager.made();
    return made.dirs.length || made.systemd ? ctx.native.cgroupRemove(made.dirs, made.systemd) : undefined;
  });
  const owned = manager.create();
  // a directory someone else made between the look and our mkdir is
  // theirs (a systemd unit is made at the join, and only if none exists)
  if (!manager.state.systemd && (owned.length !== fresh.length || owned.some((dir) => !fresh.includes(dir))))
    ctx.store.writeIntent((intent = withOwned(intent, manager.state, owned)));
  await manager.apply(resources);
  ctx.timeline?.mark('cgroup');
  return intent;
}

/** The state hooks read while the container is being made (runtime.md: status "creating"). */
export function creatingState(spec: Spec, id: string, bundle: string): (pid: number) => HookState {
  return (pid) => ({ ociVersion: spec.ociVersion, id, status: 'creating', pid, bundle, annotations: spec.annotations ?? {} });
}

/** What state.json says of a container whose init is `pid` (create's and restore's). */
export function stateRecord(
  ctx: LifecycleContext,
  id: string,
  loaded: LoadedBundle,
  r: {
    pid: number;
    pidStartTime: number;
    pidNamespace: boolean;
    hostMounts: boolean;
    /** linux.seccomp compiled with these flags (null: no filter). */
    seccompFlags: number | null;
    cgroup?: StoredState['cgroup'];
    intelRdt?: RdtGroup;
    noNewKeyring?: boolean;
  },
): StoredState {
  const { spec } = loaded;
  const state: StoredState = {
    ociVersion: spec.ociVersion,
    id,
    pid: r.pid,
    pidStartTime: r.pidStartTime,
    bundle: loaded.bundle,
    rootfs: loaded.rootfs,
    // one real-time reading: its seconds and nanoseconds agree (a monotonic
    // fraction could order two containers of the same second wrongly)
    created: rfc3339Nano(ctx.native.realtimeNs()),
    owner: ctx.native.userName(process.geteuid?.() ?? 0),
    annotations: spec.annotations ?? {},
    pidNamespace: r.pidNamespace,
    hooks: recordedHooks(spec.hooks),
  };
  if (r.noNewKeyring !== undefined) state.noNewKeyring = r.noNewKeyring;
  if (r.hostMounts) state.hostMounts = true;
  if (r.seccompFlags !== null) {
    const s = spec.linux!.seccomp!;
    state.seccomp = { flags: r.seccompFlags, listenerPath: s.listenerPath ?? null, listenerMetadata: s.listenerMetadata };
  }
  if (r.cgroup) state.cgroup = r.cgroup;
  if (r.intelRdt) state.intelRdt = r.intelRdt;
  return state;
}

/** The intent record with the cgroup, the directories of it that are the container's and its unit (none of them: no cgroup to undo). */
export function withOwned(intent: IntentRecord, cgroup: CgroupState, owned: string[]): IntentRecord {
  const { cgroup: _, ...rest } = intent;
  return owned.length || cgroup.systemd ? { ...rest, cgroup: { ...cgroup, owned } } : rest;
}
