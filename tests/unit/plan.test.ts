/** The planner: pure, no root. */
import test from 'ava';

import { defaultSpec } from '../../lib/config/default-spec.js';
import { buildPlan, type PlanHost } from '../../lib/plan/build.js';
import { CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUTS, MS } from '../../lib/plan/linux.js';
import { parseMountOptions } from '../../lib/plan/mounts.js';
import { capMask } from '../../lib/plan/process.js';
import { CapSet, MountKind, PlanFlag, TargetKind } from '../../lib/plan/types.js';

const v1Host: PlanHost = {
  kind: (p) => (p.endsWith('.conf') ? 'file' : 'dir'),
  cgroupV2Only: () => false,
  cgroupV1Hierarchies: () => [
    { mountPoint: '/sys/fs/cgroup/memory', name: 'memory', cgroupPath: '/user.slice' },
    { mountPoint: '/sys/fs/cgroup/systemd', name: 'systemd', cgroupPath: '/' },
  ],
  homeOf: () => null,
};
const opts = { id: 'c1', bundle: '/b', rootfs: '/b/rootfs', stateDir: '/run/tsrun/c1' };

test('namespaces become clone flags', (t) => {
  const plan = buildPlan(defaultSpec(), opts, v1Host);
  t.is(plan.init.cloneFlags, CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNS);
});

test('mount options split into flags, propagation and data', (t) => {
  const p = parseMountOptions(['nosuid', 'noexec', 'mode=755', 'size=65536k', 'rslave', 'ro', 'rw', 'strictatime']);
  t.is(p.flags, MS.NOSUID | MS.NOEXEC | MS.STRICTATIME);
  t.is(p.propagation, MS.SLAVE | MS.REC);
  t.deepEqual(p.data, ['mode=755', 'size=65536k']);
});

test('bind mounts: file targets, rbind, remount flags', (t) => {
  const spec = defaultSpec();
  spec.mounts = [
    { destination: '/etc/resolv.conf', type: 'bind', source: '/etc/resolv.conf', options: ['rbind', 'ro'] },
    { destination: 'data', source: '/srv', options: ['bind', 'nodev'] },
    { destination: '/rel', type: 'bind', source: 'shared/dir' },
  ];
  const m = buildPlan(spec, opts, v1Host).init.mounts;
  t.is(m[0]!.kind, MountKind.BIND);
  t.is(m[0]!.targetKind, TargetKind.FILE);
  t.is(m[0]!.flags, MS.REC | MS.RDONLY);
  t.is(m[1]!.destination, '/data', 'relative destinations are made absolute, as runc does');
  t.is(m[1]!.targetKind, TargetKind.DIR);
  t.is(m[1]!.flags, MS.NODEV);
  t.is(m[2]!.source, '/b/shared/dir', 'relative bind sources resolve against the bundle');
});

test('a cgroup mount on a v1 host is a tmpfs plus read-only binds of our cgroups', (t) => {
  const m = buildPlan(defaultSpec(), opts, v1Host).init.mounts.filter((x) => x.destination.startsWith('/sys/fs/cgroup'));
  t.deepEqual(
    m.map((x) => [x.destination, x.kind, x.source]),
    [
      ['/sys/fs/cgroup', MountKind.FS, 'tmpfs'],
      ['/sys/fs/cgroup/memory', MountKind.BIND, '/sys/fs/cgroup/memory/user.slice'],
      ['/sys/fs/cgroup/systemd', MountKind.BIND, '/sys/fs/cgroup/systemd'],
    ],
  );
  t.true((m[1]!.flags & MS.RDONLY) !== 0n);
  const v2 = buildPlan(defaultSpec(), opts, { ...v1Host, cgroupV2Only: () => true }).init.mounts.filter(
    (x) => x.destination === '/sys/fs/cgroup',
  );
  t.is(v2.length, 1);
  t.is(v2[0]!.fstype, 'cgroup2');
});

