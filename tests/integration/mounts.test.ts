/**
 * mounts, options, propagation, recursive attributes,
 * rootfs propagation, root.readonly, --no-pivot, masked and readonly paths;
 * each read from /proc/self/mountinfo inside the container and compared
 * with runc on the same bundle.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { Mount } from '../../lib/config/types.js';
import { IS_ROOT, RUNC, TSRUN, leftIn, makeBundle, runtime, tempRoot, uniqueId, type Bundle, type RunResult } from '../helpers/bundle.js';
import { runBoth } from '../helpers/both.js';

const rootTest = IS_ROOT ? test : test.skip;

interface Mnt {
  point: string;
  opts: string[];
  optional: string[];
  fstype: string;
  superOpts: string[];
}

function mountinfo(text: string): Mnt[] {
  return text
    .split('\n')
    .filter((l) => / - /.test(l))
    .map((line) => {
      const [left, right] = line.split(' - ') as [string, string];
      const f = left.split(' ');
      const r = right.split(' ');
      return { point: f[4]!, opts: f[5]!.split(','), optional: f.slice(6), fstype: r[0]!, superOpts: (r[2] ?? '').split(',') };
    });
}

/** The top mount at `p` (the last one listed). */
function at(mounts: Mnt[], p: string): Mnt | undefined {
  return mounts.filter((m) => m.point === p).at(-1);
}

/** What can be compared between runtimes: mount point, type, per-mount options, propagation kinds. */
function shape(mounts: Mnt[], under: string): string[] {
  return mounts
    .filter((m) => m.point === under || m.point.startsWith(`${under}/`))
    .map(
      (m) =>
        `${m.point} ${m.fstype} ${m.opts.join(',')} ${m.optional
          .map((o) => o.replace(/:\d+$/, ''))
          .sort()
          .join(',')}`,
    );
}

