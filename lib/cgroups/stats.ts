/**
 * `events --stats`: runc's Stats JSON (types.Stats in runc's events), read
 * from the cgroup files. CPU times are nanoseconds, memory bytes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface MemoryEntry {
  limit: number;
  usage?: number;
  max?: number;
  failcnt: number;
}

export interface CgroupStats {
  cpu: {
    usage: { total?: number; percpu?: number[]; kernel: number; user: number };
    throttling: { periods?: number; throttledPeriods?: number; throttledTime?: number };
  };
  memory: {
    cache?: number;
    usage: MemoryEntry;
    swap: MemoryEntry;
    kernel: MemoryEntry;
    kernelTCP: MemoryEntry;
    raw?: Record<string, number>;
  };
  pids: { current?: number; limit?: number };
  blkio: Record<string, unknown>;
  hugetlb: Record<string, unknown>;
  intel_rdt: Record<string, unknown>;
  network_interfaces: null;
}

export function emptyStats(): CgroupStats {
  const e = (): MemoryEntry => ({ limit: 0, failcnt: 0 });
  return {
    cpu: { usage: { kernel: 0, user: 0 }, throttling: {} },
    memory: { usage: e(), swap: e(), kernel: e(), kernelTCP: e() },
    pids: {},
    blkio: {},
    hugetlb: {},
    intel_rdt: {},
    network_interfaces: null,
  };
}

function read(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
}

/** "key value" lines → numbers. */
export function parseKeyed(text: string | null): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (text ?? '').split('\n')) {
    const [k, v] = line.split(/\s+/);
    if (k && v !== undefined && /^\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

/** A limit file: "max" (v2) or the v1 "unlimited" huge value → the max uint64 runc prints. */
function limitOf(text: string | null): number {
  if (text === null) return 0;
  if (text === 'max') return 2 ** 64; // the double nearest 2^64-1, as JSON carries it
  return Number(text);
}

function nonzero<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === 0 || o[k] === undefined) delete o[k];
  return o;
}

export function v2Stats(dir: string): CgroupStats {
  const s = emptyStats();
  const cpu = parseKeyed(read(path.join(dir, 'cpu.stat')));
  s.cpu.usage = { total: (cpu.usage_usec ?? 0) * 1000, kernel: (cpu.system_usec ?? 0) * 1000, user: (cpu.user_usec ?? 0) * 1000 };
  if (!s.cpu.usage.total) delete s.cpu.usage.total;
  s.cpu.throttling = nonzero({
    periods: cpu.nr_periods,
    throttledPeriods: cpu.nr_throttled,
    throttledTime: (cpu.throttled_usec ?? 0) * 1000,
  });
  const mem = parseKeyed(read(path.join(dir, 'memory.stat')));
  const events = parseKeyed(read(path.join(dir, 'memory.events')));
  s.memory.cache = mem.file;
  s.memory.usage = {
    limit: limitOf(read(path.join(dir, 'memory.max'))),
    usage: Number(read(path.join(dir, 'memory.current')) ?? 0),
    failcnt: events.max ?? 0,
  };
  const peak = read(path.join(dir, 'memory.peak'));
  if (peak) s.memory.usage.max = Number(peak);
  s.memory.swap = {
    limit: limitOf(read(path.join(dir, 'memory.swap.max'))),
    usage: Number(read(path.join(dir, 'memory.swap.current')) ?? 0),
    failcnt: 0,
  };
  s.memory.raw = mem;
  s.pids = nonzero({
    current: Number(read(path.join(dir, 'pids.current')) ?? 0),
    limit: read(path.join(dir, 'pids.max')) === 'max' ? 0 : Number(read(path.join(dir, 'pids.max')) ?? 0),
  });
  return s;
}

const USER_HZ_NS = 10_000_000; // clock ticks (USER_HZ = 100) in ns

export function v1Stats(paths: Record<string, string>): CgroupStats {
  const s = emptyStats();
  const acct = paths.cpuacct;
  if (acct) {
    const st = parseKeyed(read(path.join(acct, 'cpuacct.stat')));
    const percpu = (read(path.join(acct, 'cpuacct.usage_percpu')) ?? '').split(/\s+/).filter(Boolean).map(Number);
    s.cpu.usage = {
      total: Number(read(path.join(acct, 'cpuacct.usage')) ?? 0),
      percpu,
      kernel: (st.system ?? 0) * USER_HZ_NS,
      user: (st.user ?? 0) * USER_HZ_NS,
    };
  }
  if (paths.cpu) {
    const t = parseKeyed(read(path.join(paths.cpu, 'cpu.stat')));
    s.cpu.throttling = nonzero({ periods: t.nr_periods, throttledPeriods: t.nr_throttled, throttledTime: t.throttled_time });
  }
  const m = paths.memory;
  if (m) {
    const entry = (prefix: string): MemoryEntry => ({
      limit: Number(read(path.join(m, `${prefix}.limit_in_bytes`)) ?? 0),
      usage: Number(read(path.join(m, `${prefix}.usage_in_bytes`)) ?? 0),
      max: Number(read(path.join(m, `${prefix}.max_usage_in_bytes`)) ?? 0),
      failcnt: Number(read(path.join(m, `${prefix}.failcnt`)) ?? 0),
    });
    const raw = parseKeyed(read(path.join(m, 'memory.stat')));
    s.memory = {
      cache: raw.cache,
      usage: entry('memory'),
      swap: entry('memory.memsw'),
      kernel: entry('memory.kmem'),
      kernelTCP: entry('memory.kmem.tcp'),
      raw,
    };
  }
  if (paths.pids) {
    const max = read(path.join(paths.pids, 'pids.max'));
    s.pids = nonzero({ current: Number(read(path.join(paths.pids, 'pids.current')) ?? 0), limit: max === 'max' ? 0 : Number(max ?? 0) });
  }
  return s;
}
