/**
 * cgroups on the real kernel: limits read back from the cgroup files AND
 * seen by effect (OOM kill, pids.max, a denied device, a frozen counter).
 * Mode-agnostic: on this hybrid host it exercises the v1 backend; the
 * cgroup-v2 suite runs the same file inside the VM (tests/vm/cgroup2.sh).
 * Every test deletes its container, which removes its cgroup.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { hostCgroups } from '../../lib/cgroups/host.js';
import type { Spec } from '../../lib/config/types.js';
import { subtreeDeepestFirst } from '../../lib/cgroups/fs.js';
import { IS_ROOT, RUNC, TSRUN, makeBundle, runtime, tempRoot, uniqueId, type Bundle } from '../helpers/bundle.js';
import { holdsFor, scaled, until } from '../helpers/wait.js';

const host = hostCgroups();
const V2 = host.mode === 'unified';
const cgTest = IS_ROOT && host.mode !== 'none' ? test.serial : test.skip;
/** cgroup v1 (hybrid or legacy), compared with runc on the same bundle: the cgroup-v2 VM skips these. */
const runcTest = IS_ROOT && !V2 && host.mode !== 'none' && RUNC ? test.serial : test.skip;
const MiB = 1024 * 1024;

/** The container's directory for a controller ("" = v2). */
function cgDir(pid: number, controller: string): string | null {
  const lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
  for (const l of lines) {
    const m = /^\d+:([^:]*):(.*)$/.exec(l);
    if (!m) continue;
    if (V2 && m[1] === '') return path.join(host.v2Mount!, m[2]!);
    if (!V2 && m[1]!.split(',').includes(controller)) {
      const h = host.v1.find((x) => x.controllers.includes(controller));
      return h ? path.join(h.mountPoint, m[2]!) : null;
    }
  }
  return null;
}

function has(controller: string): boolean {
  if (V2) return fs.readFileSync(path.join(host.v2Mount!, 'cgroup.controllers'), 'utf8').split(/\s+/).includes(controller);
  return host.v1.some((h) => h.controllers.includes(controller));
}

function read(pid: number, controller: string, v2file: string, v1file: string): string {
  return fs.readFileSync(path.join(cgDir(pid, controller)!, V2 ? v2file : v1file), 'utf8').trim();
}

interface Ctr {
  id: string;
  root: string;
  b: Bundle;
  pid: number;
  dirs: string[];
  tsrun(args: string[], input?: string): ReturnType<typeof runtime>;
}

const cleanups: (() => void)[] = [];
test.after.always(() => {
  for (const c of cleanups) c();
});

/** create (+ start), registering cleanup: delete --force, then check the cgroup is gone. */
function createCtr(t: ExecutionContext, mutate: (s: Spec) => void, start = true): Ctr {
  const root = tempRoot();
  const id = uniqueId('cg');
  const b = makeBundle((s) => {
    s.linux!.cgroupsPath = `/tsrun-test-${id}`;
    mutate(s);
  });
  const c = runtime(TSRUN, root, ['create', '--bundle', b.dir, id]);
  if (c.status !== 0) {
    b.cleanup();
    throw new Error(`create: ${c.stderr}`);
  }
  const state = JSON.parse(runtime(TSRUN, root, ['state', id]).stdout) as { pid: number };
  const dirs = fs.readFileSync(`/proc/${state.pid}/cgroup`, 'utf8').includes(`tsrun-test-${id}`)
    ? [
        ...new Set(
          ['memory', 'pids', 'cpu', 'devices', 'freezer', 'cpuset'].map((k) => cgDir(state.pid, k)).filter((d): d is string => !!d),
        ),
      ]
    : [];
  const ctr: Ctr = { id, root, b, pid: state.pid, dirs, tsrun: (args, input) => runtime(TSRUN, root, args, { input }) };
  let done = false;
  const cleanup = () => {
    if (done) return;
    done = true;
    runtime(TSRUN, root, ['delete', '--force', id]);
    b.cleanup();
  };
  cleanups.push(cleanup);
  t.teardown(cleanup);
  if (start) t.is(ctr.tsrun(['start', id]).status, 0);
  return ctr;
}

cgTest('the init is born in its cgroup at cgroupsPath; delete removes the cgroup', (t) => {
  const c = createCtr(t, () => undefined, false);
  t.true(c.dirs.length > 0, 'the init is in the container cgroup');
  for (const d of c.dirs) t.true(d.endsWith(`/tsrun-test-${c.id}`), d);
  t.deepEqual(JSON.parse(c.tsrun(['ps', '--format', 'json', c.id]).stdout), [c.pid]);
  t.is(c.tsrun(['delete', '--force', c.id]).status, 0);
  for (const d of c.dirs) t.false(fs.existsSync(d), `${d} removed`);
});

