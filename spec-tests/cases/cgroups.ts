/** config-linux.md#control-groups. Resource cases read the container's cgroup
 * files on the host: v2 files on unified hosts, v1 files otherwise (the
 * resource fields are named after v1 controllers). v2-only cases skip elsewhere. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { linux } from '../harness/config.js';
import type { Bundle, CaseContext } from '../harness/context.js';
import { readCgroupPaths, readTrim, v1Dir, v2Dir } from '../harness/cgroups.js';
import { check, eq, fail, skip, type Case } from '../harness/types.js';
import { def, expectError, expectOk, linuxMd, LONG_MS } from './util.js';

function resources(b: Bundle, r: Record<string, unknown>): void {
  const l = linux(b.config);
  l.resources = { ...(l.resources ?? {}), ...r };
}

/** A unique top-level cgroupsPath, so cleanup leaves no parent directories
 * (with the systemd driver: a unit of its own in system.slice). */
function uniquePath(ctx: CaseContext): string {
  return ctx.env.systemd ? `system.slice:spec-tests:${ctx.id('cg')}` : `/spec-tests-${ctx.id('cg')}`;
}

interface Where {
  pid: number;
  /** Reads `file` of `controller` for this container (v2 or v1 layout). */
  read(controller: string, v2file: string, v1file: string): string | undefined;
}

async function created(ctx: CaseContext, r: Record<string, unknown>): Promise<Where> {
  const b = ctx.bundle(['sleep-ms', LONG_MS]);
  linux(b.config).cgroupsPath = uniquePath(ctx);
  resources(b, r);
  const c = await ctx.create(b);
  const pid = await c.pid();
  return {
    pid,
    read(controller, v2file, v1file) {
      if (ctx.host.cgroupMode === 'unified') {
        const d = v2Dir(ctx.host, pid);
        return d ? readTrim(path.join(d, v2file)) : undefined;
      }
      const d = v1Dir(ctx.host, pid, controller);
      return d ? readTrim(path.join(d, v1file)) : undefined;
    },
  };
}

function requireController(ctx: CaseContext, controller: string): void {
  if (ctx.host.cgroupMode === 'unified') {
    if (!ctx.host.v2Controllers.includes(controller)) skip(`cgroup v2 controller ${controller} not available`);
  } else if (!ctx.host.v1Mounts[controller]) {
    skip(
      `cgroup v1 controller ${controller} not mounted${ctx.host.cgroupMode === 'hybrid' ? ' (hybrid host: it may sit on the v2 hierarchy, which runtimes do not use for it)' : ''}`,
    );
  }
}

const MiB = 1024 * 1024;

