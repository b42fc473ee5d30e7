/**
 * the escape classes runc and crun learned the hard way.
 * Each test would fail without the defence it names.
 */
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { IS_ROOT, RUNC, TSRUN, leftIn, makeBundle, runtime, tempRoot, uniqueId, type RunResult } from '../helpers/bundle.js';
import { waitForSync } from '../helpers/wait.js';

const rootTest = IS_ROOT ? test : test.skip;
const runcTest = IS_ROOT && RUNC ? test : test.skip;

/** The fds the container program holds and whether its cwd is `cwd` of its
 * rootfs, read from the host's /proc while it runs (a shell listing its own
 * fds would see its own pipes and directory fds). */
function fdsOf(bin: string, opts: { cwd?: string; preserve?: number; env?: Record<string, string>; stdio?: number[] } = {}) {
  const b = makeBundle((s) => {
    s.process!.args = ['sleep', '30'];
    s.process!.cwd = opts.cwd ?? '/';
  });
  const root = tempRoot();
  const id = uniqueId('fds');
  const args = ['--root', root, 'create', ...(opts.preserve ? ['--preserve-fds', String(opts.preserve)] : []), '-b', b.dir, id];
  // stderr to a file: the container inherits it, and a pipe would keep
  // spawnSync waiting for as long as the container lives.
  const errFile = path.join(b.dir, 'create.err');
  const err = fs.openSync(errFile, 'w');
  const r = spawnSync(bin, args, {
    cwd: b.dir,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'ignore', err, ...(opts.stdio ?? [])],
  });
  fs.closeSync(err);
  const c = { status: r.status, stderr: fs.readFileSync(errFile, 'utf8') };
  try {
    if (c.status !== 0)
      return { status: c.status, stderr: c.stderr, fds: [] as string[], links: [] as string[], cwdInside: false, environ: '' };
    const pid = JSON.parse(runtime(bin, root, ['state', id]).stdout).pid as number;
    runtime(bin, root, ['start', id]);
    // until the init has exec'd the program
    waitForSync(() => fs.readlinkSync(`/proc/${pid}/exe`).endsWith('busybox'));
    const fds = fs.readdirSync(`/proc/${pid}/fd`).sort((a, z) => Number(a) - Number(z));
    const links = fds.map((fd) => fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
    const cwd = fs.statSync(`/proc/${pid}/cwd`);
    const want = fs.statSync(path.join(b.rootfs, opts.cwd ?? '/'));
    const environ = fs.readFileSync(`/proc/${pid}/environ`, 'utf8');
    return { status: 0, stderr: c.stderr, fds, links, cwdInside: cwd.ino === want.ino && cwd.dev === want.dev, environ };
  } finally {
    runtime(bin, root, ['delete', '--force', id]);
    b.cleanup();
  }
}

rootTest('CVE-2024-21626: the container program holds only fds 0-2 and its cwd is inside the rootfs', (t) => {
  const r = fdsOf(TSRUN, { cwd: '/tmp' });
  t.is(r.status, 0, r.stderr);
  // The runtime is Node: it holds epoll, eventfd, pipe and file fds; any of
  // them here, or a cwd of the host's such as the bundle, is a leak.
  t.deepEqual(r.fds, ['0', '1', '2'], r.links.join(' '));
  t.true(r.cwdInside, 'the cwd is <rootfs>/tmp');
});

runcTest('the fds a container program holds are the ones runc gives it', (t) => {
  const ours = fdsOf(TSRUN);
  const theirs = fdsOf(RUNC!);
  t.is(theirs.status, 0, theirs.stderr);
  t.deepEqual(ours.fds, theirs.fds);
  t.true(ours.cwdInside && theirs.cwdInside);
});