cgTest('memory: limit in the files; a hog is OOM-killed at the limit and events reports it', async (t) => {
  if (!has('memory')) return t.pass('no memory controller');
  const c = createCtr(
    t,
    (s) => {
      // no swap to escape into (memory+swap = memory), where the kernel accounts swap
      const memsw =
        V2 || fs.existsSync(path.join(host.v1.find((h) => h.controllers.includes('memory'))!.mountPoint, 'memory.memsw.limit_in_bytes'));
      s.linux!.resources = { memory: { limit: 32 * MiB, reservation: 16 * MiB, ...(memsw ? { swap: 32 * MiB } : {}) } };
      // the hog is a child shell (its command substitution holds the data); the init survives it.
      // It starts once the test has made /go: when events is watching, however long that took
      s.process!.args = [
        'sh',
        '-c',
        `while [ ! -e /go ]; do sleep 0.05; done; sh -c 'a=$(busybox head -c 100000000 /dev/zero | busybox tr "\\0" x)'; sleep 600`,
      ];
    },
    false,
  );
  t.is(read(c.pid, 'memory', 'memory.max', 'memory.limit_in_bytes'), String(32 * MiB));
  t.is(read(c.pid, 'memory', 'memory.low', 'memory.soft_limit_in_bytes'), String(16 * MiB));
  const out = path.join(os.tmpdir(), `tsrun-events-${c.id}`);
  const fd = fs.openSync(out, 'w');
  const ev = spawn(TSRUN, ['--root', c.root, 'events', '--interval', '1s', c.id], { stdio: ['ignore', fd, fd] });
  t.teardown(() => {
    ev.kill('SIGKILL');
    fs.rmSync(out, { force: true });
  });
  t.is(c.tsrun(['start', c.id]).status, 0);
  // its first stats line comes once it has read the OOM count an OOM kill must raise
  await until('events to start watching', () => fs.readFileSync(out, 'utf8').includes('"type":"stats"'));
  fs.writeFileSync(path.join(c.b.rootfs, 'go'), '');
  try {
    await until('an oom event', () => fs.readFileSync(out, 'utf8').includes('"type":"oom"'));
  } catch (e) {
    t.log(fs.readFileSync(out, 'utf8').slice(0, 2000), c.tsrun(['state', c.id]).stdout, c.dirs);
    throw e;
  }
  const lines = fs
    .readFileSync(out, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; id: string; data?: { memory: { usage: { limit: number } } } });
  t.true(lines.some((l) => l.type === 'oom' && l.id === c.id));
  const stats = lines.find((l) => l.type === 'stats');
  t.is(stats?.data?.memory.usage.limit, 32 * MiB);
  fs.closeSync(fd);
});

cgTest('pids: pids.max in the file; forks beyond it fail', async (t) => {
  if (!has('pids')) return t.pass('no pids controller');
  const c = createCtr(t, (s) => {
    s.linux!.resources = { pids: { limit: 8 } };
    s.root!.readonly = false;
    // busybox sh exits when fork fails: the loop runs in a subshell that may die
    s.process!.args = ['sh', '-c', '(i=0; while [ $i -lt 30 ]; do sleep 600 & i=$((i+1)); done) 2>/tmp/err; sleep 600'];
  });
  t.is(read(c.pid, 'pids', 'pids.max', 'pids.max'), '8');
  const errFile = `/proc/${c.pid}/root/tmp/err`;
  // at the limit from the failed fork on: the count can only drop (the forking subshell dies of it)
  await until('a fork to fail', () => fs.existsSync(errFile) && /can't fork/.test(fs.readFileSync(errFile, 'utf8')));
  const pids = JSON.parse(c.tsrun(['ps', '--format', 'json', c.id]).stdout) as number[];
  t.true(pids.length <= 8 && pids.length >= 5, `${pids.length} processes`);
  t.true(Number(read(c.pid, 'pids', 'pids.current', 'pids.current')) <= 8);
  // kill --all reaches every process of the cgroup
  t.is(c.tsrun(['kill', '--all', c.id, 'KILL']).status, 0);
  await until('every process gone', () => (JSON.parse(c.tsrun(['ps', '--format', 'json', c.id]).stdout) as number[]).length === 0);
  t.is(c.tsrun(['ps', '--format', 'json', c.id]).stdout, '[]\n');
});

cgTest('cpu: quota/period, shares (v2: converted weight), cpuset', (t) => {
  if (!has('cpu') || !has('cpuset')) return t.pass('no cpu/cpuset controller');
  const c = createCtr(t, (s) => {
    s.linux!.resources = { cpu: { quota: 20000, period: 100000, shares: 512, cpus: '0', mems: '0' } };
    s.process!.args = ['sleep', '600'];
  });
  if (V2) {
    t.is(read(c.pid, 'cpu', 'cpu.max', ''), '20000 100000');
    // runc's quadratic fit (runc ≥ 1.3.2): 512 shares, half the v1 default, is weight 59 (1024 is 100)
    t.is(read(c.pid, 'cpu', 'cpu.weight', ''), '59');
  } else {
    t.is(read(c.pid, 'cpu', '', 'cpu.cfs_quota_us'), '20000');
    t.is(read(c.pid, 'cpu', '', 'cpu.cfs_period_us'), '100000');
    t.is(read(c.pid, 'cpu', '', 'cpu.shares'), '512');
  }
  t.is(read(c.pid, 'cpuset', 'cpuset.cpus', 'cpuset.cpus'), '0');
  // by effect: the kernel keeps the process on CPU 0
  t.regex(fs.readFileSync(`/proc/${c.pid}/status`, 'utf8'), /^Cpus_allowed_list:\s+0$/m);
});

cgTest('devices: a denied device cannot be opened; an allowed one can', (t) => {
  const root = tempRoot();
  const id = uniqueId('cgdev');
  const b = makeBundle((s) => {
    s.linux!.cgroupsPath = `/tsrun-test-${id}`;
    s.linux!.devices = [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 0o666 }];
    s.linux!.resources = {
      devices: [
        { allow: false, access: 'rwm' },
        { allow: true, type: 'c', major: 10, minor: 229, access: 'r' },
      ],
    };
    s.process!.args = [
      'sh',
      '-c',
      'echo ok > /dev/null && echo null-ok; (exec 3</dev/fuse) && echo fuse-read-ok; (exec 4>/dev/fuse) || echo fuse-write-denied',
    ];
  });
  t.teardown(() => b.cleanup());
  const r = runtime(TSRUN, root, ['run', '--bundle', b.dir, id], { timeout: scaled(30_000) });
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /null-ok/);
  t.regex(r.stdout, /fuse-read-ok/);
  t.regex(r.stdout, /fuse-write-denied/);
  t.regex(r.stderr, /[Oo]peration not permitted/);
  t.false(
    fs.existsSync(path.join(V2 ? host.v2Mount! : host.v1.find((h) => h.controllers.includes('devices'))!.mountPoint, `tsrun-test-${id}`)),
  );
});

