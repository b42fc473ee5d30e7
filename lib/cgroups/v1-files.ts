/**
 * linux.resources → cgroup v1 file writes, per controller hierarchy. Pure;
 * takes resources validateCgroups has passed (create and update both run it
 * first). Devices are separate (devices.ts): their order matters.
 */
import { hugepageSize, pidsMax, rdmaMaxLine } from './convert.js';
import type { CgroupWrite, LinuxResources, ThrottleDevice } from './resources.js';

const R = 'linux.resources';

/** What the memory cgroup holds now: the order of the limit writes depends on it. */
export interface V1MemoryNow {
  /** memory.limit_in_bytes now (a new cgroup: unlimited). */
  limit: number;
  /** memory.memsw.limit_in_bytes exists (the kernel accounts swap). */
  memsw: boolean;
}

/**
 * runc's setMemoryAndSwap: -1 is unlimited for both; a limit of -1 with no
 * swap given lifts memsw too (else a memsw limit left from before would
 * refuse it: the kernel keeps memory ≤ memory+swap at every step), and memsw
 * is written first when it is -1 or grows past the current limit.
 */
export function v1Writes(r: LinuxResources, now: V1MemoryNow = { limit: Infinity, memsw: true }): CgroupWrite[] {
  const out: CgroupWrite[] = [];
  const w = (controller: string, file: string, value: string, field: string, more: Pick<CgroupWrite, 'optional' | 'retryAfter'> = {}) =>
    out.push({ controller, file, value, field, optional: false, ...more });

  const m = r.memory;
  if (m) {
    const limit = m.limit ?? 0;
    const given = m.swap ?? 0; // 0 is "unset", as in runc
    const swap = given !== 0 ? given : limit === -1 && now.memsw ? -1 : 0;
    const swapField = given !== 0 ? `${R}.memory.swap` : `${R}.memory.limit`;
    const memswFirst = limit !== 0 && swap !== 0 && (swap === -1 || now.limit < swap);
    if (memswFirst) w('memory', 'memory.memsw.limit_in_bytes', String(swap), swapField);
    if (limit !== 0) w('memory', 'memory.limit_in_bytes', String(limit), `${R}.memory.limit`);
    if (swap !== 0 && !memswFirst) w('memory', 'memory.memsw.limit_in_bytes', String(swap), swapField);
    if (m.reservation !== undefined && m.reservation !== 0)
      w('memory', 'memory.soft_limit_in_bytes', String(m.reservation), `${R}.memory.reservation`);
    if (m.kernel !== undefined && m.kernel !== 0)
      w('memory', 'memory.kmem.limit_in_bytes', String(m.kernel), `${R}.memory.kernel`, { optional: true });
    if (m.kernelTCP !== undefined && m.kernelTCP !== 0)
      w('memory', 'memory.kmem.tcp.limit_in_bytes', String(m.kernelTCP), `${R}.memory.kernelTCP`);
    if (m.swappiness !== undefined && m.swappiness !== null)
      w('memory', 'memory.swappiness', String(m.swappiness), `${R}.memory.swappiness`);
    if (m.disableOOMKiller) w('memory', 'memory.oom_control', '1', `${R}.memory.disableOOMKiller`);
  }
  const c = r.cpu;
  if (c) {
    // cpu.idle around the shares as on v2 (v2-files.ts): the kernel refuses
    // shares while the group is idle
    if (c.idle === 0) w('cpu', 'cpu.idle', '0', `${R}.cpu.idle`, { optional: true });
    if (c.shares) w('cpu', 'cpu.shares', String(c.shares), `${R}.cpu.shares`);
    if (c.idle !== undefined && c.idle !== 0) w('cpu', 'cpu.idle', String(c.idle), `${R}.cpu.idle`);
    // runc's order. Every write is checked against the values in place: the
    // quota/period ratio against the parent's quota, the burst against the
    // quota. The period and the burst go first, so a new quota is checked
    // with the new period; where the old quota with the new period is what
    // the kernel refuses (a shorter period below a parent with a quota), or
    // a burst above the old quota, they are written again after the quota.
    const afterQuota = c.quota ? 'cpu.cfs_quota_us' : undefined;
    if (c.period) w('cpu', 'cpu.cfs_period_us', String(c.period), `${R}.cpu.period`, { retryAfter: afterQuota });
    if (c.burst !== undefined) w('cpu', 'cpu.cfs_burst_us', String(c.burst), `${R}.cpu.burst`, { retryAfter: afterQuota });
    if (c.quota) w('cpu', 'cpu.cfs_quota_us', String(c.quota), `${R}.cpu.quota`);
    // the realtime pair the same way: the runtime is checked against the period
    const afterRuntime = c.realtimeRuntime ? 'cpu.rt_runtime_us' : undefined;
    if (c.realtimePeriod) w('cpu', 'cpu.rt_period_us', String(c.realtimePeriod), `${R}.cpu.realtimePeriod`, { retryAfter: afterRuntime });
    if (c.realtimeRuntime) w('cpu', 'cpu.rt_runtime_us', String(c.realtimeRuntime), `${R}.cpu.realtimeRuntime`);
    if (c.cpus) w('cpuset', 'cpuset.cpus', c.cpus, `${R}.cpu.cpus`);
    if (c.mems) w('cpuset', 'cpuset.mems', c.mems, `${R}.cpu.mems`);
  }
  if (typeof r.pids?.limit === 'number') w('pids', 'pids.max', pidsMax(r.pids.limit), `${R}.pids.limit`);
  const b = r.blockIO;
  if (b) {
    if (b.weight) w('blkio', 'blkio.weight', String(b.weight), `${R}.blockIO.weight`);
    if (b.leafWeight) w('blkio', 'blkio.leaf_weight', String(b.leafWeight), `${R}.blockIO.leafWeight`);
    (b.weightDevice ?? []).forEach((d, i) => {
      if (d.weight) w('blkio', 'blkio.weight_device', `${d.major}:${d.minor} ${d.weight}`, `${R}.blockIO.weightDevice[${i}]`);
      if (d.leafWeight) w('blkio', 'blkio.leaf_weight_device', `${d.major}:${d.minor} ${d.leafWeight}`, `${R}.blockIO.weightDevice[${i}]`);
    });
    const throttle = (list: ThrottleDevice[] | undefined, file: string, field: string) =>
      (list ?? []).forEach((d, i) => w('blkio', file, `${d.major}:${d.minor} ${d.rate}`, `${R}.blockIO.${field}[${i}]`));
    throttle(b.throttleReadBpsDevice, 'blkio.throttle.read_bps_device', 'throttleReadBpsDevice');
    throttle(b.throttleWriteBpsDevice, 'blkio.throttle.write_bps_device', 'throttleWriteBpsDevice');
    throttle(b.throttleReadIOPSDevice, 'blkio.throttle.read_iops_device', 'throttleReadIOPSDevice');
    throttle(b.throttleWriteIOPSDevice, 'blkio.throttle.write_iops_device', 'throttleWriteIOPSDevice');
  }
  (r.hugepageLimits ?? []).forEach((h, i) => {
    const size = hugepageSize(h.pageSize, `${R}.hugepageLimits[${i}]`);
    w('hugetlb', `hugetlb.${size}.limit_in_bytes`, String(h.limit), `${R}.hugepageLimits[${i}]`);
  });
  if (r.network?.classID !== undefined) w('net_cls', 'net_cls.classid', String(r.network.classID), `${R}.network.classID`);
  (r.network?.priorities ?? []).forEach((p, i) =>
    w('net_prio', 'net_prio.ifpriomap', `${p.name} ${p.priority}`, `${R}.network.priorities[${i}]`),
  );
  for (const [dev, lim] of Object.entries(r.rdma ?? {})) {
    const line = rdmaMaxLine(dev, lim);
    if (line) w('rdma', 'rdma.max', line, `${R}.rdma.${dev}`);
  }
  return out;
}
