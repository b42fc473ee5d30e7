/** `tsrun run` end to end, compared with runc where it matters. */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { IS_ROOT, RUNC, TSRUN, leftIn, makeBundle, runtime, tempRoot, uniqueId } from '../helpers/bundle.js';
import { waitFor } from '../helpers/wait.js';

const rootTest = IS_ROOT ? test : test.skip;

function sh(script: string) {
  return makeBundle((s) => {
    s.process!.args = ['sh', '-c', script];
  });
}

rootTest('run passes the exit code through (0 and 42)', (t) => {
  const root = tempRoot();
  for (const code of [0, 42]) {
    const b = sh(`exit ${code}`);
    const r = runtime(TSRUN, root, ['run', '-b', b.dir, uniqueId('exit')]);
    t.is(r.status, code, r.stderr);
    b.cleanup();
  }
  t.deepEqual(leftIn(root), [], 'run deletes the container afterwards');
});

rootTest('run reports death by signal as 128+N', (t) => {
  // not pid 1 of a pid namespace, which ignores signals from inside
  const b = sh('kill -9 $$');
  b.spec.linux!.namespaces = b.spec.linux!.namespaces!.filter((n) => n.type !== 'pid');
  b.write();
  const r = runtime(TSRUN, tempRoot(), ['run', '-b', b.dir, uniqueId('sig')]);
  t.is(r.status, 137, r.stderr);
  b.cleanup();
});

rootTest('hostname and stdout reach the caller', (t) => {
  const b = sh('hostname; echo to-stderr >&2');
  b.spec.hostname = 'box-under-test';
  b.write();
  const r = runtime(TSRUN, tempRoot(), ['run', '-b', b.dir, uniqueId('host')]);
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout, 'box-under-test\n');
  t.is(r.stderr, 'to-stderr\n');
  b.cleanup();
});

rootTest('config mounts are visible inside with their options', (t) => {
  const b = sh('cat /proc/self/mountinfo');
  const hostDir = fs.mkdtempSync(path.join(b.dir, 'share-'));
  fs.writeFileSync(path.join(hostDir, 'hello'), 'from the host\n');
  b.spec.mounts!.push({ destination: '/data', type: 'bind', source: hostDir, options: ['rbind', 'ro', 'nosuid'] });
  b.spec.mounts!.push({ destination: '/scratch', type: 'tmpfs', source: 'tmpfs', options: ['size=1m', 'noexec'] });
  b.spec.process!.args = ['sh', '-c', 'cat /proc/self/mountinfo; cat /data/hello; touch /data/x 2>/dev/null || echo ro-ok'];
  b.write();
  const r = runtime(TSRUN, tempRoot(), ['run', '-b', b.dir, uniqueId('mnt')]);
  t.is(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n');
  const find = (mp: string) => lines.find((l) => l.split(' ')[4] === mp) ?? '';
  t.regex(find('/proc'), / - proc /);
  t.regex(find('/dev'), / - tmpfs /);
  t.regex(find('/dev/pts'), / - devpts /);
  t.regex(find('/dev/mqueue'), / - mqueue /);
  t.regex(find('/sys'), /^\S+ \S+ \S+ \S+ \/sys ro,/);
  t.regex(find('/data'), /^\S+ \S+ \S+ \S+ \/data ro,nosuid/);
  t.regex(find('/scratch'), /noexec.* - tmpfs /);
  t.regex(find('/'), /^\S+ \S+ \S+ \S+ \/ ro,/, 'root.readonly');
  t.true(r.stdout.includes('from the host\n'));
  t.true(r.stdout.includes('ro-ok\n'));
  b.cleanup();
});

rootTest('the container sees only fds 0-2', (t) => {
  const b = sh('ls /proc/self/fd');
  const r = runtime(TSRUN, tempRoot(), ['run', '-b', b.dir, uniqueId('fds')]);
  t.is(r.status, 0, r.stderr);
  // ls itself opens the directory it lists: fd 3 is ls's own
  t.deepEqual(r.stdout.trim().split(/\s+/), ['0', '1', '2', '3']);
  b.cleanup();
});

rootTest('`run BUNDLE/` derives the id from the directory', (t) => {
  const root = tempRoot();
  const b = sh('hostname');
  const r = runtime(TSRUN, root, ['run', `${b.dir}/`]);
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout, 'tsrun\n');
  b.cleanup();
});