cgTest(
  'devices: access strings as runc reads them ("rwa" is rw, other letters ignored; an "a" rule is every device); as runc on v1',
  (t) => {
    // a device node the cgroup decides on first: allowed, opening it fails in its driver (ENXIO);
    // denied, with EPERM
    const script = [
      'try() { if [ $1 = r ]; then e=$( (exec 3<$2) 2>&1 ); else e=$( (exec 3>$2) 2>&1 ); fi',
      '  case "$e" in *"not permitted"*) echo "$1 $2 denied";; *) echo "$1 $2 allowed";; esac; }',
      'for d in /dev/odd /dev/odder /dev/gone; do try r $d; try w $d; done',
    ].join('\n');
    const run = (bin: string) => {
      const id = uniqueId('cgacc');
      const b = makeBundle((s) => {
        s.linux!.cgroupsPath = `/tsrun-test-${id}`;
        s.linux!.devices = [
          { path: '/dev/odd', type: 'c', major: 1, minor: 250, fileMode: 0o666 },
          { path: '/dev/odder', type: 'c', major: 1, minor: 251, fileMode: 0o666 },
          { path: '/dev/gone', type: 'c', major: 1, minor: 252, fileMode: 0o666 },
        ];
        s.linux!.resources = {
          devices: [
            { allow: false, access: 'rwm' },
            { allow: true, type: 'c', major: 1, minor: 252, access: 'rw' },
            { allow: false, type: 'a', major: 1, access: 'r' }, // every device, whatever its major and access
            { allow: true, type: 'c', major: 1, minor: 250, access: 'rwa' },
            { allow: true, type: 'c', major: 1, minor: 251, access: 'rwx' },
            { allow: false, type: 'c', major: 1, minor: 251, access: 'wa' },
          ],
        };
        s.process!.args = ['sh', '-c', script];
      });
      try {
        return runtime(bin, tempRoot(), ['run', '--bundle', b.dir, id], { timeout: scaled(30_000) });
      } finally {
        b.cleanup();
      }
    };
    const ours = run(TSRUN);
    t.is(ours.status, 0, ours.stderr);
    t.is(
      ours.stdout,
      [
        'r /dev/odd allowed',
        'w /dev/odd allowed',
        'r /dev/odder allowed',
        'w /dev/odder denied',
        'r /dev/gone denied',
        'w /dev/gone denied',
        '',
      ].join('\n'),
    );
    if (!V2 && RUNC) {
      const theirs = run(RUNC);
      t.is(theirs.status, 0, theirs.stderr);
      t.is(ours.stdout, theirs.stdout, 'runc 1.1.5 reads the rules alike');
    }
  },
);

cgTest('pause freezes a counter, resume thaws it; state says paused', async (t) => {
  if (!V2 && !has('freezer')) return t.pass('no freezer');
  const c = createCtr(t, (s) => {
    s.root!.readonly = false;
    s.process!.args = ['sh', '-c', 'i=0; while true; do i=$((i+1)); echo $i > /tmp/count; done'];
  });
  const count = () => Number(fs.readFileSync(`/proc/${c.pid}/root/tmp/count`, 'utf8').trim() || 0);
  await until('the counter to run', () => fs.existsSync(`/proc/${c.pid}/root/tmp/count`) && count() > 0);
  t.is(c.tsrun(['pause', c.id]).status, 0);
  t.is(JSON.parse(c.tsrun(['state', c.id]).stdout).status, 'paused');
  const a = count();
  t.true(await holdsFor(() => count() === a, 500), `frozen: the counter stands still (${a}, then ${count()})`);
  const again = c.tsrun(['pause', c.id]);
  t.is(again.status, 1);
  t.regex(again.stderr, /container not running/);
  t.is(c.tsrun(['resume', c.id]).status, 0);
  t.is(JSON.parse(c.tsrun(['state', c.id]).stdout).status, 'running');
  await until('the counter to move again', () => count() > a);
  const notPaused = c.tsrun(['resume', c.id]);
  t.is(notPaused.status, 1);
  t.regex(notPaused.stderr, /container not paused/);
  // delete --force of a paused container works too
  t.is(c.tsrun(['pause', c.id]).status, 0);
  t.is(c.tsrun(['delete', '--force', c.id]).status, 0);
  for (const d of c.dirs) t.false(fs.existsSync(d), `${d} removed`);
});

