/** process.* → ids, capabilities, rlimits, env. */
import type { Capabilities, Process } from '../config/types.js';
import { CAPABILITIES, RLIMITS, RLIM_INFINITY } from './linux.js';
import type { PlanRlimit } from './types.js';

export function capMask(names: readonly string[] | undefined): bigint {
  let mask = 0n;
  for (const name of names ?? []) {
    const n = (CAPABILITIES as readonly string[]).indexOf(name);
    if (n >= 0) mask |= 1n << BigInt(n);
  }
  return mask;
}

/** Masks in CapSet order: bounding, effective, inheritable, permitted, ambient. */
export function planCaps(caps: Capabilities): [bigint, bigint, bigint, bigint, bigint] {
  return [capMask(caps.bounding), capMask(caps.effective), capMask(caps.inheritable), capMask(caps.permitted), capMask(caps.ambient)];
}

/**
 * A limit as the kernel's u64. JSON numbers are doubles: 2^64-1
 * (RLIM_INFINITY) arrives as 2^64, so anything that large means infinity.
 */
export function rlimitValue(v: number): bigint {
  if (v >= 2 ** 64 - 1) return RLIM_INFINITY;
  return BigInt.asUintN(64, BigInt(v));
}

export function planRlimits(proc: Process): PlanRlimit[] {
  return (proc.rlimits ?? []).map((r) => ({
    resource: RLIMITS[r.type]!,
    soft: rlimitValue(r.soft),
    hard: rlimitValue(r.hard),
  }));
}

/** The environment as runc builds it: the config's, plus HOME when missing. */
export function planEnv(proc: Process, home: () => string | null): string[] {
  const env = [...(proc.env ?? [])];
  // looked up only when needed: reading the image's /etc/passwd may fail
  if (!env.some((e) => e.startsWith('HOME='))) env.push(`HOME=${home() ?? '/'}`);
  return env;
}
