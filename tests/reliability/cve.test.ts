/**
 * runc's CVEs, each performed against tsrun: the attack as the advisory
 * describes it (a malicious image, a racing container on a shared volume, a
 * process in the container), then a check that the host is untouched (a
 * canary file, mountinfo, the runtime's binaries). docs/security.md lists
 * them with tsrun's defence and what runc 1.1.5 does; where runc is
 * installed, its result is logged here, never asserted.
 *
 * The racing container is `tsrun-swapper` (tests/fixtures/swapper.c): it
 * swaps two names of a shared volume with renameat2(RENAME_EXCHANGE) in a
 * loop, from inside a second container that has the volume mounted.
 */
import test, { type ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { Spec } from '../../lib/config/types.js';
import { ENGINE, IS_ROOT, ROOT, RUNC, TSRUN, leftIn, makeBundle, runtime, tempRoot, uniqueId, type Bundle } from '../helpers/bundle.js';
import { waitForSync } from '../helpers/wait.js';

const rootTest = IS_ROOT ? test : test.skip;
const SWAPPER = path.join(ROOT, 'build', 'tsrun-swapper');

function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

const dirs: string[] = [];
process.on('exit', () => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** A temp dir, removed when the test process exits even if its test threw. */
function tempDir(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `tsrun-cve-${prefix}-`));
  dirs.push(d);
  return d;
}

