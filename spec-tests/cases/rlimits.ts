/** config.md#posix-process: rlimits. Values are chosen at or below the host's
 * hard limits, since raising a hard limit needs CAP_SYS_RESOURCE. */
import { proc, u64 } from '../harness/config.js';
import type { CaseContext } from '../harness/context.js';
import { hasCap, RLIM_INFINITY } from '../harness/host.js';
import { check, eq, skip, type Case } from '../harness/types.js';
import { configMd, def, expectError } from './util.js';

const MiB = 1024n * 1024n;

/** Preferred [soft, hard] per type; clamped to the host hard limit. */
const WANT: Record<string, [bigint, bigint]> = {
  RLIMIT_AS: [4096n * MiB, 8192n * MiB],
  RLIMIT_CORE: [1n * MiB, 2n * MiB],
  RLIMIT_CPU: [300n, 600n],
  RLIMIT_DATA: [2048n * MiB, 4096n * MiB],
  RLIMIT_FSIZE: [512n * MiB, 1024n * MiB],
  RLIMIT_LOCKS: [1024n, 2048n],
  RLIMIT_MEMLOCK: [2n * MiB, 4n * MiB],
  RLIMIT_MSGQUEUE: [204800n, 409600n],
  RLIMIT_NICE: [0n, 0n],
  RLIMIT_NOFILE: [500n, 1000n],
  RLIMIT_NPROC: [2048n, 4096n],
  RLIMIT_RSS: [512n * MiB, 1024n * MiB],
  RLIMIT_RTPRIO: [0n, 0n],
  RLIMIT_RTTIME: [1000000n, 2000000n],
  RLIMIT_SIGPENDING: [2048n, 4096n],
  RLIMIT_STACK: [8n * MiB, 16n * MiB],
};

function chooseLimits(ctx: CaseContext, type: string): [string, string] {
  const want = WANT[type];
  if (!want) throw new Error(type);
  const hostHard = BigInt(ctx.host.rlimits[type]?.[1] ?? RLIM_INFINITY);
  const hard = want[1] < hostHard ? want[1] : hostHard;
  const soft = want[0] < hard ? want[0] : hard;
  return [soft.toString(), hard.toString()];
}

async function runLimits(ctx: CaseContext, rlimits: { type: string; soft: string; hard: string }[]): Promise<Record<string, string>> {
  const b = ctx.bundle();
  proc(b.config).rlimits = rlimits.map((r) => ({ type: r.type, soft: u64(r.soft), hard: u64(r.hard) }));
  const { report } = await ctx.run(b);
  return Object.fromEntries(rlimits.map((r) => [r.type, report.need(r.type)]));
}

const perType: Case[] = Object.keys(WANT).map((type) =>
  def(
    `rlimits::${type.toLowerCase().replace('rlimit_', '')}`,
    configMd('#posix-process', `rlimits ${type}: rlim_cur MUST match soft and rlim_max MUST match hard`),
    async (ctx) => {
      const [soft, hard] = chooseLimits(ctx, type);
      const got = await runLimits(ctx, [{ type, soft, hard }]);
      eq(got[type], `${soft}:${hard}`, `getrlimit(${type}) soft:hard`);
    },
  ),
);

export const rlimitCases: Case[] = [
  ...perType,

  def('rlimits::several', configMd('#posix-process', 'each entry in rlimits is applied'), async (ctx) => {
    const types = ['RLIMIT_NOFILE', 'RLIMIT_CORE', 'RLIMIT_NPROC'];
    const wanted = types.map((type) => {
      const [soft, hard] = chooseLimits(ctx, type);
      return { type, soft, hard };
    });
    const got = await runLimits(ctx, wanted);
    for (const w of wanted) eq(got[w.type], `${w.soft}:${w.hard}`, `getrlimit(${w.type})`);
  }),

  def(
    'rlimits::infinity',
    configMd('#posix-process', 'rlimits values are uint64: RLIM_INFINITY (2^64-1) is representable'),
    async (ctx) => {
      const type = Object.keys(ctx.host.rlimits).find((t) => ctx.host.rlimits[t]?.[1] === RLIM_INFINITY && t !== 'RLIMIT_CORE');
      if (!type) skip('no rlimit is unlimited on this host');
      const got = await runLimits(ctx, [{ type, soft: RLIM_INFINITY, hard: RLIM_INFINITY }]);
      eq(got[type], `${RLIM_INFINITY}:${RLIM_INFINITY}`, `getrlimit(${type})`);
    },
  ),

  def(
    'rlimits::raise-hard',
    configMd('#posix-process', 'hard: rlim_max MUST match; only a privileged process (CAP_SYS_RESOURCE) can raise a hard limit'),
    async (ctx) => {
      if (!hasCap(ctx.host, 'CAP_SYS_RESOURCE')) skip('host lacks CAP_SYS_RESOURCE, so no runtime can raise a hard limit here');
      const hostHard = BigInt(ctx.host.rlimits.RLIMIT_NOFILE?.[1] ?? '1024');
      const hard = (hostHard + 16n).toString();
      const got = await runLimits(ctx, [{ type: 'RLIMIT_NOFILE', soft: hard, hard }]);
      eq(got.RLIMIT_NOFILE, `${hard}:${hard}`, "getrlimit(RLIMIT_NOFILE) above the caller's hard limit");
    },
  ),

  def(
    'rlimits::unknown-type',
    configMd('#posix-process', 'The runtime MUST generate an error for any values which cannot be mapped to a relevant kernel interface'),
    async (ctx) => {
      const b = ctx.bundle(['exit', '0']);
      proc(b.config).rlimits = [{ type: 'RLIMIT_SPECTEST', soft: 1, hard: 1 }];
      expectError((await ctx.tryCreate(b)).createResult, 'create with rlimit type RLIMIT_SPECTEST');
    },
  ),

  def(
    'rlimits::duplicate-type',
    configMd('#posix-process', 'If rlimits contains duplicated entries with same type, the runtime MUST generate an error'),
    async (ctx) => {
      const b = ctx.bundle(['exit', '0']);
      proc(b.config).rlimits = [
        { type: 'RLIMIT_NOFILE', soft: 512, hard: 512 },
        { type: 'RLIMIT_NOFILE', soft: 256, hard: 256 },
      ];
      expectError((await ctx.tryCreate(b)).createResult, 'create with two RLIMIT_NOFILE entries');
    },
  ),

  def(
    'rlimits::soft-above-hard',
    configMd('#posix-process', 'a limit that cannot be set (soft > hard) MUST generate an error'),
    async (ctx) => {
      const b = ctx.bundle(['exit', '0']);
      proc(b.config).rlimits = [{ type: 'RLIMIT_NOFILE', soft: 900, hard: 800 }];
      const c = await ctx.tryCreate(b);
      if (c.created) {
        const s = await c.start();
        check(s.code !== 0, 'an impossible rlimit (soft 900 > hard 800) was accepted');
      }
    },
  ),
];
