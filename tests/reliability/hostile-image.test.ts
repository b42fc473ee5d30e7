/**
 * A hostile image or bundle against what the runtime itself reads on the
 * host before the container exists: the image's /etc/passwd (HOME) and the
 * rootfs path. Real containers, compared with runc 1.1.5 on the same bundle
 * (docs/security.md, "Holes found by attacking tsrun itself").
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { IS_ROOT, RUNC, TSRUN, leftIn, makeBundle, runtime, tempRoot, uniqueId, type Bundle } from '../helpers/bundle.js';

const rootTest = IS_ROOT ? test : test.skip;
const TIME = ['/usr/bin/time'].find((p) => fs.existsSync(p));

const dirs: string[] = [];
process.on('exit', () => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `tsrun-hi-${prefix}-`));
  dirs.push(d);
  return d;
}

const printHome = (b: Bundle) => (b.spec.process!.args = ['sh', '-c', 'echo "HOME=$HOME"']);

/** One line of a runtime's stderr, for the log. */
const last = (s: string) => s.trim().split('\n').pop() ?? '';

// ---------------------------------------------------------------------------
// HOME from the image's /etc/passwd

rootTest(
  'an image whose /etc is a symlink to a host directory: HOME comes from the image, never the host file (create and exec), as runc',
  (t) => {
    // A host directory with a passwd that must not be read, and the same path
    // inside the rootfs with the image's own.
    const host = tempDir('etc');
    fs.writeFileSync(path.join(host, 'passwd'), 'root:x:0:0:root:/HOST-HOME:/bin/sh\n');
    const b = makeBundle();
    printHome(b);
    b.write();
    fs.rmSync(path.join(b.rootfs, 'etc'), { recursive: true });
    fs.symlinkSync(host, path.join(b.rootfs, 'etc'));
    fs.mkdirSync(path.join(b.rootfs, host), { recursive: true });
    fs.writeFileSync(path.join(b.rootfs, host, 'passwd'), 'root:x:0:0:root:/IMAGE-HOME:/bin/sh\n');

    const r = runtime(TSRUN, tempRoot(), ['run', '-b', b.dir, uniqueId('hi-home')]);
    t.is(r.status, 0, r.stderr);
    t.is(r.stdout.trim(), 'HOME=/IMAGE-HOME', 'create reads /etc/passwd inside the rootfs');

    const root = tempRoot();
    const id = uniqueId('hi-home');
    b.spec.process!.args = ['sleep', '1000'];
    b.write();
    t.is(runtime(TSRUN, root, ['run', '-d', '-b', b.dir, id]).status, 0);
    const e = runtime(TSRUN, root, ['exec', id, 'sh', '-c', 'echo "HOME=$HOME"']);
    t.is(e.stdout.trim(), 'HOME=/IMAGE-HOME', `exec too: ${e.stderr}`);
    runtime(TSRUN, root, ['delete', '--force', id]);

    if (RUNC) {
      printHome(b);
      b.write();
      const rr = runtime(RUNC, tempRoot(), ['run', '-b', b.dir, uniqueId('hi-home')]);
      t.log(`runc: exit ${rr.status}, ${rr.stdout.trim()} ${last(rr.stderr)}`);
      t.is(rr.stdout.trim(), r.stdout.trim(), 'the same HOME as runc');
    }
    b.cleanup();
  },
);

