/**
 * The exec plan cache (native/front/exec.c, lib/container/exec-cache.ts):
 * a repeated exec runs without a JavaScript engine, does what the planned
 * one did, and a plan that may have gone stale is never run.
 *
 * Proof that no engine ran: a private copy of the front whose engine file
 * names a wrapper that writes one line to a log before it execs the real
 * CLI. The front finds its engine and tsrun-init beside itself (the
 * checkout's layout: build/tsrun, build/Release/tsrun-init, dist/engine).
 */
import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { IS_ROOT, ROOT, makeBundle, runtime, tempRoot, uniqueId, type Bundle, type RunResult } from '../helpers/bundle.js';
import { waitFor } from '../helpers/wait.js';

const rootTest = IS_ROOT ? test.serial : test.skip;

interface Front {
  bin: string;
  /** How many times the JavaScript CLI started. */
  engineRuns(): number;
  engineFile: string;
}

/** build/tsrun copied into a private checkout layout whose engine is a counting wrapper. */
function privateFront(t: ExecutionContext): Front {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-front-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'build', 'Release'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'dist'));
  const bin = path.join(dir, 'build', 'tsrun');
  fs.copyFileSync(path.join(ROOT, 'build', 'tsrun'), bin);
  fs.chmodSync(bin, 0o755);
  fs.symlinkSync(path.join(ROOT, 'build', 'Release', 'tsrun-init'), path.join(dir, 'build', 'Release', 'tsrun-init'));
  // the real engine's argv prefix, its relative entries made absolute (as the front resolves them)
  const real = fs
    .readFileSync(path.join(ROOT, 'dist', 'engine'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((e) => (e.includes('/') && !e.startsWith('/') ? path.join(ROOT, 'dist', e) : e));
  const log = path.join(dir, 'engine.log');
  const wrapper = path.join(dir, 'engine.sh');
  const quoted = real.map((a) => `'${a}'`).join(' ');
  fs.writeFileSync(wrapper, `#!/bin/sh\necho run >> '${log}'\nexec ${quoted} "$@"\n`, { mode: 0o755 });
  const engineFile = path.join(dir, 'dist', 'engine');
  fs.writeFileSync(engineFile, `${wrapper}\n`);
  return {
    bin,
    engineFile,
    engineRuns: () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean).length : 0),
  };
}

interface Box {
  root: string;
  id: string;
  b: Bundle;
  exec(args: string[], opts?: { input?: string }): RunResult;
  entries(): string[];
}

function startBox(t: ExecutionContext, front: Front, mutate?: (b: Bundle) => void): Box {
  const root = tempRoot();
  const id = uniqueId('xcache');
  const b = makeBundle((s) => {
    s.process!.args = ['sleep', '1000'];
    s.process!.env = ['PATH=/bin'];
  });
  fs.writeFileSync(path.join(b.rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  mutate?.(b);
  b.write();
  const r = runtime(front.bin, root, ['run', '-d', '-b', b.dir, id]);
  if (r.status !== 0) throw new Error(`run: ${r.stderr}`);
  t.teardown(() => {
    runtime(front.bin, root, ['delete', '--force', id]);
    b.cleanup();
  });
  const dir = path.join(root, id, 'exec');
  return {
    root,
    id,
    b,
    exec: (args, opts = {}) => runtime(front.bin, root, ['exec', ...args], opts),
    entries: () => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => !n.startsWith('.')) : []),
  };
}