test('masked paths: once each, the smallest read-only tmpfs for directories, as runc', (t) => {
  const spec = defaultSpec();
  spec.linux!.maskedPaths = ['/proc/acpi', '/proc/kcore', '/proc//acpi', '/proc/acpi/', '/sys/firmware'];
  const masks = buildPlan(spec, opts, v1Host).init.mounts.filter((m) => m.kind === MountKind.MASK);
  t.deepEqual(
    masks.map((m) => m.destination),
    ['/proc/acpi', '/proc/kcore', '/sys/firmware'],
  );
  t.true(masks.every((m) => m.data === 'nr_blocks=1,nr_inodes=1' && m.flags === MS.RDONLY));
});

test('masked and readonly paths follow the mounts, readonly first', (t) => {
  const kinds = buildPlan(defaultSpec(), opts, v1Host).init.mounts.map((m) => m.kind);
  const firstRo = kinds.indexOf(MountKind.READONLY);
  const firstMask = kinds.indexOf(MountKind.MASK);
  t.true(firstRo > 0 && firstRo < firstMask);
  t.true(kinds.slice(firstRo).every((k) => k === MountKind.READONLY || k === MountKind.MASK));
});

test('default devices and /dev symlinks; linux.devices adds and overrides', (t) => {
  const spec = defaultSpec();
  spec.linux!.devices = [
    { type: 'c', path: '/dev/fuse', major: 10, minor: 229, fileMode: 0o600 },
    { type: 'c', path: '/dev/null', major: 1, minor: 3, fileMode: 0o600 },
  ];
  const plan = buildPlan(spec, opts, v1Host).init;
  t.deepEqual(
    plan.devices.map((d) => d.path),
    ['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty', '/dev/fuse'],
  );
  t.is(plan.devices[0]!.mode, 0o600);
  t.deepEqual(
    plan.symlinks.map((l) => `${l.linkpath}->${l.target}`),
    [
      '/dev/fd->/proc/self/fd',
      '/dev/stdin->/proc/self/fd/0',
      '/dev/stdout->/proc/self/fd/1',
      '/dev/stderr->/proc/self/fd/2',
      '/dev/core->/proc/kcore', // the (fake) host has /proc/kcore: runc links it
      '/dev/ptmx->pts/ptmx',
    ],
  );
});

test('no default devices when /dev is bound from the host', (t) => {
  const spec = defaultSpec();
  spec.mounts = [{ destination: '/dev', type: 'bind', source: '/dev', options: ['rbind'] }];
  const plan = buildPlan(spec, opts, v1Host).init;
  t.deepEqual(plan.devices, []);
  t.deepEqual(plan.symlinks, []);
});

test('capabilities become masks; absent capabilities leave them alone', (t) => {
  t.is(capMask(['CAP_CHOWN', 'CAP_KILL', 'CAP_CHECKPOINT_RESTORE']), (1n << 0n) | (1n << 5n) | (1n << 40n));
  const plan = buildPlan(defaultSpec(), opts, v1Host).init;
  t.true((plan.flags & PlanFlag.SET_CAPS) !== 0);
  t.is(plan.caps[CapSet.BOUNDING], (1n << 29n) | (1n << 5n) | (1n << 10n));
  t.is(plan.caps[CapSet.INHERITABLE], 0n);
  const spec = defaultSpec();
  delete spec.process!.capabilities;
  t.is(buildPlan(spec, opts, v1Host).init.flags & PlanFlag.SET_CAPS, 0);
});

test('env gets HOME like runc: from the image passwd, else /', (t) => {
  t.true(buildPlan(defaultSpec(), opts, v1Host).init.env.includes('HOME=/'));
  t.true(buildPlan(defaultSpec(), opts, { ...v1Host, homeOf: () => '/root' }).init.env.includes('HOME=/root'));
  const spec = defaultSpec();
  spec.process!.env = ['HOME=/custom'];
  t.deepEqual(buildPlan(spec, opts, v1Host).init.env, ['HOME=/custom']);
});