cgTest('kill KILL of a paused container stops it, as runc (v1: the freezer is thawed for it)', async (t) => {
  if (!V2 && !has('freezer')) return t.pass('no freezer');
  const c = createCtr(t, (s) => {
    s.process!.args = ['sleep', '1000'];
  });
  t.is(c.tsrun(['pause', c.id]).status, 0);
  t.is(c.tsrun(['kill', c.id, 'KILL']).status, 0);
  await until('the container to stop', () => JSON.parse(c.tsrun(['state', c.id]).stdout).status === 'stopped');
  t.is(c.tsrun(['delete', c.id]).status, 0);
  for (const d of c.dirs) t.false(fs.existsSync(d), `${d} removed`);
});

cgTest('update: individual flags and --resources -', (t) => {
  if (!has('memory') || !has('pids')) return t.pass('no memory/pids controller');
  const c = createCtr(t, (s) => {
    s.linux!.resources = { memory: { limit: 64 * MiB }, pids: { limit: 50 } };
    s.process!.args = ['sleep', '600'];
  });
  let r = c.tsrun(['update', '--memory', '48m', '--pids-limit', '20', c.id]);
  t.is(r.status, 0, r.stderr);
  t.is(read(c.pid, 'memory', 'memory.max', 'memory.limit_in_bytes'), String(48 * MiB));
  t.is(read(c.pid, 'pids', 'pids.max', 'pids.max'), '20');
  r = c.tsrun(['update', '-r', '-', c.id], JSON.stringify({ pids: { limit: 30 } }));
  t.is(r.status, 0, r.stderr);
  t.is(read(c.pid, 'pids', 'pids.max', 'pids.max'), '30');
  r = c.tsrun(['update', '--resources', '-', c.id], JSON.stringify({ cpu: { cpus: 'zero' } }));
  t.is(r.status, 1);
  t.regex(r.stderr, /linux\.resources\.cpu\.cpus/);
});

// The kernel refuses a weight (v2) or shares (v1) while the group is idle:
// the weight goes before entering idle, and leaving idle before the weight.
cgTest('cpu.idle with shares: entered at create, left by update with new shares', (t) => {
  if (!has('cpu')) return t.pass('no cpu controller');
  const c = createCtr(t, (s) => {
    s.linux!.resources = { cpu: { shares: 2048, idle: 1 } };
    s.process!.args = ['sleep', '600'];
  });
  if (!fs.existsSync(path.join(cgDir(c.pid, 'cpu')!, 'cpu.idle'))) return t.pass('no cpu.idle in this kernel');
  t.is(read(c.pid, 'cpu', 'cpu.idle', 'cpu.idle'), '1');
  const u = c.tsrun(['update', '--cpu-idle', '0', '--cpu-share', '512', c.id]);
  t.is(u.status, 0, u.stderr);
  t.is(read(c.pid, 'cpu', 'cpu.idle', 'cpu.idle'), '0');
  t.is(read(c.pid, 'cpu', 'cpu.weight', 'cpu.shares'), V2 ? '59' : '512');
});

