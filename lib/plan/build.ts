/**
 * Spec → the init's Plan. Pure: every host fact comes in through `PlanHost`
 * and every resource the runtime prepared (namespace fds, idmapped trees,
 * the compiled seccomp filter, the container's cgroups) through
 * `PlanOptions`, so the plan is complete when this returns.
 */
import type { Process, Spec } from '../config/types.js';
import { planMountAttrs, planProcAttrs, rootPropagationPlan } from './attrs.js';
import { planDevices, planSymlinks } from './devices.js';
import { planInitHooks } from './hooks.js';
import { labelMounts, planMounts, type MountHost, type V1Hierarchy } from './mounts.js';
import { planNamespaces } from './namespaces.js';
import { planCaps, planEnv, planRlimits } from './process.js';
import type { RdtGroup } from './resctrl.js';
import type { PlanSeccomp } from './seccomp.js';
import { PlanFlag, type InitPlan, type Plan, type RootfsOverlay } from './types.js';
import { PRIVILEGED_WRITER, type IdMapWriter } from '../config/validate-rootless.js';
import { lsmEnabled } from '../config/validate-process.js';
import { KERNEL } from '../native/constants.js';
import { TsrunError } from '../errors.js';

export interface PlanHost extends MountHost {
  /** HOME of `uid` from the rootfs's /etc/passwd, or null; asked only when process.env has no HOME. */
  homeOf(rootfs: string, uid: number): string | null;
  /** A small text file's content, or null; here: whether SELinux is on (lsmEnabled). */
  read?(p: string): string | null;
}

export interface PlanOptions {
  id: string;
  /** The bundle directory: relative bind sources resolve against it. */
  bundle: string;
  rootfs: string;
  stateDir: string;
  noPivot?: boolean;
  noNewKeyring?: boolean;
  /** fd of the connected --console-socket, or -1. */
  consoleSocketFd?: number;
  /** fd of the connected --pidfd-socket, or -1. */
  pidfdSocketFd?: number;
  preserveFds?: number;
  /** Appended to the process environment (socket activation). */
  extraEnv?: string[];
  /** fds of the opened linux.namespaces[i].path, by index. */
  nsFds?: readonly (number | undefined)[];
  /** linux.seccomp compiled by the runtime (lib/plan/seccomp.ts); absent or null: none. */
  seccomp?: PlanSeccomp | null;
  /** Mount trees the runtime prepared (lib/container/mount-trees.ts: idmapped mounts, binds into a user namespace), by mounts[] index. */
  mountTrees?: ReadonlyMap<number, number>;
  /** The pty's size when process.consoleSize has none: the caller's terminal, for a foreground run. */
  terminalSize?: { rows: number; cols: number } | null;
  /** The container's own cgroup in each v1 hierarchy, for a `cgroup` mount (default: the host's). */
  cgroupV1?: readonly V1Hierarchy[];
  /** How the runtime writes the id maps (lib/config/validate-rootless.ts); default: itself, setgroups allowed (privileged). */
  idMapWriter?: IdMapWriter;
  /** The runtime lacks CAP_SYS_PTRACE over the init: the init stays dumpable while the runtime must open its /proc/<pid>/ns (native/init/exec.c). */
  waitDumpable?: boolean;
  /** linux.intelRdt's groups (lib/plan/resctrl.ts), made by the runtime; the init joins them after its cgroup. */
  rdt?: RdtGroup | null;
  /** An overlay mounted on the rootfs instead of its bind (the API's clean containers). */
  rootfsOverlay?: RootfsOverlay;
}

/** Flags and fields of the process part, shared by the init and tenant planners. */
export function processFlags(proc: Process): number {
  let flags = 0;
  if (proc.noNewPrivileges) flags |= PlanFlag.NO_NEW_PRIVS;
  if (proc.terminal) flags |= PlanFlag.TERMINAL;
  if (proc.user.umask !== undefined) flags |= PlanFlag.SET_UMASK;
  if (proc.capabilities) flags |= PlanFlag.SET_CAPS;
  return flags;
}

