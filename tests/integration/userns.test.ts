/**
 * user namespaces — linux.uidMappings/gidMappings written by the
 * runtime while the init waits, a container whose root is an unprivileged
 * host uid, devices bound from the host where mknod is not allowed, and the
 * mounts a user namespace may not make (sysfs without a network namespace),
 * checked from inside the container and compared with runc.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { Spec } from '../../lib/config/types.js';
import { IS_ROOT, RUNC, TSRUN, leftIn, makeBundle, runtime, tempRoot, uniqueId, type Bundle } from '../helpers/bundle.js';
import { waitFor } from '../helpers/wait.js';

const rootTest = IS_ROOT ? test : test.skip;
const runcTest = IS_ROOT && RUNC ? test : test.skip;

const HOST_ID = 100000;

function userBundle(script: string, mutate?: (s: Spec) => void): Bundle {
  const b = makeBundle((s) => {
    s.process!.args = ['sh', '-c', script];
    if (!s.linux!.namespaces!.some((n) => n.type === 'user')) s.linux!.namespaces!.push({ type: 'user' });
    s.linux!.uidMappings = [{ containerID: 0, hostID: HOST_ID, size: 65536 }];
    s.linux!.gidMappings = [{ containerID: 0, hostID: HOST_ID, size: 65536 }];
    mutate?.(s);
  });
  // the container's root is no one on the host: it must be able to reach its rootfs
  fs.chmodSync(b.dir, 0o755);
  fs.chmodSync(b.rootfs, 0o755);
  return b;
}

/** chown -hR uid:gid, like preparing an image for a remapped root. */
function chownTree(p: string, uid: number, gid: number): void {
  fs.lchownSync(p, uid, gid);
  if (fs.lstatSync(p).isDirectory()) for (const e of fs.readdirSync(p)) chownTree(path.join(p, e), uid, gid);
}

rootTest('linux.uidMappings and gidMappings: the maps are in place when the program runs', (t) => {
  const b = userBundle('cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; id -u; id -g', (s) => {
    s.linux!.uidMappings = [
      { containerID: 0, hostID: HOST_ID, size: 1000 },
      { containerID: 1000, hostID: HOST_ID + 5000, size: 10 },
    ];
  });
  const r = runtime(TSRUN, tempRoot(), ['run', '-b', b.dir, uniqueId('maps')]);
  t.is(r.status, 0, r.stderr);
  const lines = r.stdout
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/).join(' '));
  t.deepEqual(lines, [`0 ${HOST_ID} 1000`, `1000 ${HOST_ID + 5000} 10`, `0 ${HOST_ID} 65536`, 'allow', '0', '0']);
  b.cleanup();
});

runcTest('linux.uidMappings and gidMappings: same maps, ids and setgroups as runc on the same bundle', (t) => {
  const b = userBundle('cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; id');
  const ours = runtime(TSRUN, tempRoot(), ['run', '-b', b.dir, uniqueId('tm')]);
  const theirs = runtime(RUNC!, tempRoot(), ['run', '-b', b.dir, uniqueId('rm')]);
  t.is(theirs.status, 0, theirs.stderr);
  t.is(ours.status, 0, ours.stderr);
  t.is(ours.stdout, theirs.stdout);
  b.cleanup();
});

rootTest('user namespace: a root that is an unprivileged host uid owns its files and runs as that uid on the host', async (t) => {
  const b = userBundle('touch /tmp/made-inside; stat -c %u:%g /tmp/made-inside; id -u; sleep 600', (s) => {
    s.root!.readonly = false;
  });
  chownTree(b.rootfs, HOST_ID, HOST_ID);
  const root = tempRoot();
  const id = uniqueId('unpriv');
  try {
    t.is(runtime(TSRUN, root, ['create', '-b', b.dir, id]).status, 0);
    const pid = JSON.parse(runtime(TSRUN, root, ['state', id]).stdout).pid as number;
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    t.regex(status, new RegExp(`^Uid:\\s+${HOST_ID}\\s+${HOST_ID}\\s+${HOST_ID}\\s+${HOST_ID}$`, 'm'), 'host uid of the init');
    t.regex(status, new RegExp(`^Gid:\\s+${HOST_ID}\\s`, 'm'));
    t.regex(status, /^CapEff:\s+0*[1-9a-f]/m, 'root of its namespace keeps its capabilities there');
    t.is(runtime(TSRUN, root, ['start', id]).status, 0);
    const file = path.join(b.rootfs, 'tmp', 'made-inside');
    t.true(await waitFor(() => fs.existsSync(file)), 'the container made its file');
    t.is(fs.statSync(file).uid, HOST_ID, 'a file the container root creates belongs to the mapped host uid');
  } finally {
    runtime(TSRUN, root, ['delete', '--force', id]);
    b.cleanup();
  }
});