/** A host directory with a file that must never change, nor be mounted on or over. */
function canary(): { dir: string; file: string; untouched(): string | null; cleanup(): void } {
  const dir = tempDir('canary');
  const file = path.join(dir, 'canary');
  fs.mkdirSync(path.join(dir, 'sub'));
  fs.writeFileSync(file, 'host canary\n');
  fs.writeFileSync(path.join(dir, 'sub', 'canary'), 'host canary\n');
  return {
    dir,
    file,
    untouched() {
      if (fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(dir)) return `something is mounted at ${dir}`;
      const names = fs.readdirSync(dir).sort().join(',');
      if (names !== 'canary,sub') return `${dir} now holds ${names}`;
      if (fs.readdirSync(path.join(dir, 'sub')).join(',') !== 'canary') return `${dir}/sub changed`;
      if (fs.readFileSync(file, 'utf8') !== 'host canary\n') return `${file} changed`;
      return null;
    },
    cleanup() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The attacker's second container: a busybox container with `volume` bind
 * mounted at /vol, running tsrun-swapper on /vol/<a> and /vol/<b> until
 * stopped. Returns the stop function.
 */
function racer(t: ExecutionContext, volume: string, a: string, b: string): () => void {
  const bundle = makeBundle((s) => {
    s.process!.args = ['/bin/swapper', `/vol/${a}`, `/vol/${b}`];
    s.mounts!.push({ destination: '/vol', type: 'bind', source: volume, options: ['rbind'] });
  });
  fs.copyFileSync(SWAPPER, path.join(bundle.rootfs, 'bin', 'swapper'));
  fs.chmodSync(path.join(bundle.rootfs, 'bin', 'swapper'), 0o755);
  const root = tempRoot();
  const id = uniqueId('racer');
  const r = runtime(TSRUN, root, ['run', '-d', '-b', bundle.dir, id]);
  t.is(r.status, 0, `the racing container starts: ${r.stderr}`);
  // it is racing once the names have been swapped at least once: another
  // inode at `a` (two directories, a file and a symlink, or one gone)
  const inode = () => {
    try {
      return fs.lstatSync(path.join(volume, a)).ino;
    } catch {
      return 0;
    }
  };
  const first = inode();
  t.true(
    waitForSync(() => inode() !== first, undefined, 1),
    `the racer swaps ${a} and ${b}`,
  );
  return () => {
    const st = runtime(TSRUN, root, ['state', id]);
    t.regex(st.stdout, /"status": "running"/, 'the racer was still racing at the end');
    runtime(TSRUN, root, ['delete', '--force', id]);
    bundle.cleanup();
  };
}

/** The pid of a created container's init. */
function initPid(root: string, id: string): number {
  return JSON.parse(runtime(TSRUN, root, ['state', id]).stdout).pid as number;
}

// ---------------------------------------------------------------------------
// CVE-2019-5736: /proc/<pid>/exe of the runtime opened from the container

rootTest('CVE-2019-5736: a container process cannot open the runtime binary through /proc/<pid>/exe during create or exec', (t) => {
  const engine = fs.realpathSync(ENGINE[0]!);
  const binaries = [fs.realpathSync(TSRUN), engine];
  const before = binaries.map(sha256);
  // The attacker: every process of the pid namespace that is not busybox is
  // the runtime (a tenant of `exec`, or an init of `create` joining the
  // namespace): open its exe and keep the fd, as the exploit does before
  // writing to it once the runtime has exited.
  const attack = [
    'while :; do',
    '  for p in /proc/[0-9]*; do',
    '    { busybox cmp -s /proc/self/fd/3 /bin/busybox || echo "GOT $p"; } 3<$p/exe 2>/dev/null',
    '  done',
    '  echo round',
    'done',
  ].join('\n');
  const a = makeBundle((s) => (s.process!.args = ['sh', '-c', attack]));
  const root = tempRoot();
  const id = uniqueId('exe');
  const out = path.join(a.dir, 'attack.out');
  const outFd = fs.openSync(out, 'w');
  const c = spawnSync(TSRUN, ['--root', root, 'run', '-d', '-b', a.dir, id], { stdio: ['ignore', outFd, 'ignore'] });
  fs.closeSync(outFd);
  t.is(c.status, 0);
  const pid = initPid(root, id);
  const rounds = () =>
    fs
      .readFileSync(out, 'utf8')
      .split('\n')
      .filter((l) => l === 'round').length;
  try {
    for (let i = 0; i < 30; i++) t.is(runtime(TSRUN, root, ['exec', id, 'true']).status, 0);
    // inits being created in the attacker's pid namespace
    for (let i = 0; i < 10; i++) {
      const b = makeBundle((s) => {
        s.process!.args = ['true'];
        s.linux!.namespaces = s.linux!.namespaces!.map((n) => (n.type === 'pid' ? { type: 'pid', path: `/proc/${pid}/ns/pid` } : n));
      });
      const bid = uniqueId('exeB');
      t.is(runtime(TSRUN, root, ['create', '-b', b.dir, bid]).status, 0);
      // the attacker has looked at the waiting init: a whole pass over /proc began after it existed
      const from = rounds();
      t.true(
        waitForSync(() => rounds() >= from + 2),
        'the attack loop went over the created init',
      );
      runtime(TSRUN, root, ['delete', '--force', bid]);
      b.cleanup();
    }
  } finally {
    runtime(TSRUN, root, ['delete', '--force', id]);
  }
  const lines = fs.readFileSync(out, 'utf8').split('\n');
  t.true(lines.filter((l) => l === 'round').length > 10, 'the attack loop ran');
  t.deepEqual(
    lines.filter((l) => l.startsWith('GOT')),
    [],
    'no runtime process could be opened',
  );
  t.deepEqual(binaries.map(sha256), before, 'bin/tsrun and the CLI binary are unchanged');
  a.cleanup();
});

// ---------------------------------------------------------------------------
// CVE-2024-21626: a leaked fd as the cwd (/proc/self/fd/N)

/** The program's cwd as `readlink /proc/self/cwd` and its inode, checked on the host against the rootfs. */
const CWD_PROBE = ['sh', '-c', 'busybox readlink /proc/self/cwd; stat -c %i .'];

function cwdInside(b: Bundle, stdout: string): string | null {
  const [link, ino] = stdout.trim().split('\n');
  if (!link || !ino) return `no probe output: ${stdout}`;
  let st: fs.Stats;
  try {
    st = fs.statSync(path.join(b.rootfs, link));
  } catch {
    return `cwd ${link} is not in the rootfs`;
  }
  return String(st.ino) === ino ? null : `cwd ${link} (inode ${ino}) is not the rootfs's ${link}`;
}

rootTest('CVE-2024-21626: process.cwd /proc/self/fd/N never puts the container program in a host directory (run and exec)', (t) => {
  const b = makeBundle((s) => (s.process!.args = CWD_PROBE));
  const runcEscapes: number[] = [];
  for (let n = 3; n <= 12; n++) {
    b.spec.process!.cwd = `/proc/self/fd/${n}`;
    b.write();
    const r = runtime(TSRUN, tempRoot(), ['run', '-b', b.dir, uniqueId('cwd')]);
    if (r.status === 0) t.is(cwdInside(b, r.stdout), null, `run, cwd fd ${n}`);
    else t.regex(r.stderr, /cwd/, `run, cwd fd ${n}: refused`);
    if (RUNC) {
      const theirs = runtime(RUNC, tempRoot(), ['run', '-b', b.dir, uniqueId('cwdrunc')]);
      if (theirs.status === 0 && cwdInside(b, theirs.stdout) !== null) runcEscapes.push(n);
    }
  }
  if (RUNC) t.log(`runc: the program's cwd was outside the rootfs with cwd /proc/self/fd/{${runcEscapes.join(',')}}`);
  // exec: the same through --cwd, into a running container
  b.spec.process!.cwd = '/';
  b.spec.process!.args = ['sleep', '60'];
  b.write();
  const root = tempRoot();
  const id = uniqueId('cwdexec');
  t.is(runtime(TSRUN, root, ['run', '-d', '-b', b.dir, id]).status, 0);
  try {
    for (let n = 3; n <= 20; n++) {
      const r = runtime(TSRUN, root, ['exec', '--cwd', `/proc/self/fd/${n}`, id, ...CWD_PROBE]);
      if (r.status === 0) t.is(cwdInside(b, r.stdout), null, `exec, cwd fd ${n}`);
      else t.regex(r.stderr, /cwd/, `exec, cwd fd ${n}: refused`);
    }
  } finally {
    runtime(TSRUN, root, ['delete', '--force', id]);
    b.cleanup();
  }
});

rootTest('CVE-2024-21626 by a race: a cwd swapped for a symlink to /proc/self/fd/N after it was checked stays in the rootfs', (t) => {
  // The createRuntime hook runs on the host after the init made the cwd and
  // before it enters it: it stands in for a container that shares a volume
  // on the cwd and wins the race every time.
  const b = makeBundle((s) => {
    s.process!.args = CWD_PROBE;
    s.process!.cwd = '/work';
  });
  const runc: string[] = [];
  const hook = path.join(b.dir, 'swap-cwd.sh');
  fs.writeFileSync(hook, `#!/bin/sh\nrm -rf ${b.rootfs}/work && ln -s /proc/self/fd/$N ${b.rootfs}/work\n`, { mode: 0o755 });
  for (let n = 3; n <= 10; n++) {
    b.spec.hooks = { createRuntime: [{ path: hook, env: [`N=${n}`] }] };
    b.write();
    fs.rmSync(path.join(b.rootfs, 'work'), { recursive: true, force: true });
    const r = runtime(TSRUN, tempRoot(), ['run', '-b', b.dir, uniqueId('cwdrace')]);
    if (r.status === 0) t.is(cwdInside(b, r.stdout), null, `cwd -> /proc/self/fd/${n}`);
    else
      t.regex(
        r.stderr,
        /chdir to cwd \("\/work"\) set in config.json failed: (ELOOP|ENOENT|ENOTDIR)/,
        `cwd -> /proc/self/fd/${n}: refused`,
      );
    if (RUNC) {
      fs.rmSync(path.join(b.rootfs, 'work'), { recursive: true, force: true });
      const theirs = runtime(RUNC, tempRoot(), ['run', '-b', b.dir, uniqueId('cwdracerunc')]);
      runc.push(`${n}: ${theirs.status === 0 ? (cwdInside(b, theirs.stdout) ?? 'inside') : 'refused'}`);
    }
  }
  if (RUNC) t.log(`runc: ${runc.join('; ')}`);
  b.cleanup();
});

// ---------------------------------------------------------------------------
// CVE-2021-30465: a bind mount's target swapped for a symlink to a host path

rootTest('CVE-2021-30465: a mount target raced to a symlink to a host directory is never mounted on the host path (150 runs)', (t) => {
  const host = canary();
  // The shared volume: d is a directory, l a symlink to the host directory;
  // the racer swaps them while A mounts a tmpfs on /vol/d/mnt. Had the tmpfs
  // landed on the host directory, the next mount (a bind of a directory
  // below it, the way the exploit reaches "/") would show it.
  const volume = tempDir('vol');
  fs.mkdirSync(path.join(volume, 'd'));
  fs.symlinkSync(host.dir, path.join(volume, 'l'));
  const stop = racer(t, volume, 'd', 'l');
  const a = makeBundle((s) => {
    s.process!.args = ['cat', '/data/canary'];
    s.mounts!.push(
      { destination: '/vol', type: 'bind', source: volume, options: ['rbind'] },
      { destination: '/vol/d/mnt', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] },
      { destination: '/data', type: 'bind', source: path.join(host.dir, 'sub'), options: ['rbind'] },
    );
  });
  const failures: string[] = [];
  let ok = 0;
  try {
    for (let i = 0; i < 150; i++) {
      const r = runtime(TSRUN, tempRoot(), ['run', '-b', a.dir, uniqueId('race30465')]);
      if (r.status === 0 && r.stdout === 'host canary\n') ok++;
      else if (r.status === 0) failures.push(`run ${i}: /data shows ${JSON.stringify(r.stdout)}`);
      // refusing to set up (a path that changed under us) is a defence too
    }
  } finally {
    stop();
  }
  t.deepEqual(failures, []);
  t.log(`${ok}/150 runs started; the rest were refused`);
  t.true(ok > 0, 'some runs got through the race');
  t.is(host.untouched(), null);
  host.cleanup();
  fs.rmSync(volume, { recursive: true, force: true });
  a.cleanup();
});

// ---------------------------------------------------------------------------
// CVE-2019-19921 and CVE-2023-27561: /proc through a racing volume

/** Every procfs mount of a process's namespace, and whether its sys is read-only and its timer_list masked. */
function procMounts(pid: number): { mountpoint: string; sysReadonly: boolean; timerListMasked: boolean }[] {
  const lines = fs
    .readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const [pre, post] = l.split(' - ');
      const f = pre!.split(' ');
      return { id: f[0]!, parent: f[1]!, root: f[3]!, mountpoint: f[4]!, options: f[5]!, fstype: post!.split(' ')[0]! };
    });
  return lines
    .filter((m) => m.fstype === 'proc' && m.root === '/') // a whole procfs, not a bind of part of one
    .map((p) => {
      const below = lines.filter((m) => m.parent === p.id);
      return {
        mountpoint: p.mountpoint,
        sysReadonly: below.some((m) => m.mountpoint.endsWith('/sys') && m.options.split(',').includes('ro')),
        timerListMasked: below.some((m) => m.mountpoint.endsWith('/timer_list')),
      };
    });
}

