/**
 * The order of the CFS bandwidth writes, against a model of the kernel's
 * checks (kernel/sched/core.c, tg_set_cfs_bandwidth): each write is judged
 * with the values in place, so an update that is valid as a whole can be
 * refused half-way. runc's order: period and burst first, written again
 * after the quota when the kernel refused them with EINVAL.
 */
import test from 'ava';
import * as path from 'node:path';

import { writeAll, type PutFile } from '../../lib/cgroups/fs.js';
import type { LinuxResources } from '../../lib/cgroups/resources.js';
import { v1Writes } from '../../lib/cgroups/v1-files.js';
import { v2Writes } from '../../lib/cgroups/v2-files.js';
import { ConfigError } from '../../lib/errors.js';

const einval = () => Object.assign(new Error('EINVAL'), { code: 'EINVAL' });

interface Cfs {
  period: number;
  /** -1: no quota. */
  quota: number;
  burst: number;
  rtPeriod?: number;
  rtRuntime?: number;
}

/**
 * One cpu cgroup below a parent whose quota allows `parentRatio` CPUs. v1
 * refuses a quota/period above the parent's; v2 clamps it instead (so only
 * the burst is checked there). Every write is logged, refused ones with "!".
 */
function kernel(now: Cfs, parentRatio: number, v2 = false) {
  const state = { ...now };
  const log: string[] = [];
  const ok = (s: Cfs) =>
    (s.quota < 0 || ((v2 || s.quota / s.period <= parentRatio) && s.burst <= s.quota)) &&
    (s.rtRuntime === undefined || s.rtPeriod === undefined || s.rtRuntime <= s.rtPeriod);
  const put: PutFile = (file, value) => {
    const next = { ...state };
    const n = Number(value);
    switch (path.basename(file)) {
      case 'cpu.cfs_period_us':
        next.period = n;
        break;
      case 'cpu.cfs_quota_us':
        next.quota = n;
        break;
      case 'cpu.cfs_burst_us':
      case 'cpu.max.burst':
        next.burst = n;
        break;
      case 'cpu.max': {
        const [q, p] = value.split(' ');
        next.quota = q === 'max' ? -1 : Number(q);
        if (p) next.period = Number(p);
        break;
      }
      case 'cpu.rt_period_us':
        next.rtPeriod = n;
        break;
      case 'cpu.rt_runtime_us':
        next.rtRuntime = n;
        break;
      default:
        log.push(`${path.basename(file)}=${value}`);
        return;
    }
    if (!ok(next)) {
      log.push(`${path.basename(file)}=${value}!`);
      throw einval();
    }
    Object.assign(state, next);
    log.push(`${path.basename(file)}=${value}`);
  };
  return { state, log, put };
}

const update1 = (k: ReturnType<typeof kernel>, cpu: LinuxResources['cpu']) => writeAll(v1Writes({ cpu }), () => '/cg', k.put);
const update2 = (k: ReturnType<typeof kernel>, cpu: LinuxResources['cpu']) => writeAll(v2Writes({ cpu }), () => '/cg', k.put);

test("v1: a shorter period below a parent's quota: refused first, written again after the quota (runc's update.bats pod case)", (t) => {
  // the parent allows half a CPU; the container has 50% at a 1 s period
  const k = kernel({ period: 1_000_000, quota: 500_000, burst: 0 }, 0.5);
  update1(k, { period: 10_000, quota: 3_000 });
  t.deepEqual(k.log, ['cpu.cfs_period_us=10000!', 'cpu.cfs_quota_us=3000', 'cpu.cfs_period_us=10000']);
  t.like(k.state, { period: 10_000, quota: 3_000 });
});

test('v1: a longer period with a larger quota: the period first is what passes', (t) => {
  const k = kernel({ period: 100_000, quota: 50_000, burst: 0 }, 0.5);
  update1(k, { period: 200_000, quota: 100_000 });
  t.deepEqual(k.log, ['cpu.cfs_period_us=200000', 'cpu.cfs_quota_us=100000']);
});

test('v1 and v2: a burst goes before the quota (a smaller quota is checked against it), and again after a larger one', (t) => {
  for (const [update, v2] of [
    [update1, false],
    [update2, true],
  ] as const) {
    const down = kernel({ period: 100_000, quota: 50_000, burst: 40_000 }, 1, v2);
    update(down, { quota: 20_000, burst: 10_000 });
    t.like(down.state, { quota: 20_000, burst: 10_000 });
    t.is(down.log.filter((l) => l.endsWith('!')).length, 0, down.log.join(' '));
    const up = kernel({ period: 100_000, quota: 20_000, burst: 0 }, 1, v2);
    update(up, { quota: 50_000, burst: 40_000 });
    t.like(up.state, { quota: 50_000, burst: 40_000 });
    t.deepEqual(
      up.log,
      v2
        ? ['cpu.max.burst=40000!', 'cpu.max=50000', 'cpu.max.burst=40000']
        : ['cpu.cfs_burst_us=40000!', 'cpu.cfs_quota_us=50000', 'cpu.cfs_burst_us=40000'],
    );
  }
});

test('v1: the realtime period the same way: refused first, again after the runtime', (t) => {
  const k = kernel({ period: 100_000, quota: -1, burst: 0, rtPeriod: 1_000_000, rtRuntime: 500_000 }, 1);
  update1(k, { realtimePeriod: 10_000, realtimeRuntime: 5_000 });
  t.deepEqual(k.log, ['cpu.rt_period_us=10000!', 'cpu.rt_runtime_us=5000', 'cpu.rt_period_us=10000']);
});

test("EINVAL is final without a quota to wait for, and at the second try; other errors at once (runc's rules)", (t) => {
  // the period alone: nothing comes after that could make it pass
  const alone = kernel({ period: 1_000_000, quota: 500_000, burst: 0 }, 0.5);
  const e1 = t.throws(() => update1(alone, { period: 10_000 }), { instanceOf: ConfigError });
  t.is(e1!.path, 'linux.resources.cpu.period');
  t.regex(e1!.message, /cannot write "10000" to \/cg\/cpu\.cfs_period_us: EINVAL$/);
  // 9000/10000 is above the parent's half a CPU: the retry is refused too, and that is the error
  const twice = kernel({ period: 1_000_000, quota: 500_000, burst: 0 }, 0.5);
  const e2 = t.throws(() => update1(twice, { period: 10_000, quota: 9_000 }), { instanceOf: ConfigError });
  t.is(e2!.path, 'linux.resources.cpu.period');
  t.deepEqual(twice.log, ['cpu.cfs_period_us=10000!', 'cpu.cfs_quota_us=9000', 'cpu.cfs_period_us=10000!']);
  // not EINVAL: no retry
  const log: string[] = [];
  const denied: PutFile = (file) => {
    log.push(path.basename(file));
    throw Object.assign(new Error('EACCES'), { code: 'EACCES' });
  };
  t.throws(() => writeAll(v1Writes({ cpu: { period: 10_000, quota: 3_000 } }), () => '/cg', denied), { message: /EACCES/ });
  t.deepEqual(log, ['cpu.cfs_period_us']);
});