cgTest('pids.limit 0 is a limit (runtime-spec 1.3): pids.max 1, as runc ≥ 1.4 writes it, at create and update; no fork succeeds', (t) => {
  if (!has('pids')) return t.pass('no pids controller');
  // by effect: the init's first fork fails (busybox sh gives up on it)
  const root = tempRoot();
  const id = uniqueId('cgpids0');
  const b = makeBundle((s) => {
    s.linux!.cgroupsPath = `/tsrun-test-${id}`;
    s.linux!.resources = { pids: { limit: 0 } };
    s.root!.readonly = false;
    s.process!.args = ['sh', '-c', ': > /tmp/started; (: > /tmp/forked); : > /tmp/after'];
  });
  t.teardown(() => b.cleanup());
  const r = runtime(TSRUN, root, ['run', '--bundle', b.dir, id]);
  t.is(r.status, 2, r.stderr);
  t.regex(r.stderr, /can't fork/);
  t.true(fs.existsSync(path.join(b.rootfs, 'tmp/started')), 'the init ran');
  t.false(fs.existsSync(path.join(b.rootfs, 'tmp/forked')), 'its fork failed');
  // the file, and update's 0 (an init that never forks)
  const c = createCtr(t, (s) => {
    s.linux!.resources = { pids: { limit: 0 } };
    s.process!.args = ['sleep', '600'];
  });
  t.is(read(c.pid, 'pids', 'pids.max', 'pids.max'), '1');
  for (const [flag, want] of [
    ['5', '5'],
    ['0', '1'],
    ['-1', 'max'],
  ] as const) {
    const u = c.tsrun(['update', '--pids-limit', flag, c.id]);
    t.is(u.status, 0, u.stderr);
    t.is(read(c.pid, 'pids', 'pids.max', 'pids.max'), want, `update --pids-limit ${flag}`);
  }
});

cgTest('v2: an unlimited memory with a finite swap limits the swap alone, as runc ≥ 1.2.1; no memory limit at all is refused', (t) => {
  if (!V2) return t.pass('cgroup v2 only (v1 refuses memory+swap below an unlimited memory)');
  if (!has('memory')) return t.pass('no memory controller');
  const c = createCtr(t, (s) => {
    s.linux!.resources = { memory: { limit: -1, swap: 64 * MiB } };
    s.process!.args = ['sleep', '600'];
  });
  t.is(read(c.pid, 'memory', 'memory.max', ''), 'max');
  t.is(read(c.pid, 'memory', 'memory.swap.max', ''), String(64 * MiB));
  const u = c.tsrun(['update', '-r', '-', c.id], JSON.stringify({ memory: { limit: -1, swap: 32 * MiB } }));
  t.is(u.status, 0, u.stderr);
  t.is(read(c.pid, 'memory', 'memory.swap.max', ''), String(32 * MiB));
  const id = uniqueId('cgswap');
  const b = makeBundle((s) => {
    s.linux!.cgroupsPath = `/tsrun-test-${id}`;
    s.linux!.resources = { memory: { swap: 64 * MiB } };
  });
  t.teardown(() => b.cleanup());
  const r = runtime(TSRUN, tempRoot(), ['create', '--bundle', b.dir, id]);
  t.is(r.status, 1);
  t.is(r.stderr, 'tsrun: create: linux.resources.memory.swap: unable to set swap limit without memory limit\n');
  t.false(fs.existsSync(path.join(host.v2Mount!, `tsrun-test-${id}`)), 'no cgroup made');
});

// runc's update merges with the limits the container has, so a memory+swap
// limit alone is reckoned against the memory limit in place: on v2 swap.max
// is the difference; on v1 memory.memsw takes it as it is (this host; the
// cgroup-v2 VM runs the v2 half).
cgTest('update --memory-swap alone: memory+swap against the memory limit in place, as runc', (t) => {
  if (!has('memory')) return t.pass('no memory controller');
  const c = createCtr(t, (s) => {
    s.linux!.resources = { memory: { limit: 64 * MiB } };
    s.process!.args = ['sleep', '600'];
  });
  const swapFile = V2 ? 'memory.swap.max' : 'memory.memsw.limit_in_bytes';
  if (!fs.existsSync(path.join(cgDir(c.pid, 'memory')!, swapFile))) return t.pass(`no swap accounting (${swapFile})`);
  const u = c.tsrun(['update', '--memory-swap', '192m', c.id]);
  t.is(u.status, 0, u.stderr);
  t.is(read(c.pid, 'memory', 'memory.max', 'memory.limit_in_bytes'), String(64 * MiB), 'the memory limit stays');
  t.is(read(c.pid, 'memory', 'memory.swap.max', 'memory.memsw.limit_in_bytes'), String((V2 ? 128 : 192) * MiB));
  // below the memory limit: refused (v2 in runc's words; v1 by the kernel, as under runc)
  const low = c.tsrun(['update', '--memory-swap', '32m', c.id]);
  t.is(low.status, 1);
  t.regex(low.stderr, /linux\.resources\.memory\.swap: /);
  t.is(read(c.pid, 'memory', 'memory.swap.max', 'memory.memsw.limit_in_bytes'), String((V2 ? 128 : 192) * MiB), 'unchanged');
  const runc = RUNC;
  if (V2 || !runc) return;
  // runc (1.1 here) on the same bundle, in a cgroup of its own: the same files
  const root = tempRoot();
  const id = uniqueId('swap-runc');
  c.b.spec.linux!.cgroupsPath = `/tsrun-test-${id}`;
  c.b.write();
  const created = runtime(runc, root, ['create', '-b', c.b.dir, id]);
  t.is(created.status, 0, created.stderr);
  t.teardown(() => runtime(runc, root, ['delete', '--force', id]));
  const pid = JSON.parse(runtime(runc, root, ['state', id]).stdout).pid as number;
  t.not(cgDir(pid, 'memory'), cgDir(c.pid, 'memory'));
  const theirs = runtime(runc, root, ['update', '--memory-swap', '192m', id]);
  t.is(theirs.status, 0, theirs.stderr);
  t.is(read(pid, 'memory', '', 'memory.limit_in_bytes'), String(64 * MiB));
  t.is(read(pid, 'memory', '', 'memory.memsw.limit_in_bytes'), String(192 * MiB));
});

cgTest('a missing controller or a refused value fails create, leaving nothing behind', (t) => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['value', { cpu: { cpus: '4095' } }, /linux\.resources\.cpu\.cpus/],
    V2
      ? ['unified', { unified: { 'nosuch.max': '1' } }, /linux\.resources\.unified\.nosuch\.max/]
      : ['unified', { unified: { 'pids.max': '1' } }, /^tsrun: create: invalid configuration: cannot use unified on cgroup v1$/m],
  ];
  if (!V2 && !has('hugetlb'))
    cases.push(['controller', { hugepageLimits: [{ pageSize: '2MB', limit: 2 * MiB }] }, /hugetlb cgroup controller is not/]);
  for (const [name, resources, re] of cases) {
    const root = tempRoot();
    const id = uniqueId(`cgbad-${name}`);
    const b = makeBundle((s) => {
      s.linux!.cgroupsPath = `/tsrun-test-${id}`;
      s.linux!.resources = resources;
    });
    const r = runtime(TSRUN, root, ['create', '--bundle', b.dir, id]);
    b.cleanup();
    t.is(r.status, 1, name);
    t.regex(r.stderr, re, name);
    t.false(fs.existsSync(path.join(root, id)), `${name}: no state dir`);
    const mounts = V2 ? [host.v2Mount!] : host.v1.map((h) => h.mountPoint);
    for (const m of mounts) t.false(fs.existsSync(path.join(m, `tsrun-test-${id}`)), `${name}: no cgroup in ${m}`);
    t.is(runtime(TSRUN, root, ['delete', '--force', id]).status, 0);
  }
});