export const cgroupCases: Case[] = [
  def(
    'cgroups::path-absolute',
    linuxMd('#cgroups-path', 'an absolute cgroupsPath MUST be taken relative to the cgroups mount point'),
    async (ctx) => {
      if (ctx.env.systemd) skip('the systemd driver takes slice:prefix:name, not a path (systemd::*)');
      const b = ctx.bundle(['sleep-ms', LONG_MS]);
      const p = uniquePath(ctx);
      linux(b.config).cgroupsPath = p;
      const c = await ctx.create(b);
      const places = readCgroupPaths(ctx.host, await c.pid());
      const relevant = places.filter((x) =>
        ctx.host.cgroupMode === 'unified'
          ? x.controllers === ''
          : ['memory', 'pids', 'cpu'].some((k) => x.controllers.split(',').includes(k)),
      );
      if (relevant.length === 0) skip('no cgroup hierarchy to check');
      const wrong = relevant.filter((x) => x.path !== p);
      check(wrong.length === 0, `container cgroups not at ${p}: ${wrong.map((x) => `${x.controllers || 'v2'}:${x.path}`).join(', ')}`);
    },
  ),

  def(
    'cgroups::path-consistent',
    linuxMd('#cgroups-path', 'the runtime MUST consistently attach to the same place given the same cgroupsPath'),
    async (ctx) => {
      const p = uniquePath(ctx);
      const placesOf = async (): Promise<string> => {
        const b = ctx.bundle(['sleep-ms', LONG_MS]);
        linux(b.config).cgroupsPath = p;
        const c = await ctx.create(b);
        const out = readCgroupPaths(ctx.host, await c.pid())
          .map((x) => `${x.controllers}:${x.path}`)
          .sort()
          .join(' ');
        await c.kill('KILL');
        await c.waitStopped();
        expectOk(await c.delete(), 'delete');
        return out;
      };
      eq(await placesOf(), await placesOf(), 'cgroups of two containers created one after the other with the same cgroupsPath');
    },
  ),

  def('cgroups::memory-limit', linuxMd('#memory', 'memory.limit sets limit of memory usage'), async (ctx) => {
    requireController(ctx, 'memory');
    const w = await created(ctx, { memory: { limit: 64 * MiB } });
    eq(w.read('memory', 'memory.max', 'memory.limit_in_bytes'), String(64 * MiB), 'memory limit');
  }),

  def('cgroups::memory-reservation', linuxMd('#memory', 'memory.reservation sets soft limit of memory usage'), async (ctx) => {
    requireController(ctx, 'memory');
    const w = await created(ctx, { memory: { limit: 128 * MiB, reservation: 32 * MiB } });
    eq(w.read('memory', 'memory.low', 'memory.soft_limit_in_bytes'), String(32 * MiB), 'memory reservation');
  }),

  def('cgroups::memory-swap', linuxMd('#memory', 'memory.swap sets limit of memory+swap usage'), async (ctx) => {
    requireController(ctx, 'memory');
    if (ctx.host.cgroupMode !== 'unified') {
      const root = ctx.host.v1Mounts.memory;
      if (!root || !fs.existsSync(path.join(root, 'memory.memsw.limit_in_bytes')))
        skip('swap accounting is disabled (no memory.memsw.limit_in_bytes)');
    }
    const w = await created(ctx, { memory: { limit: 64 * MiB, swap: 128 * MiB } });
    const want = ctx.host.cgroupMode === 'unified' ? String(64 * MiB) : String(128 * MiB);
    const got = w.read('memory', 'memory.swap.max', 'memory.memsw.limit_in_bytes');
    if (got === undefined) skip('the container cgroup has no swap limit file (swap accounting is off)');
    eq(got, want, 'swap limit (v2: swap minus memory)');
  }),

  def('cgroups::pids-limit', linuxMd('#pids', 'pids.limit specifies the maximum number of tasks in the cgroup'), async (ctx) => {
    requireController(ctx, 'pids');
    const w = await created(ctx, { pids: { limit: 42 } });
    eq(w.read('pids', 'pids.max', 'pids.max'), '42', 'pids.max');
  }),

  def('cgroups::pids-enforced', linuxMd('#pids', 'pids.limit: tasks beyond the limit cannot be created'), async (ctx) => {
    requireController(ctx, 'pids');
    const b = ctx.bundle(['fork', '20']);
    linux(b.config).cgroupsPath = uniquePath(ctx);
    resources(b, { pids: { limit: 5 } });
    const { report } = await ctx.run(b);
    const forked = Number(report.need('forked'));
    check(forked < 20 && forked <= 4, `forked ${forked} children under a pids limit of 5`);
    eq(report.need('fork_errno'), 'EAGAIN', 'fork error beyond the limit');
  }),

  def('cgroups::cpu-quota-period', linuxMd('#cpu', 'cpu.quota / cpu.period: CPU time per period'), async (ctx) => {
    requireController(ctx, 'cpu');
    const w = await created(ctx, { cpu: { quota: 50000, period: 100000 } });
    if (ctx.host.cgroupMode === 'unified') eq(w.read('cpu', 'cpu.max', ''), '50000 100000', 'cpu.max');
    else {
      eq(w.read('cpu', '', 'cpu.cfs_quota_us'), '50000', 'cpu.cfs_quota_us');
      eq(w.read('cpu', '', 'cpu.cfs_period_us'), '100000', 'cpu.cfs_period_us');
    }
  }),

  def(
    'cgroups::cpu-shares',
    linuxMd('#cpu', 'cpu.shares: relative share of CPU time (on v2 converted to cpu.weight, or an error)'),
    async (ctx) => {
      requireController(ctx, 'cpu');
      const w = await created(ctx, { cpu: { shares: 512 } });
      if (ctx.host.cgroupMode === 'unified') {
        const weight = w.read('cpu', 'cpu.weight', '');
        check(
          weight !== undefined && weight !== '100',
          `cpu.weight is ${weight ?? 'missing'}: shares 512 was neither converted nor refused`,
        );
      } else {
        eq(w.read('cpu', '', 'cpu.shares'), '512', 'cpu.shares');
      }
    },
  ),

  def('cgroups::cpuset', linuxMd('#cpu', 'cpu.cpus / cpu.mems: CPUs and memory nodes the container will run in'), async (ctx) => {
    requireController(ctx, 'cpuset');
    const w = await created(ctx, { cpu: { cpus: '0', mems: '0' } });
    eq(w.read('cpuset', 'cpuset.cpus', 'cpuset.cpus'), '0', 'cpuset.cpus');
    eq(w.read('cpuset', 'cpuset.mems', 'cpuset.mems'), '0', 'cpuset.mems');
  }),

  def(
    'cgroups::blkio-weight',
    linuxMd('#block-io', 'blockIO.weight specifies per-cgroup weight (on v2 written as io.bfq.weight or converted to io.weight)'),
    async (ctx) => {
      const v2 = ctx.host.cgroupMode === 'unified';
      const controller = v2 ? 'io' : 'blkio';
      requireController(ctx, controller);
      const w = await created(ctx, { blockIO: { weight: 500 } });
      const files = v2 ? ['io.bfq.weight', 'io.weight'] : ['blkio.weight', 'blkio.bfq.weight'];
      const seen = files
        .map((f) => [f, w.read(controller, f, f)] as const)
        .filter((x): x is readonly [string, string] => x[1] !== undefined);
      if (seen.length === 0) skip(`no ${files.join(' / ')} file (no weight-capable I/O scheduler)`);
      const weightOf = (v: string): string => /(?:^|default )(\d+)/.exec(v)?.[1] ?? v;
      const exact = seen.some(([, v]) => weightOf(v) === '500');
      // v1 blkio.weight and v2 io.bfq.weight share the 10..1000 range; io.weight (1..10000,
      // default 100) needs the conversion the spec leaves to the runtime (MAY).
      const converted = v2 && seen.some(([f, v]) => f === 'io.weight' && weightOf(v) !== '100');
      check(exact || converted, `weight files say ${seen.map(([f, v]) => `${f}=${v}`).join(', ')}: weight 500 not applied`);
    },
  ),

  def('cgroups::hugetlb-limit', linuxMd('#huge-page-limits', 'hugepageLimits limits HugeTLB usage per page size'), async (ctx) => {
    requireController(ctx, 'hugetlb');
    if (!fs.existsSync('/sys/kernel/mm/hugepages/hugepages-2048kB')) skip('no 2MB huge pages on this host');
    const w = await created(ctx, { hugepageLimits: [{ pageSize: '2MB', limit: 4 * 2 * MiB }] });
    const v = w.read('hugetlb', 'hugetlb.2MB.max', 'hugetlb.2MB.limit_in_bytes');
    eq(v, String(8 * MiB), 'hugetlb 2MB limit');
  }),

  def(
    'cgroups::unified',
    linuxMd('#unified', 'unified: each key refers to a file in the cgroup unified hierarchy; it MUST be written'),
    async (ctx) => {
      ctx.requireCgroupV2('pids');
      const w = await created(ctx, { unified: { 'pids.max': '17' } });
      eq(w.read('pids', 'pids.max', ''), '17', 'pids.max written through unified');
    },
  ),

  def(
    'cgroups::unified-controllers-enabled',
    linuxMd('#unified', 'The OCI runtime MUST ensure that the needed cgroup controllers are enabled for the cgroup'),
    async (ctx) => {
      ctx.requireCgroupV2('pids');
      const w = await created(ctx, { unified: { 'pids.max': '23' } });
      const d = v2Dir(ctx.host, w.pid);
      if (!d) fail('container cgroup not found');
      const parent = readTrim(path.join(path.dirname(d), 'cgroup.subtree_control')) ?? '';
      check(parent.split(/\s+/).includes('pids'), `pids not enabled in the parent's cgroup.subtree_control (${parent})`);
    },
  ),

  def(
    'cgroups::unified-unknown-controller',
    linuxMd('#unified', 'The runtime MUST generate an error when the configuration refers to a cgroup controller that is not present'),
    async (ctx) => {
      ctx.requireCgroupV2();
      const b = ctx.bundle(['exit', '0']);
      linux(b.config).cgroupsPath = uniquePath(ctx);
      resources(b, { unified: { 'spectest.max': '1' } });
      expectError((await ctx.tryCreate(b)).createResult, 'create with unified key spectest.max');
    },
  ),

  def(
    'cgroups::unified-memory',
    linuxMd('#unified', 'Configuration unknown to the runtime MUST still be written to the relevant file (memory.high)'),
    async (ctx) => {
      ctx.requireCgroupV2('memory');
      const w = await created(ctx, { unified: { 'memory.high': String(96 * MiB) } });
      eq(w.read('memory', 'memory.high', ''), String(96 * MiB), 'memory.high written through unified');
    },
  ),
];