export function buildPlan(spec: Spec, opts: PlanOptions, host: PlanHost): Plan {
  const proc = spec.process!;
  const ns = planNamespaces(spec, opts.nsFds);
  let flags = processFlags(proc);
  if (opts.noPivot) flags |= PlanFlag.NO_PIVOT;
  if (spec.root?.readonly) flags |= PlanFlag.ROOT_READONLY;
  if (!opts.noNewKeyring) flags |= PlanFlag.NEW_KEYRING;
  // the init stops for the runtime's create hooks; createContainer it runs itself
  if (spec.hooks?.prestart?.length || spec.hooks?.createRuntime?.length) flags |= PlanFlag.HOOK_SYNC;
  if (!hasMountNamespace(spec)) flags |= PlanFlag.HOST_MOUNTS;
  const writer = opts.idMapWriter ?? PRIVILEGED_WRITER;
  if (ns.idMaps && writer.denySetgroups) flags |= PlanFlag.NO_SETGROUPS;
  if (opts.waitDumpable) flags |= PlanFlag.WAIT_DUMPABLE;
  const {
    before: rootfsPropagation,
    parent: rootfsParentPropagation,
    after: rootPropagationAfter,
  } = rootPropagationPlan(spec.linux?.rootfsPropagation);
  // linux.mountLabel only where SELinux is on (elsewhere ignored, as crun does: no kernel takes context=)
  const mountLabel = spec.linux?.mountLabel && lsmEnabled((p) => host.read?.(p)).selinux ? spec.linux.mountLabel : null;
  const planned = planMounts(spec, opts.bundle, host, opts.cgroupV1);
  const mounts = mountLabel ? labelMounts(planned, mountLabel) : planned;
  const trees = opts.mountTrees ?? new Map<number, number>();
  const idmapMounts: InitPlan['idmapMounts'] = [];
  mounts.forEach((m, mountIndex) => {
    const fd = m.from === undefined ? undefined : trees.get(m.from);
    if (fd !== undefined) idmapMounts.push({ mountIndex, fd });
  });
  if (idmapMounts.length !== trees.size) throw new Error('buildPlan: a prepared mount tree matches no planned mount');
  const env = [...planEnv(proc, () => host.homeOf(opts.rootfs, proc.user.uid)), ...(opts.extraEnv ?? [])];
  const rlimits = planRlimits(proc);
  const { hooks, hookState } = planInitHooks(spec, opts.id, opts.bundle, env);
  return {
    init: {
      flags,
      cloneFlags: ns.cloneFlags,
      rootfsPropagation,
      rootfsParentPropagation: Number(rootfsParentPropagation),
      caps: proc.capabilities ? planCaps(proc.capabilities) : [0n, 0n, 0n, 0n, 0n],
      uid: proc.user.uid,
      gid: proc.user.gid,
      umask: proc.user.umask ?? 0o022,
      consoleWidth: proc.consoleSize?.width ?? opts.terminalSize?.cols ?? 0,
      consoleHeight: proc.consoleSize?.height ?? opts.terminalSize?.rows ?? 0,
      consoleSocketFd: opts.consoleSocketFd ?? -1,
      pidfdSocketFd: opts.pidfdSocketFd ?? -1,
      preserveFds: opts.preserveFds ?? 0,
      rootfs: opts.rootfs,
      hostname: spec.hostname ? spec.hostname : null,
      domainname: spec.domainname ? spec.domainname : null,
      cwd: proc.cwd,
      stateDir: opts.stateDir,
      keyring: opts.noNewKeyring ? null : sessionKeyring(opts.id),
      args: [...proc.args!],
      env,
      additionalGids: [...(proc.user.additionalGids ?? [])],
      mounts,
      rlimits,
      devices: planDevices(spec),
      symlinks: planSymlinks(spec, host.kind('/proc/kcore') !== null),
      seccomp: opts.seccomp ?? null,
      procAttrs: planProcAttrs(spec, rootPropagationAfter),
      mountAttrs: planMountAttrs(mounts),
      unshareFlags: ns.unshareFlags,
      nsFlags: ns.nsFlags,
      // runc's: search for the keyring's user, or for others across a user namespace
      keyringPerms: opts.noNewKeyring ? 0 : hasUserNamespace(spec) ? KERNEL.keyPerms.OTH_SEARCH : KERNEL.keyPerms.USR_SEARCH,
      nsJoins: ns.nsJoins,
      timeOffsets: ns.timeOffsets,
      idmapMounts,
      cpuAffinity: { initial: [], final: [] }, // execCPUAffinity applies to exec only (config.md)
      hooks,
      hookState,
      apparmorProfile: proc.apparmorProfile || null,
      selinuxLabel: proc.selinuxLabel || null,
      mqueueLabel: mountLabel,
      rootfsOverlay: opts.rootfsOverlay ? overlayData(opts.rootfsOverlay) : null,
    },
    host: {
      oomScoreAdj: proc.oomScoreAdj ?? null,
      netDevices: Object.entries(spec.linux?.netDevices ?? {}).map(([hostName, d]) => ({ hostName, name: d?.name || hostName })),
      idMaps: ns.idMaps && { ...ns.idMaps, ...writer },
      rlimits: hasUserNamespace(spec) ? rlimits : [],
      rdt: opts.rdt ?? null,
    },
  };
}

/**
 * mount(2) data of an overlay rootfs. Its paths are the API's own (a cache
 * and a scratch dir), but a comma, colon or backslash would change what the
 * options say: refused rather than escaped.
 */
export function overlayData(o: RootfsOverlay): string {
  const dirs = [...o.lower, o.upper, o.work];
  const bad = dirs.find((d) => !d.startsWith('/') || /[,:\\\n]/.test(d));
  if (o.lower.length === 0) throw new TsrunError('EUSAGE', 'an overlay rootfs needs at least one lower layer');
  if (bad !== undefined)
    throw new TsrunError('EUSAGE', `overlay rootfs: ${JSON.stringify(bad)} is not an absolute path free of ",", ":" and "\\"`);
  const data = `lowerdir=${o.lower.join(':')},upperdir=${o.upper},workdir=${o.work}${o.userxattr ? ',userxattr' : ''}`;
  // the kernel copies one page of mount data
  if (data.length > 4095)
    throw new TsrunError('EUSAGE', `overlay rootfs: ${o.lower.length} layers make ${data.length} bytes of mount options (at most 4095)`);
  return data;
}

/** linux.namespaces has a mount namespace (new or joined); without one the mounts land in the runtime's. */
export function hasMountNamespace(spec: Spec): boolean {
  return (spec.linux?.namespaces ?? []).some((n) => n.type === 'mount');
}

/** linux.namespaces has a user namespace (new or joined): the process is root of no host file there. */
export function hasUserNamespace(spec: Spec): boolean {
  return (spec.linux?.namespaces ?? []).some((n) => n.type === 'user');
}

/** The session keyring every process of the container joins, as runc names it. */
export function sessionKeyring(id: string): string {
  return `_ses.${id}`;
}
