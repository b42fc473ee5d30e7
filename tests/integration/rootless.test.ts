/**
 * Rootless: tsrun run by an unprivileged user (created here, with
 * /etc/subuid and /etc/subgid ranges), each command compared with
 * `runc --rootless true` on the same bundle: `spec --rootless`, run, exec,
 * kill, delete, state under $XDG_RUNTIME_DIR, single- and multi-range id
 * maps, and what an unprivileged runtime must refuse before anything exists.
 * Needs root (to make the user) and unprivileged user namespaces.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { Spec } from '../../lib/config/types.js';
import { BUSYBOX, ROOT, RUNC, TSRUN, leftIn } from '../helpers/bundle.js';
import { SUB_COUNT, as, chownTree, setUp, type Result } from '../helpers/rootless.js';
import { waitForSync } from '../helpers/wait.js';

const APPLETS = ['sh', 'cat', 'id', 'ls', 'sleep', 'true', 'echo', 'stat', 'touch', 'head'];

const { who, skip } = setUp();
const rootless = who ? test : test.skip;
if (skip) test('rootless suite', (t) => t.pass(`skipped: ${skip}`));

const tsrun = (args: string[], cwd?: string) => as(who!, TSRUN, args, cwd);
const runc = (args: string[], cwd?: string) => as(who!, RUNC!, ['--rootless', 'true', ...args], cwd);

/** Both runtimes, as the user: each comparison runs the same steps with each. */
const RUNTIMES = [
  ['tsrun', tsrun],
  ['runc', runc],
] as const;

/** The init's pid from `state`. */
const pidOf = (rt: (args: string[]) => Result, id: string) => (JSON.parse(rt(['state', id]).stdout) as { pid: number }).pid;

let counter = 0;
const uniqueId = (p: string) => `${p}-${process.pid}-${++counter}`;

interface Bundle {
  dir: string;
  spec: Spec;
  write(): void;
  cleanup(): void;
}

/** A bundle the user owns, its config.json from `tsrun spec --rootless` (run as the user), terminal off. */
function rootlessBundle(args: string[], mutate?: (s: Spec) => void): Bundle {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-rootless-'));
  const rootfs = path.join(dir, 'rootfs');
  for (const d of ['bin', 'proc', 'sys', 'dev', 'etc', 'tmp', 'root']) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
  fs.copyFileSync(BUSYBOX, path.join(rootfs, 'bin', 'busybox'));
  fs.chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
  for (const a of APPLETS) fs.symlinkSync('busybox', path.join(rootfs, 'bin', a));
  fs.chmodSync(dir, 0o755);
  chownTree(dir, who!.uid, who!.gid);
  const made = tsrun(['spec', '--rootless', '-b', dir]);
  if (made.status !== 0) throw new Error(`tsrun spec --rootless: ${made.stderr}`);
  const spec = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Spec;
  spec.ociVersion = '1.0.2-dev'; // what runc 1.1 accepts
  spec.process!.terminal = false;
  spec.process!.args = args;
  mutate?.(spec);
  const b: Bundle = {
    dir,
    spec,
    write() {
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(b.spec, null, 2));
      fs.chownSync(path.join(dir, 'config.json'), who!.uid, who!.gid);
    },
    cleanup() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  b.write();
  return b;
}

/** Both runtimes' containers of this suite are gone from the user's roots. */
function leftovers(): string[] {
  const out: string[] = [];
  for (const r of ['tsrun', 'runc']) {
    const dir = path.join(who!.xdg, r);
    out.push(...leftIn(dir).map((e) => `${r}/${e}`));
  }
  return out;
}

const multiRange = (s: Spec) => {
  s.linux!.uidMappings = [
    { containerID: 0, hostID: who!.uid, size: 1 },
    { containerID: 1, hostID: who!.subuid, size: SUB_COUNT },
  ];
  s.linux!.gidMappings = [
    { containerID: 0, hostID: who!.gid, size: 1 },
    { containerID: 1, hostID: who!.subgid, size: SUB_COUNT },
  ];
};