rootTest('user namespace: the runtime does not chown the rootfs, and a root-owned image still runs', (t) => {
  const b = userBundle('id -u; cat /etc/hostname 2>/dev/null; echo ok');
  const r = runtime(TSRUN, tempRoot(), ['run', '-b', b.dir, uniqueId('nochown')]);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /^0\n.*ok\n$/s);
  t.is(fs.statSync(path.join(b.rootfs, 'bin', 'busybox')).uid, 0);
  b.cleanup();
});

rootTest('user namespace: default devices and linux.devices are bind mounts of the host nodes (no mknod)', (t) => {
  const b = userBundle(
    'for d in null zero full random urandom tty loop-control; do stat -c "%n %t:%T %F" /dev/$d; done; ' +
      'echo x > /dev/null && head -c 4 /dev/zero | wc -c; grep -c " /dev/null " /proc/self/mountinfo',
    (s) => {
      s.linux!.devices = [{ type: 'c', path: '/dev/loop-control', major: 10, minor: 237, fileMode: 0o600, uid: 0, gid: 0 }];
    },
  );
  const r = runtime(TSRUN, tempRoot(), ['run', '-b', b.dir, uniqueId('dev')]);
  t.is(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.is(lines[0], '/dev/null 1:3 character special file');
  t.is(lines[1], '/dev/zero 1:5 character special file');
  t.is(lines[6], '/dev/loop-control a:ed character special file');
  t.is(lines[7], '4');
  t.is(lines[8], '1', '/dev/null is a mount point (bound), not a node made by mknod');
  b.cleanup();
});

rootTest('user namespace without a network namespace: /sys is the host sysfs bound read-only, as runc 1.2 does', (t) => {
  const script =
    'grep -E "^([^ ]+ ){4}/sys " /proc/self/mountinfo | cut -d" " -f5,6; ls /sys/class/net | sort | tr "\\n" " "; echo; touch /sys/x 2>/dev/null || echo ro';
  const b = userBundle(script, (s) => {
    s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'network');
  });
  const r = runtime(TSRUN, tempRoot(), ['run', '-b', b.dir, uniqueId('sys')]);
  t.is(r.status, 0, r.stderr);
  const [mount, nets, ro] = r.stdout.trim().split('\n');
  t.regex(mount!, /^\/sys ro,/);
  t.is(nets!.trim(), fs.readdirSync('/sys/class/net').sort().join(' '), 'the host network interfaces');
  t.is(ro, 'ro');
  if (RUNC) {
    // runc 1.2+ binds /sys here too; runc 1.1.5 (this host's) fails with
    // EPERM from mount(2). Compare when it runs, record when it does not.
    const theirs = runtime(RUNC, tempRoot(), ['run', '-b', b.dir, uniqueId('rsys')]);
    if (theirs.status === 0) t.is(theirs.stdout.trim().split('\n')[1], nets);
    else t.log(`runc fails this bundle: ${theirs.stderr.trim()}`);
  }
  b.cleanup();
});

