/** config.md#linux-process: capabilities, compared with /proc/self/status masks. */
import { proc } from '../harness/config.js';
import type { CaseContext } from '../harness/context.js';
import { capMask, capNames, parseMask } from '../harness/caps.js';
import { hasCap } from '../harness/host.js';
import { type Report } from '../harness/probe-output.js';
import { check, eq, fail, skip, type Case } from '../harness/types.js';
import { configMd, def, expectErrno } from './util.js';

type CapSets = NonNullable<NonNullable<ReturnType<CaseContext['bundle']>['config']['process']>['capabilities']>;

const FIELD = { bounding: 'CapBnd', effective: 'CapEff', permitted: 'CapPrm', inheritable: 'CapInh', ambient: 'CapAmb' } as const;

function expectSet(report: Report, set: keyof typeof FIELD, names: string[]): void {
  const got = parseMask(report.need(FIELD[set]));
  if (got === undefined) fail(`cannot parse ${FIELD[set]}=${report.get(FIELD[set])}`);
  const want = capMask(names);
  if (got !== want) {
    const missing = capNames(want & ~got);
    const extra = capNames(got & ~want);
    fail(`${set} set differs: missing [${missing.join(' ')}], unexpected [${extra.join(' ')}]`);
  }
}

function requireHostCaps(ctx: CaseContext, names: string[]): void {
  for (const n of names) if (!hasCap(ctx.host, n)) skip(`host lacks ${n}, so the runtime cannot grant it`);
}

async function runWithCaps(ctx: CaseContext, caps: CapSets, uid = 0): Promise<Report> {
  const b = ctx.bundle();
  const p = proc(b.config);
  p.capabilities = caps;
  p.user = { uid, gid: uid };
  return (await ctx.run(b)).report;
}

const NET = ['CAP_NET_BIND_SERVICE', 'CAP_NET_RAW'];
const MIXED = ['CAP_CHOWN', 'CAP_KILL', 'CAP_SETUID', 'CAP_SYS_CHROOT'];

const oneSet = (set: keyof typeof FIELD): Case =>
  def(
    `capabilities::${set}`,
    configMd('#linux-process', `capabilities.${set}: the ${set} capabilities kept for the process`),
    async (ctx) => {
      requireHostCaps(ctx, MIXED);
      const caps: CapSets = { bounding: MIXED, permitted: MIXED, effective: MIXED, inheritable: [], ambient: [] };
      if (set === 'inheritable') caps.inheritable = ['CAP_KILL'];
      // For uid 0 the kernel makes effective = permitted at execve (no SECBIT_NOROOT),
      // and no_new_privs (on in the default config) keeps permitted from growing back
      // to the bounding set; so the observable check is effective = permitted ⊊ bounding.
      if (set === 'effective' || set === 'permitted') {
        caps.permitted = ['CAP_CHOWN', 'CAP_KILL'];
        caps.effective = ['CAP_CHOWN', 'CAP_KILL'];
      }
      if (set === 'bounding') caps.bounding = [...MIXED, 'CAP_NET_RAW'];
      const report = await runWithCaps(ctx, caps);
      expectSet(report, set, caps[set] ?? []);
    },
  );

export const capabilityCases: Case[] = [
  oneSet('bounding'),
  oneSet('effective'),
  oneSet('permitted'),
  oneSet('inheritable'),

  def(
    'capabilities::ambient',
    configMd('#linux-process', 'capabilities.ambient: the ambient capabilities kept for the process'),
    async (ctx) => {
      requireHostCaps(ctx, NET);
      const report = await runWithCaps(
        ctx,
        { bounding: NET, permitted: NET, effective: NET, inheritable: NET, ambient: ['CAP_NET_BIND_SERVICE'] },
        1000,
      );
      expectSet(report, 'ambient', ['CAP_NET_BIND_SERVICE']);
    },
  ),

  def(
    'capabilities::ambient-non-root-effective',
    configMd('#linux-process', 'ambient capabilities stay effective for a non-root user after exec'),
    async (ctx) => {
      requireHostCaps(ctx, NET);
      const report = await runWithCaps(ctx, { bounding: NET, permitted: NET, effective: NET, inheritable: NET, ambient: NET }, 1000);
      eq(report.need('uid'), '1000', 'uid');
      expectSet(report, 'effective', NET);
    },
  ),

  def('capabilities::empty', configMd('#linux-process', 'empty capability sets: the process keeps no capabilities'), async (ctx) => {
    const report = await runWithCaps(ctx, { bounding: [], permitted: [], effective: [], inheritable: [], ambient: [] });
    for (const set of Object.keys(FIELD) as (keyof typeof FIELD)[]) expectSet(report, set, []);
  }),

  def(
    'capabilities::effective-enforced',
    configMd('#linux-process', 'a capability not kept is not usable (chown without CAP_CHOWN fails)'),
    async (ctx) => {
      const b = ctx.bundle(['touch', '/tmp/f', ',', 'chown', '/tmp/f', '1', '1']);
      b.otherIds = true; // uid 1 must be mapped
      proc(b.config).capabilities = { bounding: ['CAP_KILL'], permitted: ['CAP_KILL'], effective: ['CAP_KILL'] };
      expectErrno((await ctx.run(b)).report.need('chown./tmp/f'), 'EPERM', 'chown without CAP_CHOWN');
    },
  ),

  def(
    'capabilities::effective-usable',
    configMd('#linux-process', 'a kept effective capability is usable (chown with CAP_CHOWN)'),
    async (ctx) => {
      requireHostCaps(ctx, ['CAP_CHOWN']);
      const b = ctx.bundle(['touch', '/tmp/f', ',', 'chown', '/tmp/f', '1', '1']);
      b.otherIds = true; // uid 1 must be mapped
      proc(b.config).capabilities = { bounding: ['CAP_CHOWN'], permitted: ['CAP_CHOWN'], effective: ['CAP_CHOWN'] };
      eq((await ctx.run(b)).report.need('chown./tmp/f'), 'ok', 'chown with CAP_CHOWN');
    },
  ),

  def(
    'capabilities::unknown-name',
    configMd('#linux-process', 'a capability that cannot be mapped MUST be logged as a warning; runtimes SHOULD NOT fail', 'SHOULD'),
    async (ctx) => {
      const b = ctx.bundle();
      proc(b.config).capabilities = { bounding: ['CAP_KILL', 'CAP_SPEC_TESTS_UNKNOWN'], permitted: ['CAP_KILL'], effective: ['CAP_KILL'] };
      const { exec, report } = await ctx.run(b, { allowFailure: true });
      check(report.has('pid'), `the runtime refused an unknown capability name: exit ${exec.code} ${exec.stderr.trim()}`);
    },
    { since: '1.1.0' },
  ),

  def(
    'capabilities::bounding-limits-exec',
    configMd('#linux-process', 'capabilities outside the bounding set cannot be gained (CAP_SYS_ADMIN absent → mount fails)'),
    async (ctx) => {
      const b = ctx.bundle(['syscall', 'mount:/tmp']);
      proc(b.config).capabilities = { bounding: ['CAP_KILL'], permitted: ['CAP_KILL'], effective: ['CAP_KILL'] };
      expectErrno((await ctx.run(b)).report.need('syscall.mount:/tmp'), 'EPERM', 'mount(2) without CAP_SYS_ADMIN');
    },
  ),
];
