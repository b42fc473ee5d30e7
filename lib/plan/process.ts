/** process.* → ids, capabilities, rlimits, env. */
import type { Capabilities, Spec } from '../config/types.js';
import { CAPABILITIES, RLIMITS } from './linux.js';
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

export function planRlimits(spec: Spec): PlanRlimit[] {
  return (spec.process?.rlimits ?? []).map((r) => ({
    resource: RLIMITS[r.type]!,
    soft: BigInt.asUintN(64, BigInt(r.soft)),
    hard: BigInt.asUintN(64, BigInt(r.hard)),
  }));
}

/** The environment as runc builds it: the config's, plus HOME when missing. */
export function planEnv(spec: Spec, home: string): string[] {
  const env = [...(spec.process?.env ?? [])];
  if (!env.some((e) => e.startsWith('HOME='))) env.push(`HOME=${home}`);
  return env;
}