rootTest('user namespace: bind sources below a directory only host root may enter are mounted, opened by the runtime as runc does', (t) => {
  // what podman does with a run root in a 0700 temp dir: resolv.conf, hosts and the like bound
  // from there into a container whose root is an unmapped user to the host's files
  const hidden = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-hidden-'));
  fs.chmodSync(hidden, 0o700);
  fs.writeFileSync(path.join(hidden, 'resolv.conf'), 'nameserver 192.0.2.1\n');
  fs.mkdirSync(path.join(hidden, 'dir'));
  fs.writeFileSync(path.join(hidden, 'dir', 'inside'), 'from the dir\n');
  const b = userBundle('cat /etc/resolv.conf /mnt/dir/inside; touch /mnt/dir/x 2>/dev/null || echo ro', (s) => {
    s.mounts!.push(
      { destination: '/etc/resolv.conf', type: 'bind', source: path.join(hidden, 'resolv.conf'), options: ['bind', 'nosuid'] },
      { destination: '/mnt/dir', type: 'bind', source: path.join(hidden, 'dir'), options: ['rbind', 'ro'] },
    );
  });
  chownTree(b.rootfs, HOST_ID, HOST_ID); // an image for the remapped root: it makes the mount targets
  try {
    const expected = 'nameserver 192.0.2.1\nfrom the dir\nro\n';
    const r = runtime(TSRUN, tempRoot(), ['run', '-b', b.dir, uniqueId('hidden')]);
    t.is(r.status, 0, r.stderr);
    t.is(r.stdout, expected);
    if (RUNC) {
      const theirs = runtime(RUNC, tempRoot(), ['run', '-b', b.dir, uniqueId('rhidden')]);
      t.is(theirs.status, 0, theirs.stderr);
      t.is(theirs.stdout, expected);
    }
  } finally {
    b.cleanup();
    fs.rmSync(hidden, { recursive: true, force: true });
  }
});

rootTest('user namespace with a network namespace: sysfs is mounted fresh and shows only lo', (t) => {
  const b = userBundle('ls /sys/class/net');
  const r = runtime(TSRUN, tempRoot(), ['run', '-b', b.dir, uniqueId('sysnet')]);
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout.trim(), 'lo');
  b.cleanup();
});

rootTest('linux.namespaces path: joins an existing user namespace (its maps apply, no new maps written)', (t) => {
  const root = tempRoot();
  const o = userBundle('sleep 600');
  const oid = uniqueId('uowner');
  try {
    t.is(runtime(TSRUN, root, ['create', '-b', o.dir, oid]).status, 0);
    const opid = JSON.parse(runtime(TSRUN, root, ['state', oid]).stdout).pid as number;
    const b = userBundle('readlink /proc/self/ns/user; cat /proc/self/uid_map; id -u', (s) => {
      s.linux!.namespaces!.find((n) => n.type === 'user')!.path = `/proc/${opid}/ns/user`;
      delete s.linux!.uidMappings;
      delete s.linux!.gidMappings;
    });
    const r = runtime(TSRUN, root, ['run', '-b', b.dir, uniqueId('ujoin')]);
    t.is(r.status, 0, r.stderr);
    const [ns, map, uid] = r.stdout.trim().split('\n');
    t.is(ns, fs.readlinkSync(`/proc/${opid}/ns/user`));
    t.is(map!.trim().split(/\s+/).join(' '), `0 ${HOST_ID} 65536`);
    t.is(uid, '0');
    b.cleanup();
  } finally {
    runtime(TSRUN, root, ['delete', '--force', oid]);
    o.cleanup();
  }
});

rootTest('user namespace: process.user and additionalGids apply inside the namespace', (t) => {
  const b = userBundle('id -u; id -g; id -G', (s) => {
    s.process!.user = { uid: 1000, gid: 1000, additionalGids: [5, 1001] };
  });
  const r = runtime(TSRUN, tempRoot(), ['run', '-b', b.dir, uniqueId('user')]);
  t.is(r.status, 0, r.stderr);
  t.deepEqual(r.stdout.trim().split('\n'), ['1000', '1000', '1000 5 1001']);
  b.cleanup();
});

