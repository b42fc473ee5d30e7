/**
 * runc's own expectations that tsrun missed, each compared with runc on the
 * same bundle: --no-pivot procfs, hook cwd and seccomp order, the -ENOSYS
 * stub, a read-only /dev, the terminal's owner, kill 0, tmpcopyup, help,
 * --debug lines, and containers without a mount namespace.
 */
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { Spec } from '../../lib/config/types.js';
import {
  IS_ROOT,
  ROOT,
  RUNC,
  TSRUN,
  makeBundle,
  runtime,
  tempRoot,
  uniqueId,
  waitForStatus,
  type Bundle,
  type RunResult,
} from '../helpers/bundle.js';
import { withoutTtyEcho } from '../helpers/tty.js';

const PROBE = path.join(ROOT, 'build', 'spec-tests', 'probe', 'tsrun-probe');
const rootTest = IS_ROOT && fs.existsSync(PROBE) ? test.serial : test.skip;
const RUNTIMES: [string, string][] = [['tsrun', TSRUN], ...(RUNC ? ([['runc', RUNC]] as [string, string][]) : [])];
const ALL_CAPS = (() => {
  const mask = BigInt(`0x${/^CapBnd:\s*([0-9a-f]+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]}`);
  const names = ['CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP'];
  names.push('LINUX_IMMUTABLE', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER', 'SYS_MODULE');
  names.push('SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE', 'SYS_RESOURCE', 'SYS_TIME');
  names.push('SYS_TTY_CONFIG', 'MKNOD', 'LEASE', 'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP', 'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG');
  names.push('WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF', 'CHECKPOINT_RESTORE');
  return names.map((n, i) => ((mask >> BigInt(i)) & 1n ? `CAP_${n}` : null)).filter((n): n is string => n !== null);
})();

/** `run` of a fresh probe bundle under each runtime. */
function onBoth(t: ExecutionContext, mutate: (s: Spec, b: Bundle) => void, extra: string[] = []): Record<string, RunResult> {
  const out: Record<string, RunResult> = {};
  for (const [name, bin] of RUNTIMES) {
    const b = makeBundle();
    fs.chmodSync(b.dir, 0o755);
    fs.chmodSync(b.rootfs, 0o755);
    fs.copyFileSync(PROBE, path.join(b.rootfs, 'bin', 'tsrun-probe'));
    fs.chmodSync(path.join(b.rootfs, 'bin', 'tsrun-probe'), 0o755);
    fs.symlinkSync('busybox', path.join(b.rootfs, 'bin', 'mkdir'));
    mutate(b.spec, b);
    b.write();
    const root = tempRoot();
    out[name] = runtime(bin, root, [...extra, 'run', '-b', b.dir, uniqueId('par')]);
    t.teardown(() => b.cleanup());
  }
  return out;
}

const same = (t: ExecutionContext, r: Record<string, RunResult>, what: 'status' | 'stdout') => {
  if (r.runc) t.is(r.tsrun![what], r.runc[what], `tsrun and runc differ in ${what}: ${r.tsrun!.stderr} / ${r.runc.stderr}`);
};

rootTest('--no-pivot: a fresh procfs cannot be mounted inside, as in runc’s no-pivot container', (t) => {
  // The kernel lets CAP_SYS_ADMIN of the initial user namespace mount procfs
  // anywhere; in a mount namespace owned by another user namespace a fresh
  // proc only where one is fully visible. So the attempt is made from a
  // nested user namespace (runc's no_pivot.bats does the same): the host's
  // /proc, left in the namespace under the chroot, must be gone.
  const attempt = (bin: string, masked: boolean): RunResult => {
    const b = makeBundle((s) => {
      s.root!.readonly = false;
      s.process!.capabilities = { bounding: ALL_CAPS, effective: ALL_CAPS, permitted: ALL_CAPS };
      delete s.linux!.seccomp;
      if (!masked) {
        delete s.linux!.maskedPaths;
        delete s.linux!.readonlyPaths;
      }
      s.process!.args = ['sh', '-c', 'mkdir -p /mnt/p; unshare -mrpf sh -c "mount -t proc proc /mnt/p && echo mounted || echo refused"'];
    });
    for (const a of ['mkdir', 'unshare']) fs.symlinkSync('busybox', path.join(b.rootfs, 'bin', a));
    const r = runtime(bin, tempRoot(), ['run', '--no-pivot', '-b', b.dir, uniqueId('nopivot')]);
    b.cleanup();
    return r;
  };
  for (const [name, bin] of RUNTIMES) {
    const control = attempt(bin, false);
    t.is(control.stdout, 'mounted\n', `${name}: the control (the container's own /proc fully visible) mounts: ${control.stderr}`);
    const r = attempt(bin, true);
    t.is(r.status, 0, `${name}: ${r.stderr}`);
    t.is(r.stdout, 'refused\n', `${name}: with the masks, no full procfs is visible: the host's must be gone`);
  }
});

rootTest(
  'a createContainer hook runs from the container’s rootfs: ./lib/x lands in the image, not in the host’s /usr/lib, as runc',
  (t) => {
    const name = `tsrun-hook-${process.pid}-${Date.now()}`;
    const r = onBoth(t, (s) => {
      s.process!.args = ['cat', `/lib/${name}`];
      s.hooks = { createContainer: [{ path: '/bin/sh', args: ['sh', '-c', `mkdir -p lib && echo from-hook > ./lib/${name}`] }] };
    });
    t.is(r.tsrun!.status, 0, r.tsrun!.stderr);
    t.is(r.tsrun!.stdout, 'from-hook\n');
    same(t, r, 'stdout');
    t.false(fs.existsSync(`/lib/${name}`), 'the host’s /lib is untouched');
    t.false(fs.existsSync(`/usr/lib/${name}`), 'the host’s /usr/lib is untouched');
  },
);

rootTest('startContainer hooks run under the container’s seccomp filter: a profile that kills mkdir kills the hook, as runc', (t) => {
  const r = onBoth(t, (s) => {
    s.process!.args = ['true'];
    s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_KILL' }] };
    s.hooks = { startContainer: [{ path: '/bin/busybox', args: ['busybox', 'mkdir', '/tmp/from-hook'] }] };
  });
  t.not(r.tsrun!.status, 0, 'the hook was killed, so start fails');
  t.regex(r.tsrun!.stderr, /error running startContainer hook #0: signal: bad system call \(\/bin\/busybox\)/);
  same(t, r, 'status');
});

rootTest('a default-errno profile makes syscalls newer than the profile fail with ENOSYS, as runc', (t) => {
  const r = onBoth(t, (s) => {
    s.process!.args = ['tsrun-probe', 'syscall', 'nr:1000', 'nr:9999'];
    // tsrun spec's default profile: an allow-list with SCMP_ACT_ERRNO (EPERM) as default
  });
  t.is(r.tsrun!.status, 0, r.tsrun!.stderr);
  t.regex(r.tsrun!.stdout, /syscall\.nr:1000=errno:ENOSYS/);
  t.regex(r.tsrun!.stdout, /syscall\.nr:9999=errno:ENOSYS/);
  same(t, r, 'stdout');
  // a known syscall the profile does not allow still gets the profile's errno
  const known = onBoth(t, (s) => {
    s.process!.args = ['tsrun-probe', 'syscall', 'chroot:/'];
  });
  t.regex(known.tsrun!.stdout, /syscall\.chroot:\/=errno:EPERM/);
  same(t, known, 'stdout');
});

rootTest('a read-only /dev tmpfs: the container is set up (devices, /dev/pts) and its one /dev mount is read-only, as runc', (t) => {
  const r = onBoth(t, (s) => {
    const dev = s.mounts!.find((m) => m.destination === '/dev')!;
    dev.options = [...(dev.options ?? []), 'ro'];
    s.process!.args = [
      'sh',
      '-c',
      'test -c /dev/null && test -d /dev/pts && echo set-up; touch /dev/x 2>/dev/null && echo writable || echo read-only; ' +
        'grep " /dev " /proc/self/mountinfo | cut -d" " -f5,6,9',
    ];
  });
  t.is(r.tsrun!.status, 0, r.tsrun!.stderr);
  // remounted in place: no second (read-only) mount on top of a writable one
  t.is(r.tsrun!.stdout, 'set-up\nread-only\n/dev ro,nosuid tmpfs\n');
  same(t, r, 'stdout');
});

rootTest('the terminal of a uid-1000 process belongs to it and to the tty group, for run as for exec, as runc', (t) => {
  for (const [name, bin] of RUNTIMES) {
    const b = makeBundle((s) => {
      s.process!.terminal = true;
      s.process!.user = { uid: 1000, gid: 1000 };
      s.process!.args = ['sh', '-c', 'stat -c %u:%g $(tty)'];
    });
    fs.chmodSync(b.dir, 0o755);
    fs.chmodSync(b.rootfs, 0o755);
    const r = spawnSync('script', ['-qec', `${bin} --root ${tempRoot()} run -b ${b.dir} ${uniqueId('tty')}`, '/dev/null'], {
      encoding: 'utf8',
      timeout: 30_000,
      input: '',
    });
    b.cleanup();
    t.regex(withoutTtyEcho(r.stdout), /^1000:5$/m, `${name}: ${JSON.stringify(r.stdout)}`);
  }
});

rootTest('kill ID 0: "is it alive?" — 0 while it runs, "container not running" after, as runc', (t) => {
  for (const [name, bin] of RUNTIMES) {
    const b = makeBundle((s) => {
      s.process!.args = ['sleep', '1000'];
    });
    const root = tempRoot();
    const id = uniqueId('kill0');
    t.is(runtime(bin, root, ['run', '-d', '-b', b.dir, id]).status, 0);
    const alive = runtime(bin, root, ['kill', id, '0']);
    t.is(alive.status, 0, `${name}: ${alive.stderr}`);
    t.is(JSON.parse(runtime(bin, root, ['state', id]).stdout).status, 'running', 'signal 0 delivers nothing');
    runtime(bin, root, ['kill', id, 'KILL']);
    waitForStatus(bin, root, id, 'stopped');
    const dead = runtime(bin, root, ['kill', id, '0']);
    t.is(dead.status, 1, name);
    t.regex(dead.stderr, /container not running/, name);
    runtime(bin, root, ['delete', '--force', id]);
    b.cleanup();
  }
});

rootTest('tmpcopyup: the tmpfs starts with the image’s files (owners, modes, symlinks, xattrs), writes stay in it, as runc', (t) => {
  const script =
    'stat -c "%n %u:%g %a %F" /data/f /data/o /data/sub /data/sub/g /data/link; cat /data/f; readlink /data/link; echo new > /data/f; cat /data/f';
  const r = onBoth(t, (s, b) => {
    const data = path.join(b.rootfs, 'data');
    fs.mkdirSync(path.join(data, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(data, 'f'), 'from-image\n', { mode: 0o640 });
    fs.chownSync(path.join(data, 'f'), 0, 1001);
    fs.writeFileSync(path.join(data, 'o'), '', { mode: 0o600 });
    fs.chownSync(path.join(data, 'o'), 1000, 1001);
    fs.writeFileSync(path.join(data, 'sub', 'g'), 'g\n');
    fs.chmodSync(path.join(data, 'sub'), 0o711);
    fs.symlinkSync('/etc/host-secret', path.join(data, 'link'));
    spawnSync('setfattr', ['-n', 'user.tag', '-v', 'x', path.join(data, 'f')]);
    s.mounts!.push({ destination: '/data', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'tmpcopyup', 'mode=755'] });
    s.process!.args = ['sh', '-c', script];
  });
  t.is(r.tsrun!.status, 0, r.tsrun!.stderr);
  t.is(
    r.tsrun!.stdout,
    '/data/f 0:1001 640 regular file\n/data/o 1000:1001 600 regular empty file\n/data/sub 0:0 711 directory\n/data/sub/g 0:0 644 regular file\n/data/link 0:0 777 symbolic link\nfrom-image\n/etc/host-secret\nnew\n',
  );
  same(t, r, 'stdout');
});

rootTest('tmpcopyup copies inside the container’s root: a symlinked target resolves in the rootfs, no host path is read', (t) => {
  const secret = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-secret-'));
  fs.writeFileSync(path.join(secret, 'host-only'), 'host\n');
  const r = onBoth(t, (s, b) => {
    fs.symlinkSync(secret, path.join(b.rootfs, 'data')); // /data -> a host dir's path
    fs.mkdirSync(path.join(b.rootfs, secret), { recursive: true });
    fs.writeFileSync(path.join(b.rootfs, secret, 'in-image'), 'image\n');
    s.mounts!.push({ destination: '/data', type: 'tmpfs', source: 'tmpfs', options: ['tmpcopyup'] });
    s.process!.args = ['ls', `${secret}`];
  });
  t.is(r.tsrun!.status, 0, r.tsrun!.stderr);
  t.is(r.tsrun!.stdout, 'in-image\n');
  t.deepEqual(fs.readdirSync(secret), ['host-only'], 'the host directory is untouched');
  fs.rmSync(secret, { recursive: true, force: true });
});

test('help: -h on a command, help COMMAND, No help topic for an unknown one (exit 3), -v, as runc', (t) => {
  for (const [name, bin] of RUNTIMES) {
    const del = spawnSync(bin, ['delete', '-h'], { encoding: 'utf8' });
    t.is(del.status, 0, `${name}: ${del.stderr}`);
    t.regex(del.stdout, /delete/, name);
    t.is(del.stderr, '', `${name}: no complaint about the missing id`);
    const help = spawnSync(bin, ['help', 'delete'], { encoding: 'utf8' });
    t.is(help.status, 0, name);
    t.regex(help.stdout, /delete/, name);
    const foo = spawnSync(bin, ['foo', '-h'], { encoding: 'utf8' });
    t.is(foo.status, 3, name);
    t.regex(foo.stderr, /No help topic for 'foo'/, name);
    const v = spawnSync(bin, ['-v'], { encoding: 'utf8' });
    t.is(v.status, 0, name);
    t.regex(v.stdout, new RegExp(`^${name} version `), name);
  }
});

rootTest('--debug: logrus-shaped debug lines on stderr, one per setup step; in --log as text or JSON', (t) => {
  const b = makeBundle();
  const r = runtime(TSRUN, tempRoot(), ['--debug', 'run', '-b', b.dir, uniqueId('dbg')]);
  t.is(r.status, 0, r.stderr);
  const lines = r.stderr.trim().split('\n');
  for (const l of lines) t.regex(l, /^time="[^"]+" level=debug msg=".*"$/, l);
  for (const step of ['load', 'validate', 'plan', 'clone', 'init', 'state'])
    t.true(
      lines.some((l) => l.includes(`step ${step} done`)),
      step,
    );
  // the timeline: a line per step, no message carrying an escaped newline
  t.false(
    lines.some((l) => l.includes('\\n')),
    'a debug line with a literal \\n',
  );
  const at = lines.findIndex((l) => l.endsWith('msg="timeline:"'));
  t.true(at > 0, 'the timeline header');
  t.regex(lines[at + 1] ?? '', /msg="engine +\+[\d.]+ms \([\d.]+ms\)"$/);
  const log = path.join(b.dir, 'log.json');
  const j = runtime(TSRUN, tempRoot(), ['--debug', '--log', log, '--log-format', 'json', 'run', '-b', b.dir, uniqueId('dbg')]);
  t.is(j.status, 0, j.stderr);
  const entries = fs
    .readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { level: string; msg: string; time: string });
  t.true(entries.length > 5);
  t.true(entries.every((e) => e.level === 'debug' && typeof e.msg === 'string' && !Number.isNaN(Date.parse(e.time))));
  b.cleanup();
});

rootTest(
  'no mount namespace (all inherited, as config-linux.md allows): it runs chrooted, as runc; delete removes what it mounted',
  (t) => {
    // Both runtimes then mount in the namespace they run in: give each a
    // private one of its own so the test machine's stays as it is.
    for (const [name, bin] of RUNTIMES) {
      const b = makeBundle((s) => {
        s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'mount');
        delete s.linux!.maskedPaths;
        delete s.linux!.readonlyPaths;
        s.root!.readonly = false;
        s.process!.args = ['sh', '-c', 'ls /; test -c /dev/null && echo dev-ok'];
      });
      const root = tempRoot();
      const id = uniqueId('nomnt');
      const sh = `${bin} --root ${root} run -b ${b.dir} ${id}; echo "rc=$?"; grep -c " ${b.rootfs}" /proc/self/mountinfo || true`;
      const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', sh], { encoding: 'utf8', timeout: 30_000 });
      t.regex(r.stdout, /^bin$/m, `${name}: chrooted into the rootfs: ${r.stdout}${r.stderr}`);
      t.regex(r.stdout, /dev-ok/, name);
      t.regex(r.stdout, /rc=0/, name);
      if (name === 'tsrun') t.regex(r.stdout, /\n0\n?$/, 'tsrun removed its mounts under the rootfs');
      b.cleanup();
    }
    const b = makeBundle((s) => {
      s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'mount');
    });
    const refused = runtime(TSRUN, tempRoot(), ['run', '-b', b.dir, uniqueId('nomnt')]);
    t.is(refused.status, 1);
    t.regex(refused.stderr, /linux\.maskedPaths: unable to restrict sys entries without a private MNT namespace/);
    b.cleanup();
  },
);