/** A host dir with a tmpfs submount at sub/, unmounted at exit. */
function treeWithSubmount(): string {
  const src = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-tree-'));
  fs.mkdirSync(path.join(src, 'sub'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tsrun-sub', path.join(src, 'sub')]);
  process.on('exit', () => {
    try {
      execFileSync('umount', ['-l', path.join(src, 'sub')]);
      fs.rmSync(src, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  });
  return src;
}

rootTest('mount options on tmpfs: ro, nosuid, nodev, noexec and the atime family, as runc', (t) => {
  const cases: [string, string[], string][] = [
    ['/m/a', ['ro', 'nosuid', 'nodev', 'noexec'], 'ro'],
    ['/m/b', ['noatime'], 'noatime'],
    ['/m/c', ['strictatime'], 'rw'],
    ['/m/d', ['nodiratime', 'relatime'], 'nodiratime'],
    ['/m/e', ['sync', 'dirsync', 'lazytime'], 'rw'],
  ];
  const r = runBoth('cat /proc/self/mountinfo', (s) => {
    for (const [dest, options] of cases) s.mounts!.push({ destination: dest, type: 'tmpfs', source: 'tmpfs', options });
  });
  t.is(r.tsrun.status, 0, r.tsrun.stderr);
  const ours = mountinfo(r.tsrun.stdout);
  for (const [dest, options, first] of cases) {
    const m = at(ours, dest);
    t.truthy(m, dest);
    t.true(m!.opts.includes(first), `${dest}: ${m!.opts}`);
    for (const o of options.filter((x) => ['nosuid', 'nodev', 'noexec', 'noatime', 'nodiratime'].includes(x)))
      t.true(m!.opts.includes(o), `${dest} has ${o}`);
  }
  t.false(at(ours, '/m/c')!.opts.includes('relatime'), 'strictatime clears relatime');
  if (r.runc) t.deepEqual(shape(ours, '/m'), shape(mountinfo(r.runc.stdout), '/m'));
});

rootTest('bind and rbind with ro: submounts come only with rbind, and plain ro reaches only the top', (t) => {
  const src = treeWithSubmount();
  const r = runBoth(
    'cat /proc/self/mountinfo; touch /rb/sub/x 2>/dev/null && echo sub-writable; touch /rb/x 2>/dev/null || echo top-ro',
    (s) => {
      s.mounts!.push({ destination: '/b', type: 'bind', source: src, options: ['bind'] });
      s.mounts!.push({ destination: '/rb', type: 'bind', source: src, options: ['rbind', 'ro'] });
    },
  );
  t.is(r.tsrun.status, 0, r.tsrun.stderr);
  const ours = mountinfo(r.tsrun.stdout);
  t.falsy(at(ours, '/b/sub'), 'bind does not carry the submount');
  t.truthy(at(ours, '/rb/sub'), 'rbind does');
  t.regex(r.tsrun.stdout, /sub-writable\ntop-ro\n/, 'ro without rro leaves submounts writable, as runc');
  if (r.runc) {
    t.deepEqual(shape(ours, '/b'), shape(mountinfo(r.runc.stdout), '/b'));
    t.deepEqual(shape(ours, '/rb'), shape(mountinfo(r.runc.stdout), '/rb'));
    t.regex(r.runc.stdout, /sub-writable\ntop-ro\n/);
  }
});

rootTest('recursive attributes (rro, rnosuid, rnoexec, rnoatime) reach every submount, as runc', (t) => {
  const src = treeWithSubmount();
  const r = runBoth('cat /proc/self/mountinfo; touch /t/sub/x 2>&1 | grep -o "Read-only file system"', (s) => {
    s.mounts!.push({ destination: '/t', type: 'bind', source: src, options: ['rbind', 'rro', 'rnosuid', 'rnoexec', 'rnoatime'] });
  });
  t.is(r.tsrun.status, 0, r.tsrun.stderr);
  const ours = mountinfo(r.tsrun.stdout);
  for (const p of ['/t', '/t/sub']) {
    const m = at(ours, p)!;
    for (const o of ['ro', 'nosuid', 'noexec', 'noatime']) t.true(m.opts.includes(o), `${p} has ${o}: ${m.opts}`);
  }
  t.regex(r.tsrun.stdout, /Read-only file system/);
  if (r.runc) t.deepEqual(shape(ours, '/t'), shape(mountinfo(r.runc.stdout), '/t'));
});

rootTest('per-mount propagation: shared, slave, private, unbindable, as runc', (t) => {
  const srcs = ['sh', 'sl', 'pr', 'ub'].map((n) => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), `tsrun-prop-${n}-`));
    return d;
  });
  const r = runBoth('cat /proc/self/mountinfo', (s) => {
    const opts = [
      ['rbind', 'rshared'],
      ['rbind', 'rslave'],
      ['rbind', 'rprivate'],
      ['rbind', 'runbindable'],
    ];
    srcs.forEach((src, i) => s.mounts!.push({ destination: `/p/${i}`, type: 'bind', source: src, options: opts[i]! }));
  });
  t.is(r.tsrun.status, 0, r.tsrun.stderr);
  const ours = mountinfo(r.tsrun.stdout);
  t.true(
    at(ours, '/p/0')!.optional.some((o) => o.startsWith('shared:')),
    'rshared',
  );
  t.false(
    at(ours, '/p/1')!.optional.some((o) => o.startsWith('shared:')),
    'rslave is not shared',
  );
  t.deepEqual(at(ours, '/p/2')!.optional, [], 'rprivate');
  t.true(at(ours, '/p/3')!.optional.includes('unbindable'), 'runbindable');
  if (r.runc) t.deepEqual(shape(ours, '/p'), shape(mountinfo(r.runc.stdout), '/p'));
  for (const d of srcs) fs.rmSync(d, { recursive: true, force: true });
});

