/**
 * The stdio of a foreground process without a terminal (`run` and `exec`
 * without -d): pipes that the runtime relays, never the caller's own fds,
 * which may be the user's terminal (TIOCSTI types into the caller's shell)
 * or a file the caller redirected to. Compared with runc, which does the
 * same; `run -d`, `create` and `exec -d` still hand the process our fds.
 * Through bin/tsrun (the compiled CLI) and through the API under Node.
 */
import test, { type ExecutionContext } from 'ava';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { Spec } from '../../lib/config/types.js';
import { IS_ROOT, ROOT, RUNC, TSRUN, makeBundle, runtime, statusOf, tempRoot, uniqueId, type Bundle } from '../helpers/bundle.js';
import { withoutTtyEcho } from '../helpers/tty.js';
import { waitForSync } from '../helpers/wait.js';

const rootTest = IS_ROOT ? test.serial : test.skip;
const RUNTIMES: [string, string][] = [['tsrun', TSRUN], ...(RUNC ? ([['runc', RUNC]] as [string, string][]) : [])];
const ATTACKER = path.join(ROOT, 'build', 'tsrun-attacker');
const API = path.join(ROOT, 'dist', 'lib', 'index.js');

/** What the process's fds 0-2 are, one readlink a line. */
const FD_LINKS = 'for f in 0 1 2; do readlink /proc/self/fd/$f; done';
/** pipe:[12345] -> pipe: the same for every runtime and run. */
const kinds = (out: string) =>
  withoutTtyEcho(out)
    .split('\n')
    .filter(Boolean)
    .map((l) => l.replace(/:\[\d+\]$/, ''));

const dirs: string[] = [];
process.on('exit', () => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});
function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-stdio-'));
  dirs.push(d);
  return d;
}

function bundle(t: ExecutionContext, script: string, mutate?: (s: Spec, b: Bundle) => void): Bundle {
  const b = makeBundle((s) => {
    s.process!.args = ['sh', '-c', script];
  });
  fs.chmodSync(b.rootfs, 0o755);
  mutate?.(b.spec, b);
  b.write();
  t.teardown(() => b.cleanup());
  return b;
}

/** `cmd` (a shell line) under script(1): a pty is its stdio and controlling terminal, as in a user's shell. */
function underScript(cmd: string, input = ''): SpawnSyncReturns<string> {
  return spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', timeout: 60_000, input });
}

rootTest("run: the process's fds 0-2 are pipes, not the caller's terminal, as runc", (t) => {
  for (const [name, bin] of RUNTIMES) {
    const b = bundle(t, `${FD_LINKS}; exit 3`);
    const r = underScript(`${bin} --root ${tempRoot()} run -b ${b.dir} ${uniqueId('fds')}`);
    t.is(r.status, 3, `${name}: ${r.stdout}`);
    t.deepEqual(kinds(r.stdout), ['pipe', 'pipe', 'pipe'], `${name}: ${r.stdout}`);
  }
});

rootTest("run: a file the caller redirected to is not the process's (it cannot seek, truncate or read it back)", (t) => {
  for (const [name, bin] of RUNTIMES) {
    const b = bundle(t, FD_LINKS);
    const r = runtime(bin, tempRoot(), ['run', '-b', b.dir, uniqueId('file')]);
    t.is(r.status, 0, `${name}: ${r.stderr}`);
    // stdin is /dev/null (runtime() says 'ignore'), stdout and stderr files
    t.deepEqual(kinds(r.stdout), ['pipe', 'pipe', 'pipe'], name);
  }
});

rootTest('run: a privileged process cannot type into the caller’s terminal (TIOCSTI), as with runc', (t) => {
  for (const [name, bin] of RUNTIMES) {
    // CAP_SYS_ADMIN: TIOCSTI into a terminal that is not its controlling one
    const b = bundle(t, 'attacker tiocsti "echo INJECTED-BY-CONTAINER\n"', (s, bb) => {
      fs.copyFileSync(ATTACKER, path.join(bb.rootfs, 'bin', 'attacker'));
      fs.chmodSync(path.join(bb.rootfs, 'bin', 'attacker'), 0o755);
      const caps = s.process!.capabilities!;
      for (const set of ['bounding', 'effective', 'permitted'] as const) caps[set] = [...(caps[set] ?? []), 'CAP_SYS_ADMIN'];
    });
    const r = underScript(`${bin} --root ${tempRoot()} run -b ${b.dir} ${uniqueId('sti')}`);
    t.is(r.status, 0, `${name}: ${r.stdout}`);
    // the fds are pipes (ENOTTY); the process has no controlling terminal (ENXIO)
    t.regex(withoutTtyEcho(r.stdout), /^fd0=ENOTTY fd1=ENOTTY fd2=ENOTTY tty=ENXIO$/m, name);
    t.notRegex(r.stdout, /injected|INJECTED-BY-CONTAINER/, name);
  }
});