rootTest('CVE-2019-19921: an image whose /proc is a symlink into a racing volume is refused every time', (t) => {
  // The advisory's attack: /proc -> /evil/level1/level2, a volume on /evil,
  // the racer swapping level1 and level1~ so that procfs is mounted in one
  // and /proc/sys made read-only in the other.
  const volume = tempDir('evil');
  for (const d of ['level1', 'level1~']) fs.mkdirSync(path.join(volume, d, 'level2', 'sys'), { recursive: true });
  const stop = racer(t, volume, 'level1', 'level1~');
  const a = makeBundle((s) => s.mounts!.push({ destination: '/evil', type: 'bind', source: volume, options: ['rbind'] }));
  fs.rmSync(path.join(a.rootfs, 'proc'), { recursive: true });
  fs.symlinkSync('/evil/level1/level2', path.join(a.rootfs, 'proc'));
  const results: string[] = [];
  try {
    for (let i = 0; i < 30; i++) {
      const r = runtime(TSRUN, tempRoot(), ['run', '-b', a.dir, uniqueId('race19921')]);
      results.push(
        r.status === 0 ? 'started' : /filesystem "proc" must be mounted on ordinary directory/.test(r.stderr) ? 'refused' : r.stderr,
      );
    }
  } finally {
    stop();
  }
  t.deepEqual([...new Set(results)], ['refused']);
  if (RUNC) {
    const r = runtime(RUNC, tempRoot(), ['run', '-b', a.dir, uniqueId('race19921runc')]);
    t.log(`runc: ${r.status === 0 ? 'started' : r.stderr.trim().split('\n').pop()}`);
  }
  fs.rmSync(volume, { recursive: true, force: true });
  a.cleanup();
});

