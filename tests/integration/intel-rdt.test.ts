/**
 * linux.intelRdt. Neither this machine nor the qemu lanes have RDT hardware
 * (TCG does not emulate it), so the kernel's resctrl cannot mount here. The
 * groups are made in a resctrl of FUSE instead (tests/helpers/fake-resctrl.py,
 * the kernel's interface as the runtime sees it: group directories that come
 * with their files, tasks that move, schemata that are parsed, rmdir of a full
 * group, last_cmd_status), handed to the runtime as the host's resctrl through
 * the API's injectable host. Everything else is real: the containers, the
 * addon and native/host/resctrl.c's calls, delete by the C front.
 * Without resctrl, the real host's refusal is compared with runc's.
 */
import test from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { ConfigError, Runtime, TsrunError } from '../../lib/index.js';
import { realLifecycleHost } from '../../lib/container/host.js';
import { loadBinding } from '../../lib/native/binding.js';
import { findResctrl } from '../../lib/plan/resctrl.js';
import { IS_ROOT, ROOT, RUNC, TSRUN, leftIn, makeBundle, runtime, tempRoot, uniqueId } from '../helpers/bundle.js';
import { waitForSync } from '../helpers/wait.js';

const PYTHON = '/usr/bin/python3';
const hasFuse = IS_ROOT && fs.existsSync('/dev/fuse') && spawnSync(PYTHON, ['-c', 'import fusepy'], { stdio: 'ignore' }).status === 0;
const fuseTest = hasFuse ? test.serial : test.skip;
const FAKE = path.join(ROOT, 'tests', 'helpers', 'fake-resctrl.py');

interface Fake {
  dir: string;
  read(rel: string): string;
  tasks(rel: string): number[];
  exists(rel: string): boolean;
  rt: Runtime;
  root: string;
}