rootTest('rootfsPropagation: every value shows on the container\'s "/" (runc fails shared and unbindable)', (t) => {
  const expect: Record<string, (m: Mnt) => boolean> = {
    shared: (m) => m.optional.some((o) => o.startsWith('shared:')),
    rshared: (m) => m.optional.some((o) => o.startsWith('shared:')),
    private: (m) => m.optional.length === 0,
    rprivate: (m) => m.optional.length === 0,
    slave: (m) => !m.optional.some((o) => o.startsWith('shared:')),
    unbindable: (m) => m.optional.includes('unbindable'),
    runbindable: (m) => m.optional.includes('unbindable'),
  };
  for (const [value, ok] of Object.entries(expect)) {
    let bundle = '';
    const r = runBoth(
      'cat /proc/self/mountinfo',
      (s, b) => {
        s.linux!.rootfsPropagation = value;
        bundle = b.dir;
      },
      { runc: false },
    );
    t.false(fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(bundle), `${value}: no mount of the container propagated to the host`);
    t.is(r.tsrun.status, 0, `${value}: ${r.tsrun.stderr}`);
    const root = at(mountinfo(r.tsrun.stdout), '/')!;
    t.true(ok(root), `${value}: "/" has [${root.optional.join(' ')}]`);
  }
});

rootTest('root.readonly and --no-pivot, as runc', (t) => {
  for (const extra of [[], ['--no-pivot']]) {
    const script = `touch /x 2>&1 | grep -o "Read-only file system"; busybox awk '$5 == "/" { print $6 }' /proc/self/mountinfo`;
    const run = (bin: string) => {
      const b = makeBundle((s) => {
        s.process!.args = ['sh', '-c', script];
        s.root!.readonly = true;
      });
      const r = runtime(bin, tempRoot(), ['run', ...extra, '-b', b.dir, uniqueId('ro')]);
      b.cleanup();
      return r;
    };
    const ours = run(TSRUN);
    t.is(ours.status, 0, ours.stderr);
    t.regex(ours.stdout, /^Read-only file system\nro[,\n]/, `${extra}: ${ours.stdout}`);
    if (RUNC) t.is(ours.stdout, run(RUNC).stdout, `${extra} as runc`);
  }
});