cgTest('exec joins the container’s cgroup, or an existing sub-cgroup with --cgroup (v1: per controller; v2: the one tree)', (t) => {
  const c = createCtr(t, (s) => {
    s.process!.args = ['sleep', '1000'];
  });
  const own = fs.readFileSync(`/proc/${c.pid}/cgroup`, 'utf8');
  const same = c.tsrun(['exec', c.id, 'cat', '/proc/self/cgroup']);
  t.is(same.status, 0, same.stderr);
  t.is(same.stdout, own, 'the init’s cgroups');
  const sub = path.join(cgDir(c.pid, 'pids')!, 'sub');
  fs.mkdirSync(sub);
  t.teardown(() => fs.rmdirSync(sub));
  const r = c.tsrun(['exec', '--cgroup', V2 ? 'sub' : 'pids:sub', c.id, 'cat', '/proc/self/cgroup']);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, V2 ? /^0::.*\/sub$/m : /^\d+:pids:.*\/sub$/m);
  if (!V2) t.regex(r.stdout, /^\d+:memory:.*tsrun-test-[^/]*$/m, 'the other controllers stay the container’s');
  const missing = c.tsrun(['exec', '--cgroup', V2 ? 'nope' : 'pids:nope', c.id, 'true']);
  t.is(missing.status, 255);
  t.regex(missing.stderr, /--cgroup .*nope: no such sub-cgroup/);
});

/** The v1 hierarchy of a controller (its mount point). */
function v1Mount(controller: string): string | undefined {
  return host.v1.find((h) => h.controllers.includes(controller))?.mountPoint;
}

/** Every hierarchy's mount point (v1 ones, and the hybrid's unified tree). */
const allMounts = () => [...host.v1.map((h) => h.mountPoint), ...(host.v2Mount ? [host.v2Mount] : [])];

/** Removes /rel (and what is below it) from every hierarchy: what runtimes leave of a nested or pre-made cgroup. */
function removeEverywhere(rel: string): void {
  for (const m of allMounts()) {
    for (const d of subtreeDeepestFirst(path.join(m, rel))) {
      try {
        fs.rmdirSync(d);
      } catch {
        /* busy or gone */
      }
    }
  }
}

/** mkdir /rel in every v1 hierarchy (not the unified tree), as cgcreate would; cpuset gets the root's cpus and mems. */
function premake(rel: string): void {
  for (const h of host.v1) fs.mkdirSync(path.join(h.mountPoint, rel), { recursive: true });
  const cs = v1Mount('cpuset');
  if (cs)
    for (const f of ['cpuset.cpus', 'cpuset.mems'])
      fs.writeFileSync(path.join(cs, rel, f), fs.readFileSync(path.join(cs, f), 'utf8').trim());
}

runcTest("v1: a nested cgroupsPath below an empty cpuset gets the parent's cpus and mems at every level, as runc", (t) => {
  const cs = v1Mount('cpuset');
  if (!cs) return t.pass('no cpuset controller');
  const top = `tsrun-test-${uniqueId('nest')}`;
  t.teardown(() => removeEverywhere(top));
  // a parent made by hand starts with empty cpus and mems: no task could join below it
  fs.mkdirSync(path.join(cs, top));
  t.is(fs.readFileSync(path.join(cs, top, 'cpuset.cpus'), 'utf8').trim(), '');
  const b = makeBundle((s) => {
    s.linux!.cgroupsPath = `/${top}/a/b/c`;
    s.process!.args = ['sleep', '600'];
  });
  t.teardown(() => b.cleanup());
  const rootCpus = fs.readFileSync(path.join(cs, 'cpuset.cpus'), 'utf8').trim();
  const rootMems = fs.readFileSync(path.join(cs, 'cpuset.mems'), 'utf8').trim();
  const levels = () =>
    [top, `${top}/a`, `${top}/a/b`, `${top}/a/b/c`].map((d) =>
      ['cpuset.cpus', 'cpuset.mems'].map((f) => fs.readFileSync(path.join(cs, d, f), 'utf8').trim()).join('/'),
    );
  for (const [name, bin] of [
    ['tsrun', TSRUN],
    ['runc', RUNC!],
  ] as const) {
    // the same start each time: only the hand-made, empty parent
    removeEverywhere(`${top}/a`);
    fs.writeFileSync(path.join(cs, top, 'cpuset.mems'), '');
    fs.writeFileSync(path.join(cs, top, 'cpuset.cpus'), '');
    const root = tempRoot();
    const id = uniqueId(`nest-${name}`);
    const r = runtime(bin, root, ['create', '-b', b.dir, id]);
    t.is(r.status, 0, `${name}: ${r.stderr}`);
    t.deepEqual(levels(), Array(4).fill(`${rootCpus}/${rootMems}`), name);
    const pid = Number(JSON.parse(runtime(bin, root, ['state', id]).stdout).pid);
    t.regex(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8'), new RegExp(`^\\d+:cpuset:/${top}/a/b/c$`, 'm'), name);
    t.is(runtime(bin, root, ['delete', '--force', id]).status, 0, name);
  }
});

runcTest('v1: memory.limit -1 is unlimited, also where memory+swap was limited before (create and update), as runc', (t) => {
  const mem = v1Mount('memory');
  if (!mem || !fs.existsSync(path.join(mem, 'memory.memsw.limit_in_bytes'))) return t.pass('no memory controller with swap accounting');
  const rel = `tsrun-test-${uniqueId('unl')}`;
  const dir = path.join(mem, rel);
  t.teardown(() => removeEverywhere(rel));
  const unlimited = (f: string) => Number(fs.readFileSync(path.join(dir, f), 'utf8').trim()) > 2 ** 62;
  const b = makeBundle((s) => {
    s.linux!.cgroupsPath = `/${rel}`;
    s.linux!.resources = { memory: { limit: -1 } };
    s.process!.args = ['sleep', '600'];
  });
  t.teardown(() => b.cleanup());
  for (const [name, bin] of [
    ['tsrun', TSRUN],
    ['runc', RUNC!],
  ] as const) {
    // a memory cgroup that exists with 64 MiB of memory and of memory+swap
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'memory.limit_in_bytes'), String(64 * MiB));
    fs.writeFileSync(path.join(dir, 'memory.memsw.limit_in_bytes'), String(64 * MiB));
    const root = tempRoot();
    const id = uniqueId(`unl-${name}`);
    const r = runtime(bin, root, ['create', '-b', b.dir, id]);
    t.is(r.status, 0, `${name}: ${r.stderr}`);
    t.true(unlimited('memory.limit_in_bytes') && unlimited('memory.memsw.limit_in_bytes'), `${name}: create`);
    // limited again, then lifted by update
    let u = runtime(bin, root, ['update', '-r', '-', id], { input: JSON.stringify({ memory: { limit: 32 * MiB, swap: 32 * MiB } }) });
    t.is(u.status, 0, `${name}: ${u.stderr}`);
    t.is(fs.readFileSync(path.join(dir, 'memory.memsw.limit_in_bytes'), 'utf8').trim(), String(32 * MiB));
    u = runtime(bin, root, ['update', '-r', '-', id], { input: JSON.stringify({ memory: { limit: -1 } }) });
    t.is(u.status, 0, `${name}: ${u.stderr}`);
    t.true(unlimited('memory.limit_in_bytes') && unlimited('memory.memsw.limit_in_bytes'), `${name}: update`);
    t.is(runtime(bin, root, ['delete', '--force', id]).status, 0, name);
  }
});