// runc ≥ 1.4 allows user.* with a user namespace (validator.go at HEAD); runc 1.1.5 here refuses
// them ("not in a separate kernel namespace"), so there is nothing to compare with
rootTest('user namespace: user.* sysctls set the limits of the container user namespace; the host keeps its own', (t) => {
  const hostValue = fs.readFileSync('/proc/sys/user/max_user_namespaces', 'utf8');
  const b = userBundle('cat /proc/sys/user/max_user_namespaces /proc/sys/user/max_inotify_instances', (s) => {
    s.linux!.sysctl = { 'user.max_user_namespaces': '7', 'user.max_inotify_instances': '33' };
  });
  const r = runtime(TSRUN, tempRoot(), ['run', '-b', b.dir, uniqueId('ucount')]);
  b.cleanup();
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout, '7\n33\n');
  t.is(fs.readFileSync('/proc/sys/user/max_user_namespaces', 'utf8'), hostValue);

  const noUserNs = makeBundle((s) => (s.linux!.sysctl = { 'user.max_user_namespaces': '7' }));
  const root = tempRoot();
  const refused = runtime(TSRUN, root, ['run', '-b', noUserNs.dir, uniqueId('ucount')]);
  noUserNs.cleanup();
  t.is(refused.status, 1);
  t.regex(refused.stderr, /linux\.sysctl\["user\.max_user_namespaces"\].*host's user namespace/);
  t.deepEqual(leftIn(root), []);
});

rootTest('user namespace: a mapping the kernel refuses fails create with the JSON path and leaves nothing behind', (t) => {
  // overlapping ranges: the kernel's write to uid_map fails with EINVAL
  const b = userBundle('true', (s) => {
    s.linux!.uidMappings = [
      { containerID: 0, hostID: HOST_ID, size: 100 },
      { containerID: 50, hostID: HOST_ID + 1000, size: 100 },
    ];
  });
  const root = tempRoot();
  const id = uniqueId('badmap');
  const r = runtime(TSRUN, root, ['create', '-b', b.dir, id]);
  t.is(r.status, 1);
  t.regex(r.stderr, /linux\.uidMappings: cannot write uid_map .*EINVAL/);
  t.deepEqual(leftIn(root), []);
  t.is(runtime(TSRUN, root, ['delete', '--force', id]).status, 0);
  b.cleanup();
});

rootTest('user namespace: createContainer and startContainer hooks run in the container user namespace as its root', (t) => {
  const b = userBundle('readlink /proc/self/ns/user', (s) => {
    s.root!.readonly = false;
  });
  // createContainer: the path resolves on the host; startContainer: in the container
  const out = path.join(b.dir, 'out');
  fs.mkdirSync(out, { mode: 0o777 });
  fs.chmodSync(out, 0o777);
  fs.chmodSync(path.join(b.rootfs, 'tmp'), 0o1777);
  const script = '#!/bin/sh\n{ readlink /proc/self/ns/user; cat /proc/self/uid_map; } > $1\n';
  fs.writeFileSync(path.join(b.dir, 'hook.sh'), script, { mode: 0o755 });
  fs.writeFileSync(path.join(b.rootfs, 'hook.sh'), script.replace('/bin/sh', '/bin/busybox sh'), { mode: 0o755 });
  b.spec.hooks = {
    createContainer: [{ path: path.join(b.dir, 'hook.sh'), args: ['hook.sh', path.join(out, 'create')] }],
    startContainer: [{ path: '/hook.sh', args: ['hook.sh', '/tmp/start'] }],
  };
  b.write();
  const r = runtime(TSRUN, tempRoot(), ['run', '-b', b.dir, uniqueId('hooks')]);
  t.is(r.status, 0, r.stderr);
  const ns = r.stdout.trim();
  for (const file of [path.join(out, 'create'), path.join(b.rootfs, 'tmp', 'start')]) {
    const [hookNs, map] = fs.readFileSync(file, 'utf8').trim().split('\n');
    t.is(hookNs, ns, `${file}: the hook's user namespace`);
    t.is(map!.trim().split(/\s+/).join(' '), `0 ${HOST_ID} 65536`);
    t.is(fs.statSync(file).uid, HOST_ID, `${file}: the hook ran as the namespace's root`);
  }
  b.cleanup();
});

function shareDir(b: Bundle): string {
  // mount targets: the container's root may not create them in a root-owned image
  for (const d of ['data', 'plain', 'r', 'n']) fs.mkdirSync(path.join(b.rootfs, d), { recursive: true });
  const dir = path.join(b.dir, 'share');
  fs.mkdirSync(path.join(dir, 'sub'), { recursive: true, mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'f'), 'hi\n');
  fs.chownSync(path.join(dir, 'sub'), 1000, 1000);
  fs.chmodSync(dir, 0o755);
  return dir;
}

