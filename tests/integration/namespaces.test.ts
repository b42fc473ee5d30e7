/**
 * linux.namespaces (all eight types, joins by path), time
 * namespaces with linux.timeOffsets, the cgroup namespace, and the
 * validation of namespace rules — checked from inside the container and
 * compared with runc on the same bundle where runc supports the field.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { Spec } from '../../lib/config/types.js';
import { IS_ROOT, RUNC, TSRUN, leftIn, makeBundle, runtime, tempRoot, uniqueId, waitForStatus, type Bundle } from '../helpers/bundle.js';

const rootTest = IS_ROOT ? test : test.skip;
const runcTest = IS_ROOT && RUNC ? test : test.skip;

const KERNEL: Record<string, string> = { network: 'net', mount: 'mnt' };
const nsFile = (type: string) => KERNEL[type] ?? type;
const link = (pid: number | 'self', type: string) => fs.readlinkSync(`/proc/${pid}/ns/${nsFile(type)}`);

function sh(script: string, mutate?: (s: Spec) => void): Bundle {
  return makeBundle((s) => {
    s.process!.args = ['sh', '-c', script];
    mutate?.(s);
  });
}

function setNs(s: Spec, type: string, nsPath?: string): void {
  const list = (s.linux!.namespaces ??= []);
  const e = list.find((n) => n.type === type);
  const entry = nsPath ? { type: type as never, path: nsPath } : { type: type as never };
  if (e) Object.assign(e, entry);
  else list.push(entry);
}

/** A created (not started) container whose init sleeps: its namespaces are joined. */
function owner(root: string, mutate?: (s: Spec) => void): { pid: number; id: string; bundle: Bundle } {
  const bundle = makeBundle((s) => {
    s.process!.args = ['sleep', '600'];
    setNs(s, 'cgroup');
    mutate?.(s);
  });
  const id = uniqueId('owner');
  const r = runtime(TSRUN, root, ['create', '-b', bundle.dir, id]);
  if (r.status !== 0) throw new Error(`owner create failed: ${r.stderr}`);
  const pid = JSON.parse(runtime(TSRUN, root, ['state', id]).stdout).pid as number;
  return { pid, id, bundle };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

for (const type of ['network', 'ipc', 'uts', 'pid', 'cgroup', 'mount'] as const) {
  rootTest(`linux.namespaces path: joins an existing ${type} namespace`, (t) => {
    const root = tempRoot();
    const o = owner(root);
    try {
      const b = sh(`readlink /proc/self/ns/${nsFile(type)}`, (s) => {
        setNs(s, 'cgroup');
        setNs(s, type, `/proc/${o.pid}/ns/${nsFile(type)}`);
        if (type === 'uts') delete s.hostname; // the joined namespace keeps its hostname
      });
      if (type === 'mount') {
        // joining a mount namespace sets up the rootfs in it: the owner's
        // root must still offer our rootfs path, which it does not after
        // its pivot_root. runc fails the same way; check the clear error.
        const r = runtime(TSRUN, root, ['run', '-b', b.dir, uniqueId('join')]);
        t.is(r.status, 1);
        t.regex(r.stderr, /rootfs|state dir/);
        t.deepEqual(
          leftIn(root).filter((d) => d !== o.id),
          [],
          'a failed join leaves no state behind',
        );
        b.cleanup();
        return;
      }
      const r = runtime(TSRUN, root, ['run', '-b', b.dir, uniqueId('join')]);
      t.is(r.status, 0, r.stderr);
      t.is(r.stdout.trim(), link(o.pid, type), `the container is in the owner's ${type} namespace`);
      t.not(r.stdout.trim(), link('self', type));
      b.cleanup();
    } finally {
      runtime(TSRUN, root, ['delete', '--force', o.id]);
      o.bundle.cleanup();
    }
  });
}

rootTest('linux.namespaces path: joining a pid namespace reports the real init pid (state, --pid-file, kill)', (t) => {
  const root = tempRoot();
  const o = owner(root);
  const b = makeBundle((s) => {
    s.process!.args = ['sleep', '600'];
    setNs(s, 'pid', `/proc/${o.pid}/ns/pid`);
  });
  const id = uniqueId('pidjoin');
  const pidFile = path.join(b.dir, 'pid');
  try {
    const c = runtime(TSRUN, root, ['create', '--pid-file', pidFile, '-b', b.dir, id]);
    t.is(c.status, 0, c.stderr);
    const state = JSON.parse(runtime(TSRUN, root, ['state', id]).stdout);
    t.is(fs.readFileSync(pidFile, 'utf8'), String(state.pid), 'pid file = state.json pid');
    t.is(link(state.pid, 'pid'), link(o.pid, 'pid'), 'the reported pid is the process inside the joined pid namespace');
    const nspid = /^NSpid:\s+(.*)$/m
      .exec(fs.readFileSync(`/proc/${state.pid}/status`, 'utf8'))![1]!
      .trim()
      .split(/\s+/);
    t.is(nspid.length, 2, `NSpid ${nspid.join(' ')}: one pid on the host, one in the joined namespace`);
    t.not(nspid[1], '1', 'the joined namespace already has its init');
    t.is(runtime(TSRUN, root, ['start', id]).status, 0);
    t.is(JSON.parse(runtime(TSRUN, root, ['state', id]).stdout).status, 'running');
    t.is(runtime(TSRUN, root, ['kill', id, 'KILL']).status, 0);
    waitForStatus(TSRUN, root, id, 'stopped');
    t.is(JSON.parse(runtime(TSRUN, root, ['state', id]).stdout).status, 'stopped');
    t.true(alive(o.pid), 'kill and delete of the joiner leave the namespace owner alone');
    t.is(runtime(TSRUN, root, ['delete', id]).status, 0);
    t.true(alive(o.pid));
  } finally {
    runtime(TSRUN, root, ['delete', '--force', id]);
    runtime(TSRUN, root, ['delete', '--force', o.id]);
    b.cleanup();
    o.bundle.cleanup();
  }
});

rootTest('linux.namespaces path: run waits for the init inside a joined pid namespace and returns its exit code', (t) => {
  const root = tempRoot();
  const o = owner(root);
  try {
    const b = sh('echo $$; exit 7', (s) => setNs(s, 'pid', `/proc/${o.pid}/ns/pid`));
    const r = runtime(TSRUN, root, ['run', '-b', b.dir, uniqueId('pidrun')]);
    t.is(r.status, 7, r.stderr);
    t.not(r.stdout.trim(), '1');
    b.cleanup();
  } finally {
    runtime(TSRUN, root, ['delete', '--force', o.id]);
    o.bundle.cleanup();
  }
});

runcTest('linux.namespaces path: runc joins the same network namespace on the same bundle', (t) => {
  const root = tempRoot();
  const o = owner(root);
  try {
    const b = sh('readlink /proc/self/ns/net', (s) => setNs(s, 'network', `/proc/${o.pid}/ns/net`));
    const ours = runtime(TSRUN, root, ['run', '-b', b.dir, uniqueId('tj')]);
    const theirs = runtime(RUNC!, tempRoot(), ['run', '-b', b.dir, uniqueId('rj')]);
    t.is(theirs.status, 0, theirs.stderr);
    t.is(ours.status, 0, ours.stderr);
    t.is(ours.stdout, theirs.stdout);
    t.is(ours.stdout.trim(), link(o.pid, 'network'));
    b.cleanup();
  } finally {
    runtime(TSRUN, root, ['delete', '--force', o.id]);
    o.bundle.cleanup();
  }
});

rootTest('linux.namespaces time + linux.timeOffsets: offsets are set before the init enters the time namespace', (t) => {
  const b = sh('readlink /proc/self/ns/time; cat /proc/self/timens_offsets; cut -d. -f1 /proc/uptime', (s) => {
    setNs(s, 'time');
    s.linux!.timeOffsets = { monotonic: { secs: 86400, nanosecs: 0 }, boottime: { secs: 172800, nanosecs: 5 } };
  });
  const r = runtime(TSRUN, tempRoot(), ['run', '-b', b.dir, uniqueId('time')]);
  t.is(r.status, 0, r.stderr);
  const [ns, mono, boot, uptime] = r.stdout.trim().split('\n');
  t.not(ns, link('self', 'time'), 'a new time namespace');
  t.regex(mono!, /^monotonic\s+86400\s+0$/);
  t.regex(boot!, /^boottime\s+172800\s+5$/);
  const hostUptime = Number(fs.readFileSync('/proc/uptime', 'utf8').split('.')[0]);
  t.true(Number(uptime) >= hostUptime + 172800 - 5, `uptime inside ${uptime} includes the boottime offset (host ${hostUptime})`);
  b.cleanup();
});

rootTest('linux.namespaces time: a time namespace without offsets, and the init is pid 1 of its pid namespace', (t) => {
  const b = sh('echo $$; cat /proc/self/timens_offsets', (s) => setNs(s, 'time'));
  const r = runtime(TSRUN, tempRoot(), ['run', '-b', b.dir, uniqueId('time0')]);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /^1\nmonotonic\s+0\s+0\nboottime\s+0\s+0\n$/);
  b.cleanup();
});

