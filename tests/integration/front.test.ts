/**
 * The front binary (build/tsrun, what bin/tsrun links to) and the
 * JavaScript CLI (dist/tsrun.mjs) share one state directory: each must read
 * what the other wrote and see what the other did, byte for byte where they
 * print the same thing; and the front must run no JavaScript for the hot
 * commands while handing everything else over with argv untouched.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { STATE_KEYS } from '../../lib/native/constants.js';
import { ENGINE, IS_ROOT, ROOT, TSRUN, makeBundle, runtime, tempRoot, uniqueId, waitForStatus } from '../helpers/bundle.js';

const rootTest = IS_ROOT ? test.serial : test.skip;

const FRONT = path.join(ROOT, 'build', 'tsrun');
/** How the front runs the JavaScript CLI (scripts/postbuild.mjs): the compiled CLI, or an engine and its script. */
const PREFIX = ENGINE;

/** A launcher that is the JavaScript CLI alone (no front), for runtime(). */
const JS = (() => {
  const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-js-')), 'tsrun-js');
  fs.writeFileSync(f, `#!/bin/sh\nexec ${PREFIX.join(' ')} "$@"\n`, { mode: 0o755 });
  return f;
})();

test('bin/tsrun is the front binary', (t) => {
  t.is(fs.realpathSync(TSRUN), FRONT);
});

function ok(bin: string, root: string, args: string[]): string {
  const r = runtime(bin, root, args);
  if (r.status !== 0) throw new Error(`${path.basename(bin)} ${args.join(' ')}: ${r.status} ${r.stderr}`);
  return r.stdout;
}

/** What both print for the read-only commands, compared byte for byte. */
function agree(t: import('ava').ExecutionContext, root: string, id: string, status: string): void {
  for (const args of [['state', id], ['list'], ['list', '--format', 'json'], ['list', '-q'], ['ps', '--format', 'json', id]]) {
    t.is(ok(FRONT, root, args), ok(JS, root, args), `${status}: ${args.join(' ')}`);
  }
  t.is((JSON.parse(ok(FRONT, root, ['state', id])) as { status: string }).status, status);
}

rootTest('state, list and ps: the front and the JavaScript CLI print the same bytes at every status', (t) => {
  const root = tempRoot();
  const id = uniqueId('front');
  const b = makeBundle((s) => {
    s.process!.args = ['sleep', '60'];
    s.annotations = { 'org.example/a': 'x "quoted" \\ ü', b: '' };
  });
  ok(JS, root, ['create', '--bundle', b.dir, id]);
  agree(t, root, id, 'created');
  ok(FRONT, root, ['start', id]);
  agree(t, root, id, 'running');
  ok(FRONT, root, ['pause', id]);
  agree(t, root, id, 'paused');
  ok(FRONT, root, ['resume', id]);
  ok(FRONT, root, ['kill', id, 'KILL']);
  waitForStatus(JS, root, id, 'stopped');
  agree(t, root, id, 'stopped');
  ok(FRONT, root, ['delete', id]);
  for (const bin of [FRONT, JS]) {
    const r = runtime(bin, root, ['state', id]);
    t.is(r.status, 1);
    t.is(r.stderr, 'tsrun: state: container does not exist\n', path.basename(bin));
  }
});

rootTest('each side sees what the other did: start, pause, resume, kill, delete crossed both ways', (t) => {
  const root = tempRoot();
  const b = makeBundle((s) => {
    s.process!.args = ['sleep', '60'];
  });
  const status = (bin: string, id: string) => (JSON.parse(ok(bin, root, ['state', id])) as { status: string }).status;
  for (const [actor, watcher] of [
    [FRONT, JS],
    [JS, FRONT],
  ] as const) {
    const id = uniqueId('cross');
    ok(JS, root, ['create', '--bundle', b.dir, id]);
    t.is(status(watcher, id), 'created');
    ok(actor, root, ['start', id]);
    t.is(status(watcher, id), 'running');
    ok(actor, root, ['pause', id]);
    t.is(status(watcher, id), 'paused');
    ok(actor, root, ['resume', id]);
    t.is(status(watcher, id), 'running');
    const r = runtime(actor, root, ['delete', id]);
    t.is(r.status, 1);
    t.is(r.stderr, `tsrun: delete: cannot delete container ${id} that is not stopped: running\n`);
    ok(actor, root, ['kill', '--all', id, '9']);
    waitForStatus(watcher, root, id, 'stopped');
    t.is(status(watcher, id), 'stopped');
    ok(actor, root, ['delete', id]);
    t.is(runtime(watcher, root, ['state', id]).status, 1);
    t.false(fs.existsSync(path.join(root, id)));
  }
});

