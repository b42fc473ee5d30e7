/**
 * Pure conversions between the spec's (v1-shaped) values and cgroup v2
 * files, with today's runc's formulas (its opencontainers/cgroups module),
 * so the same config gives the same kernel values under both runtimes.
 */

import { ConfigError } from '../errors.js';

/**
 * cpu.shares (2..262144, default 1024) → cpu.weight (1..10000, default 100);
 * 0 means unset. runc ≥ 1.3.2 and crun ≥ 1.23: a quadratic in log2(shares)
 * through the minimum, the default and the maximum of both ranges, so the
 * v1 default lands on the v2 default (runc ≤ 1.3.1's linear map gave 1024 →
 * 39, which starved a container against its default-weight neighbours).
 * Out-of-range shares are clamped, as runc does.
 */
export function sharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  if (shares <= 2) return 1;
  if (shares >= 262144) return 10000;
  const l = Math.log2(shares);
  return Math.ceil(10 ** ((l * l + 125 * l) / 612 - 7 / 34));
}

/** blkio weight (10..1000) → io.weight (1..10000); 0 means unset. */
export function blkioWeightToIoWeight(weight: number): number {
  if (weight === 0) return 0;
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}

/**
 * v1 memory.memsw (memory + swap) → v2 memory.swap.max (swap alone), case
 * for case as runc's ConvertMemorySwapToCgroupV2Value (runc ≥ 1.2.1):
 * -1 is unlimited, 0 "not set". An unlimited memory (-1) takes the swap as
 * it is (nothing to subtract); an unset one (0) cannot. Throws, naming
 * memory.swap, on a pair runc refuses (in its words).
 */
export function swapToV2(swap: number, memory: number): number {
  const refuse = (why: string) => new ConfigError('linux.resources.memory.swap', why);
  // unlimited memory and no swap given: both unlimited (what -1 means on v1)
  if (memory === -1 && swap === 0) return -1;
  if (swap === -1 || swap === 0) return swap;
  if (memory === -1) return swap;
  if (memory === 0) throw refuse('unable to set swap limit without memory limit');
  if (memory < 0) throw refuse(`invalid memory value: ${memory}`);
  if (swap < memory) throw refuse('memory+swap limit should be >= memory limit');
  return swap - memory;
}

/**
 * pids.limit → pids.max, as runc ≥ 1.4 (runtime-spec 1.3: 0 is a real
 * limit, no longer "unset"): negative is "max"; 0 is written as 1, because
 * systemd takes no TasksMax=0 and the two drivers must agree. A container's
 * cgroup always holds its init, so 1 and 0 both forbid every fork.
 */
export function pidsMax(limit: number): string {
  if (limit < 0) return 'max';
  return String(limit === 0 ? 1 : limit);
}

/** A v2 limit: -1 (or any negative) is "max". */
export function v2Limit(n: number): string {
  return n < 0 ? 'max' : String(n);
}

/** cpu.max from quota/period (runc: quota ≤ 0 is "max"; period 0 keeps the kernel's). */
export function cpuMax(quota: number | undefined, period: number | undefined): string | null {
  const q = quota ?? 0;
  const p = period ?? 0;
  if (q === 0 && p === 0) return null;
  let s = q > 0 ? String(q) : 'max';
  if (p !== 0) s += ` ${p}`;
  return s;
}

/** "2MB" → "2MB" as the kernel names hugetlb files; "2MiB"/"2M"/"2mb" normalised. */
export function hugepageSizeName(pageSize: string): string | null {
  const m = /^(\d+)\s*([kKmMgG])i?[bB]?$/.exec(pageSize.trim());
  if (!m) return null;
  return `${m[1]}${m[2]!.toUpperCase()}B`;
}

/** The size part of hugetlb.<size>.* for hugepageLimits entry `at`; a bad size is a ConfigError naming it. */
export function hugepageSize(pageSize: string, at: string): string {
  const size = hugepageSizeName(pageSize);
  if (!size) throw new ConfigError(`${at}.pageSize`, `invalid page size ${JSON.stringify(pageSize)}`);
  return size;
}

/** rdma.max's line for one device (the same on v1 and v2), or null when it limits nothing. */
export function rdmaMaxLine(dev: string, lim: { hcaHandles?: number; hcaObjects?: number }): string | null {
  const parts = [dev];
  if (lim.hcaHandles !== undefined) parts.push(`hca_handle=${lim.hcaHandles}`);
  if (lim.hcaObjects !== undefined) parts.push(`hca_object=${lim.hcaObjects}`);
  return parts.length > 1 ? parts.join(' ') : null;
}

/**
 * runc's size strings for `update --memory` etc. (docker's RAMInBytes):
 * a number with an optional b/k/m/g/t/p suffix, 1024-based; -1 is unlimited.
 */
export function parseBytes(text: string): number {
  const t = text.trim();
  if (t === '-1') return -1;
  const m = /^(\d+(?:\.\d+)?)\s*([kKmMgGtTpP])?[iI]?[bB]?$/.exec(t);
  if (!m) throw new Error(`invalid size: ${JSON.stringify(text)}`);
  const mult: Record<string, number> = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 };
  return Math.floor(Number(m[1]) * (m[2] ? mult[m[2].toLowerCase()]! : 1));
}
