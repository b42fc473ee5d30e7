/**
 * linux.personality, process.scheduler, process.ioPriority,
 * linux.memoryPolicy, linux.sysctl and recursive mount attributes → plan.
 * The kernel's numbers by the runtime-spec's names are here (from the headers,
 * through lib/native/constants.ts); lib/config/validate-process.ts has the rules.
 */
import type { Spec } from '../config/types.js';
import { KERNEL } from '../native/constants.js';
import { MS, bigints } from './linux.js';
import { PROPAGATION_OPTIONS } from './mounts.js';
import { ProcFlag, type PlanMount } from './types.js';

// The kernel's numbers, by the runtime-spec's names, from the headers at build time.
export const PERSONALITY_DOMAINS: Readonly<Record<string, number>> = KERNEL.personalityDomains;
/** include/uapi/linux/personality.h flag bits. */
export const PERSONALITY_FLAGS: Readonly<Record<string, number>> = KERNEL.personalityFlags;

export const SCHED_POLICIES: Readonly<Record<string, number>> = KERNEL.schedPolicies;
export const SCHED_FLAGS: Readonly<Record<string, bigint>> = bigints(KERNEL.schedFlags);

export const IOPRIO_CLASSES: Readonly<Record<string, number>> = KERNEL.ioprioClasses;

export const MPOL_MODES: Readonly<Record<string, number>> = KERNEL.mempolicyModes;
export const MPOL_FLAGS: Readonly<Record<string, number>> = KERNEL.mempolicyFlags;

/** MOUNT_ATTR_* of mount_setattr(2), without the prefix (ATIME_MASK: MOUNT_ATTR__ATIME). */
export const MOUNT_ATTR = bigints(KERNEL.mountAttrs);

/** runc's recursive mount options: [attributes to set, attributes to clear]. */
export const RECURSIVE_OPTIONS: Record<string, [bigint, bigint]> = {
  rro: [MOUNT_ATTR.RDONLY, 0n],
  rrw: [0n, MOUNT_ATTR.RDONLY],
  rnosuid: [MOUNT_ATTR.NOSUID, 0n],
  rsuid: [0n, MOUNT_ATTR.NOSUID],
  rnodev: [MOUNT_ATTR.NODEV, 0n],
  rdev: [0n, MOUNT_ATTR.NODEV],
  rnoexec: [MOUNT_ATTR.NOEXEC, 0n],
  rexec: [0n, MOUNT_ATTR.NOEXEC],
  rnodiratime: [MOUNT_ATTR.NODIRATIME, 0n],
  rdiratime: [0n, MOUNT_ATTR.NODIRATIME],
  rnosymfollow: [MOUNT_ATTR.NOSYMFOLLOW, 0n],
  rsymfollow: [0n, MOUNT_ATTR.NOSYMFOLLOW],
  // The atime mode is one field: the kernel takes a new mode only with the
  // whole mask cleared. Leaving noatime/strictatime means relatime.
  rrelatime: [MOUNT_ATTR.RELATIME, MOUNT_ATTR.ATIME_MASK],
  rnoatime: [MOUNT_ATTR.NOATIME, MOUNT_ATTR.ATIME_MASK],
  rstrictatime: [MOUNT_ATTR.STRICTATIME, MOUNT_ATTR.ATIME_MASK],
  ratime: [MOUNT_ATTR.RELATIME, MOUNT_ATTR.ATIME_MASK],
  rnorelatime: [MOUNT_ATTR.STRICTATIME, MOUNT_ATTR.ATIME_MASK],
  rnostrictatime: [MOUNT_ATTR.RELATIME, MOUNT_ATTR.ATIME_MASK],
};

/** Folds recursive options in order (a later option wins). */
export function recursiveAttrs(options: readonly string[]): { set: bigint; clr: bigint } | null {
  let set = 0n;
  let clr = 0n;
  let any = false;
  for (const o of options) {
    const a = RECURSIVE_OPTIONS[o];
    if (!a) continue;
    any = true;
    const [s, c] = a;
    const touched = s | c;
    set = (set & ~touched) | s;
    clr = (clr & ~touched) | c;
    if (c & MOUNT_ATTR.ATIME_MASK) clr |= MOUNT_ATTR.ATIME_MASK;
  }
  return any ? { set, clr } : null;
}

export interface PlanMountAttr {
  mount: number;
  attrSet: bigint;
  attrClr: bigint;
}

export function planMountAttrs(mounts: readonly PlanMount[]): PlanMountAttr[] {
  const out: PlanMountAttr[] = [];
  mounts.forEach((m, i) => {
    if (m.recursive) out.push({ mount: i, attrSet: m.recursive.set, attrClr: m.recursive.clr });
  });
  return out;
}

/** A kernel list ("0-3,7") → a bitmask in 64-bit words (bit n = member n): node masks, CPU masks. */
export function listMask(list: string): bigint[] {
  const nodes = parseCpuList(list);
  const words: bigint[] = [];
  for (const n of nodes) {
    const w = Math.floor(n / 64);
    while (words.length <= w) words.push(0n);
    words[w] = words[w]! | (1n << BigInt(n % 64));
  }
  return words;
}

/** A kernel list ("0-3,7,9-10") → its members; throws on bad syntax. */
export function parseCpuList(list: string): number[] {
  const out: number[] = [];
  for (const part of list.split(',')) {
    const m = /^\s*(\d+)(?:-(\d+))?\s*$/.exec(part);
    if (!m) throw new Error(`invalid list element ${JSON.stringify(part)}`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) throw new Error(`invalid range ${JSON.stringify(part)}`);
    if (hi > 4095) throw new Error(`${hi} is out of range`);
    for (let n = lo; n <= hi; n++) out.push(n);
  }
  return out;
}

