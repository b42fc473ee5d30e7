/**
 * linux.resources → cgroup v2 file writes. Pure: the backend decides what
 * exists (io.bfq.weight or io.weight) through `has`.
 */
import { blkioWeightToIoWeight, cpuMax, hugepageSize, pidsMax, rdmaMaxLine, sharesToWeight, swapToV2, v2Limit } from './convert.js';
import type { CgroupWrite, LinuxResources, ThrottleDevice } from './resources.js';

const R = 'linux.resources';

/**
 * `has(file)`: whether the container's cgroup offers that file (e.g.
 * io.bfq.weight). `memoryNow`: the memory limit in place (memory.max; 0 for
 * none), which a swap limit given without a memory limit is reckoned
 * against: runc's update merges with the limits the container has, so
 * `update --memory-swap N` alone writes swap.max = N − the current limit.
 */
export function v2Writes(r: LinuxResources, has: (file: string) => boolean = () => false, memoryNow = 0): CgroupWrite[] {
  const out: CgroupWrite[] = [];
  const w = (controller: string, file: string, value: string, field: string, more: Pick<CgroupWrite, 'optional' | 'retryAfter'> = {}) =>
    out.push({ controller, file, value, field, optional: false, ...more });

  const m = r.memory;
  if (m) {
    // runc's order: swap, then max (v2 checks neither against the other).
    // A limit of -1 lifts swap too; swap = limit means no swap at all ("0");
    // without swap accounting "max" and "0" are what there is anyway.
    const given = m.swap ?? 0;
    const swap = swapToV2(given, m.limit ?? memoryNow);
    const field = given !== 0 ? `${R}.memory.swap` : `${R}.memory.limit`;
    if (swap !== 0 || given > 0) w('memory', 'memory.swap.max', v2Limit(swap), field, { optional: swap <= 0 });
    if (m.limit !== undefined && m.limit !== 0) w('memory', 'memory.max', v2Limit(m.limit), `${R}.memory.limit`);
    if (m.reservation !== undefined && m.reservation !== 0) w('memory', 'memory.low', v2Limit(m.reservation), `${R}.memory.reservation`);
  }
  const c = r.cpu;
  if (c) {
    // The kernel refuses a weight while the group is idle (EINVAL), so
    // leaving idle goes before the weight, as runc writes cpu.idle, and
    // entering it after: runc's order would have the new weight refused.
    if (c.idle === 0) w('cpu', 'cpu.idle', '0', `${R}.cpu.idle`, { optional: true });
    if (c.shares) w('cpu', 'cpu.weight', String(sharesToWeight(c.shares)), `${R}.cpu.shares`);
    if (c.idle !== undefined && c.idle !== 0) w('cpu', 'cpu.idle', String(c.idle), `${R}.cpu.idle`);
    // runc's order: the burst is checked against the quota in place, so it
    // goes first (a new quota below the old burst would be refused) and,
    // refused itself (above the old quota), again after cpu.max
    if (c.burst !== undefined)
      w('cpu', 'cpu.max.burst', String(c.burst), `${R}.cpu.burst`, { retryAfter: c.quota ? 'cpu.max' : undefined });
    const max = cpuMax(c.quota, c.period);
    if (max) w('cpu', 'cpu.max', max, c.quota ? `${R}.cpu.quota` : `${R}.cpu.period`);
    if (c.cpus) w('cpuset', 'cpuset.cpus', c.cpus, `${R}.cpu.cpus`);
    if (c.mems) w('cpuset', 'cpuset.mems', c.mems, `${R}.cpu.mems`);
  }
  if (typeof r.pids?.limit === 'number') w('pids', 'pids.max', pidsMax(r.pids.limit), `${R}.pids.limit`);
  const b = r.blockIO;
  if (b) {
    // BFQ's weight shares the v1 range; without BFQ io.weight needs the conversion
    const bfq = has('io.bfq.weight');
    if (b.weight) {
      if (bfq) w('io', 'io.bfq.weight', String(b.weight), `${R}.blockIO.weight`);
      else w('io', 'io.weight', `default ${blkioWeightToIoWeight(b.weight)}`, `${R}.blockIO.weight`);
    }
    (b.weightDevice ?? []).forEach((d, i) => {
      if (!d.weight) return;
      if (bfq) w('io', 'io.bfq.weight', `${d.major}:${d.minor} ${d.weight}`, `${R}.blockIO.weightDevice[${i}]`);
      else w('io', 'io.weight', `${d.major}:${d.minor} ${blkioWeightToIoWeight(d.weight)}`, `${R}.blockIO.weightDevice[${i}]`);
    });
    const throttle = (list: ThrottleDevice[] | undefined, key: string, field: string) =>
      (list ?? []).forEach((d, i) =>
        w('io', 'io.max', `${d.major}:${d.minor} ${key}=${d.rate === 0 ? 'max' : d.rate}`, `${R}.blockIO.${field}[${i}]`),
      );
    throttle(b.throttleReadBpsDevice, 'rbps', 'throttleReadBpsDevice');
    throttle(b.throttleWriteBpsDevice, 'wbps', 'throttleWriteBpsDevice');
    throttle(b.throttleReadIOPSDevice, 'riops', 'throttleReadIOPSDevice');
    throttle(b.throttleWriteIOPSDevice, 'wiops', 'throttleWriteIOPSDevice');
  }
  (r.hugepageLimits ?? []).forEach((h, i) => {
    const size = hugepageSize(h.pageSize, `${R}.hugepageLimits[${i}]`);
    w('hugetlb', `hugetlb.${size}.max`, v2Limit(h.limit), `${R}.hugepageLimits[${i}]`);
  });
  for (const [dev, lim] of Object.entries(r.rdma ?? {})) {
    const line = rdmaMaxLine(dev, lim);
    if (line) w('rdma', 'rdma.max', line, `${R}.rdma.${dev}`);
  }
  // unified last: its values override the converted ones, as in runc
  for (const [key, value] of Object.entries(r.unified ?? {})) {
    w(unifiedController(key), key, value, `${R}.unified.${key}`);
  }
  return out;
}

/** The controller a unified key belongs to ("memory.high" → "memory"); "cgroup.*" needs none. */
export function unifiedController(key: string): string {
  const dot = key.indexOf('.');
  return dot > 0 ? key.slice(0, dot) : key;
}