rootTest(
  'CVE-2019-19921 / CVE-2023-27561: with the rootfs itself a racing volume, procfs is never left without its read-only and masked paths (80 creates)',
  (t) => {
    // runc's fix for CVE-2019-19921 checks that /proc is a directory and
    // then mounts on the path; its authors note that a container controlling
    // "/" as a volume gets past it, and CVE-2023-27561 was the check going
    // missing. Here the racer shares A's rootfs and swaps /proc (a
    // directory) with /proc~ (a symlink to a decoy /fake), so that a runtime
    // resolving "/proc" twice mounts procfs on one and protects the other.
    const a = makeBundle();
    fs.mkdirSync(path.join(a.rootfs, 'fake', 'sys'), { recursive: true });
    fs.writeFileSync(path.join(a.rootfs, 'fake', 'timer_list'), '');
    fs.symlinkSync('/fake', path.join(a.rootfs, 'proc~'));
    const stop = racer(t, a.rootfs, 'proc', 'proc~');
    const bad: string[] = [];
    let created = 0;
    try {
      for (let i = 0; i < 80; i++) {
        const root = tempRoot();
        const id = uniqueId('race27561');
        const c = runtime(TSRUN, root, ['create', '-b', a.dir, id]);
        if (c.status === 0) {
          created++;
          for (const m of procMounts(initPid(root, id)))
            if (!m.sysReadonly || !m.timerListMasked) bad.push(`create ${i}: procfs at ${m.mountpoint}: ${JSON.stringify(m)}`);
        }
        runtime(TSRUN, root, ['delete', '--force', id]);
      }
    } finally {
      stop();
    }
    t.log(`${created}/80 creates got through the race; the rest were refused`);
    t.deepEqual(bad, [], 'every procfs of the container has /sys read-only and timer_list masked');
    if (RUNC) {
      const restart = racer(t, a.rootfs, 'proc', 'proc~');
      let theirs = 0;
      const exposed: string[] = [];
      const reasons = new Set<string>();
      try {
        for (let i = 0; i < 40; i++) {
          const root = tempRoot();
          const id = uniqueId('race27561runc');
          const c = runtime(RUNC, root, ['create', '-b', a.dir, id]);
          if (c.status !== 0) reasons.add(c.stderr.replace(/^time="[^"]*" /, '').trim());
          if (c.status === 0) {
            theirs++;
            const pid = (JSON.parse(runtime(RUNC, root, ['state', id]).stdout || '{}').pid as number) ?? 0;
            if (pid > 0 && fs.existsSync(`/proc/${pid}/mountinfo`))
              for (const m of procMounts(pid)) if (!m.sysReadonly || !m.timerListMasked) exposed.push(JSON.stringify(m));
          }
          runtime(RUNC, root, ['delete', '--force', id]);
        }
      } finally {
        restart();
      }
      t.log(
        `runc: ${theirs}/40 creates got through; procfs mounts left unprotected: ${exposed.length} ${exposed.slice(0, 2).join('; ')}; refused: ${[...reasons].slice(0, 3).join(' | ')}`,
      );
    }
    a.cleanup();
  },
);

// ---------------------------------------------------------------------------
// CVE-2019-16884: a fake procfs over /proc

rootTest(
  'CVE-2019-16884: a fake /proc (a volume over it, or a tmpfs in the image) neither receives writes nor hides the real procfs',
  (t) => {
    // The advisory's attack made the LSM label write land in a file of a
    // volume mounted on /proc. A volume over /proc is refused before anything
    // exists now (only a procfs may go there: runc's checkProcMount), whatever
    // the config asks for besides. tsrun writes nothing below the container's
    // /proc anyway: its sysctls go through the host's /proc/sys into the
    // container's own namespaces before any container mount exists, so the
    // image's own fake /proc (a tmpfs already on <rootfs>/proc) gets nothing
    // either, and the real procfs goes on top of it.
    const fake = tempDir('fakeproc');
    fs.mkdirSync(path.join(fake, 'self', 'attr'), { recursive: true });
    fs.mkdirSync(path.join(fake, 'sys', 'net', 'ipv4'), { recursive: true });
    fs.writeFileSync(path.join(fake, 'self', 'attr', 'exec'), 'fake\n');
    fs.writeFileSync(path.join(fake, 'sys', 'net', 'ipv4', 'ip_unprivileged_port_start'), 'fake\n');
    const snapshot = () =>
      ['self/attr/exec', 'sys/net/ipv4/ip_unprivileged_port_start'].map((f) => fs.readFileSync(path.join(fake, f), 'utf8'));
    const hostValue = fs.readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8');
    for (const mutate of [
      (s: Spec) => (s.process!.apparmorProfile = 'unconfined'),
      (s: Spec) => (s.linux!.sysctl = { 'net.ipv4.ip_unprivileged_port_start': '777' }),
    ]) {
      const b = makeBundle((s) => {
        mutate(s);
        s.mounts!.push({ destination: '/proc', type: 'bind', source: fake, options: ['rbind'] });
      });
      const root = tempRoot();
      const refused = runtime(TSRUN, root, ['run', '-b', b.dir, uniqueId('fakeproc')]);
      t.is(refused.status, 1);
      t.regex(refused.stderr, /mounts\[\d+\]\.destination: "\/proc" cannot be mounted because it is not of type proc/);
      t.deepEqual(leftIn(root), [], 'refused before anything exists');
      b.cleanup();
    }
    t.deepEqual(snapshot(), ['fake\n', 'fake\n'], 'nothing was written into the volume');
    // the image's fake /proc: a tmpfs with fake files already on <rootfs>/proc
    const b = makeBundle((s) => {
      s.process!.args = ['sleep', '30'];
      s.linux!.sysctl = { 'net.ipv4.ip_unprivileged_port_start': '777' };
    });
    const tmpfsProc = path.join(b.rootfs, 'proc');
    t.is(spawnSync('mount', ['-t', 'tmpfs', 'tmpfs', tmpfsProc]).status, 0);
    try {
      fs.cpSync(fake, tmpfsProc, { recursive: true });
      const root = tempRoot();
      const id = uniqueId('fakeproc');
      t.is(runtime(TSRUN, root, ['create', '-b', b.dir, id]).status, 0);
      const nsenter = (...args: string[]) => spawnSync('nsenter', ['-t', String(initPid(root, id)), ...args], { encoding: 'utf8' }).stdout;
      const inside = nsenter('-n', 'cat', '/proc/sys/net/ipv4/ip_unprivileged_port_start');
      const procType = nsenter('-m', '-r', 'stat', '-f', '-c', '%T', '/proc');
      runtime(TSRUN, root, ['delete', '--force', id]);
      t.is(inside, '777\n', "the sysctl is in the container's network namespace");
      t.is(procType, 'proc\n', 'the container sees the real procfs');
      t.is(fs.readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8'), hostValue, "the host's value is unchanged");
      t.deepEqual(
        ['self/attr/exec', 'sys/net/ipv4/ip_unprivileged_port_start'].map((f) => fs.readFileSync(path.join(tmpfsProc, f), 'utf8')),
        ['fake\n', 'fake\n'],
        "nothing was written into the image's fake /proc",
      );
    } finally {
      spawnSync('umount', [tmpfsProc]);
    }
    fs.rmSync(fake, { recursive: true, force: true });
    b.cleanup();
  },
);

// ---------------------------------------------------------------------------
// CVE-2025-31133: maskedPaths and a /dev/null that is not the null device

rootTest('CVE-2025-31133: a /dev/null raced to a symlink to core_pattern never gets bound over a masked path (60 runs)', (t) => {
  // /dev is a volume shared with the racer, which swaps the null device the
  // runtime makes there with a symlink to /proc/sys/kernel/core_pattern: a
  // runtime binding "/dev/null" by path over /proc/timer_list would give the
  // container a writable core_pattern (the advisory's escape).
  const reasons = new Set<string>();
  const hostCorePattern = fs.readFileSync('/proc/sys/kernel/core_pattern', 'utf8');
  const dev = tempDir('dev');
  const evil = path.join(dev, 'evil');
  const a = makeBundle((s) => {
    s.process!.args = ['stat', '-c', '%n %F %t:%T', '/proc/timer_list', '/proc/keys'];
    s.mounts = s.mounts!.map((m) =>
      m.destination === '/dev' ? { destination: '/dev', type: 'bind', source: dev, options: ['rbind'] } : m,
    );
  });
  fs.symlinkSync('/proc/sys/kernel/core_pattern', evil);
  // a /dev bound from outside gets no devices made in it (as runc): the volume has its own null device
  t.is(spawnSync('mknod', ['-m', '666', path.join(dev, 'null'), 'c', '1', '3']).status, 0);
  const stop = racer(t, dev, 'null', 'evil');
  const bad: string[] = [];
  let ok = 0;
  try {
    for (let i = 0; i < 60; i++) {
      const r = runtime(TSRUN, tempRoot(), ['run', '-b', a.dir, uniqueId('race31133')]);
      if (r.status !== 0) {
        reasons.add(r.stderr.trim());
        continue;
      }
      ok++;
      for (const line of r.stdout.trim().split('\n')) if (!/ character special file 1:3$/.test(line)) bad.push(`run ${i}: ${line}`);
    }
  } finally {
    stop();
  }
  t.log(`${ok}/60 runs got through the race; the rest were refused: ${[...reasons].join(' | ')}`);
  t.deepEqual(bad, [], 'every masked file is the null device');
  if (RUNC) {
    const restart = racer(t, dev, 'null', 'evil');
    const theirs: string[] = [];
    let ran = 0;
    try {
      for (let i = 0; i < 30; i++) {
        const r = runtime(RUNC, tempRoot(), ['run', '-b', a.dir, uniqueId('race31133runc')]);
        if (r.status !== 0) continue;
        ran++;
        for (const line of r.stdout.trim().split('\n')) if (!/ character special file 1:3$/.test(line)) theirs.push(line);
      }
    } finally {
      restart();
    }
    t.log(
      `runc: ${ran}/30 runs got through; masked files that were not the null device: ${theirs.length} ${[...new Set(theirs)].join('; ')}`,
    );
  }
  t.is(fs.readFileSync('/proc/sys/kernel/core_pattern', 'utf8'), hostCorePattern);
  fs.rmSync(dev, { recursive: true, force: true });
  a.cleanup();
});

function isLink(p: string): boolean {
  try {
    return fs.lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

rootTest('CVE-2025-31133: an image whose /dev/null is a symlink or a regular file cannot choose what masks a path', (t) => {
  const results: Record<string, string> = {};
  for (const [kind, make] of [
    ['symlink to core_pattern', (p: string) => fs.symlinkSync('/proc/sys/kernel/core_pattern', p)],
    ['regular file', (p: string) => fs.writeFileSync(p, 'not null\n')],
  ] as const) {
    const b = makeBundle((s) => {
      s.root!.readonly = false;
      s.process!.args = ['stat', '-c', '%F %t:%T', '/proc/timer_list'];
      // the image's own /dev, no tmpfs over it
      s.mounts = s.mounts!.filter((m) => m.destination !== '/dev');
    });
    make(path.join(b.rootfs, 'dev', 'null'));
    const r = runtime(TSRUN, tempRoot(), ['run', '-b', b.dir, uniqueId('null')]);
    t.is(r.status, 0, r.stderr);
    t.is(r.stdout, 'character special file 1:3\n', `${kind}: /proc/timer_list is masked by the null device the runtime made`);
    if (RUNC) {
      const theirs = runtime(RUNC, tempRoot(), ['run', '-b', b.dir, uniqueId('nullrunc')]);
      results[kind] = theirs.status === 0 ? theirs.stdout.trim() : theirs.stderr.trim().split('\n').pop()!;
    }
    b.cleanup();
  }
  if (RUNC) t.log(`runc: ${JSON.stringify(results)}`);
});

// ---------------------------------------------------------------------------
// CVE-2025-52565: the /dev/console bind

rootTest('CVE-2025-52565: a /dev/console raced to a symlink to core_pattern never gets the pty bound over it (30 runs)', (t) => {
  // runc bound /dev/pts/$n onto /dev/console by path, before the masks: a
  // racing container on a shared /dev could make either path a symlink and
  // get a writable /proc/sysrq-trigger or core_pattern (this kernel has no
  // sysrq-trigger: core_pattern is the target here). tsrun binds the pty
  // it holds as an fd (TIOCGPTPEER), and /dev/console is opened without
  // following a symlink and checked to be a file.
  const dev = tempDir('devcon');
  t.is(spawnSync('mknod', ['-m', '666', path.join(dev, 'null'), 'c', '1', '3']).status, 0);
  fs.symlinkSync('pts/ptmx', path.join(dev, 'ptmx'));
  fs.writeFileSync(path.join(dev, 'console'), '');
  fs.symlinkSync('/proc/sys/kernel/core_pattern', path.join(dev, 'evil'));
  const a = makeBundle((s) => {
    s.process!.terminal = true;
    s.process!.args = ['stat', '-c', '%n: %F', '/proc/sys/kernel/core_pattern', '/dev/console'];
    s.mounts = s.mounts!.map((m) =>
      m.destination === '/dev' ? { destination: '/dev', type: 'bind', source: dev, options: ['rbind'] } : m,
    );
  });
  const stop = racer(t, dev, 'console', 'evil');
  const bad: string[] = [];
  let ok = 0;
  try {
    for (let i = 0; i < 30; i++) {
      const r = spawnSync('script', ['-qec', `${TSRUN} --root ${tempRoot()} run -b ${a.dir} ${uniqueId('race52565')}`, '/dev/null'], {
        encoding: 'utf8',
        timeout: 30_000,
      });
      if (r.status !== 0) continue;
      ok++;
      if (!/\/proc\/sys\/kernel\/core_pattern: regular empty file/.test(r.stdout)) bad.push(`run ${i}: ${r.stdout.trim()}`);
    }
  } finally {
    stop();
  }
  t.log(`${ok}/30 runs got through the race; the rest were refused`);
  t.true(ok > 0, 'some runs got through the race');
  t.deepEqual(bad, [], 'core_pattern is never the pty');
  if (RUNC) {
    const restart = racer(t, dev, 'console', 'evil');
    let ran = 0;
    let covered = 0;
    try {
      for (let i = 0; i < 20; i++) {
        const r = spawnSync('script', ['-qec', `${RUNC} --root ${tempRoot()} run -b ${a.dir} ${uniqueId('race52565runc')}`, '/dev/null'], {
          encoding: 'utf8',
          timeout: 30_000,
        });
        if (r.status !== 0) continue;
        ran++;
        if (!/\/proc\/sys\/kernel\/core_pattern: regular empty file/.test(r.stdout)) covered++;
      }
    } finally {
      restart();
    }
    t.log(`runc: ${ran}/20 runs got through; core_pattern was something else (the pty) in ${covered}`);
  }
  fs.rmSync(dev, { recursive: true, force: true });
  a.cleanup();
});

// ---------------------------------------------------------------------------
// CVE-2025-52881: runtime writes to /proc redirected

rootTest('CVE-2025-52881: sysctl writes cannot be redirected by the image or a volume, and non-namespaced ones are refused', (t) => {
  // The advisory: a racing volume makes the runtime's write to a /proc file
  // land in another procfs file (/proc/sys/kernel/core_pattern,
  // /proc/sysrq-trigger). A volume below /proc is refused before anything
  // exists now (runc's checkProcMount). The image's own /proc tree, under the
  // procfs, may still hold such a symlink: tsrun's writes to /proc happen
  // before any container mount exists, through the host's /proc/sys resolved
  // with RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV, and it writes no LSM attr files.
  const hostCorePattern = fs.readFileSync('/proc/sys/kernel/core_pattern', 'utf8');
  const volume = tempDir('procsys');
  fs.mkdirSync(path.join(volume, 'net', 'ipv4'), { recursive: true });
  fs.symlinkSync('/proc/sys/kernel/core_pattern', path.join(volume, 'net', 'ipv4', 'ip_unprivileged_port_start'));
  const b = makeBundle((s) => {
    s.process!.args = ['sleep', '30'];
    s.linux!.sysctl = { 'net.ipv4.ip_unprivileged_port_start': '777' };
    // a volume over /proc/sys whose entry is a symlink to core_pattern
    s.mounts!.push({ destination: '/proc/sys', type: 'bind', source: volume, options: ['rbind'] });
  });
  const refused = runtime(TSRUN, tempRoot(), ['create', '-b', b.dir, uniqueId('sysctl')]);
  t.is(refused.status, 1);
  t.regex(refused.stderr, /mounts\[\d+\]\.destination: "\/proc\/sys" cannot be mounted because it is inside \/proc/);
  // the same symlink in the image's /proc, under the procfs
  b.spec.mounts = b.spec.mounts!.filter((m) => m.source !== volume);
  b.write();
  fs.cpSync(volume, path.join(b.rootfs, 'proc', 'sys'), { recursive: true, verbatimSymlinks: true });
  const root = tempRoot();
  const id = uniqueId('sysctl');
  const c = runtime(TSRUN, root, ['create', '-b', b.dir, id]);
  t.is(c.status, 0, c.stderr);
  const inside = spawnSync('nsenter', ['-t', String(initPid(root, id)), '-n', 'cat', '/proc/sys/net/ipv4/ip_unprivileged_port_start'], {
    encoding: 'utf8',
  });
  runtime(TSRUN, root, ['delete', '--force', id]);
  t.is(inside.stdout, '777\n');
  t.is(fs.readFileSync('/proc/sys/kernel/core_pattern', 'utf8'), hostCorePattern, 'core_pattern is unchanged');
  t.true(isLink(path.join(b.rootfs, 'proc', 'sys', 'net', 'ipv4', 'ip_unprivileged_port_start')), "the image's symlink is unchanged");
  // a sysctl that is not namespaced is the host's: refused before anything exists
  for (const key of ['kernel.core_pattern', 'kernel.sysrq']) {
    b.spec.linux!.sysctl = { [key]: '|/bin/evil' };
    b.write();
    const r = runtime(TSRUN, tempRoot(), ['run', '-b', b.dir, uniqueId('sysctl')]);
    t.is(r.status, 1);
    t.regex(r.stderr, /is not in a separate kernel namespace/);
  }
  t.is(fs.readFileSync('/proc/sys/kernel/core_pattern', 'utf8'), hostCorePattern);
  fs.rmSync(volume, { recursive: true, force: true });
  b.cleanup();
});

// ---------------------------------------------------------------------------
// CVE-2026-41579: /dev a symlink to a host directory

rootTest('CVE-2026-41579: an image whose /dev is a symlink to a host directory gets its devices inside the rootfs', (t) => {
  // The advisory: runc set up /dev/ptmx and the /dev/fd links by path before
  // pivot_root, so /dev -> <host dir> deleted the host's <dir>/ptmx and made
  // links there.
  const host = tempDir('hostdev');
  fs.writeFileSync(path.join(host, 'ptmx'), 'decoy\n');
  const b = makeBundle((s) => {
    s.root!.readonly = false;
    s.process!.args = ['sh', '-c', 'stat -c %F /dev/null; readlink /dev/ptmx'];
    s.mounts = s.mounts!.filter((m) => m.destination !== '/dev');
  });
  fs.rmSync(path.join(b.rootfs, 'dev'), { recursive: true });
  fs.symlinkSync(host, path.join(b.rootfs, 'dev'));
  const r = runtime(TSRUN, tempRoot(), ['run', '-b', b.dir, uniqueId('devlink')]);
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout, 'character special file\npts/ptmx\n', 'the devices are where the link resolves inside the rootfs');
  t.deepEqual(fs.readdirSync(host), ['ptmx'], 'nothing was created in the host directory');
  t.is(fs.readFileSync(path.join(host, 'ptmx'), 'utf8'), 'decoy\n', "the host's ptmx is the decoy still");
  t.false(fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(host));
  if (RUNC) {
    // the same image for runc, pointed at a directory of its own
    const theirs = tempDir('hostdevrunc');
    fs.writeFileSync(path.join(theirs, 'ptmx'), 'decoy\n');
    fs.rmSync(path.join(b.rootfs, 'dev'));
    fs.symlinkSync(theirs, path.join(b.rootfs, 'dev'));
    const r = runtime(RUNC, tempRoot(), ['run', '-b', b.dir, uniqueId('devlinkrunc')]);
    const ptmx = isLink(path.join(theirs, 'ptmx')) ? `a symlink to ${fs.readlinkSync(path.join(theirs, 'ptmx'))}` : 'the decoy';
    t.log(`runc: exit ${r.status}; the host directory holds ${fs.readdirSync(theirs).sort().join(',')}; its ptmx is ${ptmx}`);
    fs.rmSync(theirs, { recursive: true, force: true });
  }
  fs.rmSync(host, { recursive: true, force: true });
  b.cleanup();
});