rootTest('mounts idmap: a root-owned bind source appears owned by the container root and its writes land as host root', (t) => {
  const b = userBundle('stat -c "%u:%g" /data/f /data/sub /plain/f; touch /data/made && echo wrote');
  const dir = shareDir(b);
  b.spec.mounts!.push({ destination: '/data', type: 'bind', source: dir, options: ['rbind', 'idmap'] });
  b.spec.mounts!.push({ destination: '/plain', type: 'bind', source: dir, options: ['rbind'] });
  b.write();
  const r = runtime(TSRUN, tempRoot(), ['run', '-b', b.dir, uniqueId('idmap')]);
  t.is(r.status, 0, r.stderr);
  t.deepEqual(r.stdout.trim().split('\n'), ['0:0', '1000:1000', '65534:65534', 'wrote']);
  t.is(fs.statSync(path.join(dir, 'made')).uid, 0, 'created through the idmapped mount: owned by on-disk 0');
  b.cleanup();
});

rootTest('mounts uidMappings/gidMappings: an idmapped bind without a user namespace shifts the ids it shows', (t) => {
  const b = makeBundle((s) => {
    s.process!.args = ['sh', '-c', 'stat -c "%u:%g" /data/f /data/sub'];
  });
  const dir = shareDir(b);
  b.spec.mounts!.push({
    destination: '/data',
    type: 'bind',
    source: dir,
    options: ['bind', 'idmap'],
    uidMappings: [{ containerID: 0, hostID: 5000, size: 2000 }],
    gidMappings: [{ containerID: 0, hostID: 7000, size: 2000 }],
  });
  b.write();
  const r = runtime(TSRUN, tempRoot(), ['run', '-b', b.dir, uniqueId('idmap2')]);
  t.is(r.status, 0, r.stderr);
  t.deepEqual(r.stdout.trim().split('\n'), ['5000:7000', '6000:8000']);
  b.cleanup();
});

rootTest('mounts ridmap: submounts of an rbind are idmapped too; idmap maps the top mount only', (t) => {
  const b = userBundle('stat -c "%u" /r/inner/x /n/inner/x');
  const dir = shareDir(b);
  const inner = path.join(b.dir, 'inner');
  fs.mkdirSync(inner, { mode: 0o755 });
  fs.writeFileSync(path.join(inner, 'x'), '');
  fs.mkdirSync(path.join(dir, 'inner'));
  const mnt = spawnSync('mount', ['--bind', inner, path.join(dir, 'inner')]);
  t.is(mnt.status, 0);
  try {
    b.spec.mounts!.push({ destination: '/r', type: 'bind', source: dir, options: ['rbind', 'ridmap'] });
    b.spec.mounts!.push({ destination: '/n', type: 'bind', source: dir, options: ['rbind', 'idmap'] });
    b.write();
    const r = runtime(TSRUN, tempRoot(), ['run', '-b', b.dir, uniqueId('ridmap')]);
    t.is(r.status, 0, r.stderr);
    t.deepEqual(r.stdout.trim().split('\n'), ['0', '65534']);
  } finally {
    spawnSync('umount', [path.join(dir, 'inner')]);
    b.cleanup();
  }
});

rootTest('mounts idmap: refused before clone for a non-bind mount and without mappings, with the JSON path', (t) => {
  const root = tempRoot();
  const cases: [(s: Spec) => void, RegExp][] = [
    [
      (s) => s.mounts!.push({ destination: '/t', type: 'tmpfs', source: 'tmpfs', options: ['idmap'] }),
      /mounts\[\d+\]\.options: idmapped mounts .* bind mounts only/,
    ],
    [
      (s) => s.mounts!.push({ destination: '/t', type: 'bind', source: '/tmp', options: ['rbind', 'idmap'] }),
      /mounts\[\d+\]\.options: idmap without mount uidMappings/,
    ],
  ];
  for (const [mutate, want] of cases) {
    const b = makeBundle(mutate);
    const r = runtime(TSRUN, root, ['create', '-b', b.dir, uniqueId('badidmap')]);
    t.is(r.status, 1);
    t.regex(r.stderr, want);
    b.cleanup();
  }
  t.deepEqual(leftIn(root), []);
});