rootless('spec --rootless: runc’s rootless template, field by field', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-spec-'));
  fs.mkdirSync(path.join(dir, 'ours'));
  fs.mkdirSync(path.join(dir, 'theirs'));
  chownTree(dir, who!.uid, who!.gid);
  try {
    t.is(tsrun(['spec', '--rootless'], path.join(dir, 'ours')).status, 0);
    t.is(as(who!, RUNC!, ['spec', '--rootless'], path.join(dir, 'theirs')).status, 0);
    const read = (d: string) => JSON.parse(fs.readFileSync(path.join(dir, d, 'config.json'), 'utf8')) as Spec;
    const ours = read('ours');
    const theirs = read('theirs');
    t.deepEqual(ours.linux!.uidMappings, [{ containerID: 0, hostID: who!.uid, size: 1 }]);
    t.deepEqual(ours.linux!.uidMappings, theirs.linux!.uidMappings);
    t.deepEqual(ours.linux!.gidMappings, theirs.linux!.gidMappings);
    t.deepEqual(ours.linux!.namespaces, theirs.linux!.namespaces, 'no network namespace, a user namespace last');
    t.deepEqual(ours.mounts, theirs.mounts, 'sysfs bound read-only, no gid=5 on devpts');
    t.is(ours.linux!.resources, undefined);
    t.is(theirs.linux!.resources, undefined);
    t.deepEqual(ours.linux!.maskedPaths, theirs.linux!.maskedPaths);
    t.deepEqual(ours.linux!.readonlyPaths, theirs.linux!.readonlyPaths);
    t.deepEqual(ours.process!.user, theirs.process!.user);
    t.deepEqual(ours.process!.capabilities, theirs.process!.capabilities);
    t.deepEqual(ours.root, theirs.root);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

rootless('run: one own-id mapping (setgroups denied), the same container as runc --rootless', (t) => {
  const script = 'cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; id; ls /dev; stat -c %u:%g /';
  const b = rootlessBundle(['sh', '-c', script]);
  try {
    const ours = tsrun(['run', '-b', b.dir, uniqueId('t')]);
    const theirs = runc(['run', '-b', b.dir, uniqueId('r')]);
    t.is(theirs.status, 0, theirs.stderr);
    t.is(ours.status, 0, ours.stderr);
    t.is(ours.stdout, theirs.stdout);
    t.regex(ours.stdout, new RegExp(`^\\s*0\\s+${who!.uid}\\s+1\\n`));
    t.regex(ours.stdout, /\ndeny\n/);
    t.deepEqual(leftovers(), []);
  } finally {
    b.cleanup();
  }
});

rootless('run -d, state, exec, list, kill, delete: state under $XDG_RUNTIME_DIR/tsrun, as runc under …/runc', (t) => {
  const b = rootlessBundle(['sleep', '600']);
  try {
    for (const [name, rt] of RUNTIMES) {
      const id = uniqueId(name);
      const run = rt(['run', '-d', '-b', b.dir, id]);
      t.is(run.status, 0, `${name} run -d: ${run.stderr}`);
      const state = JSON.parse(rt(['state', id]).stdout) as { status: string; pid: number; owner?: string };
      t.is(state.status, 'running', name);
      t.true(fs.existsSync(path.join(who!.xdg, name, id)), `${name}: state in $XDG_RUNTIME_DIR/${name}`);
      const st = fs.statSync(path.join(who!.xdg, name));
      t.is(st.uid, who!.uid, name);
      t.is(st.mode & 0o7777, 0o1700, `${name}: the root is 0700 and sticky`);
      const status = fs.readFileSync(`/proc/${state.pid}/status`, 'utf8');
      t.regex(status, new RegExp(`^Uid:\\s+${who!.uid}\\s`, 'm'), `${name}: the init is the user on the host`);
      const ex = rt(['exec', id, 'sh', '-c', 'id; cat /proc/self/uid_map; echo exec-ok']);
      t.is(ex.status, 0, `${name} exec: ${ex.stderr}`);
      t.regex(ex.stdout, /uid=0\(?.*exec-ok/s, name);
      const list = rt(['list', '-q']);
      t.true(list.stdout.split('\n').includes(id), `${name} list: ${list.stdout}`);
      t.is(rt(['kill', id, 'KILL']).status, 0, name);
      const statusNow = () => (JSON.parse(rt(['state', id]).stdout) as { status: string }).status;
      waitForSync(() => statusNow() === 'stopped');
      t.is(statusNow(), 'stopped', name);
      const del = rt(['delete', id]);
      t.is(del.status, 0, `${name} delete: ${del.stderr}`);
      t.false(fs.existsSync(path.join(who!.xdg, name, id)), name);
    }
    t.deepEqual(leftovers(), []);
  } finally {
    b.cleanup();
  }
});

rootless('exec output matches runc’s', (t) => {
  const b = rootlessBundle(['sleep', '600']);
  const out: Record<string, string> = {};
  try {
    for (const [name, rt] of RUNTIMES) {
      const id = uniqueId(name);
      t.is(rt(['run', '-d', '-b', b.dir, id]).status, 0, name);
      const ex = rt(['exec', id, 'sh', '-c', 'id; cat /proc/self/uid_map /proc/self/setgroups; ls /dev']);
      t.is(ex.status, 0, `${name}: ${ex.stderr}`);
      out[name] = ex.stdout;
      t.is(rt(['delete', '--force', id]).status, 0, name);
    }
    t.is(out.tsrun, out.runc);
  } finally {
    b.cleanup();
  }
});

rootless('multi-range maps through newuidmap/newgidmap (/etc/subuid, /etc/subgid): the maps and a non-root user, as runc', (t) => {
  const b = rootlessBundle(['sh', '-c', 'cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; id -u; id -g'], (s) => {
    multiRange(s);
    s.process!.user = { uid: 1000, gid: 1000 };
  });
  try {
    const ours = tsrun(['run', '-b', b.dir, uniqueId('t')]);
    const theirs = runc(['run', '-b', b.dir, uniqueId('r')]);
    t.is(theirs.status, 0, theirs.stderr);
    t.is(ours.status, 0, ours.stderr);
    t.is(ours.stdout, theirs.stdout);
    const lines = ours.stdout
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/).join(' '));
    t.deepEqual(lines, [
      `0 ${who!.uid} 1`,
      `1 ${who!.subuid} ${SUB_COUNT}`,
      `0 ${who!.gid} 1`,
      `1 ${who!.subgid} ${SUB_COUNT}`,
      'allow',
      '1000',
      '1000',
    ]);
  } finally {
    b.cleanup();
  }
});

rootless('multi-range: additionalGids work (setgroups stays allowed; runc 1.1 refuses them in any rootless container)', (t) => {
  const b = rootlessBundle(['sh', '-c', 'id -G'], (s) => {
    multiRange(s);
    s.process!.user = { uid: 1000, gid: 1000, additionalGids: [5, 7] };
  });
  try {
    const ours = tsrun(['run', '-b', b.dir, uniqueId('t')]);
    t.is(ours.status, 0, ours.stderr);
    t.is(ours.stdout.trim(), '1000 5 7');
    const theirs = runc(['run', '-b', b.dir, uniqueId('r')]);
    t.not(theirs.status, 0);
    t.regex(theirs.stderr, /cannot set any additional groups in a rootless container/);
  } finally {
    b.cleanup();
  }
});

/** A config both runtimes refuse; ours names the field, before anything exists. */
const refusals: { name: string; mutate: (s: Spec) => void; field: RegExp; runcFails: boolean }[] = [
  {
    name: 'host uids outside /etc/subuid',
    mutate: (s) => {
      multiRange(s);
      s.linux!.uidMappings![1]!.hostID = 3_000_000;
    },
    field: /linux\.uidMappings\[1\]: host uids 3000000-.* are not yours to map: \/etc\/subuid gives tsrun-rootless/,
    runcFails: true,
  },
  {
    name: 'host gids outside /etc/subgid',
    mutate: (s) => {
      multiRange(s);
      s.linux!.gidMappings![1]!.hostID = 3_000_000;
    },
    field: /linux\.gidMappings\[1\]: host gids 3000000-/,
    runcFails: true,
  },
  {
    name: 'additionalGids when only the own gid is mapped (setgroups denied)',
    mutate: (s) => {
      s.process!.user = { uid: 0, gid: 0, additionalGids: [1] };
    },
    field: /process\.user\.additionalGids: cannot set any additional groups in a rootless container/,
    runcFails: true,
  },
  {
    name: 'no user namespace',
    mutate: (s) => {
      s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'user');
      delete s.linux!.uidMappings;
      delete s.linux!.gidMappings;
    },
    field: /linux\.namespaces: rootless container requires user namespaces/,
    runcFails: true,
  },
  {
    name: 'oomScoreAdj below our own',
    mutate: (s) => {
      s.process!.oomScoreAdj = -500;
    },
    field: /process\.oomScoreAdj: -500 is below the runtime's own/,
    runcFails: true,
  },
  {
    name: 'a cgroupsPath without a writable cgroup',
    mutate: (s) => {
      s.linux!.cgroupsPath = '/tsrun-rootless-test/x';
    },
    field: /linux\.cgroupsPath: rootless: no permission to create cgroup/,
    runcFails: true,
  },
  {
    name: 'a memory limit without a writable cgroup',
    mutate: (s) => {
      s.linux!.resources = { memory: { limit: 64 * 1024 * 1024 } };
    },
    field: /linux\.resources\.memory: rootless needs no limits \+ no cgrouppath/,
    runcFails: true,
  },
  {
    name: 'netDevices',
    mutate: (s) => {
      s.linux!.namespaces!.push({ type: 'network' });
      s.linux!.netDevices = { lo: {} };
    },
    field: /linux\.netDevices: moving host network devices needs CAP_NET_ADMIN/,
    runcFails: false, // runc 1.1 has no netDevices
  },
];