rootTest('linux.namespaces path: joins an existing time namespace and sees its offsets', (t) => {
  const root = tempRoot();
  const o = owner(root, (s) => {
    setNs(s, 'time');
    s.linux!.timeOffsets = { monotonic: { secs: 1234, nanosecs: 0 } };
  });
  try {
    const b = sh('cat /proc/self/timens_offsets', (s) => setNs(s, 'time', `/proc/${o.pid}/ns/time`));
    const r = runtime(TSRUN, root, ['run', '-b', b.dir, uniqueId('tjoin')]);
    t.is(r.status, 0, r.stderr);
    t.regex(r.stdout, /monotonic\s+1234\s+0/);
    b.cleanup();
  } finally {
    runtime(TSRUN, root, ['delete', '--force', o.id]);
    o.bundle.cleanup();
  }
});

rootTest('linux.namespaces cgroup: the container sees its cgroups as the root', (t) => {
  const b = sh('readlink /proc/self/ns/cgroup; cat /proc/self/cgroup', (s) => setNs(s, 'cgroup'));
  const r = runtime(TSRUN, tempRoot(), ['run', '-b', b.dir, uniqueId('cg')]);
  t.is(r.status, 0, r.stderr);
  const [ns, ...lines] = r.stdout.trim().split('\n');
  t.not(ns, link('self', 'cgroup'));
  t.true(lines.length > 0);
  for (const l of lines) t.true(l.endsWith(':/'), `cgroup path is "/": ${l}`);
  b.cleanup();
});

