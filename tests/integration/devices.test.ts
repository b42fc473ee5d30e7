/**
 * /dev: default devices, linux.devices by mknod, /dev/pts
 * with ptmx, the /dev/fd and stdio links, /dev/shm, and /dev/console with a
 * terminal; checked inside the container and compared with runc.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';

import { IS_ROOT, RUNC, TSRUN, makeBundle, tempRoot, uniqueId } from '../helpers/bundle.js';
import { runBoth } from '../helpers/both.js';
import { withoutTtyEcho } from '../helpers/tty.js';

const rootTest = IS_ROOT ? test : test.skip;

const STAT = 'stat -c "%n %F %t:%T %a %u:%g"';

rootTest('default devices and /dev links, as runc', (t) => {
  const r = runBoth(
    `${STAT} /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty; for l in fd stdin stdout stderr ptmx; do echo "$l -> $(readlink /dev/$l)"; done; busybox awk '$5 == "/dev/shm" || $5 == "/dev/pts" { for (i = 7; $i != "-"; i++); print $5, $(i + 1) }' /proc/self/mountinfo`,
  );
  t.is(r.tsrun.status, 0, r.tsrun.stderr);
  for (const [dev, mm] of [
    ['null', '1:3'],
    ['zero', '1:5'],
    ['full', '1:7'],
    ['random', '1:8'],
    ['urandom', '1:9'],
    ['tty', '5:0'],
  ])
    t.regex(r.tsrun.stdout, new RegExp(`^/dev/${dev} character special file ${mm} 666 0:0$`, 'm'));
  t.regex(
    r.tsrun.stdout,
    /^fd -> \/proc\/self\/fd\nstdin -> \/proc\/self\/fd\/0\nstdout -> \/proc\/self\/fd\/1\nstderr -> \/proc\/self\/fd\/2\nptmx -> pts\/ptmx$/m,
  );
  t.regex(r.tsrun.stdout, /^\/dev\/pts devpts$/m);
  t.regex(r.tsrun.stdout, /^\/dev\/shm tmpfs$/m);
  if (r.runc) t.is(r.tsrun.stdout, r.runc.stdout);
});

rootTest('linux.devices: char, block and fifo nodes with mode and owner, as runc', (t) => {
  const r = runBoth(`${STAT} /dev/fuse-like /dev/loop-test /dev/sub/fifo`, (s) => {
    s.linux!.devices = [
      { type: 'c', path: '/dev/fuse-like', major: 10, minor: 229, fileMode: 0o620, uid: 1000, gid: 5 },
      { type: 'b', path: '/dev/loop-test', major: 7, minor: 99, fileMode: 0o600, uid: 0, gid: 6 },
      { type: 'p', path: '/dev/sub/fifo', fileMode: 0o640, uid: 2, gid: 3 },
    ];
  });
  t.is(r.tsrun.status, 0, r.tsrun.stderr);
  t.is(
    r.tsrun.stdout,
    '/dev/fuse-like character special file a:e5 620 1000:5\n/dev/loop-test block special file 7:63 600 0:6\n/dev/sub/fifo fifo 0:0 640 2:3\n',
  );
  if (r.runc) t.is(r.tsrun.stdout, r.runc.stdout);
});

rootTest('/dev/pts is a new devpts instance whose ptmx opens a pty', (t) => {
  const r = runBoth(
    'ls /dev/pts; cat /proc/self/mountinfo | grep " /dev/pts " | grep -o "newinstance\\|ptmxmode=0*666" | sort -u',
    undefined,
  );
  t.is(r.tsrun.status, 0, r.tsrun.stderr);
  t.regex(r.tsrun.stdout, /^ptmx\n/, "an empty instance: only ptmx, none of the host's ptys");
  if (r.runc) t.is(r.tsrun.stdout, r.runc.stdout);
});

rootTest("/dev/console is the container's pty when a terminal is requested, as runc", (t) => {
  const run = (bin: string) => {
    const b = makeBundle((s) => {
      s.process!.terminal = true;
      s.process!.args = ['sh', '-c', 'stat -c "%F %t" /dev/console; tty'];
    });
    const r = spawnSync('script', ['-qec', `${bin} --root ${tempRoot()} run -b ${b.dir} ${uniqueId('cons')}`, '/dev/null'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    b.cleanup();
    return { status: r.status, out: withoutTtyEcho(r.stdout) };
  };
  const ours = run(TSRUN);
  t.is(ours.status, 0, ours.out);
  t.is(ours.out, 'character special file 88\n/dev/pts/0\n', 'a pty (major 136 = 0x88) and the controlling terminal');
  if (RUNC) t.is(ours.out, run(RUNC).out);
});