test('flags: readonly root, no_new_privs, keyring, no-pivot', (t) => {
  const plan = buildPlan(defaultSpec(), { ...opts, noPivot: true, noNewKeyring: true }, v1Host).init;
  t.true((plan.flags & PlanFlag.ROOT_READONLY) !== 0);
  t.true((plan.flags & PlanFlag.NO_NEW_PRIVS) !== 0);
  t.true((plan.flags & PlanFlag.NO_PIVOT) !== 0);
  t.is(plan.flags & PlanFlag.NEW_KEYRING, 0);
  t.is(plan.keyring, null);
  t.is(buildPlan(defaultSpec(), opts, v1Host).init.keyring, '_ses.c1');
  t.is(plan.rootfsPropagation, MS.SLAVE | MS.REC, 'rslave by default');
  t.is(plan.rootfsParentPropagation, Number(MS.PRIVATE), "the rootfs's parent mount private by default, as runc");
});

test('tmpcopyup: a tmpfs becomes a copy-up mount without the option in its data; elsewhere it is ignored, as runc', (t) => {
  const spec = defaultSpec();
  spec.mounts = [
    { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'tmpcopyup', 'mode=755'] },
    { destination: '/srv', type: 'bind', source: '/srv', options: ['rbind', 'tmpcopyup'] },
  ];
  const [run, srv] = buildPlan(spec, opts, v1Host).init.mounts;
  t.is(run!.kind, MountKind.COPYUP);
  t.is(run!.data, 'mode=755');
  t.is(run!.flags, MS.NOSUID);
  t.is(srv!.kind, MountKind.BIND);
});

test('a read-only /dev is mounted writable and remounted read-only after the devices, as runc', (t) => {
  const spec = defaultSpec();
  spec.mounts = [{ destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['ro', 'nosuid', 'mode=755'] }];
  const mounts = buildPlan(spec, opts, v1Host).init.mounts;
  t.is(mounts[0]!.flags & MS.RDONLY, 0n);
  const last = mounts.filter((m) => m.kind === MountKind.READONLY).at(-1)!;
  t.is(last.destination, '/dev');
  // the one /dev mount remounted in place, with its own flags (no second tmpfs or bind on top)
  t.is(last.flags, MS.NOSUID | MS.REMOUNT | MS.BIND | MS.RDONLY);
  t.is(mounts.filter((m) => m.destination === '/dev').length, 2);
});

test('linux.mountLabel where SELinux is on: context= on the filesystems runc labels, mqueue by attribute; off: ignored', (t) => {
  const label = 'system_u:object_r:container_file_t:s0:c1,c2';
  const spec = defaultSpec();
  spec.linux!.mountLabel = label;
  spec.process!.selinuxLabel = 'system_u:system_r:container_t:s0:c1,c2';
  spec.mounts!.push({ destination: '/data', type: 'bind', source: '/srv', options: ['rbind'] });
  const selinuxHost: PlanHost = { ...v1Host, read: (p) => (p === '/sys/fs/selinux/enforce' ? '1' : null) };
  const plan = buildPlan(spec, opts, selinuxHost).init;
  const data = (dest: string, kind = MountKind.FS) => plan.mounts.find((m) => m.destination === dest && m.kind === kind)?.data;
  const context = `context="${label}"`; // quoted: the category set has a comma
  t.is(data('/dev'), `mode=755,size=65536k,${context}`);
  t.is(data('/dev/pts'), `newinstance,ptmxmode=0666,mode=0620,gid=5,${context}`);
  t.is(data('/dev/shm'), `mode=1777,size=65536k,${context}`);
  t.is(data('/sys/fs/cgroup'), `mode=755,${context}`); // the cgroup v1 tmpfs
  t.is(data('/proc'), null);
  t.is(data('/sys'), null);
  t.is(data('/dev/mqueue'), null);
  t.is(data('/data', MountKind.BIND), null); // a bind keeps its source's labels
  t.true(plan.mounts.filter((m) => m.kind === MountKind.MASK).every((m) => m.data === `nr_blocks=1,nr_inodes=1,${context}`));
  t.true(plan.mounts.filter((m) => m.kind === MountKind.READONLY).every((m) => m.data === null));
  t.is(plan.mqueueLabel, label);
  t.is(plan.selinuxLabel, 'system_u:system_r:container_t:s0:c1,c2');

  const off = buildPlan(spec, opts, v1Host).init;
  t.false(off.mounts.some((m) => m.data?.includes('context=')));
  t.is(off.mqueueLabel, null);
});