rootTest('only preserved fds go through, with socket activation (LISTEN_FDS) ahead of them, as runc', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-listen-'));
  const files = ['three', 'four', 'five'].map((n) => fs.openSync(path.join(dir, n), 'w'));
  const check = (bin: string) => {
    // LISTEN_PID must be the runtime's own pid: sh execs it, so $$ is.
    const wrapper = '/bin/sh';
    void wrapper;
    return fdsOf(bin, { preserve: 1, env: { LISTEN_FDS: '1' }, stdio: files });
  };
  // spawnSync cannot set LISTEN_PID to the child's pid, so go through sh.
  const viaShell = (bin: string) => {
    const shim = path.join(dir, `shim-${path.basename(bin)}`);
    fs.writeFileSync(shim, `#!/bin/sh\nLISTEN_PID=$$ exec ${bin} "$@"\n`, { mode: 0o755 });
    return check(shim);
  };
  const ours = viaShell(TSRUN);
  t.is(ours.status, 0, ours.stderr);
  t.deepEqual(ours.fds, ['0', '1', '2', '3', '4']);
  t.regex(ours.links[3]!, /\/three$/, 'the LISTEN_FDS fd is fd 3');
  t.regex(ours.links[4]!, /\/four$/, 'the --preserve-fds fd follows it');
  t.true(ours.environ.split('\0').includes('LISTEN_FDS=1') && ours.environ.split('\0').includes('LISTEN_PID=1'), ours.environ);
  if (RUNC) {
    const theirs = viaShell(RUNC);
    t.is(theirs.status, 0, theirs.stderr);
    t.deepEqual(ours.fds, theirs.fds, 'runc passes the same fds');
    t.true(theirs.environ.split('\0').includes('LISTEN_FDS=1'), 'runc sets LISTEN_FDS too');
  }
  files.forEach((fd) => fs.closeSync(fd));
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The default capability set of `tsrun spec` (and runc spec), for setpriv. */
function setprivCaps(names: string[]): string {
  return ['-all', ...names.map((n) => `+${n.replace(/^CAP_/, '').toLowerCase()}`)].join(',');
}

/** readlink /proc/<pid>/exe from a root process holding exactly `caps`. */
function readExeWith(caps: string[], pid: number): { status: number | null; out: string } {
  const r = spawnSync(
    'setpriv',
    ['--inh-caps=-all', '--ambient-caps=-all', `--bounding-set=${setprivCaps(caps)}`, '--', 'readlink', '-v', `/proc/${pid}/exe`],
    { encoding: 'utf8' },
  );
  return { status: r.status, out: (r.stdout + r.stderr).trim() };
}

/** Creates a container from `b` (its init then waits on the exec fifo); the
 * caller deletes it with `remove`. */
function createWaiting(t: import('ava').ExecutionContext, b: { dir: string }, prefix: string) {
  const root = tempRoot();
  const id = uniqueId(prefix);
  const c = runtime(TSRUN, root, ['create', '-b', b.dir, id]);
  t.is(c.status, 0, c.stderr);
  const pid = c.status === 0 ? (JSON.parse(runtime(TSRUN, root, ['state', id]).stdout).pid as number) : 0;
  return { root, pid, remove: () => t.is(runtime(TSRUN, root, ['delete', '--force', id]).status, 0) };
}

rootTest('CVE-2019-5736: the init is non-dumpable while the container is being set up', (t) => {
  const b = makeBundle();
  const caps = b.spec.process!.capabilities!.bounding!;
  const { pid, remove } = createWaiting(t, b, 'dump');
  try {
    // The init waits on the exec fifo with the container's final uid and
    // capabilities. A process holding the same (as a `tsrun exec` or
    // another container process would) could open the runtime's binary
    // through /proc/<pid>/exe if the init were dumpable.
    const probe = readExeWith(caps, pid);
    t.not(probe.status, 0, `read the init's exe: ${probe.out}`);
    t.regex(probe.out, /Permission denied/);
    // Control: the same probe against a dumpable process with the same
    // credentials succeeds, so the test above can fail.
    const sleeper = spawn('setpriv', ['--inh-caps=-all', `--bounding-set=${setprivCaps(caps)}`, '--', 'sleep', '30'], { stdio: 'ignore' });
    try {
      // once setpriv has exec'd sleep
      let ok = readExeWith(caps, sleeper.pid!);
      waitForSync(() => (ok = readExeWith(caps, sleeper.pid!)).out.endsWith('/sleep'));
      t.regex(ok.out, /sleep$/, 'a dumpable process with the same credentials is readable');
    } finally {
      sleeper.kill('SIGKILL');
    }
  } finally {
    remove();
    b.cleanup();
  }
});

rootTest('CVE-2019-5736 from inside: a process in the same pid namespace cannot open the init being set up', (t) => {
  // Container A is created: its init waits on the exec fifo, still
  // tsrun-init (from a read-only detached mount: its exe reads "/"). Container
  // B joins A's pid namespace with the default capabilities (no
  // CAP_SYS_PTRACE), so A's init is its /proc/1.
  const a = makeBundle((s) => (s.process!.args = ['sleep', '30']));
  const { root, pid: pidA, remove } = createWaiting(t, a, 'dumpA');
  try {
    t.regex(fs.readlinkSync(`/proc/${pidA}/exe`), /^(\/|\/memfd:tsrun-init.*)$/, 'the created init is still tsrun-init, sealed');
    const probe = [
      'readlink /proc/1/exe 2>&1; echo "readlink=$?"',
      '(echo x >> /proc/1/exe) 2>&1; echo "write=$?"',
      // control: the same probe on a dumpable process of ours succeeds
      'sleep 30 & readlink /proc/$!/exe; kill $!',
    ].join('; ');
    const b = makeBundle((s) => {
      s.process!.args = ['sh', '-c', probe];
      s.linux!.namespaces = s.linux!.namespaces!.map((n) => (n.type === 'pid' ? { type: 'pid', path: `/proc/${pidA}/ns/pid` } : n));
    });
    try {
      const r = runtime(TSRUN, root, ['run', '-b', b.dir, uniqueId('dumpB')]);
      t.is(r.status, 0, r.stderr);
      t.regex(r.stdout, /^readlink=1\n/, "readlink of the init's exe is refused (busybox prints nothing)");
      t.regex(r.stdout, /Permission denied\nwrite=1\n/, "opening the init's exe for writing is refused");
      t.regex(r.stdout, /\nwrite=1\n\/bin\/busybox\n$/, 'the control probe reads a dumpable process');
    } finally {
      b.cleanup();
    }
  } finally {
    remove();
    a.cleanup();
  }
});

/** A host directory standing in for /etc, with a file that must not change. */
function fakeHostEtc(): { dir: string; file: string; untouched(): boolean; cleanup(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-fake-etc-'));
  const file = path.join(dir, 'passwd');
  fs.writeFileSync(file, 'root:x:0:0:host:/root:/bin/sh\n');
  const before = fs.readdirSync(dir).sort().join(',');
  return {
    dir,
    file,
    untouched() {
      const mounted = fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(dir);
      return (
        !mounted && fs.readdirSync(dir).sort().join(',') === before && fs.readFileSync(file, 'utf8') === 'root:x:0:0:host:/root:/bin/sh\n'
      );
    },
    cleanup() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

rootTest('a rootfs whose /proc or /sys is a symlink is refused, as runc does, and the host is untouched (CVE-2023-28642 class)', (t) => {
  for (const [dir, fs_] of [
    ['proc', 'proc'],
    ['sys', 'sysfs'],
  ] as const) {
    const etc = fakeHostEtc();
    const results: Record<string, RunResult> = {};
    for (const [name, bin] of [['tsrun', TSRUN], ...(RUNC ? [['runc', RUNC]] : [])] as const) {
      const b = makeBundle((s) => {
        s.process!.args = ['true'];
      });
      fs.rmSync(path.join(b.rootfs, dir), { recursive: true });
      fs.symlinkSync(etc.dir, path.join(b.rootfs, dir));
      const root = tempRoot();
      results[name] = runtime(bin, root, ['run', '-b', b.dir, uniqueId('procln')]);
      if (name === 'tsrun') t.deepEqual(leftIn(root), [], 'nothing left behind');
      b.cleanup();
    }
    t.is(results.tsrun!.status, 1);
    t.regex(results.tsrun!.stderr, new RegExp(`filesystem "${fs_}" must be mounted on ordinary directory`));
    if (results.runc) {
      t.not(results.runc.status, 0, 'runc refuses it too');
      t.regex(results.runc.stderr, new RegExp(`filesystem \\\\"${fs_}\\\\" must be mounted on ordinary directory`));
    }
    t.true(etc.untouched(), 'nothing was created in or mounted on the host directory');
    etc.cleanup();
  }
});

rootTest('mount targets, masked paths and /dev/console that are symlinks to host paths stay in the rootfs', (t) => {
  const etc = fakeHostEtc();
  const src = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-src-'));
  fs.writeFileSync(path.join(src, 'payload'), 'payload\n');
  const b = makeBundle((s) => {
    s.process!.args = ['sh', '-c', 'cat /data/payload; cat /masked/passwd | wc -c; cat /secret | wc -c'];
    s.mounts!.push({ destination: '/data', type: 'bind', source: src, options: ['rbind'] });
    s.linux!.maskedPaths = ['/masked', '/secret'];
    s.linux!.readonlyPaths = ['/ro-link'];
  });
  // /data and /masked -> the host dir, /secret -> the host file, /ro-link -> the host dir
  const other = fakeHostEtc();
  for (const [name, target] of [
    ['data', etc.dir],
    ['masked', other.dir],
    ['secret', etc.file],
    ['ro-link', other.dir],
  ] as const)
    fs.symlinkSync(target, path.join(b.rootfs, name));
  // ... and what those paths resolve to inside the rootfs
  fs.mkdirSync(path.join(b.rootfs, etc.dir), { recursive: true });
  fs.mkdirSync(path.join(b.rootfs, other.dir), { recursive: true });
  fs.writeFileSync(path.join(b.rootfs, etc.file), 'container file\n');
  const r = runtime(TSRUN, tempRoot(), ['run', '-b', b.dir, uniqueId('links')]);
  t.is(r.status, 0, r.stderr);
  t.true(etc.untouched(), 'the host directory and file are unchanged and nothing is mounted on them');
  t.true(other.untouched(), 'the masked and read-only host directory too');
  other.cleanup();
  t.false(fs.existsSync(path.join(etc.dir, 'payload')));
  t.is(r.stdout.split('\n')[0], 'payload', 'the bind mount landed where the link resolves inside the rootfs');
  etc.cleanup();
  fs.rmSync(src, { recursive: true, force: true });
  b.cleanup();
});

rootTest('a /dev/console symlink in the image is replaced, not followed, when a terminal is set up', (t) => {
  const etc = fakeHostEtc();
  const b = makeBundle((s) => {
    s.process!.terminal = true;
    s.root!.readonly = false; // the link must be removable
    s.process!.args = ['sh', '-c', 'stat -c %F /dev/console; cat /etc/marker'];
    // the image's own /dev, no tmpfs over it
    s.mounts = s.mounts!.filter((m) => m.destination !== '/dev' && !m.destination.startsWith('/dev/'));
  });
  fs.mkdirSync(path.join(b.rootfs, 'dev', 'pts'), { recursive: true });
  b.spec.mounts!.push({
    destination: '/dev/pts',
    type: 'devpts',
    source: 'devpts',
    options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'],
  });
  b.write();
  fs.symlinkSync('/ptmx-not-here', path.join(b.rootfs, 'dev', 'ptmx'));
  fs.rmSync(path.join(b.rootfs, 'dev', 'ptmx'));
  fs.symlinkSync('pts/ptmx', path.join(b.rootfs, 'dev', 'ptmx'));
  fs.symlinkSync('/etc/marker', path.join(b.rootfs, 'dev', 'console'));
  fs.writeFileSync(path.join(b.rootfs, 'etc', 'marker'), 'marker intact\n');
  const r = spawnSync('script', ['-qec', `${TSRUN} --root ${tempRoot()} run -b ${b.dir} ${uniqueId('console')}`, '/dev/null'], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  t.is(r.status, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /character special file/, '/dev/console is the pty');
  t.regex(r.stdout, /marker intact/, 'the file the symlink pointed at was not covered');
  t.true(fs.lstatSync(path.join(b.rootfs, 'dev', 'console')).isFile(), 'the link was replaced by a plain file (the bind target)');
  t.is(fs.readFileSync(path.join(b.rootfs, 'etc', 'marker'), 'utf8'), 'marker intact\n');
  // With root.readonly too: the console target is made with the devices,
  // before the root becomes read-only, so the link is replaced there as
  // well, never bound through.
  fs.rmSync(path.join(b.rootfs, 'dev', 'console'));
  fs.symlinkSync('/etc/marker', path.join(b.rootfs, 'dev', 'console'));
  b.spec.root!.readonly = true;
  b.write();
  const ro = spawnSync('script', ['-qec', `${TSRUN} --root ${tempRoot()} run -b ${b.dir} ${uniqueId('console')}`, '/dev/null'], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  t.is(ro.status, 0, ro.stdout);
  t.regex(ro.stdout, /character special file/);
  t.true(fs.lstatSync(path.join(b.rootfs, 'dev', 'console')).isFile());
  t.is(fs.readFileSync(path.join(b.rootfs, 'etc', 'marker'), 'utf8'), 'marker intact\n');
  etc.cleanup();
  b.cleanup();
});

rootTest('a mount below a dangling symlink to a host path is created inside the rootfs', (t) => {
  const etc = fakeHostEtc();
  const b = makeBundle((s) => {
    s.root!.readonly = false;
    s.process!.args = ['sh', '-c', 'cat /deep/sub/mnt/payload'];
    s.mounts!.push({ destination: '/deep/sub/mnt/payload', type: 'bind', source: etc.file, options: ['bind'] });
  });
  // /deep -> <host dir>/missing: nothing of it exists inside the rootfs
  fs.symlinkSync(path.join(etc.dir, 'missing'), path.join(b.rootfs, 'deep'));
  const r = runtime(TSRUN, tempRoot(), ['run', '-b', b.dir, uniqueId('deep')]);
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout, 'root:x:0:0:host:/root:/bin/sh\n', 'the bind landed at the link target inside the rootfs');
  t.true(fs.statSync(path.join(b.rootfs, etc.dir, 'missing', 'sub', 'mnt', 'payload')).isFile(), 'created under <rootfs>/<link target>');
  t.true(etc.untouched(), 'nothing was created under the host directory');
  etc.cleanup();
  b.cleanup();
});