const mounted = (dir: string) => fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${dir} `);

/** A fake resctrl mounted at a fresh dir, and a Runtime whose host has it as its resctrl. */
function fakeResctrl(t: { teardown(fn: () => void): void }, opts: { monitoring?: boolean } = {}): Fake {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-resctrl-'));
  const child: ChildProcess = spawn(PYTHON, [FAKE, dir, ...(opts.monitoring === false ? ['--no-mon'] : [])], { stdio: 'ignore' });
  t.teardown(() => {
    spawnSync('umount', ['-l', dir]);
    child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });
  if (!waitForSync(() => mounted(dir) && fs.existsSync(path.join(dir, 'info')))) throw new Error('the fake resctrl did not mount');
  const native = loadBinding();
  const real = realLifecycleHost(native);
  const host = {
    ...real,
    resctrl: () => findResctrl(`1 1 0:1 / ${dir} rw - resctrl resctrl rw`, real.kind),
  };
  const root = tempRoot();
  const f: Fake = {
    dir,
    read: (rel) => fs.readFileSync(path.join(dir, rel), 'utf8'),
    tasks: (rel) => f.read(rel).split('\n').filter(Boolean).map(Number),
    exists: (rel) => fs.existsSync(path.join(dir, rel)),
    rt: new Runtime({ root, native, host }),
    root,
  };
  return f;
}

const sleeper = (intelRdt: Record<string, unknown>) =>
  makeBundle((s) => {
    s.process!.args = ['sleep', '60'];
    s.linux!.intelRdt = intelRdt;
  });

fuseTest(
  'no closID: a group named by the id, its schemata, the init and an exec in it and in its MON group; delete removes it',
  async (t) => {
    const f = fakeResctrl(t);
    const id = uniqueId('rdt');
    const b = sleeper({ l3CacheSchema: 'L3:0=0f0', memBwSchema: 'MB:0=50', enableMonitoring: true });
    t.teardown(() => b.cleanup());
    const c = await f.rt.create(id, { bundle: b.dir });
    t.teardown(() => f.rt.delete(id, { force: true }).catch(() => undefined));
    t.is(f.read(`${id}/schemata`), 'L3:0=f0\nMB:0=50\n');
    t.deepEqual(f.tasks(`${id}/tasks`), [c.pid]);
    t.deepEqual(f.tasks(`${id}/mon_groups/${id}/tasks`), [c.pid]);
    t.false(f.tasks('tasks').includes(c.pid));
    const state = JSON.parse(fs.readFileSync(path.join(f.root, id, 'state.json'), 'utf8'));
    t.deepEqual(state.intelRdt, { root: f.dir, clos: id, mon: id, owned: true });
    await f.rt.start(id);

    // an exec'd process joins both groups too
    const { pid: execPid } = await f.rt.execDetached(id, { args: ['sleep', '60'] }, { stdio: 'ignore' });
    t.deepEqual(
      f.tasks(`${id}/tasks`),
      [c.pid, execPid].sort((x, y) => x - y),
    );
    t.true(f.tasks(`${id}/mon_groups/${id}/tasks`).includes(execPid));

    // update's schemata (runc's --l3-cache-schema, --mem-bw-schema)
    await f.rt.update(id, {}, { l3CacheSchema: 'L3:0=ff', memBwSchema: 'MB:0=70' });
    t.is(f.read(`${id}/schemata`), 'L3:0=ff\nMB:0=70\n');
    const bad = await t.throwsAsync(f.rt.update(id, {}, { memBwSchema: 'MB:0=abc' }));
    t.regex(bad!.message, /unable to write schemata "MB:0=abc\\n": Invalid argument, last_cmd_status: Invalid MB value abc/);

    // delete by the C front, from the state it recorded
    const del = runtime(TSRUN, f.root, ['delete', '--force', id]);
    t.is(del.status, 0, del.stderr);
    t.false(f.exists(id));
    t.deepEqual(leftIn(f.root), []);
  },
);

fuseTest(
  'a closID that exists: the container joins it, its schemata must match, and delete leaves it (only the MON group goes)',
  async (t) => {
    const f = fakeResctrl(t);
    fs.mkdirSync(path.join(f.dir, 'shared'));
    fs.writeFileSync(path.join(f.dir, 'shared', 'schemata'), 'L3:0=ff0\n');
    const id = uniqueId('rdt');
    // no schemata: a pre-configured group
    const b = sleeper({ closID: 'shared', enableMonitoring: true });
    t.teardown(() => b.cleanup());
    const c = await f.rt.create(id, { bundle: b.dir });
    t.teardown(() => f.rt.delete(id, { force: true }).catch(() => undefined));
    t.deepEqual(f.tasks('shared/tasks'), [c.pid]);
    t.deepEqual(f.tasks(`shared/mon_groups/${id}/tasks`), [c.pid]);
    await f.rt.delete(id, { force: true });
    t.true(f.exists('shared'));
    t.false(f.exists(`shared/mon_groups/${id}`));
    t.is(f.read('shared/schemata'), 'L3:0=ff0\nMB:0=100\n');

    // the same schemata written differently (leading zeros) match; another value does not
    const same = sleeper({ closID: 'shared', l3CacheSchema: 'L3:0=0ff0', memBwSchema: 'MB:0=100' });
    t.teardown(() => same.cleanup());
    const id2 = uniqueId('rdt');
    await f.rt.create(id2, { bundle: same.dir });
    await f.rt.delete(id2, { force: true });
    const other = sleeper({ closID: 'shared', l3CacheSchema: 'L3:0=f' });
    t.teardown(() => other.cleanup());
    const id3 = uniqueId('rdt');
    const e = await t.throwsAsync(f.rt.create(id3, { bundle: other.dir }), { instanceOf: ConfigError });
    t.regex(e!.message, /^linux\.intelRdt: "L3:0=f" does not match the schemata of the existing group "shared" \(L3 domain 0 is ff0\)/);
    t.is(f.read('shared/schemata'), 'L3:0=ff0\nMB:0=100\n');
    t.deepEqual(leftIn(f.root), []);
  },
);

fuseTest('a closID with schemata that does not exist is made (and kept at delete); one without schemata must exist', async (t) => {
  const f = fakeResctrl(t);
  const id = uniqueId('rdt');
  const b = sleeper({ closID: 'made', schemata: ['L3:0=3', 'MB:0=20'] });
  t.teardown(() => b.cleanup());
  const c = await f.rt.create(id, { bundle: b.dir });
  t.is(f.read('made/schemata'), 'L3:0=3\nMB:0=20\n');
  t.deepEqual(f.tasks('made/tasks'), [c.pid]);
  await f.rt.delete(id, { force: true });
  t.true(f.exists('made'), 'a group a closID names is not removed (runtime-spec)');

  const missing = sleeper({ closID: 'nobody' });
  t.teardown(() => missing.cleanup());
  const e = await t.throwsAsync(f.rt.create(uniqueId('rdt'), { bundle: missing.dir }), { instanceOf: TsrunError });
  t.regex(e!.message, /clos dir not accessible \(must be pre-created when schemata, l3CacheSchema and memBwSchema are empty\)/);
  t.false(f.exists('nobody'));
  t.deepEqual(leftIn(f.root), []);
});

fuseTest('closID "/" is the default group; schemata the kernel refuses fail the create and leave no group, state or process', async (t) => {
  const f = fakeResctrl(t);
  const id = uniqueId('rdt');
  const b = sleeper({ closID: '/' });
  t.teardown(() => b.cleanup());
  const c = await f.rt.create(id, { bundle: b.dir });
  t.true(f.tasks('tasks').includes(c.pid));
  await f.rt.delete(id, { force: true });
  t.is(f.read('schemata'), 'L3:0=fff\nMB:0=100\n');

  const bad = sleeper({ schemata: ['L2:0=f'] });
  t.teardown(() => bad.cleanup());
  const id2 = uniqueId('rdt');
  const e = await t.throwsAsync(f.rt.create(id2, { bundle: bad.dir }));
  t.regex(
    e!.message,
    /^linux\.intelRdt: intelrdt: unable to write schemata "L2:0=f\\n": Invalid argument, last_cmd_status: Unknown or unsupported resource name 'L2'/,
  );
  t.false(f.exists(id2));
  t.deepEqual(leftIn(f.root), []);
});

fuseTest('a create that died after making its group: delete (the C front) removes the group its intent record names', async (t) => {
  const f = fakeResctrl(t);
  const id = uniqueId('rdt');
  fs.mkdirSync(path.join(f.dir, id));
  fs.mkdirSync(path.join(f.root, id));
  fs.writeFileSync(path.join(f.root, id, 'creating.json'), JSON.stringify({ id, intelRdt: { root: f.dir, clos: id, owned: true } }));
  const del = runtime(TSRUN, f.root, ['delete', id]);
  t.is(del.status, 0, del.stderr);
  t.false(f.exists(id));
  t.deepEqual(leftIn(f.root), []);
});

fuseTest('validation against the host: monitoring, CAT and MBA where resctrl lacks them, and names that are no group', async (t) => {
  const f = fakeResctrl(t, { monitoring: false });
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ enableMonitoring: true }, /^linux\.intelRdt\.enableMonitoring: .*Intel RDT monitoring is not enabled/],
    [{ closID: '..' }, /^linux\.intelRdt\.closID: invalid intelRdt\.ClosID "\.\."/],
    [{ closID: 'a/b' }, /^linux\.intelRdt\.closID: invalid intelRdt\.ClosID "a\/b"/],
    // a NUL would cut the name short in C, naming another group than the one validated
    [{ closID: 'shared\u0000x' }, /^linux\.intelRdt\.closID: invalid intelRdt\.ClosID "shared\\u0000x"/],
    [{ closID: 'info' }, /^linux\.intelRdt\.closID: .*resctrl's info is not a group/],
    [{ memBwSchema: '0=20' }, /^linux\.intelRdt\.memBwSchema: "0=20" must start with "MB:"/],
    [{ schemata: ['L3:0=f\nMB:0=1'] }, /^linux\.intelRdt\.schemata\[0\]: must not contain newlines/],
  ];
  for (const [rdt, want] of cases) {
    const b = sleeper(rdt);
    const e = await t.throwsAsync(f.rt.create(uniqueId('rdt'), { bundle: b.dir }), { instanceOf: ConfigError });
    t.regex(e!.message, want, JSON.stringify(rdt));
    b.cleanup();
  }
  t.deepEqual(fs.readdirSync(f.dir).sort(), ['info', 'mon_data', 'mon_groups', 'schemata', 'tasks']);
  t.deepEqual(leftIn(f.root), []);
});

// (on a host with resctrl mounted the case has nothing to check)
const hostHasResctrl = / - resctrl /.test(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
(IS_ROOT && !hostHasResctrl ? test : test.skip)(
  'without resctrl: runc and tsrun both refuse linux.intelRdt, exit 1, and leave nothing',
  (t) => {
    const b = makeBundle((s) => {
      s.linux!.intelRdt = { l3CacheSchema: 'L3:0=f' };
    });
    t.teardown(() => b.cleanup());
    const bins = RUNC ? [TSRUN, RUNC] : [TSRUN];
    for (const bin of bins) {
      const root = tempRoot();
      const r = runtime(bin, root, ['run', '-b', b.dir, uniqueId('rdt')]);
      t.is(r.status, 1, `${bin}: ${r.stderr}`);
      t.regex(r.stderr, /intelRdt(\.l3CacheSchema)? is specified in config, but Intel RDT(\/CAT)? is not (supported or )?enabled/, bin);
      t.deepEqual(leftIn(root), [], bin);
    }
  },
);
