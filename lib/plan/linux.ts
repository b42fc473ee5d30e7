/** Kernel ABI numbers the planner emits, from the kernel's and libc's headers at build time (lib/native/constants.ts). */
import { KERNEL } from '../native/constants.js';

/** A group of kernel numbers as bigints (the plan's 64-bit fields). */
export function bigints<T extends Readonly<Record<string, number>>>(group: T): { readonly [K in keyof T]: bigint } {
  return Object.fromEntries(Object.entries(group).map(([k, v]) => [k, BigInt(v)])) as { [K in keyof T]: bigint };
}

export const { CLONE_NEWTIME, CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET } =
  bigints(KERNEL.cloneFlags);

export const NAMESPACE_CLONE_FLAGS = {
  pid: CLONE_NEWPID,
  network: CLONE_NEWNET,
  mount: CLONE_NEWNS,
  ipc: CLONE_NEWIPC,
  uts: CLONE_NEWUTS,
  user: CLONE_NEWUSER,
  cgroup: CLONE_NEWCGROUP,
  time: CLONE_NEWTIME,
} as const;

/** mount(2)'s MS_* flags, without the prefix. */
export const MS = bigints(KERNEL.mountFlags);

/** Capability names in kernel order: index = capability number. */
export const CAPABILITIES: readonly string[] = Object.entries(KERNEL.capabilities)
  .sort(([, a], [, b]) => a - b)
  .map(([name]) => name);

export const RLIMITS: Readonly<Record<string, number>> = KERNEL.rlimits;

/** RLIM_INFINITY as the kernel sees it. */
export const RLIM_INFINITY = 0xffffffffffffffffn;
