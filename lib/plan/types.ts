/**
 * The plan: pure data that the C init executes. Kernel vocabulary, no OCI
 * names. Encoded once by lib/native/plan-codec.ts into the flat buffer of
 * native/include/tsrun_plan.h.
 */
import type { PlanSeccomp } from './seccomp.js';

import type { PlanMountAttr, ProcAttrsPlan } from './attrs.js';

export const PlanFlag = {
  NO_PIVOT: 1 << 0,
  NO_NEW_PRIVS: 1 << 1,
  ROOT_READONLY: 1 << 2,
  TERMINAL: 1 << 3,
  NEW_KEYRING: 1 << 4,
  SET_UMASK: 1 << 5,
  SET_CAPS: 1 << 6,
  HOOK_SYNC: 1 << 7,
} as const;

export const MountKind = { FS: 0, BIND: 1, MASK: 2, READONLY: 3 } as const;
export const TargetKind = { DIR: 0, FILE: 1 } as const;
export const DeviceType = { CHAR: 0, BLOCK: 1, FIFO: 2 } as const;
export const CapSet = { BOUNDING: 0, EFFECTIVE: 1, INHERITABLE: 2, PERMITTED: 3, AMBIENT: 4 } as const;

export interface PlanMount {
  source: string | null;
  destination: string;
  fstype: string | null;
  data: string | null;
  flags: bigint;
  propagation: bigint;
  kind: number;
  targetKind: number;
  /** issue 3 (3proc): recursive attributes (rro, rnosuid, ...); not encoded here but in InitPlan.mountAttrs. */
  recursive?: { set: bigint; clr: bigint };
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

/** issue 3: TSRUN_NS_* of the plan header's ns_flags. */
export const NsFlag = { STAGE: 1 << 0, FORK: 1 << 1, TIME_OFFSETS: 1 << 2 } as const;

/** issue 3: a namespace to join by setns (fd opened by the runtime before clone). */
export interface PlanNsJoin {
  fd: number;
  /** CLONE_NEW* */
  nstype: number;
}

export interface PlanSymlink {
  target: string;
  linkpath: string;
}

/** What the init does, in the child. */
export interface InitPlan {
  flags: number;
  cloneFlags: bigint;
  rootfsPropagation: bigint;
  /** Bitmasks indexed by CapSet. */
  caps: [bigint, bigint, bigint, bigint, bigint];
  uid: number;
  gid: number;
  umask: number;
  consoleWidth: number;
  consoleHeight: number;
  consoleSocketFd: number;
  preserveFds: number;
  rootfs: string;
  hostname: string | null;
  domainname: string | null;
  cwd: string;
  stateDir: string;
  keyring: string | null;
  args: string[];
  env: string[];
  additionalGids: number[];
  mounts: PlanMount[];
  rlimits: PlanRlimit[];
  devices: PlanDevice[];
  symlinks: PlanSymlink[];
  /** issue 4: the compiled seccomp filter (lib/plan/seccomp.ts), absent: none. */
  seccomp?: PlanSeccomp | null;
  /* issue 3 (3proc): process attributes, sysctls, recursive mount attributes. */
  procAttrs: ProcAttrsPlan;
  mountAttrs: PlanMountAttr[];
  /* issue 3 (namespaces and ids): joins, unshared namespaces, time offsets */
  unshareFlags: bigint;
  nsFlags: number;
  /** User namespace first: it gives the right to join the others. */
  nsJoins: PlanNsJoin[];
  timeOffsets: { monotonic: [bigint, number]; boottime: [bigint, number] };
  /** mounts[mountIndex] is attached from fd, an idmapped tree the runtime prepared. */
  idmapMounts: { mountIndex: number; fd: number }[];
}

/** What the runtime does on the host between clone and GO. */
export interface HostPlan {
  oomScoreAdj: number | null;
  /** issue 3 (3proc): linux.netDevices, moved by the runtime before GO. */
  netDevices: { hostName: string; name: string }[];
  /** issue 3: /proc/<pid>/uid_map and gid_map contents for a new user namespace, else null. */
  idMaps: { uidMap: string; gidMap: string } | null;
}

export interface Plan {
  init: InitPlan;
  host: HostPlan;
}