rootTest('a sparse 1.5 GB /etc/passwd is refused at once, as runc refuses it, at create and at exec', (t) => {
  const b = makeBundle();
  printHome(b);
  b.write();
  const passwd = path.join(b.rootfs, 'etc', 'passwd');
  fs.writeFileSync(passwd, '');
  fs.truncateSync(passwd, 1536 * 1024 * 1024);
  const root = tempRoot();
  const id = uniqueId('hi-big');
  const args = ['--root', root, 'run', '-b', b.dir, id];
  const started = performance.now();
  const r = TIME
    ? spawnSync(TIME, ['-f', 'maxrss=%MKB', TSRUN, ...args], { encoding: 'utf8', timeout: 60_000 })
    : spawnSync(TSRUN, args, { encoding: 'utf8', timeout: 60_000 });
  const ms = performance.now() - started;
  const rss = Number(/maxrss=(\d+)KB/.exec(r.stderr)?.[1] ?? NaN);
  t.log(
    `tsrun: exit ${r.status} in ${ms.toFixed(0)} ms, max RSS ${rss} KB: ${r.stderr.split('\n').find((l) => l.startsWith('tsrun:')) ?? ''}`,
  );
  t.is(r.status, 1, `refused: ${r.stdout}${r.stderr}`);
  t.regex(r.stderr, /unable to find user 0: \/etc\/passwd is larger than/);
  if (TIME) t.true(rss < 400_000, `max RSS ${rss} KB: the file is not read into memory`);
  t.deepEqual(leftIn(root), [], 'nothing left behind');
  if (RUNC) {
    const rr = runtime(RUNC, tempRoot(), ['run', '-b', b.dir, uniqueId('hi-big')]);
    t.log(`runc: exit ${rr.status}: ${last(rr.stderr)}`);
    t.is(rr.status, 1);
  }

  // with HOME in the environment nothing needs the file: tsrun does not read it (runc parses it for any user)
  b.spec.process!.env!.push('HOME=/given');
  b.write();
  const given = runtime(TSRUN, tempRoot(), ['run', '-b', b.dir, uniqueId('hi-big')]);
  t.is(given.status, 0, given.stderr);
  t.is(given.stdout.trim(), 'HOME=/given');
  if (RUNC) t.log(`runc with HOME set: exit ${runtime(RUNC, tempRoot(), ['run', '-b', b.dir, uniqueId('hi-big')]).status}`);

  // exec: the container's passwd grew after it started
  b.spec.process!.env = b.spec.process!.env!.filter((e) => !e.startsWith('HOME='));
  fs.truncateSync(passwd, 0);
  fs.writeFileSync(passwd, 'root:x:0:0:root:/root:/bin/sh\n');
  b.spec.process!.args = ['sleep', '1000'];
  b.write();
  const rid = uniqueId('hi-big');
  t.is(runtime(TSRUN, root, ['run', '-d', '-b', b.dir, rid]).status, 0);
  fs.truncateSync(passwd, 1536 * 1024 * 1024);
  const e = runtime(TSRUN, root, ['exec', rid, 'sh', '-c', 'echo "HOME=$HOME"']);
  t.is(e.status, 255, `exec refused (runc's exit code of a failed exec): ${e.stdout}${e.stderr}`);
  t.regex(e.stderr, /unable to find user 0: \/etc\/passwd is larger than/);
  runtime(TSRUN, root, ['delete', '--force', rid]);
  if (RUNC) {
    const rroot = tempRoot();
    fs.truncateSync(passwd, 0);
    fs.writeFileSync(passwd, 'root:x:0:0:root:/root:/bin/sh\n');
    const rrid = uniqueId('hi-big');
    runtime(RUNC, rroot, ['run', '-d', '-b', b.dir, rrid]);
    fs.truncateSync(passwd, 1536 * 1024 * 1024);
    const re = runtime(RUNC, rroot, ['exec', rrid, 'sh', '-c', 'echo "HOME=$HOME"']);
    t.log(`runc exec: exit ${re.status}: ${last(re.stderr)}`);
    runtime(RUNC, rroot, ['delete', '--force', rrid]);
  }
  b.cleanup();
});

// ---------------------------------------------------------------------------
// root.path

rootTest(
  'a root.path that is a symlink (to /, or within the bundle) or goes through one is refused naming root.path, leaving nothing; a bundle reached through a symlink runs, as runc',
  (t) => {
    const links = tempDir('links');
    const cases: { name: string; make(b: Bundle): string; ok: boolean }[] = [
      {
        name: 'rootfs -> /',
        make: (b) => (fs.renameSync(b.rootfs, path.join(b.dir, 'real')), fs.symlinkSync('/', b.rootfs), b.dir),
        ok: false,
      },
      {
        name: 'rootfs -> real (a directory of the bundle)',
        make: (b) => (fs.renameSync(b.rootfs, path.join(b.dir, 'real')), fs.symlinkSync('real', b.rootfs), b.dir),
        ok: false,
      },
      {
        name: 'root.path absolute, through a symlinked directory',
        make: (b) => {
          const link = path.join(links, path.basename(b.dir));
          fs.symlinkSync(b.dir, link);
          b.spec.root!.path = path.join(link, 'rootfs');
          b.write();
          return b.dir;
        },
        ok: false,
      },
      {
        name: 'the bundle given through a symlink (-b)',
        make: (b) => {
          const link = path.join(links, `b-${path.basename(b.dir)}`);
          fs.symlinkSync(b.dir, link);
          return link;
        },
        ok: true,
      },
    ];
    for (const c of cases) {
      for (const [name, bin] of [['tsrun', TSRUN], ...(RUNC ? [['runc', RUNC]] : [])] as const) {
        const b = makeBundle((s) => (s.process!.args = ['sleep', '1000']));
        const bundle = c.make(b);
        const root = tempRoot();
        const id = uniqueId('hi-rootfs');
        const r = runtime(bin, root, ['create', '-b', bundle, id]);
        const state = r.status === 0 ? (JSON.parse(runtime(bin, root, ['state', id]).stdout) as { bundle: string; rootfs: string }) : null;
        t.log(`${c.name}: ${name} exit ${r.status}${state ? ` bundle=${state.bundle}` : ''} ${last(r.stderr)}`);
        runtime(bin, root, ['delete', '--force', id]);
        if (name === 'tsrun') {
          if (c.ok) {
            t.is(r.status, 0, `${c.name}: ${r.stderr}`);
            t.is(state?.bundle, fs.realpathSync(bundle), `${c.name}: state.json's bundle is the real path, as runc records it`);
          } else {
            t.is(r.status, 1, `${c.name}: refused`);
            t.regex(r.stderr, /root\.path: .*symlink/, `${c.name}: the error names root.path`);
            t.deepEqual(leftIn(root), [], `${c.name}: nothing left behind`);
          }
        } else t.is(r.status, c.ok ? 0 : 1, `${c.name}: runc`);
        b.cleanup();
      }
    }
  },
);