for (const r of refusals) {
  rootless(`refused before anything exists: ${r.name}`, (t) => {
    const b = rootlessBundle(['true'], r.mutate);
    try {
      const ours = tsrun(['run', '-b', b.dir, uniqueId('t')]);
      t.is(ours.status, 1);
      t.regex(ours.stderr, r.field);
      if (r.runcFails) t.not(runc(['run', '-b', b.dir, uniqueId('r')]).status, 0, 'runc refuses it too');
      t.deepEqual(leftovers(), []);
    } finally {
      b.cleanup();
    }
  });
}

rootless('device rules alone are no limit: skipped without a cgroup, as runc', (t) => {
  const b = rootlessBundle(['true'], (s) => {
    s.linux!.resources = { devices: [{ allow: false, access: 'rwm' }] };
  });
  try {
    const ours = tsrun(['run', '-b', b.dir, uniqueId('t')]);
    const theirs = runc(['run', '-b', b.dir, uniqueId('r')]);
    t.is(theirs.status, 0, theirs.stderr);
    t.is(ours.status, 0, ours.stderr);
  } finally {
    b.cleanup();
  }
});

rootless('--rootless false: cgroup permission errors are errors again, as runc', (t) => {
  const b = rootlessBundle(['true']);
  try {
    const ours = as(who!, TSRUN, ['--rootless', 'false', 'run', '-b', b.dir, uniqueId('t')]);
    const theirs = as(who!, RUNC!, ['--rootless', 'false', 'run', '-b', b.dir, uniqueId('r')]);
    t.not(theirs.status, 0);
    t.is(ours.status, 1);
    t.regex(ours.stderr, /EACCES|permission denied/i);
    t.deepEqual(leftovers(), []);
    const bad = as(who!, TSRUN, ['--rootless', 'maybe', 'list']);
    t.is(bad.status, 1);
    t.regex(bad.stderr, /--rootless/);
  } finally {
    b.cleanup();
  }
});