rootTest('a repeated exec runs from the cached plan, without the JavaScript engine, and does what the planned one did', (t) => {
  const front = privateFront(t);
  const box = startBox(t, front);
  const runs0 = front.engineRuns();
  const script = ['sh', '-c', 'echo out $HOME; echo err >&2; cat; grep -o "[^/]*$" /proc/self/cgroup | head -1; exit 7'];
  const first = box.exec([box.id, ...script], { input: 'in\n' });
  t.is(front.engineRuns(), runs0 + 1, 'the first exec is planned by the CLI');
  t.is(first.status, 7, first.stderr);
  t.deepEqual(box.entries().length, 1, 'and its plan is kept');
  const dir = path.join(box.root, box.id, 'exec');
  t.is(fs.statSync(dir).mode & 0o777, 0o700);
  t.is(fs.statSync(path.join(dir, box.entries()[0]!)).mode & 0o777, 0o600);
  for (let i = 0; i < 3; i++) {
    const again = box.exec([box.id, ...script], { input: 'in\n' });
    t.is(front.engineRuns(), runs0 + 1, `exec ${i + 2} started no engine`);
    t.is(again.status, first.status);
    t.is(again.stdout, first.stdout, 'the same output: HOME from the container, stdin relayed, the same cgroup');
    t.is(again.stderr, first.stderr);
  }
  t.regex(first.stdout, /^out \/root\nin\n/);
  // detached, with a pid file: the process runs in the container's cgroup
  const pidFile = path.join(box.b.dir, 'exec.pid');
  for (let i = 0; i < 2; i++) {
    fs.rmSync(pidFile, { force: true });
    const d = box.exec(['-d', '--pid-file', pidFile, box.id, 'sleep', '30']);
    t.is(d.status, 0, d.stderr);
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    t.true(pid > 0);
    const init = JSON.parse(runtime(front.bin, box.root, ['state', box.id]).stdout) as { pid: number };
    t.is(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8'), fs.readFileSync(`/proc/${init.pid}/cgroup`, 'utf8'));
    t.is(fs.readlinkSync(`/proc/${pid}/ns/mnt`), fs.readlinkSync(`/proc/${init.pid}/ns/mnt`));
    process.kill(pid, 'SIGKILL');
  }
  t.is(front.engineRuns(), runs0 + 2, 'the detached exec was planned once, then served');
});

rootTest('a stale plan is never run: a paused, stopped or restarted container, a changed process, passwd, config or build', async (t) => {
  const front = privateFront(t);
  const box = startBox(t, front);
  const probe = [box.id, 'sh', '-c', 'echo $HOME'];
  t.is(box.exec(probe).stdout, '/root\n');
  let runs = front.engineRuns();
  t.is(box.exec(probe).stdout, '/root\n');
  t.is(front.engineRuns(), runs, 'served');

  // the container's /etc/passwd changes: HOME follows it
  fs.writeFileSync(path.join(box.b.rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/home/changed:/bin/sh\n');
  t.is(box.exec(probe).stdout, '/home/changed\n');
  t.is(front.engineRuns(), ++runs, 'planned again');

  // paused: the CLI's error, as without a cache
  t.is(runtime(front.bin, box.root, ['pause', box.id]).status, 0);
  const paused = box.exec(probe);
  t.is(paused.status, 255);
  t.regex(paused.stderr, /paused/);
  t.is(runtime(front.bin, box.root, ['resume', box.id]).status, 0);
  runs = front.engineRuns();
  t.is(box.exec(probe).stdout, '/home/changed\n');
  t.is(front.engineRuns(), runs, 'running again: served');

  // config.json (the template of an exec without --process) changes
  box.b.spec.process!.env = ['PATH=/bin', 'HOME=/from-config'];
  box.b.write();
  t.is(box.exec(probe).stdout, '/from-config\n');
  t.is(front.engineRuns(), ++runs);

  // a --process file: its whole text is the key
  const file = path.join(box.b.dir, 'process.json');
  const proc = { ...box.b.spec.process!, args: ['sh', '-c', 'echo one'] };
  fs.writeFileSync(file, JSON.stringify(proc));
  t.is(box.exec(['--process', file, box.id]).stdout, 'one\n');
  t.is(box.exec(['--process', file, box.id]).stdout, 'one\n');
  runs = front.engineRuns();
  fs.writeFileSync(file, JSON.stringify({ ...proc, args: ['sh', '-c', 'echo two'] }));
  t.is(box.exec(['--process', file, box.id]).stdout, 'two\n');
  t.is(front.engineRuns(), ++runs);

  // tsrun's build changes (a new engine file): planned again
  const engine = fs.readFileSync(front.engineFile);
  fs.writeFileSync(front.engineFile, engine);
  t.is(box.exec(probe).stdout, '/from-config\n');
  t.is(front.engineRuns(), ++runs);

  // an entry whose text is not the key it is filed under is not used
  const dir = path.join(box.root, box.id, 'exec');
  for (const n of fs.readdirSync(dir)) fs.writeFileSync(path.join(dir, n), 'tsrun-exec-plan 1\n3\nabc\noom=none\nplan=1\nx');
  t.is(box.exec(probe).stdout, '/from-config\n');
  t.is(front.engineRuns(), ++runs, 'a forged entry is a miss');

  // stopped: the CLI's error
  const init = JSON.parse(runtime(front.bin, box.root, ['state', box.id]).stdout) as { pid: number };
  process.kill(init.pid, 'SIGKILL');
  t.true(await waitFor(() => JSON.parse(runtime(front.bin, box.root, ['state', box.id]).stdout).status === 'stopped'));
  const stopped = box.exec(probe);
  t.is(stopped.status, 255);
  t.regex(stopped.stderr, /stopped/);

  // the same id again: a new init, a new key; the old entries went with the state dir
  t.is(runtime(front.bin, box.root, ['delete', box.id]).status, 0);
  t.false(fs.existsSync(dir));
  t.is(runtime(front.bin, box.root, ['run', '-d', '-b', box.b.dir, box.id]).status, 0);
  runs = front.engineRuns();
  t.is(box.exec(probe).stdout, '/from-config\n');
  t.is(front.engineRuns(), runs + 1, 'planned for the new init');
});

rootTest('the cache is bounded: the least recently used plans go first, a probe in use stays', (t) => {
  const front = privateFront(t);
  const box = startBox(t, front);
  const probe = [box.id, 'sh', '-c', 'exit 99'];
  t.is(box.exec(probe).status, 99);
  const before = front.engineRuns();
  for (let i = 0; i < 20; i++) {
    t.is(box.exec([box.id, 'sh', '-c', `exit ${i}`]).status, i);
    t.is(box.exec(probe).status, 99); // the probe, between every new exec
  }
  t.is(box.entries().length, 16);
  t.is(front.engineRuns(), before + 20, 'only the new execs were planned: the probe was never evicted');
});

rootTest('what the front does not serve goes to the CLI: --cgroup', (t) => {
  const front = privateFront(t);
  const box = startBox(t, front);
  for (let i = 0; i < 2; i++) t.is(box.exec(['--tty=false', box.id, 'true']).status, 0);
  const runs = front.engineRuns();
  t.is(box.exec(['--cgroup', 'nope', box.id, 'true']).status, 255, 'the CLI words the error');
  t.is(front.engineRuns(), runs + 1);
  t.is(box.entries().length, 1, 'only the plain exec was kept');
});
