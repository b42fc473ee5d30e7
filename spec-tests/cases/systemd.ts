/** The systemd cgroup driver (`--systemd-cgroup`, runc's): graded only with
 * `spec-tests --systemd-cgroup` on a host with systemd as PID 1 and cgroup v2.
 * A container's cgroup is then a transient unit; each case reads what the
 * runtime asked for back twice, from systemd (`systemctl show`) and from the
 * cgroup files, and checks the unit is gone after delete. runc's behaviour is
 * the reference (level CLI): the runtime spec leaves cgroupsPath's form to
 * the runtime. */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { linux } from '../harness/config.js';
import type { CaseContext, Container } from '../harness/context.js';
import { readTrim, v2Dir } from '../harness/cgroups.js';
import { check, eq, skip, type Case } from '../harness/types.js';
import { cli, def, expectError, expectOk, LONG_MS, waitUntil } from './util.js';

const sdClause = (text: string) => cli('--systemd-cgroup', text);
const MiB = 1024 * 1024;

function requireSystemd(ctx: CaseContext): void {
  if (!ctx.env.systemd) skip('graded with --systemd-cgroup only');
  if (ctx.host.cgroupMode !== 'unified') skip('the systemd driver needs cgroup v2 here');
  if (!fs.existsSync('/run/systemd/system')) skip('systemd is not PID 1 on this host');
}

/** `systemctl show UNIT --property=P...` as {P: value}. */
function show(unit: string, props: string[]): Record<string, string> {
  let out = '';
  try {
    out = execFileSync('systemctl', ['show', unit, ...props.map((p) => `--property=${p}`)], { encoding: 'utf8' });
  } catch {
    return {};
  }
  const r: Record<string, string> = {};
  for (const l of out.split('\n')) {
    const i = l.indexOf('=');
    if (i > 0) r[l.slice(0, i)] = l.slice(i + 1);
  }
  return r;
}

const loadState = (unit: string) => show(unit, ['LoadState']).LoadState ?? '';

/** The cgroup directory of `unit` that holds `pid`: the init is in the unit's own cgroup (runc)
 * or one below it (crun's `<unit>/container`, which leaves the unit's to systemd's limits). */
function unitDir(ctx: CaseContext, pid: number, unit: string): string {
  const own = v2Dir(ctx.host, pid);
  if (!own) skip('no v2 cgroup of the container in /proc/PID/cgroup');
  const parts = own.split('/');
  const at = parts.indexOf(unit);
  check(at > 0, `the init's cgroup ${own} is not in unit ${unit}`);
  return parts.slice(0, at + 1).join('/');
}

/**
 * A container in a new scope `spec-tests-<id>.scope` of `slice` (cgroupsPath `slice:spec-tests:<id>`),
 * with resources `r` and `annotations`: the container, its unit and the unit's cgroup directory.
 */
async function unitContainer(
  ctx: CaseContext,
  slice: string,
  r: Record<string, unknown> = {},
  annotations: Record<string, string> = {},
): Promise<{ c: Container; unit: string; dir: string }> {
  const name = ctx.id('sd');
  const unit = `spec-tests-${name}.scope`;
  const b = ctx.bundle(['sleep-ms', LONG_MS]);
  linux(b.config).cgroupsPath = `${slice}:spec-tests:${name}`;
  linux(b.config).resources = r;
  b.config.annotations = { ...(b.config.annotations ?? {}), ...annotations };
  const c = await ctx.create(b);
  return { c, unit, dir: unitDir(ctx, await c.pid(), unit) };
}

/** The properties in a fixed order, as text. */
const shown = (s: Record<string, string>, keys: string[]) => keys.map((k) => `${k}=${s[k] ?? '(none)'}`).join(' ');

async function deleted(c: Container, unit: string, dir: string): Promise<void> {
  expectOk(await c.kill('KILL'), 'kill');
  await c.waitStopped();
  expectOk(await c.delete(), 'delete');
  // systemd drops an emptied scope once it has seen the cgroup empty
  const gone = await waitUntil(() => loadState(unit) === 'not-found', 10_000);
  check(gone, `unit ${unit} still ${loadState(unit)} after delete`);
  check(!fs.existsSync(dir), `cgroup ${dir} left after delete`);
}