rootTest('linux.namespaces: all eight types at once are new namespaces', (t) => {
  const types = ['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup', 'time'];
  const b = sh(types.map((ty) => `readlink /proc/self/ns/${nsFile(ty)}`).join('; '), (s) => {
    for (const ty of types) setNs(s, ty);
    s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  });
  // the mapped root is no one on the host: it needs to traverse the bundle
  fs.chmodSync(b.dir, 0o755);
  fs.chmodSync(b.rootfs, 0o755);
  const r = runtime(TSRUN, tempRoot(), ['run', '-b', b.dir, uniqueId('all8')]);
  t.is(r.status, 0, r.stderr);
  const got = r.stdout.trim().split('\n');
  types.forEach((ty, i) => t.not(got[i], link('self', ty), `${ty} namespace is new`));
  b.cleanup();
});

// Validation: exit 1, the JSON path in the message, nothing left behind.
const invalid: [string, RegExp, (s: Spec, b: Bundle) => void][] = [
  [
    'a namespace path that is a regular file',
    /linux\.namespaces\[\d+\]\.path: .* is not a namespace/,
    (s, b) => {
      fs.writeFileSync(path.join(b.dir, 'plain'), '');
      setNs(s, 'uts', path.join(b.dir, 'plain'));
    },
  ],
  [
    'a network namespace path that is an ipc namespace',
    /linux\.namespaces\[\d+\]\.path: .* is a ipc namespace, not a network namespace/,
    (s) => setNs(s, 'network', '/proc/self/ns/ipc'),
  ],
  [
    'a namespace path that does not exist',
    /linux\.namespaces\[\d+\]\.path: cannot open .*: ENOENT/,
    (s) => setNs(s, 'ipc', '/nonexistent/ns/ipc'),
  ],
  ['a relative namespace path', /linux\.namespaces\[\d+\]\.path: must be an absolute path/, (s) => setNs(s, 'ipc', 'proc/1/ns/ipc')],
  [
    'duplicate namespace types',
    /linux\.namespaces\[\d+\]\.type: duplicate namespace type "network"/,
    (s) => s.linux!.namespaces!.push({ type: 'network' }),
  ],
  [
    'hostname without a UTS namespace',
    /^tsrun: .*hostname: setting the hostname requires a new UTS namespace/m,
    (s) => {
      s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'uts');
      s.hostname = 'h';
    },
  ],
  [
    'uidMappings without a user namespace',
    /linux\.uidMappings: id mappings require a user namespace/,
    (s) => {
      s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 1 }];
    },
  ],
  ['a user namespace without mappings', /linux\.uidMappings: a new user namespace requires uid mappings/, (s) => setNs(s, 'user')],
  [
    'a user namespace with uid but no gid mappings',
    /linux\.gidMappings: a new user namespace requires gid mappings/,
    (s) => {
      setNs(s, 'user');
      s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    },
  ],
  [
    'a mapping of size zero',
    /linux\.gidMappings\[0\]\.size: must not be zero/,
    (s) => {
      setNs(s, 'user');
      s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 0 }];
    },
  ],
  [
    'timeOffsets without a time namespace',
    /linux\.timeOffsets: time offsets require a time namespace/,
    (s) => {
      s.linux!.timeOffsets = { monotonic: { secs: 1 } };
    },
  ],
  [
    'timeOffsets for a joined time namespace',
    /linux\.timeOffsets: cannot set offsets of an existing time namespace/,
    (s) => {
      setNs(s, 'time', '/proc/self/ns/time');
      s.linux!.timeOffsets = { monotonic: { secs: 1 } };
    },
  ],
  [
    'timeOffsets for an unknown clock',
    /linux\.timeOffsets\.realtime: unknown clock/,
    (s) => {
      setNs(s, 'time');
      s.linux!.timeOffsets = { realtime: { secs: 1 } };
    },
  ],
  [
    'timeOffsets nanosecs out of range',
    /linux\.timeOffsets\.boottime\.nanosecs: must be between 0 and 999999999/,
    (s) => {
      setNs(s, 'time');
      s.linux!.timeOffsets = { boottime: { secs: 1, nanosecs: 1_000_000_000 } };
    },
  ],
  [
    'a net sysctl without a network namespace',
    /linux\.sysctl\["net\.ipv4\.ip_forward"\]: .*not allowed in the host's network namespace/,
    (s) => {
      s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'network');
      s.linux!.sysctl = { 'net.ipv4.ip_forward': '1' };
    },
  ],
  [
    'an ipc sysctl without an ipc namespace',
    /linux\.sysctl\["kernel\.msgmax"\]: .*not allowed in the host's ipc namespace/,
    (s) => {
      s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'ipc');
      s.linux!.sysctl = { 'kernel.msgmax': '8192' };
    },
  ],
  [
    'a host-wide sysctl',
    /linux\.sysctl\["vm\.swappiness"\]: .*not in a separate kernel namespace/,
    (s) => {
      s.linux!.sysctl = { 'vm.swappiness': '10' };
    },
  ],
];

