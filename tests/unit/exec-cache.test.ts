/**
 * lib/container/exec-cache.ts: what may be cached, the key taken out of the
 * environment, the entry's format (what native/front/exec.c reads), the
 * identity check and the bound.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { defaultSpec } from '../../lib/config/default-spec.js';
import { MAX_ENTRIES, storeExecPlan, takeExecCacheKey, uncacheable } from '../../lib/container/exec-cache.js';
import { encodePlan } from '../../lib/native/plan-codec.js';
import { buildTenantPlan } from '../../lib/plan/tenant.js';

const plan = (mutate?: (p: ReturnType<typeof buildTenantPlan>) => void) => {
  const p = buildTenantPlan(
    { ...defaultSpec().process!, args: ['true'] },
    { id: 'box', joins: [], noNewKeyring: false, consoleSocketFd: -1, preserveFds: 0, extraEnv: [], seccomp: null, home: null },
  );
  mutate?.(p);
  return p;
};
const plain = { subCgroups: false, listener: false, terminalRelay: false, extraEnv: 0 };

test('what the front can redo is cacheable; anything more is not, with the reason', (t) => {
  t.is(uncacheable(plan(), plain), null);
  t.is(
    uncacheable(
      plan((p) => (p.host.oomScoreAdj = 100)),
      plain,
    ),
    null,
    'oom_score_adj: the front writes it',
  );
  t.regex(uncacheable(plan(), { ...plain, subCgroups: true })!, /--cgroup/);
  t.regex(uncacheable(plan(), { ...plain, listener: true })!, /listener/);
  t.regex(uncacheable(plan(), { ...plain, terminalRelay: true })!, /terminal/);
  t.regex(uncacheable(plan(), { ...plain, extraEnv: 2 })!, /socket activation/);
  t.regex(
    uncacheable(
      plan((p) => (p.host.rlimits = [{ resource: 7, soft: 1n, hard: 1n } as never])),
      plain,
    )!,
    /host steps/,
  );
  t.regex(
    uncacheable(
      plan((p) => (p.init.cpuAffinity.initial = [1n])),
      plain,
    )!,
    /execCPUAffinity/,
  );
});

test('the key leaves the environment whether or not it is well-formed', (t) => {
  const env: NodeJS.ProcessEnv = { TSRUN_EXEC_KEY: 'k', TSRUN_EXEC_ENTRY: '0123456789abcdef', OTHER: '1' };
  t.deepEqual(takeExecCacheKey(env), { key: 'k', entry: '0123456789abcdef' });
  t.deepEqual(env, { OTHER: '1' });
  t.is(takeExecCacheKey({ TSRUN_EXEC_KEY: 'k', TSRUN_EXEC_ENTRY: '../state.json' }), null, 'an entry name is 16 hex digits, nothing else');
  t.is(takeExecCacheKey({}), null);
});

test('an entry: private, in the front’s format, only for the container the key names, at most MAX_ENTRIES', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-xc-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const key = 'tsrun-exec 1\nid=3:box\npid=42\nstart=777\nrest';
  t.false(storeExecPlan(dir, { key, entry: '00000000000000aa' }, plan(), { pid: 42, startTime: 778 }), 'another start time: not stored');
  t.false(fs.existsSync(path.join(dir, 'exec', '00000000000000aa')));
  const p = plan((x) => (x.host.oomScoreAdj = -5));
  t.true(storeExecPlan(dir, { key, entry: '00000000000000aa' }, p, { pid: 42, startTime: 777 }));
  const file = path.join(dir, 'exec', '00000000000000aa');
  t.is(fs.statSync(path.join(dir, 'exec')).mode & 0o777, 0o700);
  t.is(fs.statSync(file).mode & 0o777, 0o600);
  const body = Buffer.from(encodePlan(p.init));
  t.deepEqual(
    fs.readFileSync(file),
    Buffer.concat([Buffer.from(`tsrun-exec-plan 1\n${key.length}\n${key}\noom=-5\nplan=${body.length}\n`), body]),
  );
  for (let i = 0; i < MAX_ENTRIES + 4; i++)
    storeExecPlan(dir, { key, entry: i.toString(16).padStart(16, '0') }, plan(), { pid: 42, startTime: 777 });
  t.is(fs.readdirSync(path.join(dir, 'exec')).length, MAX_ENTRIES);
});