export const systemdCases: Case[] = [
  def(
    'systemd::scope-in-slice',
    sdClause('cgroupsPath "slice:prefix:name" is the unit prefix-name.scope in that slice, loaded and active, holding the init'),
    async (ctx) => {
      requireSystemd(ctx);
      const { c, unit, dir } = await unitContainer(ctx, 'system.slice');
      eq(path.relative('/sys/fs/cgroup', dir), `system.slice/${unit}`, 'the unit’s cgroup');
      const s = show(unit, ['LoadState', 'ActiveState', 'Slice']);
      eq(`${s.LoadState} ${s.ActiveState} ${s.Slice}`, 'loaded active system.slice', 'the unit');
      await deleted(c, unit, dir);
    },
  ),

  def('systemd::slice-expansion', sdClause('a slice a-b.slice lives in a.slice/a-b.slice; an empty slice is system.slice'), async (ctx) => {
    requireSystemd(ctx);
    const tag = ctx.id('sd').replace(/-/g, '_');
    const { c, unit, dir } = await unitContainer(ctx, `spectests_${tag}-x.slice`);
    eq(
      path.relative('/sys/fs/cgroup', dir),
      `spectests_${tag}.slice/spectests_${tag}-x.slice/${unit}`,
      'the cgroup of a scope in a nested slice',
    );
    await deleted(c, unit, dir);
    const second = await unitContainer(ctx, '');
    eq(path.relative('/sys/fs/cgroup', second.dir), `system.slice/${second.unit}`, 'the cgroup with an empty slice');
    await deleted(second.c, second.unit, second.dir);
  }),

  def(
    'systemd::resources',
    sdClause('linux.resources become the unit’s properties and the same cgroup files: memory, swap, cpu, cpuset, pids'),
    async (ctx) => {
      requireSystemd(ctx);
      const { c, unit, dir } = await unitContainer(ctx, 'system.slice', {
        memory: { limit: 96 * MiB, reservation: 32 * MiB, swap: 128 * MiB },
        cpu: { shares: 512, quota: 50_000, period: 100_000, cpus: '0' },
        pids: { limit: 64 },
      });
      const want: Record<string, string> = {
        MemoryMax: String(96 * MiB),
        MemoryLow: String(32 * MiB),
        // the config's swap is memory+swap; cgroup v2's and systemd's is swap alone
        MemorySwapMax: String(32 * MiB),
        CPUQuotaPerSecUSec: '500ms',
        AllowedCPUs: '0',
        TasksMax: '64',
      };
      const keys = Object.keys(want);
      eq(shown(show(unit, keys), keys), shown(want, keys), 'systemctl show');
      const files = ['memory.max', 'memory.low', 'memory.swap.max', 'cpu.max', 'cpuset.cpus', 'pids.max'].map(
        (f) => `${f}=${readTrim(path.join(dir, f)) ?? '(none)'}`,
      );
      eq(
        files.join(' '),
        `memory.max=${96 * MiB} memory.low=${32 * MiB} memory.swap.max=${32 * MiB} cpu.max=50000 100000 cpuset.cpus=0 pids.max=64`,
        'cgroup files',
      );
      await deleted(c, unit, dir);
    },
  ),

  def('systemd::update', sdClause('update changes the unit’s properties and its cgroup files'), async (ctx) => {
    requireSystemd(ctx);
    const { c, unit, dir } = await unitContainer(ctx, 'system.slice', {
      memory: { limit: 64 * MiB },
      pids: { limit: 20 },
    });
    expectOk(await ctx.rt.exec(['update', '--memory', String(128 * MiB), '--pids-limit', '30', c.id]), 'update');
    const s = show(unit, ['MemoryMax', 'TasksMax']);
    eq(`${s.MemoryMax} ${s.TasksMax}`, `${128 * MiB} 30`, 'systemctl show after update');
    eq(`${readTrim(path.join(dir, 'memory.max'))} ${readTrim(path.join(dir, 'pids.max'))}`, `${128 * MiB} 30`, 'cgroup files after update');
    await deleted(c, unit, dir);
  }),

  def('systemd::annotation-property', sdClause('an org.systemd.property.NAME annotation sets that property of the unit'), async (ctx) => {
    requireSystemd(ctx);
    const { c, unit, dir } = await unitContainer(ctx, 'system.slice', {}, { 'org.systemd.property.TimeoutStopUSec': 'uint64 7000000' });
    eq(show(unit, ['TimeoutStopUSec']).TimeoutStopUSec, '7s', 'TimeoutStopUSec');
    await deleted(c, unit, dir);
  }),

  def(
    'systemd::bad-path',
    sdClause('with --systemd-cgroup a cgroupsPath not of the form slice:prefix:name is an error, and nothing is left'),
    async (ctx) => {
      requireSystemd(ctx);
      const b = ctx.bundle(['sleep-ms', LONG_MS]);
      const p = `/spec-tests-${ctx.id('cg')}`;
      linux(b.config).cgroupsPath = p;
      b.write();
      const id = ctx.id();
      ctx.track(id);
      expectError(await ctx.rt.create(id, b.dir), 'create with a cgroupfs path and --systemd-cgroup');
      check(!fs.existsSync(path.join('/sys/fs/cgroup', p)), `cgroup ${p} made`);
      const s = await ctx.rt.exec(['state', id]);
      check(s.code !== 0, `state of the failed create succeeds: ${s.stdout.trim()}`);
    },
  ),
];
