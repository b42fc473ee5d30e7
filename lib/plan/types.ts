/**
 * The plan: pure data that the C side executes. Kernel vocabulary, no OCI
 * names. Encoded once by lib/native/plan-codec.ts into the flat buffer of
 * native/include/tsrun_plan.h. Two kinds: a container's init (create,
 * lib/plan/build.ts) and a tenant that joins a running container (exec,
 * lib/plan/tenant.ts). A plan is complete when its planner returns: nothing
 * edits it afterwards.
 */
import type { PlanSeccomp } from './seccomp.js';

import type { PlanMountAttr, ProcAttrsPlan } from './attrs.js';
import type { RdtGroup } from './resctrl.js';

export { CapSet, DeviceType, HookKind, MountKind, NsFlag, PlanFlag, ProcFlag, TargetKind } from '../native/constants.js';

export interface PlanMount {
  source: string | null;
  destination: string;
  fstype: string | null;
  data: string | null;
  flags: bigint;
  propagation: bigint;
  kind: number;
  targetKind: number;
  /** Recursive attributes (rro, rnosuid, ...); not encoded here but in InitPlan.mountAttrs. */
  recursive?: { set: bigint; clr: bigint };
  /** The config.json mounts[] index this entry was planned from (its first entry only). */
  from?: number;
}

export interface PlanRlimit {
  resource: number;
  soft: bigint;
  hard: bigint;
}

export interface PlanDevice {
  path: string;
  type: number;
  major: number;
  minor: number;
  mode: number;
  uid: number;
  gid: number;
}

/** A namespace to join by setns (fd opened by the runtime before clone). */
export interface PlanNsJoin {
  fd: number;
  /** CLONE_NEW* */
  nstype: number;
}

export interface PlanSymlink {
  target: string;
  linkpath: string;
}

/** A hook the init runs itself (HookKind: createContainer, startContainer). */
export interface PlanHook {
  kind: number;
  path: string;
  /** argv; empty: [path]. */
  args: string[];
  env: string[];
  /** 0: none. */
  timeoutMs: number;
}

/** What the child does: the init (create) or a tenant (exec, PlanFlag.TENANT). */
export interface InitPlan {
  flags: number;
  cloneFlags: bigint;
  rootfsPropagation: bigint;
  /** MS_PRIVATE or MS_SLAVE for the mount the rootfs is on (0 in a tenant plan). */
  rootfsParentPropagation: number;
  /** Bitmasks indexed by CapSet. */
  caps: [bigint, bigint, bigint, bigint, bigint];
  uid: number;
  gid: number;
  umask: number;
  consoleWidth: number;
  consoleHeight: number;
  consoleSocketFd: number;
  /** fd of the connected --pidfd-socket, or -1: the process sends a pidfd of itself over it (native/init). */
  pidfdSocketFd: number;
  preserveFds: number;
  /** Absent in a tenant plan, as are stateDir, mounts, devices and symlinks. */
  rootfs: string | null;
  hostname: string | null;
  domainname: string | null;
  cwd: string;
  stateDir: string | null;
  keyring: string | null;
  args: string[];
  env: string[];
  additionalGids: number[];
  mounts: PlanMount[];
  rlimits: PlanRlimit[];
  devices: PlanDevice[];
  symlinks: PlanSymlink[];
  /** The compiled seccomp filter (lib/plan/seccomp.ts), null: none. */
  seccomp: PlanSeccomp | null;
  /* process attributes, sysctls, recursive mount attributes */
  procAttrs: ProcAttrsPlan;
  mountAttrs: PlanMountAttr[];
  /* joins, unshared namespaces, time offsets */
  unshareFlags: bigint;
  nsFlags: number;
  /** Added to the new session keyring's permissions so a tenant joins it (tsrun_plan.h); 0: none. */
  keyringPerms: number;
  /** User namespace first: it gives the right to join the others. */
  nsJoins: PlanNsJoin[];
  timeOffsets: { monotonic: [bigint, number]; boottime: [bigint, number] };
  /** mounts[mountIndex] is attached from fd, an idmapped tree the runtime prepared. */
  idmapMounts: { mountIndex: number; fd: number }[];
  /** process.execCPUAffinity (tenants): CPU masks as 64-bit words, [] = leave alone. */
  cpuAffinity: { initial: bigint[]; final: bigint[] };
  /** createContainer and startContainer hooks (lib/plan/hooks.ts); a tenant has none. */
  hooks: PlanHook[];
  /** The hooks' state JSON up to `"pid":`; null without hooks. */
  hookState: string | null;
  /** process.apparmorProfile, set for the program's execve (native/init/lsm.c); null: none. */
  apparmorProfile: string | null;
  /** process.selinuxLabel: the label of the program's execve and of the session keyring (native/init/lsm.c); null: none. */
  selinuxLabel: string | null;
  /** linux.mountLabel where SELinux is on, for the mqueue mounts (tsrun_plan.h); the other mounts carry it in their data. */
  mqueueLabel: string | null;
  /** mount(2) data of an overlay mounted on the rootfs instead of its bind (the API's clean containers); null: the bind. */
  rootfsOverlay: string | null;
}

/** What the runtime does on the host between clone and GO. */
export interface HostPlan {
  oomScoreAdj: number | null;
  /** linux.netDevices, moved by the runtime before GO. */
  netDevices: { hostName: string; name: string }[];
  /** /proc/<pid>/uid_map and gid_map contents for a new user namespace, and how to write them; else null. */
  idMaps: PlanIdMaps | null;
  /**
   * process.rlimits again, for a process in a user namespace (new or joined): it may not raise a
   * hard limit there (CAP_SYS_RESOURCE counts in the host's namespace), so the runtime sets them
   * with prlimit before GO, as runc does; the process then sets the same values. [] otherwise.
   */
  rlimits: PlanRlimit[];
  /** linux.intelRdt: the resctrl groups the runtime moves the process into after its cgroup (null: none). */
  rdt: RdtGroup | null;
}

export interface PlanIdMaps {
  uidMap: string;
  gidMap: string;
  /** null: write /proc/<pid>/uid_map ourselves; else run this newuidmap (an unprivileged runtime, more than its own uid). */
  newuidmap: string | null;
  newgidmap: string | null;
  /** Write "deny" to /proc/<pid>/setgroups first: an unprivileged runtime mapping its own gid must (user_namespaces(7)). */
  denySetgroups: boolean;
}

export interface Plan {
  init: InitPlan;
  host: HostPlan;
}

/** An overlay rootfs: read-only layers (uppermost first) under a writable upper dir with its work dir (same filesystem). */
export interface RootfsOverlay {
  lower: readonly string[];
  upper: string;
  work: string;
  /** user.overlay.* xattrs (mount option userxattr): what a user namespace needs. */
  userxattr?: boolean;
}
