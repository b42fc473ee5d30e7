/**
 * linux.cgroupsPath and linux.resources: the rules that need no host. What
 * the host lacks (a controller, a file) is found by the cgroup manager, still
 * before any process exists.
 */
import { ConfigError, shown } from '../errors.js';
import { hugepageSize } from '../cgroups/convert.js';
import type { LinuxResources } from '../cgroups/resources.js';
import type { Spec } from './types.js';

const R = 'linux.resources';

function int(v: unknown, at: string, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (v === undefined || v === null) return;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new ConfigError(at, `must be an integer, got ${shown(v)}`);
  if (v < min || v > max) throw new ConfigError(at, `out of range: ${v}`);
}

const CPU_LIST = /^\s*(\d+(-\d+)?)(\s*,\s*\d+(-\d+)?)*\s*$/;

/**
 * Why a cgroupsPath names a cgroup that is never a container's own, or null.
 * `/` (however spelled) is the root cgroup: it holds every process of the
 * host. A relative path of nothing but `.` names the runtime's own cgroup,
 * which is the root one where the runtime runs there (often, in a v1
 * hierarchy); validation looks at no host, so it refuses that too.
 */
export function notAContainerCgroup(cgroupsPath: string): string | null {
  if (cgroupsPath === '' || cgroupsPath.split('/').some((part) => part !== '' && part !== '.')) return null;
  return cgroupsPath.startsWith('/')
    ? `${JSON.stringify(cgroupsPath)} is the root cgroup, which holds every process of the host: name a cgroup below it`
    : `${JSON.stringify(cgroupsPath)} is the runtime's own cgroup (the root cgroup when the runtime runs there): name a cgroup below it`;
}

export function validateCgroups(spec: Spec): void {
  const l = spec.linux;
  if (!l) return;
  if (l.cgroupsPath !== undefined && l.cgroupsPath.split('/').includes('..'))
    throw new ConfigError('linux.cgroupsPath', `must not contain "..": ${JSON.stringify(l.cgroupsPath)}`);
  const notOwn = l.cgroupsPath === undefined ? null : notAContainerCgroup(l.cgroupsPath);
  if (notOwn) throw new ConfigError('linux.cgroupsPath', notOwn);
  const r = l.resources as LinuxResources | undefined;
  if (!r) return;
  (r.devices ?? []).forEach((d, i) => {
    const at = `${R}.devices[${i}]`;
    if (typeof d.allow !== 'boolean') throw new ConfigError(`${at}.allow`, 'is required (true or false)');
    if (d.type !== undefined && !['a', 'c', 'b'].includes(d.type))
      throw new ConfigError(`${at}.type`, `must be "a", "c" or "b", got ${shown(d.type)}`);
    // runc takes any string but the empty one, and reads only its r, w and m
    // (lib/cgroups/devices.ts accessSet); left out, it is "rwm"
    if (d.access !== undefined && typeof d.access !== 'string')
      throw new ConfigError(`${at}.access`, `must be a string, got ${shown(d.access)}`);
    if (d.access === '') throw new ConfigError(`${at}.access`, 'cannot be empty (leave it out for "rwm")');
    int(d.major, `${at}.major`, -1);
    int(d.minor, `${at}.minor`, -1);
  });
  const m = r.memory;
  if (m) {
    for (const k of ['limit', 'reservation', 'swap', 'kernel', 'kernelTCP'] as const) int(m[k], `${R}.memory.${k}`, -1);
    int(m.swappiness, `${R}.memory.swappiness`, 0, 100);
    if (m.swap !== undefined && m.swap > 0 && m.limit !== undefined && m.limit > 0 && m.swap < m.limit)
      throw new ConfigError(`${R}.memory.swap`, `memory+swap limit (${m.swap}) must be >= the memory limit (${m.limit})`);
  }
  const c = r.cpu;
  if (c) {
    int(c.shares, `${R}.cpu.shares`, 0, 262144);
    int(c.quota, `${R}.cpu.quota`, -1);
    int(c.period, `${R}.cpu.period`, 0);
    int(c.burst, `${R}.cpu.burst`, 0);
    int(c.realtimeRuntime, `${R}.cpu.realtimeRuntime`, -1);
    int(c.realtimePeriod, `${R}.cpu.realtimePeriod`, 0);
    int(c.idle, `${R}.cpu.idle`, 0, 1);
    if (c.cpus && !CPU_LIST.test(c.cpus)) throw new ConfigError(`${R}.cpu.cpus`, `not a CPU list: ${JSON.stringify(c.cpus)}`);
    if (c.mems && !CPU_LIST.test(c.mems)) throw new ConfigError(`${R}.cpu.mems`, `not a memory node list: ${JSON.stringify(c.mems)}`);
  }
  // any negative is unlimited, as runc takes it (the spec names -1)
  if (r.pids) int(r.pids.limit, `${R}.pids.limit`, Number.MIN_SAFE_INTEGER);
  const b = r.blockIO;
  if (b) {
    const weight = (v: number | undefined, at: string) => {
      int(v, at, 0, 1000);
      if (v !== undefined && v !== 0 && v < 10) throw new ConfigError(at, `must be between 10 and 1000, got ${v}`);
    };
    weight(b.weight, `${R}.blockIO.weight`);
    weight(b.leafWeight, `${R}.blockIO.leafWeight`);
    (b.weightDevice ?? []).forEach((d, i) => weight(d.weight, `${R}.blockIO.weightDevice[${i}].weight`));
  }
  (r.hugepageLimits ?? []).forEach((h, i) => {
    hugepageSize(h.pageSize ?? '', `${R}.hugepageLimits[${i}]`);
  });
  for (const key of Object.keys(r.unified ?? {})) {
    if (key.includes('/') || !key.includes('.') || key.startsWith('.'))
      throw new ConfigError(`${R}.unified.${key}`, 'must name a file of the cgroup ("controller.file")');
  }
}