rootTest('run: stdin reaches cat and its EOF ends it; stdout and stderr arrive complete and apart; the exit status stays', (t) => {
  const input = Array.from({ length: 40_000 }, (_, i) => `line ${i} of the input\n`).join(''); // ~900 KB
  const errLines = Array.from({ length: 3000 }, (_, i) => `err ${i}\n`).join('');
  for (const [name, bin] of RUNTIMES) {
    const b = bundle(t, 'cat; i=0; while [ $i -lt 3000 ]; do echo "err $i"; i=$((i+1)); done >&2; exit 5');
    const r = runtime(bin, tempRoot(), ['run', '-b', b.dir, uniqueId('cat')], { input, timeout: 60_000 });
    t.is(r.status, 5, `${name}: ${r.stderr.slice(0, 200)}`);
    t.true(r.stdout === input, `${name}: stdout has ${r.stdout.length} of ${input.length} bytes`);
    t.true(r.stderr === errLines, `${name}: stderr has ${r.stderr.length} of ${errLines.length} bytes`);
    // stdin /dev/null: cat ends at once
    const n = runtime(bin, tempRoot(), ['run', '-b', b.dir, uniqueId('null')]);
    t.is(n.status, 5, name);
    t.is(n.stdout, '', name);
  }
});

rootTest('run: under a terminal, typed input reaches the process and the terminal’s EOF ends it', (t) => {
  for (const [name, bin] of RUNTIMES) {
    const b = bundle(t, 'while read l; do echo "got:$l"; done; echo eof');
    // script types its input into the pty, then the EOF character
    const r = underScript(`${bin} --root ${tempRoot()} run -b ${b.dir} ${uniqueId('typed')}`, 'hello\n');
    t.is(r.status, 0, `${name}: ${r.stdout}`);
    t.regex(withoutTtyEcho(r.stdout), /^got:hello\neof$/m, name);
  }
});

/** The process's stdout, written straight to a file of ours: `run -d` / `create` still pass on our fds. */
rootTest('run -d and create: the process still has our own fds (a file stays a file), as runc', (t) => {
  for (const [name, bin] of RUNTIMES) {
    for (const how of ['run', 'create'] as const) {
      const b = bundle(t, 'readlink /proc/self/fd/1');
      const root = tempRoot();
      const id = uniqueId(how);
      const out = path.join(tmpDir(), 'out');
      // files, not pipes: the init holds what it inherits until it exits
      const fd = fs.openSync(out, 'w');
      const err = fs.openSync(`${out}.err`, 'w');
      const args = how === 'run' ? ['run', '-d', '-b', b.dir, id] : ['create', '-b', b.dir, id];
      const r = spawnSync(bin, ['--root', root, ...args], { stdio: ['ignore', fd, err], timeout: 30_000 });
      fs.closeSync(fd);
      fs.closeSync(err);
      t.is(r.status, 0, `${name} ${how}: ${fs.readFileSync(`${out}.err`, 'utf8')}`);
      if (how === 'create') t.is(runtime(bin, root, ['start', id]).status, 0);
      t.true(
        waitForSync(() => statusOf(bin, root, id) === 'stopped'),
        `${name} ${how}: stopped`,
      );
      runtime(bin, root, ['delete', id]);
      // the file itself (its path as seen from the container's mount namespace)
      t.regex(fs.readFileSync(out, 'utf8'), /\/out\n$/, `${name} ${how}`);
    }
  }
});

/** A running container (sleep) of each runtime; `fn` gets its root and id. */
function withBox(t: ExecutionContext, bin: string, fn: (root: string, id: string) => void): void {
  const b = bundle(t, 'sleep 1000');
  const root = tempRoot();
  const id = uniqueId('box');
  const r = runtime(bin, root, ['run', '-d', '-b', b.dir, id]);
  if (r.status !== 0) throw new Error(`${bin} run -d: ${r.stderr}`);
  try {
    fn(root, id);
  } finally {
    runtime(bin, root, ['delete', '--force', id]);
  }
}

