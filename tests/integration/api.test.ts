/** The in-process API: the same lifecycle without a CLI in between, promise-returning and concurrent. */
import test from 'ava';

import { ConfigError, Runtime, TsrunError } from '../../lib/index.js';
import { IS_ROOT, leftIn, makeBundle, tempRoot, uniqueId } from '../helpers/bundle.js';

const rootTest = IS_ROOT ? test : test.skip;

rootTest('Runtime: create, start, state, kill, delete; the timeline has every phase', async (t) => {
  const rt = new Runtime({ root: tempRoot() });
  const id = uniqueId('api');
  const b = makeBundle((s) => {
    s.process!.args = ['sleep', '60'];
  });
  const created = await rt.create(id, { bundle: b.dir });
  // a failed assertion below must not leave a sleeping container holding ava's stdio
  t.teardown(() => rt.delete(id, { force: true }).catch(() => undefined));
  t.is(created.state.status, 'created');
  t.is(created.pid, created.state.pid);
  t.is(created.stdout, null);
  const steps = rt.timeline.entries.map((e) => e.step);
  t.deepEqual(
    steps.filter((s) => !s.startsWith('init.') && s !== 'join'),
    ['claim', 'load', 'validate', 'seccomp', 'cgroup', 'plan', 'clone', 'init', 'state'],
  );
  // the init's own steps, timed in it, and the parent's join of the cgroup
  t.true(steps.includes('init.mount') && steps.includes('init.pivot_root'), steps.join(' '));
  await rt.start(id);
  t.is(rt.state(id).status, 'running');
  t.deepEqual(
    rt.list().map((s) => s.id),
    [id],
  );
  t.deepEqual(await rt.ps(id), [created.pid]);
  await rt.kill(id, 'KILL');
  t.is(await rt.wait(id), 128 + 9);
  await rt.delete(id, { force: true });
  t.throws(() => rt.state(id), { instanceOf: TsrunError, message: 'container does not exist' });
  b.cleanup();
});

rootTest('Runtime.run resolves to the exit status', async (t) => {
  const rt = new Runtime({ root: tempRoot() });
  const b = makeBundle((s) => {
    s.process!.args = ['sh', '-c', 'exit 9'];
  });
  t.is(await rt.run(uniqueId('api'), { bundle: b.dir, stdio: 'ignore' }), 9);
  t.deepEqual(rt.list(), []);
  b.cleanup();
});

rootTest('Runtime.output captures stdout and stderr as buffers; create with pipes gives streams; stdin can be fed', async (t) => {
  const rt = new Runtime({ root: tempRoot() });
  const b = makeBundle((s) => {
    s.process!.args = ['sh', '-c', 'echo "out $$"; echo err >&2; exit 7'];
  });
  const o = await rt.output(uniqueId('api-out'), { bundle: b.dir });
  t.is(o.status, 7);
  t.is(o.stdout.toString(), 'out 1\n', 'pid 1 of its own namespace');
  t.is(o.stderr.toString(), 'err\n');
  t.deepEqual(rt.list(), []);

  const cat = makeBundle((s) => {
    s.process!.args = ['sh', '-c', 'tr a-z A-Z'];
  });
  const id = uniqueId('api-pipe');
  const c = await rt.create(id, { bundle: cat.dir, stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => rt.delete(id, { force: true }).catch(() => undefined));
  t.truthy(c.stdin && c.stdout);
  t.is(c.stderr, null);
  const chunks: Buffer[] = [];
  c.stdout!.on('data', (d: Buffer) => chunks.push(d));
  const ended = new Promise((r) => c.stdout!.on('end', r));
  await rt.start(id);
  c.stdin!.end('hello\n');
  t.is(await rt.wait(id), 0);
  await ended;
  t.is(Buffer.concat(chunks).toString(), 'HELLO\n');
  await rt.delete(id);
  b.cleanup();
  cat.cleanup();
});

rootTest('the event loop runs while a container is created and started (the waits are off it)', async (t) => {
  const rt = new Runtime({ root: tempRoot() });
  const b = makeBundle((s) => {
    s.process!.args = ['true'];
  });
  let ticks = 0;
  const timer = setInterval(() => ticks++, 0);
  try {
    for (let i = 0; i < 5; i++) t.is(await rt.run(uniqueId('api-loop'), { bundle: b.dir, stdio: 'ignore' }), 0);
  } finally {
    clearInterval(timer);
  }
  t.true(ticks > 5, `${ticks} timer ticks during five runs`);
  b.cleanup();
});

rootTest('50 containers at once: create, start, wait, delete all succeed and leave nothing behind', async (t) => {
  const root = tempRoot();
  const rt = new Runtime({ root });
  const b = makeBundle((s) => {
    s.process!.args = ['sh', '-c', 'exit 3'];
  });
  const ids = Array.from({ length: 50 }, () => uniqueId('api-many'));
  const statuses = await Promise.all(
    ids.map(async (id) => {
      await rt.create(id, { bundle: b.dir, stdio: 'ignore' });
      await rt.start(id);
      const status = await rt.wait(id);
      await rt.delete(id);
      return status;
    }),
  );
  t.deepEqual(
    statuses,
    ids.map(() => 3),
  );
  t.deepEqual(leftIn(root), []);
  b.cleanup();
});

rootTest('Runtime errors are typed and carry the field path', async (t) => {
  const warnings: string[] = [];
  const rt = new Runtime({ root: tempRoot(), onWarning: (m) => warnings.push(m) });
  const b = makeBundle((s) => {
    s.process!.cwd = 'not/absolute';
    s.process!.capabilities!.bounding!.push('CAP_UNKNOWN');
  });
  const e = await t.throwsAsync(() => rt.create(uniqueId('api'), { bundle: b.dir }), { instanceOf: ConfigError });
  t.is(e?.path, 'process.cwd');
  t.is(e?.code, 'ECONFIG');
  t.deepEqual(rt.list(), []);
  await t.throwsAsync(() => rt.start('nope'), { instanceOf: TsrunError, message: 'container does not exist' });
  await t.throwsAsync(() => rt.kill('nope', 'KILL'), { instanceOf: TsrunError, message: 'container does not exist' });
  b.cleanup();
});
