/** The in-process API: the same lifecycle without a CLI in between. */
import test from 'ava';

import { ConfigError, Runtime, TsrunError } from '../../lib/index.js';
import { IS_ROOT, makeBundle, tempRoot, uniqueId } from '../helpers/bundle.js';

const rootTest = IS_ROOT ? test : test.skip;

rootTest('Runtime: create, start, state, kill, delete; the timeline has every phase', async (t) => {
  const rt = new Runtime({ root: tempRoot() });
  const id = uniqueId('api');
  const b = makeBundle((s) => {
    s.process!.args = ['sleep', '60'];
  });
  const created = rt.create(id, { bundle: b.dir });
  // a failed assertion below must not leave a sleeping container holding ava's stdio
  t.teardown(() => rt.delete(id, { force: true }).catch(() => undefined));
  t.is(created.status, 'created');
  t.deepEqual(
    rt.timeline.entries.map((e) => e.step),
    ['claim', 'load', 'validate', 'cgroup', 'plan', 'clone', 'init', 'state'],
  );
  rt.start(id);
  t.is(rt.state(id).status, 'running');
  t.deepEqual(
    rt.list().map((s) => s.id),
    [id],
  );
  rt.kill(id, 'KILL');
  await rt.delete(id, { force: true });
  t.throws(() => rt.state(id), { instanceOf: TsrunError, message: 'container does not exist' });
  b.cleanup();
});

rootTest('Runtime.run resolves to the exit status', async (t) => {
  const rt = new Runtime({ root: tempRoot() });
  const b = makeBundle((s) => {
    s.process!.args = ['sh', '-c', 'exit 9'];
  });
  t.is(await rt.run(uniqueId('api'), { bundle: b.dir }), 9);
  t.deepEqual(rt.list(), []);
  b.cleanup();
});

rootTest('Runtime errors are typed and carry the field path', (t) => {
  const warnings: string[] = [];
  const rt = new Runtime({ root: tempRoot(), onWarning: (m) => warnings.push(m) });
  const b = makeBundle((s) => {
    s.process!.cwd = 'not/absolute';
    s.process!.capabilities!.bounding!.push('CAP_UNKNOWN');
  });
  const e = t.throws(() => rt.create(uniqueId('api'), { bundle: b.dir }), { instanceOf: ConfigError });
  t.is(e?.path, 'process.cwd');
  t.is(e?.code, 'ECONFIG');
  t.deepEqual(rt.list(), []);
  b.cleanup();
});