runcTest(
  "v1: a cgroup that already holds a process: runc's warning, the container runs; a failed create leaves that cgroup and its process alone",
  async (t) => {
    const rel = `tsrun-test-${uniqueId('busy')}`;
    premake(rel);
    const other = spawn('sleep', ['600'], { detached: true, stdio: 'ignore' });
    t.teardown(() => {
      other.kill('SIGKILL');
      removeEverywhere(rel);
    });
    await until('the sleep to start', () => fs.existsSync(`/proc/${other.pid}/cgroup`));
    for (const h of host.v1) fs.writeFileSync(path.join(h.mountPoint, rel, 'cgroup.procs'), String(other.pid));
    const alone = () => {
      t.true(fs.existsSync(`/proc/${other.pid}`) && !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${other.pid}/status`, 'utf8')), 'alive');
      for (const h of host.v1) t.true(fs.existsSync(path.join(h.mountPoint, rel)), `${h.mountPoint}/${rel} still there`);
    };
    const bundle = (resources: Record<string, unknown>) =>
      makeBundle((s) => {
        s.linux!.cgroupsPath = `/${rel}`;
        s.linux!.resources = resources;
        s.process!.args = ['sleep', '600'];
      });
    const warning = "container's cgroup is not empty: 1 process(es) found";

    // a create that fails after the cgroup is set up: not ours, so not removed (and its process not killed)
    const bad = bundle({ cpu: { cpus: '4095' } });
    t.teardown(() => bad.cleanup());
    const f = runtime(TSRUN, tempRoot(), ['create', '-b', bad.dir, uniqueId('busy-bad')]);
    t.is(f.status, 1, f.stderr);
    t.regex(f.stderr, /linux\.resources\.cpu\.cpus/);
    alone();

    const b = bundle({});
    t.teardown(() => b.cleanup());
    const theirsRoot = tempRoot();
    const theirsId = uniqueId('busy-runc');
    const theirs = runtime(RUNC!, theirsRoot, ['run', '-d', '-b', b.dir, theirsId]);
    t.is(theirs.status, 0, theirs.stderr);
    t.true(theirs.stderr.includes(`msg="${warning}"`), theirs.stderr);
    runtime(RUNC!, theirsRoot, ['delete', '--force', theirsId]);
    alone();

    const root = tempRoot();
    const id = uniqueId('busy-tsrun');
    const log = path.join(root, 'log');
    const ours = runtime(TSRUN, root, ['--log', log, 'run', '-d', '-b', b.dir, id]);
    t.is(ours.status, 0, ours.stderr);
    t.true(ours.stderr.includes(`tsrun: warning: ${warning}\n`), ours.stderr);
    t.true(fs.readFileSync(log, 'utf8').includes(`level=warning msg="${warning}"`));
    t.is(JSON.parse(runtime(TSRUN, root, ['state', id]).stdout).status, 'running');
    t.is(runtime(TSRUN, root, ['delete', '--force', id]).status, 0);
    // the container's delete is not the cgroup's (tests/reliability/cgroup-ownership.test.ts goes further)
    alone();
  },
);

runcTest("v1: a frozen cgroup fails create at once with runc's message, naming the cgroup; nothing is left behind", (t) => {
  const fr = v1Mount('freezer');
  if (!fr) return t.pass('no freezer controller');
  const rel = `tsrun-test-${uniqueId('frozen')}`;
  const dir = path.join(fr, rel);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'freezer.state'), 'FROZEN');
  t.teardown(() => {
    fs.writeFileSync(path.join(dir, 'freezer.state'), 'THAWED');
    removeEverywhere(rel);
  });
  const b = makeBundle((s) => {
    s.linux!.cgroupsPath = `/${rel}`;
  });
  t.teardown(() => b.cleanup());
  const message = "container's cgroup unexpectedly frozen";
  const theirs = runtime(RUNC!, tempRoot(), ['create', '-b', b.dir, uniqueId('frozen-runc')]);
  t.is(theirs.status, 1);
  t.true(theirs.stderr.includes(`msg="runc create failed: ${message}"`), theirs.stderr);

  // tsrun: the frozen cgroup itself, and a new one below it (which would be born frozen)
  for (const cgroupsPath of [`/${rel}`, `/${rel}/c`]) {
    b.spec.linux!.cgroupsPath = cgroupsPath;
    b.write();
    const root = tempRoot();
    const id = uniqueId('frozen');
    const started = Date.now();
    const r = runtime(TSRUN, root, ['create', '-b', b.dir, id]);
    t.is(r.status, 1, cgroupsPath);
    t.true(Date.now() - started < 30_000, 'at once, not after the 60 s sync timeout');
    t.is(
      r.stderr,
      `tsrun: create: ${message}: ${dir} (freezer.state is FROZEN; thaw it first: echo THAWED > ${dir}/freezer.state)\n`,
      cgroupsPath,
    );
    t.false(fs.existsSync(path.join(root, id)), 'no state dir');
    t.deepEqual(
      fs.readdirSync(dir).filter((e) => fs.statSync(path.join(dir, e)).isDirectory()),
      [],
      'nothing made below',
    );
    for (const m of allMounts()) if (m !== fr) t.false(fs.existsSync(path.join(m, rel)), `nothing in ${m}`);
  }
});

runcTest("v1: unified (cgroup v2 files) is refused with runc's words, before any cgroup exists", (t) => {
  const rel = `tsrun-test-${uniqueId('uni')}`;
  const b = makeBundle((s) => {
    s.linux!.cgroupsPath = `/${rel}`;
    s.linux!.resources = { unified: { 'memory.high': '1000000' } };
  });
  t.teardown(() => {
    b.cleanup();
    removeEverywhere(rel);
  });
  const message = 'invalid configuration: cannot use unified on cgroup v1';
  const theirs = runtime(RUNC!, tempRoot(), ['create', '-b', b.dir, uniqueId('uni-runc')]);
  t.is(theirs.status, 1);
  t.true(theirs.stderr.includes(`msg="runc create failed: ${message}"`), theirs.stderr);
  const ours = runtime(TSRUN, tempRoot(), ['create', '-b', b.dir, uniqueId('uni')]);
  t.is(ours.status, 1);
  t.is(ours.stderr, `tsrun: create: ${message}\n`);
  for (const m of allMounts()) t.false(fs.existsSync(path.join(m, rel)), `nothing in ${m}`);
});

runcTest(
  "v1: update --cpu-period 10000 --cpu-quota 3000 below a parent's quota: the period is written again after the quota, as runc",
  (t) => {
    const cpu = v1Mount('cpu');
    if (!cpu || !fs.existsSync(path.join(cpu, 'cpu.cfs_quota_us'))) return t.pass('no cpu controller with CFS bandwidth');
    // runc's update.bats "update cpu period in a pod cgroup with pod limit set": the pod may use half a CPU
    const pod = `tsrun-test-${uniqueId('pod')}`;
    fs.mkdirSync(path.join(cpu, pod));
    t.teardown(() => removeEverywhere(pod));
    fs.writeFileSync(path.join(cpu, pod, 'cpu.cfs_quota_us'), '50000');
    t.is(fs.readFileSync(path.join(cpu, pod, 'cpu.cfs_period_us'), 'utf8').trim(), '100000');
    const b = makeBundle((s) => {
      s.linux!.resources = { cpu: { quota: 500000, period: 1000000 } };
      s.process!.args = ['sleep', '600'];
    });
    t.teardown(() => b.cleanup());
    for (const [name, bin] of [
      ['tsrun', TSRUN],
      ['runc', RUNC!],
    ] as const) {
      const id = uniqueId(`pod-${name}`);
      b.spec.linux!.cgroupsPath = `/${pod}/${id}`;
      b.write();
      const root = tempRoot();
      const dir = path.join(cpu, pod, id);
      const cfs = () => ['cpu.cfs_quota_us', 'cpu.cfs_period_us'].map((f) => fs.readFileSync(path.join(dir, f), 'utf8').trim()).join(' ');
      const r = runtime(bin, root, ['run', '-d', '-b', b.dir, id]);
      t.is(r.status, 0, `${name}: ${r.stderr}`);
      t.is(cfs(), '500000 1000000', name);
      // above the parent's half a CPU: refused by the kernel, under both
      t.is(runtime(bin, root, ['update', '--cpu-quota', '600000', id]).status, 1, `${name}: 60% refused`);
      // 30% with a shorter period: the period alone is refused first (old quota, new period: 5000%)
      const u = runtime(bin, root, ['update', '--cpu-period', '10000', '--cpu-quota', '3000', id]);
      t.is(u.status, 0, `${name}: ${u.stderr}`);
      t.is(cfs(), '3000 10000', name);
      t.is(runtime(bin, root, ['delete', '--force', id]).status, 0, name);
    }
  },
);