rootless('--root still wins over $XDG_RUNTIME_DIR', (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-own-root-'));
  fs.chownSync(root, who!.uid, who!.gid);
  const b = rootlessBundle(['sleep', '600']);
  const id = uniqueId('t');
  try {
    t.is(as(who!, TSRUN, ['--root', root, 'run', '-d', '-b', b.dir, id]).status, 0);
    t.true(fs.existsSync(path.join(root, id)));
    t.false(fs.existsSync(path.join(who!.xdg, 'tsrun', id)));
    t.is(tsrun(['state', id]).status, 1, 'not under the default root');
    t.is(as(who!, TSRUN, ['--root', root, 'delete', '--force', id]).status, 0);
  } finally {
    b.cleanup();
    fs.rmSync(root, { recursive: true, force: true });
  }
});

rootless('root inside a user namespace (unshare --map-root-user, as rootless podman runs a runtime): run, as runc', (t) => {
  const b = rootlessBundle(['sh', '-c', 'id; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups'], (s) => {
    // the template as root of that namespace writes it: its own ids, 0
    s.linux!.uidMappings = [{ containerID: 0, hostID: 0, size: 1 }];
    s.linux!.gidMappings = [{ containerID: 0, hostID: 0, size: 1 }];
  });
  const inNs = (bin: string, args: string[]) => as(who!, 'unshare', ['--user', '--map-root-user', '--mount', bin, ...args]);
  try {
    const ours = inNs(TSRUN, ['run', '-b', b.dir, uniqueId('t')]);
    const theirs = inNs(RUNC!, ['run', '-b', b.dir, uniqueId('r')]);
    t.is(theirs.status, 0, theirs.stderr);
    t.is(ours.status, 0, ours.stderr);
    t.is(ours.stdout, theirs.stdout);
    t.regex(ours.stdout, /\ndeny\n$/, "the parent's denied setgroups is inherited");
    // $USER is not root: runc's rule keeps the XDG root inside the namespace
    t.deepEqual(leftovers(), []);
    t.true(fs.existsSync(path.join(who!.xdg, 'tsrun')));
    const wide = rootlessBundle(['true'], (s) => {
      s.linux!.uidMappings = [{ containerID: 0, hostID: 0, size: 2 }];
      s.linux!.gidMappings = [{ containerID: 0, hostID: 0, size: 1 }];
    });
    const refused = inNs(TSRUN, ['run', '-b', wide.dir, uniqueId('t')]);
    wide.cleanup();
    t.is(refused.status, 1);
    t.regex(refused.stderr, /linux\.uidMappings\[0\]: host uids 0-1 do not exist in the runtime's own user namespace/);
  } finally {
    b.cleanup();
  }
});

rootless('create, then delete --force before start: the init is killed, as runc', (t) => {
  const b = rootlessBundle(['sleep', '600']);
  try {
    for (const [name, rt] of RUNTIMES) {
      const id = uniqueId(name);
      t.is(rt(['create', '-b', b.dir, id]).status, 0, name);
      const pid = pidOf(rt, id);
      const del = rt(['delete', '--force', id]);
      t.is(del.status, 0, `${name}: ${del.stderr}`);
      t.false(fs.existsSync(`/proc/${pid}/status`) && !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8')), name);
    }
    t.deepEqual(leftovers(), []);
  } finally {
    b.cleanup();
  }
});

rootless('exec before start, createContainer and startContainer hooks, as runc --rootless', (t) => {
  const out: Record<string, string> = {};
  for (const [name, rt] of RUNTIMES) {
    let dir = '';
    const b = rootlessBundle(['sleep', '600'], (s) => {
      s.root!.readonly = false;
      // createContainer: a host path, run in the container's namespaces
      // before pivot_root; startContainer: a path in the container
      s.hooks = {
        createContainer: [
          { path: '/bin/sh', args: ['sh', '-c', 'readlink /proc/self/ns/uts > "$0/create.out"; id -u >> "$0/create.out"'] },
        ],
        startContainer: [{ path: '/bin/sh', args: ['sh', '-c', 'id -u > /tmp/start.out; hostname >> /tmp/start.out'] }],
      };
    });
    dir = b.dir;
    b.spec.hooks!.createContainer![0]!.args!.push(dir);
    b.write();
    const id = uniqueId(name);
    try {
      const created = rt(['create', '-b', dir, id]);
      t.is(created.status, 0, `${name} create: ${created.stderr}`);
      const pid = pidOf(rt, id);
      const [uts, uid] = fs.readFileSync(path.join(dir, 'create.out'), 'utf8').trim().split('\n');
      t.is(uts, fs.readlinkSync(`/proc/${pid}/ns/uts`), `${name}: createContainer ran in the container's uts namespace`);
      t.is(uid, '0', name);
      const ex = rt(['exec', id, 'sh', '-c', 'id -u; hostname; cat /proc/self/uid_map']);
      t.is(ex.status, 0, `${name} exec before start: ${ex.stderr}`);
      t.is((JSON.parse(rt(['state', id]).stdout) as { status: string }).status, 'created', `${name}: still created`);
      t.false(fs.existsSync(path.join(dir, 'rootfs', 'tmp', 'start.out')), `${name}: startContainer waits for start`);
      const started = rt(['start', id]);
      t.is(started.status, 0, `${name} start: ${started.stderr}`);
      out[name] = `${ex.stdout}--\n${fs.readFileSync(path.join(dir, 'rootfs', 'tmp', 'start.out'), 'utf8')}`;
    } finally {
      t.is(rt(['delete', '--force', id]).status, 0, name);
      b.cleanup();
    }
  }
  t.is(out.tsrun, out.runc);
  t.deepEqual(leftovers(), []);
});

rootless(
  'a created init waits dumpable (so the user may join it) holding nothing of the host’s: no directory fd, no runtime environment',
  (t) => {
    const b = rootlessBundle(['sleep', '600']);
    const id = uniqueId('t');
    try {
      t.is(tsrun(['create', '-b', b.dir, id]).status, 0);
      const pid = pidOf(tsrun, id);
      // a process's /proc/<pid>/ns (not /proc/<pid>) is root's while it is not dumpable
      t.is(fs.statSync(`/proc/${pid}/ns`).uid, who!.uid, 'dumpable: its /proc/<pid>/ns is the user’s');
      for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
        const target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
        let dirFd = false;
        try {
          dirFd = fs.statSync(`/proc/${pid}/fd/${fd}`).isDirectory();
        } catch {
          /* a socket or pipe */
        }
        t.false(dirFd, `fd ${fd} (${target}) is a directory`);
      }
      const environ = fs.readFileSync(`/proc/${pid}/environ`, 'utf8');
      t.notRegex(environ, /XDG_RUNTIME_DIR|HOME=|PATH=/, 'the runtime’s environment is gone');
      const inside = tsrun(['exec', id, 'cat', '/proc/1/environ']);
      t.is(inside.status, 0, inside.stderr);
      t.notRegex(inside.stdout, /XDG_RUNTIME_DIR|HOME=/);
      t.is(tsrun(['start', id]).status, 0);
      t.is(tsrun(['exec', id, 'true']).status, 0, 'once started');
    } finally {
      tsrun(['delete', '--force', id]);
      b.cleanup();
    }
  },
);

rootless(
  'joining a created container’s user namespace (setgroups denied): runs without setgroups, additionalGids refused by field',
  (t) => {
    const a = rootlessBundle(['sleep', '600']);
    const id = uniqueId('t');
    try {
      t.is(tsrun(['create', '-b', a.dir, id]).status, 0);
      const pid = pidOf(tsrun, id);
      const joining = (gids: number[]) =>
        rootlessBundle(['sh', '-c', 'cat /proc/self/setgroups; readlink /proc/self/ns/user'], (s) => {
          s.linux!.namespaces = s.linux!.namespaces!.map((n) => (n.type === 'user' ? { type: 'user', path: `/proc/${pid}/ns/user` } : n));
          delete s.linux!.uidMappings;
          delete s.linux!.gidMappings;
          s.process!.user = { uid: 0, gid: 0, additionalGids: gids };
        });
      const ok = joining([]);
      const refused = joining([1]);
      try {
        const ran = tsrun(['run', '-b', ok.dir, uniqueId('t')]);
        t.is(ran.status, 0, ran.stderr);
        t.is(ran.stdout, `deny\n${fs.readlinkSync(`/proc/${pid}/ns/user`)}\n`);
        const no = tsrun(['run', '-b', refused.dir, uniqueId('t')]);
        t.is(no.status, 1);
        t.regex(
          no.stderr,
          /process\.user\.additionalGids: cannot set any additional groups: the user namespace linux\.namespaces\[\d\]\.path joins denies setgroups/,
        );
      } finally {
        ok.cleanup();
        refused.cleanup();
      }
    } finally {
      tsrun(['delete', '--force', id]);
      a.cleanup();
    }
    t.deepEqual(leftovers(), []);
  },
);

/** The compiled CLI, the addon and the init, copied where the user may write them (the layout bin/tsrun finds). */
const CLI = path.join(ROOT, 'dist', 'tsrun-cli');
(who && fs.existsSync(CLI) ? test : test.skip)(
  'a runtime the user may write: the created init runs from a sealed copy of tsrun-init, so it waits dumpable and its exe cannot be rewritten (CVE-2019-5736)',
  (t) => {
    const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-writable-'));
    fs.mkdirSync(path.join(copy, 'dist'));
    fs.mkdirSync(path.join(copy, 'build', 'Release'), { recursive: true });
    fs.copyFileSync(CLI, path.join(copy, 'dist', 'tsrun-cli'));
    fs.chmodSync(path.join(copy, 'dist', 'tsrun-cli'), 0o755);
    for (const f of ['tsrun.node', 'tsrun-init'])
      fs.copyFileSync(path.join(ROOT, 'build', 'Release', f), path.join(copy, 'build', 'Release', f));
    fs.chmodSync(path.join(copy, 'build', 'Release', 'tsrun-init'), 0o755);
    fs.chmodSync(copy, 0o755);
    chownTree(copy, who!.uid, who!.gid);
    const mine = (args: string[]) => as(who!, path.join(copy, 'dist', 'tsrun-cli'), args);
    const b = rootlessBundle(['sleep', '600']);
    const id = uniqueId('t');
    try {
      t.is(mine(['create', '-b', b.dir, id]).status, 0);
      const pid = pidOf(mine, id);
      t.is(fs.statSync(`/proc/${pid}/ns`).uid, who!.uid, 'dumpable: the user may join it');
      t.regex(fs.readlinkSync(`/proc/${pid}/exe`), /^\/memfd:tsrun-init/, 'its exe is the sealed memfd, not a file of the user’s');
      // sealed: F_GET_SEALS (1034) has F_SEAL_WRITE (8), so nothing can be written to it even once the init has exec'd
      const seals = spawnSync('python3', ['-c', `import fcntl,os; print(fcntl.fcntl(os.open('/proc/${pid}/exe', os.O_RDONLY), 1034))`], {
        encoding: 'utf8',
      });
      t.is(seals.status, 0, seals.stderr);
      t.true((Number(seals.stdout) & 8) !== 0, `seals ${seals.stdout}`);
      // from inside: the container's root (the user) reopens the init's exe for writing
      const ex = mine(['exec', id, 'sh', '-c', '(exec 3<>/proc/1/exe) 2>/dev/null && echo OPENED || echo REFUSED']);
      t.is(ex.status, 0, ex.stderr);
      t.is(ex.stdout.trim(), 'REFUSED');
      t.is(mine(['start', id]).status, 0);
      t.is(mine(['exec', id, 'true']).status, 0, 'once started');
    } finally {
      mine(['delete', '--force', id]);
      b.cleanup();
      fs.rmSync(copy, { recursive: true, force: true });
    }
  },
);

/**
 * A cgroup v2 subtree delegated to the user (what systemd's user@.service
 * gives a login): the container's cgroup is made there and its limits
 * apply, as with runc. Needs a pure v2 host: npm test's cgroup-v2 VM
 * (tests/vm/run-in-vm.sh) runs it; elsewhere it is skipped.
 */
const V2 = fs.existsSync('/sys/fs/cgroup/cgroup.controllers');
(who && V2 ? test : test.skip)('delegated cgroup v2: the container’s cgroup is made in it with its limits, as runc', (t) => {
  const deleg = `/sys/fs/cgroup/tsrun-rootless-${process.pid}`;
  const runtimeCg = path.join(deleg, 'runtime');
  fs.mkdirSync(runtimeCg, { recursive: true });
  const own = (p: string) => fs.chownSync(p, who!.uid, who!.gid);
  try {
    fs.writeFileSync(path.join(deleg, 'cgroup.subtree_control'), '+memory +pids');
    for (const f of ['', 'cgroup.procs', 'cgroup.subtree_control', 'cgroup.threads']) own(path.join(deleg, f));
    for (const f of ['', 'cgroup.procs', 'cgroup.threads']) own(path.join(runtimeCg, f));
    const limits: Record<string, string> = {};
    for (const [name, bin, pre] of [
      ['tsrun', TSRUN, []],
      ['runc', RUNC!, ['--rootless', 'true']],
    ] as const) {
      const id = uniqueId(name);
      const ctr = path.join(deleg, `ctr-${name}`);
      const b = rootlessBundle(['sleep', '600'], (s) => {
        s.linux!.cgroupsPath = ctr.slice('/sys/fs/cgroup'.length);
        s.linux!.resources = { memory: { limit: 64 * 1024 * 1024 }, pids: { limit: 50 } };
      });
      try {
        const run = as(who!, bin, [...pre, 'run', '-d', '-b', b.dir, id], '/', { cgroup: runtimeCg });
        t.is(run.status, 0, `${name}: ${run.stderr}`);
        limits[name] = ['memory.max', 'pids.max'].map((f) => fs.readFileSync(path.join(ctr, f), 'utf8').trim()).join(' ');
        const pid = (JSON.parse(as(who!, bin, [...pre, 'state', id]).stdout) as { pid: number }).pid;
        t.true(fs.readFileSync(path.join(ctr, 'cgroup.procs'), 'utf8').split('\n').includes(String(pid)), `${name}: the init is in it`);
        t.is(as(who!, bin, [...pre, 'delete', '--force', id], '/', { cgroup: runtimeCg }).status, 0, name);
        t.false(fs.existsSync(ctr), `${name}: delete removed it`);
      } finally {
        b.cleanup();
      }
    }
    t.is(limits.tsrun, `${64 * 1024 * 1024} 50`);
    t.is(limits.tsrun, limits.runc);
  } finally {
    for (const d of fs.readdirSync(deleg).filter((e) => e.startsWith('ctr-') || e === 'runtime')) {
      try {
        fs.rmdirSync(path.join(deleg, d));
      } catch {
        /* still busy: the host's reaper */
      }
    }
    fs.rmdirSync(deleg);
  }
});