rootTest('`run --detach` returns with the container running', (t) => {
  const root = tempRoot();
  const id = uniqueId('det');
  const b = sh('sleep 30');
  t.is(runtime(TSRUN, root, ['run', '-d', '-b', b.dir, id]).status, 0);
  const st = JSON.parse(runtime(TSRUN, root, ['state', id]).stdout) as { status: string };
  t.is(st.status, 'running');
  t.is(runtime(TSRUN, root, ['delete', '--force', id]).status, 0);
  b.cleanup();
});

const runcTest = IS_ROOT && RUNC ? test : test.skip;

runcTest('prints what runc prints for the same bundle', (t) => {
  const script =
    'id; hostname; pwd; umask; env | sort; ls -l /dev | sed "s/ [A-Z][a-z][a-z] .* / /"; grep -E "^(Cap|NoNewPrivs|Seccomp:)" /proc/self/status; cat /proc/self/limits | grep "open files"; ls /proc/self/fd';
  const b = sh(script);
  const ours = runtime(TSRUN, tempRoot(), ['run', '-b', b.dir, uniqueId('cmp')]);
  const theirs = runtime(RUNC!, tempRoot(), ['run', '-b', b.dir, uniqueId('cmp')]);
  const positional = runtime(TSRUN, tempRoot(), ['run', `${b.dir}/`]);
  t.is(ours.status, 0, ours.stderr);
  t.is(theirs.status, 0, theirs.stderr);
  t.is(positional.status, 0, positional.stderr);
  t.is(ours.stdout, theirs.stdout);
  t.is(positional.stdout, theirs.stdout, '`tsrun run BUNDLE/` too');
  b.cleanup();
});

rootTest('--preserve-fds passes fds 3.. to the container, and nothing above them', (t) => {
  const b = sh('ls /proc/self/fd; cat <&3');
  const dir = fs.mkdtempSync(path.join(b.dir, 'io-'));
  fs.writeFileSync(path.join(dir, 'three'), 'through fd 3\n');
  const three = fs.openSync(path.join(dir, 'three'), 'r');
  const four = fs.openSync(path.join(dir, 'three'), 'r');
  const outFile = path.join(dir, 'out');
  const out = fs.openSync(outFile, 'w');
  const r = spawnSync(TSRUN, ['--root', tempRoot(), 'run', '--preserve-fds', '1', '-b', b.dir, uniqueId('fds')], {
    stdio: ['ignore', out, 'inherit', three, four],
    timeout: 30_000,
  });
  fs.closeSync(out);
  t.is(r.status, 0);
  // fds 0-2, the preserved 3, and ls's own directory fd (4); fd 4 of ours is not passed
  const text = fs.readFileSync(outFile, 'utf8');
  t.is(text, '0\n1\n2\n3\n4\nthrough fd 3\n');
  fs.closeSync(three);
  fs.closeSync(four);
  b.cleanup();
});

rootTest('foreground run forwards signals to the container', async (t) => {
  const b = sh('trap "echo got-term; exit 7" TERM; echo ready; while true; do sleep 0.05; done');
  const dir = fs.mkdtempSync(path.join(b.dir, 'io-'));
  const outFile = path.join(dir, 'out');
  const out = fs.openSync(outFile, 'w+');
  const { spawn } = await import('node:child_process');
  const child = spawn(TSRUN, ['--root', tempRoot(), 'run', '-b', b.dir, uniqueId('fwd')], { stdio: ['ignore', out, 'inherit'] });
  // the trap is set once it says ready: a TERM before that would be dropped (pid 1 without a handler)
  t.true(await waitFor(() => fs.readFileSync(outFile, 'utf8').includes('ready')), fs.readFileSync(outFile, 'utf8'));
  child.kill('SIGTERM');
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  fs.closeSync(out);
  t.is(code, 7);
  t.is(fs.readFileSync(outFile, 'utf8'), 'ready\ngot-term\n');
  b.cleanup();
});