rootTest('exec: pipes, not the caller’s terminal; stdin, stdout, stderr and the status as for run; -d still has our fds', (t) => {
  const input = Array.from({ length: 20_000 }, (_, i) => `exec input ${i}\n`).join('');
  for (const [name, bin] of RUNTIMES) {
    withBox(t, bin, (root, id) => {
      const r = underScript(`${bin} --root ${root} exec ${id} sh -c '${FD_LINKS}; exit 4'`);
      t.is(r.status, 4, `${name}: ${r.stdout}`);
      t.deepEqual(kinds(r.stdout), ['pipe', 'pipe', 'pipe'], `${name}: ${r.stdout}`);
      const c = runtime(bin, root, ['exec', id, 'sh', '-c', 'cat; echo to-stderr >&2; exit 6'], { input });
      t.is(c.status, 6, `${name}: ${c.stderr.slice(0, 200)}`);
      t.true(c.stdout === input, `${name}: stdout has ${c.stdout.length} of ${input.length} bytes`);
      t.is(c.stderr, 'to-stderr\n', name);
      const n = runtime(bin, root, ['exec', id, 'cat']);
      t.is(n.status, 0, `${name}: </dev/null`);
      // exec -d: the process writes to our file itself
      const out = path.join(tmpDir(), 'out');
      const fd = fs.openSync(out, 'w');
      const d = spawnSync(bin, ['--root', root, 'exec', '-d', id, 'readlink', '/proc/self/fd/1'], { stdio: ['ignore', fd, fd] });
      fs.closeSync(fd);
      t.is(d.status, 0, `${name}: ${fs.readFileSync(out, 'utf8')}`);
      t.true(
        waitForSync(() => /\/out\n$/.test(fs.readFileSync(out, 'utf8'))),
        `${name} exec -d: ${fs.readFileSync(out, 'utf8')}`,
      );
    });
  }
});

rootTest('-t still relays a pty (run and exec): the process has a terminal, not pipes', (t) => {
  const b = bundle(t, 'tty; exit 2', (s) => {
    s.process!.terminal = true;
  });
  const r = underScript(`${TSRUN} --root ${tempRoot()} run -b ${b.dir} ${uniqueId('tty')}`);
  t.is(r.status, 2, r.stdout);
  t.regex(withoutTtyEcho(r.stdout), /^\/dev\/pts\/0$/m);
  withBox(t, TSRUN, (root, id) => {
    const e = underScript(`${TSRUN} --root ${root} exec -t ${id} sh -c 'tty; readlink /proc/self/fd/1; exit 3'`);
    t.is(e.status, 3, e.stdout);
    t.regex(withoutTtyEcho(e.stdout), /^\/dev\/pts\/\d+\n\/dev\/pts\/\d+$/m);
  });
});

/** A Node program that uses the API (dist/lib/index.js) as a host program would, with its own stdio. */
function apiProgram(body: string): string {
  const file = path.join(tmpDir(), 'api.mjs');
  fs.writeFileSync(file, `import { Runtime } from ${JSON.stringify(API)};\nconst rt = new Runtime({ root: process.argv[2] });\n${body}\n`);
  return file;
}

rootTest('the API under Node: Runtime.run and Runtime.exec relay pipes too (terminal, stdin, stdout, stderr)', (t) => {
  const root = tempRoot();
  const b = bundle(t, `${FD_LINKS}; cat; echo err >&2; exit 7`);
  const run = apiProgram(`process.exitCode = await rt.run(process.argv[3], { bundle: process.argv[4] });`);
  const r = underScript(`${process.execPath} ${run} ${root} ${uniqueId('api')} ${b.dir}`);
  t.is(r.status, 7, r.stdout);
  t.deepEqual(kinds(r.stdout), ['pipe', 'pipe', 'pipe', 'err'], r.stdout);
  const p = spawnSync(process.execPath, [run, root, uniqueId('api'), b.dir], { input: 'from the caller\n', encoding: 'utf8' });
  t.is(p.status, 7, p.stderr);
  t.regex(p.stdout, /^pipe:\[\d+\]\npipe:\[\d+\]\npipe:\[\d+\]\nfrom the caller\n$/);
  t.is(p.stderr, 'err\n');
  withBox(t, TSRUN, (broot, id) => {
    const exec = apiProgram(`process.exitCode = await rt.exec(process.argv[3], { args: ['sh', '-c', process.argv[4]] });`);
    const e = underScript(`${process.execPath} ${exec} ${broot} ${id} '${FD_LINKS}; exit 8'`);
    t.is(e.status, 8, e.stdout);
    t.deepEqual(kinds(e.stdout), ['pipe', 'pipe', 'pipe'], e.stdout);
    const c = spawnSync(process.execPath, [exec, broot, id, 'cat; exit 9'], { input: 'exec input\n', encoding: 'utf8' });
    t.is(c.status, 9, c.stderr);
    t.is(c.stdout, 'exec input\n');
  });
});
