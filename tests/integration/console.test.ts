/** process.terminal: --console-socket (engines) and the foreground relay. */
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';

import { CONSOLE_RECEIVER, hasPython } from '../helpers/fd-receiver.js';
import { IS_ROOT, TSRUN, leftIn, makeBundle, runtime, tempRoot, uniqueId } from '../helpers/bundle.js';
import { withoutTtyEcho } from '../helpers/tty.js';

const rootTest = IS_ROOT ? test : test.skip;

(IS_ROOT && hasPython ? test : test.skip)('--console-socket receives the pty master and the container runs on the pty', async (t) => {
  const root = tempRoot();
  const id = uniqueId('tty');
  const b = makeBundle((s) => {
    s.process!.terminal = true;
    s.process!.args = ['sh', '-c', 'tty; test -t 0 && test -t 1 && echo stdio-is-tty'];
  });
  const sock = path.join(b.dir, 'console.sock');
  const rx = spawn('python3', ['-c', CONSOLE_RECEIVER, sock], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  rx.stdout.on('data', (d) => (out += d));
  await new Promise<void>((resolve) => rx.stdout.once('data', () => resolve()));
  const c = runtime(TSRUN, root, ['create', '--console-socket', sock, '-b', b.dir, id]);
  if (c.status !== 0) rx.kill();
  t.is(c.status, 0, c.stderr);
  t.is(runtime(TSRUN, root, ['start', id]).status, 0);
  await new Promise((resolve) => rx.on('close', resolve));
  t.regex(out, /fds=1 name=\/dev\/ptmx/);
  t.regex(out, /\/dev\/pts\/0/);
  t.regex(out, /stdio-is-tty/);
  t.is(runtime(TSRUN, root, ['delete', '--force', id]).status, 0);
  b.cleanup();
});

rootTest('terminal without --console-socket: create refuses, run relays the pty', (t) => {
  const root = tempRoot();
  const b = makeBundle((s) => {
    s.process!.terminal = true;
    s.process!.args = ['sh', '-c', 'tty; exit 7'];
  });
  const c = runtime(TSRUN, root, ['create', '-b', b.dir, uniqueId('tty')]);
  t.is(c.status, 1);
  t.regex(c.stderr, /process\.terminal: cannot allocate a tty when detaching without --console-socket/);
  t.deepEqual(leftIn(root), []);
  // `script` gives us a controlling terminal, as a user's shell would
  const r = spawnSync('script', ['-qec', `${TSRUN} --root ${root} run -b ${b.dir} ${uniqueId('fg')}`, '/dev/null'], {
    encoding: 'utf8',
    timeout: 30_000,
    input: '',
  });
  t.is(r.status, 7, r.stderr);
  t.regex(r.stdout, /\/dev\/pts\/0/);
  b.cleanup();
});

rootTest("the foreground pty takes the size of the caller's terminal", (t) => {
  const root = tempRoot();
  const b = makeBundle((s) => {
    s.process!.terminal = true;
    s.process!.args = ['stty', 'size'];
  });
  const r = spawnSync(
    'script',
    ['-qec', `stty cols 91 rows 33; ${TSRUN} --root ${root} run -b ${b.dir} ${uniqueId('winsz')}`, '/dev/null'],
    {
      encoding: 'utf8',
      timeout: 30_000,
      input: '',
    },
  );
  t.is(r.status, 0, r.stderr);
  t.regex(withoutTtyEcho(r.stdout), /^33 91$/m);
  b.cleanup();
});

rootTest('--console-socket without process.terminal is a usage error', (t) => {
  const root = tempRoot();
  const b = makeBundle();
  const r = runtime(TSRUN, root, ['create', '--console-socket', '/nonexistent.sock', '-b', b.dir, uniqueId('x')]);
  t.is(r.status, 1);
  t.regex(r.stderr, /cannot use --console-socket when process\.terminal is false/);
  b.cleanup();
});