export interface ProcAttrsPlan {
  procFlags: number;
  personality: number;
  ioprio: number;
  mempolicyMode: number;
  rootPropagation: bigint;
  sched: { policy: number; flags: bigint; nice: number; priority: number; runtime: bigint; deadline: bigint; period: bigint };
  mempolicyNodes: bigint[];
  sysctls: { path: string; value: string }[];
}

/*
 * A sysctl key comes in either spelling of sysctl.d(5): the separator is
 * whichever of '.' and '/' comes first, and the other character is part of a
 * component, so a VLAN interface eno2.100 is `net.ipv4.conf.eno2/100.rp_filter`
 * or `net/ipv4/conf/eno2.100/rp_filter`. runc accepts both spellings too.
 */
const slashFirst = (key: string): boolean => key[key.search(/[./]/)] === '/';
const swapSeparators = (key: string): string => key.replace(/[./]/g, (c) => (c === '.' ? '/' : '.'));

/**
 * sysctl key → path below /proc/sys. runc turns every '.' into '/', which is
 * the same path for any key whose components hold no '.' or '/' of their own;
 * for those that do (eno2.100), this is the file sysctl(8) would write.
 */
export function sysctlPath(key: string): string {
  return slashFirst(key) ? key : swapSeparators(key);
}

/** sysctl key → its dotted name, the spelling runc's namespace rule and messages use. */
export function sysctlName(key: string): string {
  return slashFirst(key) ? swapSeparators(key) : key;
}

/** Validated spec → the process-attribute block (validate-process.ts ran first). */
export function planProcAttrs(spec: Spec, rootPropagation: bigint): ProcAttrsPlan {
  const proc = spec.process!;
  const linux = spec.linux ?? {};
  let procFlags = 0;
  let personality = 0;
  if (linux.personality) {
    procFlags |= ProcFlag.PERSONALITY;
    personality = PERSONALITY_DOMAINS[linux.personality.domain]!;
    for (const f of linux.personality.flags ?? []) personality |= PERSONALITY_FLAGS[f]!;
  }
  const sched = { policy: 0, flags: 0n, nice: 0, priority: 0, runtime: 0n, deadline: 0n, period: 0n };
  const s = proc.scheduler as SchedulerSpec | undefined;
  if (s) {
    procFlags |= ProcFlag.SCHED;
    sched.policy = SCHED_POLICIES[s.policy]!;
    for (const f of s.flags ?? []) sched.flags |= SCHED_FLAGS[f]!;
    sched.nice = s.nice ?? 0;
    sched.priority = s.priority ?? 0;
    sched.runtime = BigInt(s.runtime ?? 0);
    sched.deadline = BigInt(s.deadline ?? 0);
    sched.period = BigInt(s.period ?? 0);
  }
  let ioprio = 0;
  if (proc.ioPriority) {
    procFlags |= ProcFlag.IOPRIO;
    ioprio = (IOPRIO_CLASSES[proc.ioPriority.class]! << KERNEL.ioprioClassShift) | (proc.ioPriority.priority ?? 0);
  }
  let mempolicyMode = 0;
  let mempolicyNodes: bigint[] = [];
  const mp = linux.memoryPolicy as MemoryPolicySpec | undefined;
  if (mp) {
    procFlags |= ProcFlag.MEMPOLICY;
    mempolicyMode = MPOL_MODES[mp.mode]!;
    for (const f of mp.flags ?? []) mempolicyMode |= MPOL_FLAGS[f]!;
    mempolicyNodes = mp.nodes ? listMask(mp.nodes) : [];
  }
  const sysctls = Object.entries(linux.sysctl ?? {}).map(([k, v]) => ({ path: sysctlPath(k), value: v }));
  return { procFlags, personality, ioprio, mempolicyMode, rootPropagation, sched, mempolicyNodes, sysctls };
}

export interface SchedulerSpec {
  policy: string;
  nice?: number;
  priority?: number;
  flags?: string[];
  runtime?: number;
  deadline?: number;
  period?: number;
}

export interface MemoryPolicySpec {
  mode: string;
  nodes?: string;
  flags?: string[];
}

/**
 * linux.rootfsPropagation in runc's three parts (prepareRoot, then after pivot_root):
 *
 * - `before`: applied to "/" of the new mount namespace before anything is mounted: the value as asked,
 *   rslave when none. This is what a bind mount's source is when it is bound, so it decides whether a
 *   volume is a member of the host's peer group (rshared: mounts propagate both ways, Kubernetes'
 *   Bidirectional), a slave of it (host to container only) or neither. The unbindable values keep the
 *   default's rslave here: runc makes "/" unbindable first, after which every bind from the host fails
 *   with EINVAL (runc 1.1 fails its own rootfs bind); they say nothing of propagation from the host;
 * - `parent`: the mount the rootfs is on, made private (a slave for the slave values), never shared:
 *   pivot_root refuses a shared parent, and the rootfs bind would propagate to the host's peers;
 * - `after`: applied to the container's "/" after pivot_root, for the values that are neither private
 *   nor slave (those are in place already); 0: none.
 */
export function rootPropagationPlan(value: string | undefined): { before: bigint; parent: bigint; after: bigint } {
  const exact = value ? PROPAGATION_OPTIONS[value]! : 0n;
  return {
    before: exact && !(exact & MS.UNBINDABLE) ? exact : MS.SLAVE | MS.REC,
    parent: exact & MS.SLAVE ? MS.SLAVE : MS.PRIVATE,
    after: exact & (MS.PRIVATE | MS.SLAVE) ? 0n : exact,
  };
}