rootTest('default filesystems: proc, sysfs, devpts, tmpfs /dev and /dev/shm, mqueue, cgroup, as runc', (t) => {
  const r = runBoth('cat /proc/self/mountinfo', (s) => {
    s.mounts!.push({
      destination: '/sys/fs/cgroup',
      type: 'cgroup',
      source: 'cgroup',
      options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'],
    });
  });
  t.is(r.tsrun.status, 0, r.tsrun.stderr);
  const ours = mountinfo(r.tsrun.stdout);
  const types = (ms: Mnt[]) => ['/proc', '/sys', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue'].map((p) => `${p} ${at(ms, p)?.fstype}`);
  t.deepEqual(types(ours), ['/proc proc', '/sys sysfs', '/dev tmpfs', '/dev/pts devpts', '/dev/shm tmpfs', '/dev/mqueue mqueue']);
  t.true(ours.some((m) => m.point.startsWith('/sys/fs/cgroup') && ['cgroup', 'cgroup2'].includes(m.fstype)));
  if (r.runc) {
    const theirs = mountinfo(r.runc.stdout);
    t.deepEqual(types(ours), types(theirs));
    const cg = (ms: Mnt[]) =>
      ms
        .filter((m) => m.point.startsWith('/sys/fs/cgroup'))
        .map((m) => `${m.point} ${m.fstype}`)
        .sort();
    t.deepEqual(cg(ours), cg(theirs), 'the same cgroup tree as runc');
  }
});

rootTest('maskedPaths and readonlyPaths, as runc', (t) => {
  const script = `stat -c "%n %F %t:%T" /proc/timer_list; ls -A /proc/acpi 2>&1 | wc -l; touch /proc/acpi/x 2>&1 | grep -o "Read-only"; sh -c "echo 1 > /proc/sys/kernel/ns_last_pid" 2>&1 | grep -o "Read-only"; grep -E " /proc/(acpi|sys|timer_list) " /proc/self/mountinfo | cut -d" " -f5,6`;
  const r = runBoth(script, (s) => {
    s.linux!.maskedPaths = ['/proc/timer_list', '/proc/acpi', '/proc/does-not-exist'];
    s.linux!.readonlyPaths = ['/proc/sys', '/proc/nope'];
  });
  t.is(r.tsrun.status, 0, r.tsrun.stderr);
  t.regex(r.tsrun.stdout, /^\/proc\/timer_list character special file 1:3\n0\nRead-only\nRead-only\n/);
  if (r.runc) t.is(r.tsrun.stdout, r.runc.stdout);
});

rootTest('masking refuses a /dev/null that is not the null device', (t) => {
  const b = makeBundle((s) => {
    s.linux!.maskedPaths = ['/proc/timer_list'];
    // the config replaces /dev/null with the zero device
    s.linux!.devices = [{ type: 'c', path: '/dev/null', major: 1, minor: 5, fileMode: 0o666, uid: 0, gid: 0 }];
  });
  const root = tempRoot();
  const r = runtime(TSRUN, root, ['run', '-b', b.dir, uniqueId('null')]);
  t.is(r.status, 1);
  t.regex(r.stderr, /\/dev\/null is not the null device; refusing to mask \/proc\/timer_list/);
  t.deepEqual(leftIn(root), []);
  b.cleanup();
});

rootTest('masked and readonly paths that are symlinks mask what they name inside the rootfs, as runc', (t) => {
  const r = runBoth(
    'stat -c "%n %F" /masked /secret /etc/secretfile; ls /target-dir; cat /etc/secretfile; touch /ro-target/x 2>&1 | grep -o "Read-only"',
    (s, b) => {
      fs.mkdirSync(path.join(b.rootfs, 'target-dir'));
      fs.writeFileSync(path.join(b.rootfs, 'target-dir', 'f'), 'inner\n');
      fs.writeFileSync(path.join(b.rootfs, 'etc', 'secretfile'), 'secret\n');
      fs.mkdirSync(path.join(b.rootfs, 'ro-target'), { mode: 0o777 });
      fs.symlinkSync('/target-dir', path.join(b.rootfs, 'masked'));
      fs.symlinkSync('../etc/secretfile', path.join(b.rootfs, 'secret'));
      fs.symlinkSync('/ro-target', path.join(b.rootfs, 'ro-link'));
      s.root!.readonly = false;
      s.linux!.maskedPaths = ['/masked', '/secret'];
      s.linux!.readonlyPaths = ['/ro-link'];
    },
  );
  t.is(r.tsrun.status, 0, r.tsrun.stderr);
  t.is(r.tsrun.stdout, '/masked symbolic link\n/secret symbolic link\n/etc/secretfile character special file\nRead-only\n');
  if (r.runc) t.is(r.tsrun.stdout, r.runc.stdout);
});

rootTest('masked directories share one read-only tmpfs of one block and one inode, each path once, as runc 1.5', (t) => {
  // runc 1.3.6/1.4.3/1.5 and crun mount the first masked directory and bind it on the others (runc 1.1.5,
  // installed here, still mounts one tmpfs per directory and a repeated path twice: logged, not compared)
  const script = 'ls -A /m1 /m2 /m3 | grep -c secret; touch /m2/x 2>&1 | grep -o "Read-only"; grep -E " /m[123] " /proc/self/mountinfo';
  const r = runBoth(script, (s, b) => {
    for (const d of ['m1', 'm2', 'm3']) {
      fs.mkdirSync(path.join(b.rootfs, d));
      fs.writeFileSync(path.join(b.rootfs, d, 'secret'), 'secret\n');
    }
    s.linux!.maskedPaths = ['/m1', '/m2', '/m3', '/m1', '/m2/'];
  });
  t.is(r.tsrun.status, 0, r.tsrun.stderr);
  const [count, ro, ...lines] = r.tsrun.stdout.trim().split('\n');
  t.is(count, '0', 'no masked directory lists its file');
  t.is(ro, 'Read-only');
  t.deepEqual(
    lines.map((l) => l.split(' ')[4]),
    ['/m1', '/m2', '/m3'],
    'one mount per path, a repeated path skipped',
  );
  const sb = (l: string) => l.split(' ')[2];
  t.true(
    lines.every((l) => sb(l) === sb(lines[0]!)),
    `one superblock: ${lines.map(sb).join(' ')}`,
  );
  for (const l of lines) {
    const [mine, theirs] = l.split(' - ') as [string, string];
    t.true(mine.split(' ')[5]!.split(',').includes('ro'), l);
    t.regex(theirs, /^tmpfs \S+ ro,.*nr_inodes=1/, l);
  }
  if (r.runc) t.log(`runc: ${r.runc.stdout}`);
});

rootTest('below /proc only lxcfs-style files may be mounted: the rest is refused naming the field before anything exists, as runc', (t) => {
  const fake = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-fakeproc-'));
  t.teardown(() => fs.rmSync(fake, { recursive: true, force: true }));
  fs.writeFileSync(path.join(fake, 'file'), 'fake\n');
  const attempt = (bin: string, m: Mount, mutate?: (b: Bundle) => void): RunResult => {
    const b = makeBundle((s) => {
      s.process!.args = ['sh', '-c', 'head -1 /proc/cpuinfo'];
      s.mounts!.push(m);
    });
    t.teardown(() => b.cleanup());
    mutate?.(b);
    const root = tempRoot();
    const r = runtime(bin, root, ['run', '-b', b.dir, uniqueId('procmnt')]);
    if (bin === TSRUN) t.deepEqual(leftIn(root), [], `${m.destination}: nothing left under --root`);
    return r;
  };
  const file = path.join(fake, 'file');
  // config-driven: validation refuses, with runc's words
  for (const [m, words] of [
    [{ destination: '/proc/self/attr/exec', type: 'bind', source: file, options: ['bind'] }, 'is inside /proc'],
    [{ destination: '/proc/sys/kernel/core_pattern', type: 'bind', source: file, options: ['bind'] }, 'is inside /proc'],
    [{ destination: '/proc/sys', type: 'bind', source: fake, options: ['rbind'] }, 'is inside /proc'],
    [{ destination: '/proc', type: 'bind', source: fake, options: ['rbind'] }, 'is not of type proc'],
  ] as [Mount, string][]) {
    const ours = attempt(TSRUN, m);
    t.is(ours.status, 1, `${m.destination}: ${ours.stdout}`);
    const reason = words === 'is inside /proc' ? 'it is inside /proc' : 'it is not of type proc';
    t.regex(ours.stderr, new RegExp(`mounts\\[\\d+\\]\\.destination: "${m.destination}" cannot be mounted because ${reason}`));
    if (RUNC) {
      const theirs = attempt(RUNC, m);
      t.is(theirs.status, 1, `runc, ${m.destination}`);
      t.true(theirs.stderr.includes(`cannot be mounted because ${reason}`), theirs.stderr);
    }
  }
  // an image symlink that leads a mount elsewhere into /proc: the init refuses what it resolves to
  const viaLink = (b: Bundle) => fs.symlinkSync('/proc/self/attr', path.join(b.rootfs, 'attr'));
  const link: Mount = { destination: '/attr/exec', type: 'bind', source: file, options: ['bind'] };
  const ours = attempt(TSRUN, link, viaLink);
  t.is(ours.status, 1);
  t.regex(ours.stderr, /"\/attr\/exec" cannot be mounted because it resolves inside \/proc \(\/proc\/1\/attr\/exec\)/);
  if (RUNC) t.regex(attempt(RUNC, link, viaLink).stderr, /cannot be mounted because it is inside \/proc/);
  // lxcfs's files are allowed
  const lxcfs: Mount = { destination: '/proc/cpuinfo', type: 'bind', source: file, options: ['bind'] };
  const allowed = attempt(TSRUN, lxcfs);
  t.is(allowed.status, 0, allowed.stderr);
  t.is(allowed.stdout, 'fake\n');
  if (RUNC) t.is(attempt(RUNC, lxcfs).stdout, 'fake\n');
});