for (const [what, want, mutate] of invalid) {
  rootTest(`validation: ${what} is refused before clone with the JSON path`, (t) => {
    const root = tempRoot();
    const b = makeBundle();
    mutate(b.spec, b);
    b.write();
    const id = uniqueId('bad');
    const r = runtime(TSRUN, root, ['create', '-b', b.dir, id]);
    t.is(r.status, 1, r.stdout);
    t.regex(r.stderr, want);
    t.deepEqual(leftIn(root), [], 'nothing left behind');
    t.is(runtime(TSRUN, root, ['delete', '--force', id]).status, 0);
    b.cleanup();
  });
}

rootTest('a network namespace of its own has lo up, as runc brings it up; a joined one is left as it is', (t) => {
  const script = 'cat /sys/class/net/lo/flags; cat /sys/class/net/lo/operstate';
  for (const bin of [TSRUN, ...(RUNC ? [RUNC] : [])]) {
    const b = sh(script);
    const r = runtime(bin, tempRoot(), ['run', '-b', b.dir, uniqueId('lo')]);
    t.is(r.status, 0, r.stderr);
    // IFF_UP (0x1) set; lo has no carrier state beyond "unknown"
    t.true((parseInt(r.stdout.split('\n')[0]!, 16) & 1) === 1, `${path.basename(bin)}: ${r.stdout}`);
    b.cleanup();
  }
  // a joined namespace: its lo stays down (nobody asked for it to change)
  const made = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-netns-'));
  const nsFile = path.join(made, 'net');
  fs.writeFileSync(nsFile, '');
  const u = spawnSync('unshare', [`--net=${nsFile}`, 'true']);
  t.is(u.status, 0, String(u.stderr));
  const b = sh(script, (s) => setNs(s, 'network', nsFile));
  const r = runtime(TSRUN, tempRoot(), ['run', '-b', b.dir, uniqueId('lo')]);
  t.is(r.status, 0, r.stderr);
  t.is(parseInt(r.stdout.split('\n')[0]!, 16) & 1, 0, r.stdout);
  spawnSync('umount', [nsFile]);
  fs.rmSync(made, { recursive: true, force: true });
  b.cleanup();
});