rootTest('state.json holds the keys of TSRUN_STATE_KEYS (native/host/host.h) only, in their order', (t) => {
  const root = tempRoot();
  const id = uniqueId('keys');
  const b = makeBundle((s) => {
    s.process!.args = ['true'];
    s.annotations = { k: 'v' };
  });
  ok(JS, root, ['create', '--bundle', b.dir, id]);
  const written = Object.keys(JSON.parse(fs.readFileSync(path.join(root, id, 'state.json'), 'utf8')) as object);
  const keys = STATE_KEYS;
  t.deepEqual(
    written,
    keys.filter((k) => written.includes(k)),
  );
  for (const k of ['ociVersion', 'id', 'pid', 'pidStartTime', 'bundle', 'rootfs', 'created', 'owner', 'pidNamespace'])
    t.true(written.includes(k), k);
  ok(FRONT, root, ['delete', '--force', id]);
});

/** The programs a command line executes (strace -f), each as its argv. */
function execs(args: string[], root: string): string[][] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-strace-'));
  const out = path.join(dir, 'trace');
  try {
    spawnSync('strace', ['-f', '-qq', '-e', 'trace=execve', '-e', 'signal=none', '-s', '4096', '-o', out, FRONT, '--root', root, ...args], {
      stdio: 'ignore',
      timeout: 30_000,
    });
    return fs
      .readFileSync(out, 'utf8')
      .split('\n')
      .filter((l) => /execve\(/.test(l) && !/= -1 /.test(l))
      .map((l) => JSON.parse(`[${/execve\("[^"]*", \[(.*)\]/.exec(l)![1]}]`) as string[]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

rootTest('the hot commands run no JavaScript; any other command, flag or form goes to the JavaScript CLI, argv untouched', (t) => {
  const root = tempRoot();
  const id = uniqueId('hot');
  const b = makeBundle((s) => {
    s.process!.args = ['sleep', '60'];
  });
  ok(JS, root, ['create', '--bundle', b.dir, id]);
  const hot = [
    ['state', id],
    ['start', id],
    ['list'],
    ['list', '--format=json'],
    ['ps', '-f', 'json', id],
    ['pause', id],
    ['resume', id],
    ['kill', id, '0'],
    ['kill', '-a', id, 'SIGCONT'],
  ];
  for (const args of hot) t.is(execs(args, root).length, 1, `front only: ${args.join(' ')}`);
  const handed = [
    ['--debug', 'state', id],
    ['state', '--bogus', id],
    ['state'],
    ['frobnicate', id],
    ['kill', id, 'NOPE'],
    ['ps', id],
    ['list', '--format', 'yaml'],
    ['delete', '-h'],
    ['--version'],
    ['spec', '--bundle', '/nonexistent'],
  ];
  for (const args of handed) {
    const e = execs(args, root);
    t.true(e.length >= 2, `handed over: ${args.join(' ')}`); // ps's table runs ps(1) too
    t.deepEqual(e[1], [...PREFIX, '--root', root, ...args], args.join(' '));
  }
  t.is(execs(['delete', '--force', id], root).length, 1);
  t.false(fs.existsSync(path.join(root, id)));
});

rootTest('errors go to --log in the JavaScript CLI’s shape (text and json), from the front as from the CLI', (t) => {
  const root = tempRoot();
  for (const format of ['text', 'json']) {
    const logs = [FRONT, JS].map((bin) => {
      const log = path.join(root, `${path.basename(bin)}.${format}.log`);
      const r = runtime(bin, root, ['--log', log, '--log-format', format, 'kill', 'nope']);
      t.is(r.status, 1);
      t.is(r.stderr, 'tsrun: kill: container does not exist\n');
      return fs.readFileSync(log, 'utf8').replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/, 'TIME');
    });
    t.is(logs[0], logs[1], format);
  }
});
