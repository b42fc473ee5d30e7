/**
 * exec: a new process in a running container, compared with runc on the
 * same bundle wherever runc runs here (output, exit codes, ids, caps, cwd,
 * env, the terminal, the namespaces and cgroups joined).
 */
import test, { type ExecutionContext } from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { Spec } from '../../lib/config/types.js';
import { CONSOLE_RECEIVER, fdReceiver, hasPython } from '../helpers/fd-receiver.js';
import {
  IS_ROOT,
  RUNC,
  TSRUN,
  makeBundle,
  processesMatching,
  runtime,
  tempRoot,
  uniqueId,
  waitForStatus,
  type Bundle,
  type RunResult,
} from '../helpers/bundle.js';
import { withoutTtyEcho } from '../helpers/tty.js';
import { holdsFor, waitFor } from '../helpers/wait.js';

const rootTest = IS_ROOT ? test.serial : test.skip;
const RUNTIMES: [string, string][] = [['tsrun', TSRUN], ...(RUNC ? ([['runc', RUNC]] as [string, string][]) : [])];

interface Box {
  bin: string;
  root: string;
  id: string;
  b: Bundle;
  pid: number;
  exec(args: string[], opts?: { input?: string; timeout?: number }): RunResult;
  cleanup(): void;
}

/** A running container (`sleep 1000`) of the default bundle, changed by `mutate`. */
function startBox(t: ExecutionContext, bin: string, mutate?: (s: Spec, b: Bundle) => void, how: 'run' | 'create' = 'run'): Box {
  const root = tempRoot();
  const id = uniqueId('exec');
  const b = makeBundle((s) => {
    s.process!.args = ['sleep', '1000'];
    s.process!.env = ['PATH=/bin', 'FROM_CONFIG=1'];
  });
  // mkdtemp's 0700 would lock out non-root users and a user namespace's root
  fs.chmodSync(b.dir, 0o755);
  fs.chmodSync(b.rootfs, 0o755);
  mutate?.(b.spec, b);
  b.write();
  const r = how === 'run' ? runtime(bin, root, ['run', '-d', '-b', b.dir, id]) : runtime(bin, root, ['create', '-b', b.dir, id]);
  if (r.status !== 0) throw new Error(`${bin} ${how}: ${r.stderr}`);
  const st = JSON.parse(runtime(bin, root, ['state', id]).stdout) as { pid: number };
  const box: Box = {
    bin,
    root,
    id,
    b,
    pid: st.pid,
    exec: (args, opts = {}) => runtime(bin, root, ['exec', ...args], opts),
    cleanup() {
      runtime(bin, root, ['delete', '--force', id]);
      b.cleanup();
    },
  };
  t.teardown(() => box.cleanup());
  return box;
}

/** The same exec under each runtime; returns the results by runtime name. */
function onBoth(t: ExecutionContext, args: (box: Box) => string[], mutate?: (s: Spec, b: Bundle) => void): Record<string, RunResult> {
  const out: Record<string, RunResult> = {};
  for (const [name, bin] of RUNTIMES) {
    const box = startBox(t, bin, mutate);
    out[name] = box.exec(args(box));
  }
  return out;
}

function same(t: ExecutionContext, results: Record<string, RunResult>, field: 'stdout' | 'status') {
  if (results.runc) t.is(results.tsrun![field], results.runc[field], `tsrun and runc differ in ${field}`);
}

rootTest('output and exit status are the process’s, as with runc (code, 128+signal)', (t) => {
  for (const [script, code] of [
    ['echo hello; echo err >&2', 0],
    ['exit 7', 7],
    ['kill -9 $$', 137],
    ['kill -TERM $$', 143],
  ] as const) {
    const r = onBoth(t, (box) => [box.id, 'sh', '-c', script]);
    t.is(r.tsrun!.status, code, `${script}: ${r.tsrun!.stderr}`);
    same(t, r, 'status');
    same(t, r, 'stdout');
  }
  const r = onBoth(t, (box) => [box.id, 'sh', '-c', 'echo hello; echo err >&2']);
  t.is(r.tsrun!.stdout, 'hello\n');
  t.is(r.tsrun!.stderr, 'err\n');
});

rootTest('a missing program: runc’s wording, exit 255, nothing left behind', (t) => {
  const r = onBoth(t, (box) => [box.id, 'nosuch']);
  t.is(r.tsrun!.status, 255);
  t.regex(r.tsrun!.stderr, /exec: "nosuch": executable file not found in \$PATH/);
  same(t, r, 'status');
  if (r.runc) t.regex(r.runc.stderr, /exec: \\"nosuch\\": executable file not found in \$PATH/); // logrus escapes the quotes
  const abs = onBoth(t, (box) => [box.id, '/nosuch']);
  t.regex(abs.tsrun!.stderr, /exec: "\/nosuch": stat \/nosuch: no such file or directory/);
  same(t, abs, 'status');
  // As runc's, the exec returns only once its process is reaped: at once,
  // nothing of it is left — not in cgroup.procs (what ps reads) and not as a
  // zombie, which ps does not list but which the pids controller counts
  // until it is reaped, and which holds the pid namespace open (the init of
  // a deleted container cannot finish dying while it is there).
  for (const [name, bin] of RUNTIMES) {
    const box = startBox(t, bin);
    t.is(box.exec([box.id, 'nosuch']).status, 255, name);
    const ps = runtime(bin, box.root, ['ps', '--format', 'json', box.id]);
    t.deepEqual(JSON.parse(ps.stdout), [box.pid], `${name}: the container holds only its init`);
    const charged = pidsCharged(box.pid);
    if (charged !== null) t.is(charged, 1, `${name}: no zombie of the failed exec is left (pids.current)`);
  }
});

/**
 * The pids.current of `pid`'s cgroup (null without a pids controller).
 * Unlike cgroup.procs it counts a process until it is reaped.
 */
function pidsCharged(pid: number): number | null {
  for (const line of fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n')) {
    const [, controllers = '', rel = '/'] = line.split(':');
    const mounts =
      controllers === ''
        ? ['/sys/fs/cgroup', '/sys/fs/cgroup/unified']
        : controllers.split(',').includes('pids')
          ? ['/sys/fs/cgroup/pids']
          : [];
    for (const m of mounts) {
      const file = path.join(m, rel, 'pids.current');
      if (fs.existsSync(file)) return Number(fs.readFileSync(file, 'utf8'));
    }
  }
  return null;
}

rootTest('user, groups, cwd and env from the flags, over config.json’s process, as runc', (t) => {
  const script = 'id; pwd; echo "$FROM_CONFIG $FOO $BAR $HOME"; umask';
  const r = onBoth(t, (box) => [
    '-u',
    '1000:1001',
    '-g',
    '5',
    '-g',
    '7',
    '--cwd',
    '/tmp',
    '-e',
    'FOO=foo',
    '-e', // runc 1.1 refuses -e and --env in one command line
    'BAR=bar',
    box.id,
    'sh',
    '-c',
    script,
  ]);
  t.is(r.tsrun!.status, 0, r.tsrun!.stderr);
  t.is(r.tsrun!.stdout.split('\n').slice(0, 3).join('\n'), 'uid=1000 gid=1001 groups=5,7\n/tmp\n1 foo bar /');
  same(t, r, 'stdout');
  // HOME from the image's /etc/passwd for the process user, as runc sets it
  const home = onBoth(
    t,
    (box) => ['-u', '1000', box.id, 'sh', '-c', 'echo $HOME'],
    (_s, b) => fs.writeFileSync(path.join(b.rootfs, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\n'),
  );
  t.is(home.tsrun!.stdout, '/home/u\n');
  same(t, home, 'stdout');
});

rootTest('a cwd that does not exist fails as runc says it', (t) => {
  const r = onBoth(t, (box) => ['--cwd', '/nonexistent', box.id, 'pwd']);
  t.is(r.tsrun!.status, 255);
  t.regex(r.tsrun!.stderr, /chdir to cwd \("\/nonexistent"\) set in config.json failed/);
  same(t, r, 'status');
});

rootTest('capabilities, no_new_privs and seccomp are the container’s, and --cap adds one, as runc', (t) => {
  const status = 'grep -E "^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):" /proc/self/status';
  const mutate = (s: Spec) => {
    s.process!.noNewPrivileges = true;
  };
  const r = onBoth(t, (box) => [box.id, 'sh', '-c', status], mutate);
  t.is(r.tsrun!.status, 0, r.tsrun!.stderr);
  t.regex(r.tsrun!.stdout, /NoNewPrivs:\s+1/);
  t.regex(r.tsrun!.stdout, /Seccomp:\s+2/, 'the default profile filters the exec’d process');
  same(t, r, 'stdout');
  const added = onBoth(t, (box) => ['--cap', 'CAP_SYS_ADMIN', box.id, 'sh', '-c', 'grep -E "^Cap(Bnd|Eff|Amb)" /proc/self/status'], mutate);
  for (const line of added.tsrun!.stdout.trim().split('\n')) {
    const sysAdmin = ((BigInt(`0x${line.split(/\s+/)[1]}`) >> 21n) & 1n) === 1n;
    // not ambient: config.json has no inheritable set (runc 1.1 asks for it, the kernel refuses it)
    t.is(sysAdmin, !line.startsWith('CapAmb'), line);
  }
  same(t, added, 'stdout');
});

rootTest('the container’s seccomp profile applies to exec’d processes', (t) => {
  const r = onBoth(
    t,
    (box) => [box.id, 'busybox', 'mkdir', '/tmp/x'],
    (s) => {
      s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }] };
    },
  );
  t.not(r.tsrun!.status, 0);
  t.regex(r.tsrun!.stderr, /Operation not permitted/);
  same(t, r, 'status');
});

/** `readlink /proc/self/ns/*` inside against the init's, seen from the host. */
function namespacesJoined(t: ExecutionContext, mutate?: (s: Spec, b: Bundle) => void) {
  for (const [name, bin] of RUNTIMES) {
    const box = startBox(t, bin, mutate);
    const r = box.exec([
      box.id,
      'sh',
      '-c',
      'for n in cgroup ipc mnt net pid time user uts; do echo "$n $(readlink /proc/self/ns/$n)"; done',
    ]);
    t.is(r.status, 0, `${name}: ${r.stderr}`);
    for (const line of r.stdout.trim().split('\n')) {
      const [ns, link] = line.split(' ');
      if (!link) continue; // a kernel without that namespace
      t.is(link, fs.readlinkSync(`/proc/${box.pid}/ns/${ns}`), `${name}: the ${ns} namespace is the init's`);
    }
    const cg = box.exec([box.id, 'cat', '/proc/self/cgroup']);
    t.is(cg.stdout, fs.readFileSync(`/proc/${box.pid}/cgroup`, 'utf8'), `${name}: the init's cgroups`);
  }
}

rootTest('the process joins every namespace and cgroup of the init (pid namespace)', (t) => namespacesJoined(t));

rootTest('the process joins every namespace of the init (no pid namespace)', (t) =>
  namespacesJoined(t, (s) => {
    s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'pid');
  }),
);

rootTest('a user-namespace container: the process joins it, ids are the container’s', (t) => {
  const mutate = (s: Spec, b: Bundle) => {
    s.linux!.namespaces!.push({ type: 'user' });
    s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    spawnSync('chown', ['-R', '100000:100000', b.rootfs]);
  };
  namespacesJoined(t, mutate);
  const r = onBoth(t, (box) => ['-u', '1000:1000', box.id, 'sh', '-c', 'id; cat /proc/self/uid_map'], mutate);
  t.is(r.tsrun!.status, 0, r.tsrun!.stderr);
  t.regex(r.tsrun!.stdout, /^uid=1000 gid=1000/);
  same(t, r, 'stdout');
  const box = startBox(t, TSRUN, mutate);
  const d = box.exec(['-u', '1000', '-d', '--pid-file', path.join(box.b.dir, 'p'), box.id, 'sleep', '30']);
  t.is(d.status, 0, d.stderr);
  const pid = Number(fs.readFileSync(path.join(box.b.dir, 'p'), 'utf8'));
  t.regex(fs.readFileSync(`/proc/${pid}/status`, 'utf8'), /Uid:\s+101000\s/, 'container uid 0 + 1000 on the host');
});

rootTest('--detach --pid-file: returns while it runs; the pid file holds its host pid (no newline)', (t) => {
  const box = startBox(t, TSRUN);
  const pidFile = path.join(box.b.dir, 'exec.pid');
  const r = box.exec(['--detach', '--pid-file', pidFile, box.id, 'sleep', '30']);
  t.is(r.status, 0, r.stderr);
  // exec returned while it runs: the pid file names a live sleep (below)
  const text = fs.readFileSync(pidFile, 'utf8');
  t.regex(text, /^\d+$/);
  const pid = Number(text);
  t.is(fs.readFileSync(`/proc/${pid}/comm`, 'utf8'), 'sleep\n');
  t.is(fs.readlinkSync(`/proc/${pid}/ns/pid`), fs.readlinkSync(`/proc/${box.pid}/ns/pid`));
  const ppid = Number(/^PPid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
  t.false(fs.readFileSync(`/proc/${ppid}/cmdline`, 'utf8').includes('tsrun'), 'no tsrun process is left');
  t.false(fs.existsSync(path.join(box.b.dir, '.exec.pid')));
});

rootTest('a created container takes an exec and stays created; a stopped one refuses, as runc', (t) => {
  for (const [name, bin] of RUNTIMES) {
    const box = startBox(t, bin, undefined, 'create');
    const r = box.exec([box.id, 'echo', 'in-created']);
    t.is(r.status, 0, `${name}: ${r.stderr}`);
    t.is(r.stdout, 'in-created\n');
    t.is(JSON.parse(runtime(bin, box.root, ['state', box.id]).stdout).status, 'created');
    process.kill(box.pid, 'SIGKILL');
    t.true(waitForStatus(bin, box.root, box.id, 'stopped'), `${name}: stopped after the init's SIGKILL`);
    const s = box.exec([box.id, 'true']);
    t.is(s.status, 255, name);
    t.regex(s.stderr, /cannot exec in a stopped container/, name);
  }
});

rootTest('a paused container refuses without --ignore-paused; with it the process waits for resume', async (t) => {
  for (const [name, bin] of RUNTIMES) {
    const box = startBox(t, bin);
    t.is(runtime(bin, box.root, ['pause', box.id]).status, 0);
    const r = box.exec([box.id, 'true']);
    t.is(r.status, 255, name);
    t.regex(r.stderr, /cannot exec in a paused container \(use --ignore-paused to override\)/, name);
    const child = spawn(bin, ['--root', box.root, 'exec', '--ignore-paused', box.id, 'echo', 'after-resume'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const done = new Promise<number | null>((resolve) => child.on('close', resolve));
    // frozen once it has joined the container's cgroup: there, and silent, until resume
    const ps = () => JSON.parse(runtime(bin, box.root, ['ps', '--format', 'json', box.id]).stdout || '[]') as number[];
    t.true(await waitFor(() => ps().length === 2), `${name}: the exec's process is in the paused container: ${ps().join(' ')}`);
    t.true(await holdsFor(() => out === '', 500), `${name}: frozen until resume, but printed ${JSON.stringify(out)}`);
    t.is(runtime(bin, box.root, ['resume', box.id]).status, 0);
    t.is(await done, 0, name);
    t.is(out, 'after-resume\n', name);
  }
});

rootTest('only fds 0-2 (+ --preserve-fds) reach the process; its cwd is in the container', (t) => {
  for (const [name, bin] of RUNTIMES) {
    const box = startBox(t, bin);
    // the shell's own fds (ls has one more: the directory it lists)
    const r = box.exec([box.id, 'sh', '-c', 'ls /proc/$$/fd; readlink /proc/$$/cwd']);
    t.is(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    t.deepEqual(lines.slice(0, -1), ['0', '1', '2'], name);
    t.is(lines.at(-1), '/', name);
    // fd 3 of the caller, passed with --preserve-fds 1
    const file = path.join(box.b.dir, 'shared');
    fs.writeFileSync(file, 'through fd 3\n');
    const fd = fs.openSync(file, 'r');
    const p = spawnSync(bin, ['--root', box.root, 'exec', '--preserve-fds', '1', box.id, 'sh', '-c', 'cat <&3'], {
      stdio: ['ignore', 'pipe', 'pipe', fd],
      encoding: 'utf8',
    });
    fs.closeSync(fd);
    t.is(p.status, 0, `${name}: ${p.stderr}`);
    t.is(p.stdout, 'through fd 3\n', name);
  }
});

rootTest('--process FILE: a runtime-spec process (args after the id replace its args); a bad one names the field', (t) => {
  const box = startBox(t, TSRUN);
  const file = path.join(box.b.dir, 'process.json');
  const proc = {
    args: ['sh', '-c', 'echo "$ONLY $FROM_CONFIG"; id -u; pwd; ulimit -n'],
    env: ['PATH=/bin', 'ONLY=from-file'],
    cwd: '/tmp',
    user: { uid: 1000, gid: 1000 },
    rlimits: [{ type: 'RLIMIT_NOFILE', soft: 100, hard: 100 }],
  };
  fs.writeFileSync(file, JSON.stringify(proc));
  const r = box.exec(['--process', file, box.id]);
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout, 'from-file \n1000\n/tmp\n100\n');
  if (RUNC) {
    const rb = startBox(t, RUNC);
    t.is(rb.exec(['--process', file, rb.id]).stdout, r.stdout, 'runc reads the same file the same way');
  }
  t.is(box.exec(['-p', file, box.id, 'echo', 'override']).stdout, 'override\n');
  fs.writeFileSync(file, JSON.stringify({ ...proc, user: { uid: 'x', gid: 0 } }));
  const bad = box.exec(['--process', file, box.id]);
  t.is(bad.status, 255);
  t.regex(bad.stderr, /--process .*process\.json: process\.user\.uid: must be an integer, got string/);
  fs.writeFileSync(file, JSON.stringify({ ...proc, cwd: 'tmp' }));
  t.regex(box.exec(['--process', file, box.id]).stderr, /process\.cwd: must be an absolute path/);
  t.deepEqual(processesMatching(`exec --process ${file}`), []);
});

rootTest('--process FILE without a user (or without its gid) runs as 0:0 (or uid:0), as runc', (t) => {
  for (const user of [undefined, { uid: 1000 }]) {
    const out: Record<string, RunResult> = {};
    for (const [name, bin] of RUNTIMES) {
      const box = startBox(t, bin);
      const file = path.join(box.b.dir, 'process.json');
      fs.writeFileSync(file, JSON.stringify({ args: ['sh', '-c', 'id -u; id -g; id -G'], env: ['PATH=/bin'], cwd: '/', user }));
      out[name] = box.exec(['--process', file, box.id]);
    }
    t.is(out.tsrun!.status, 0, out.tsrun!.stderr);
    t.is(out.tsrun!.stdout, user ? '1000\n0\n0\n' : '0\n0\n0\n');
    if (out.runc) t.is(out.tsrun!.stdout, out.runc.stdout, `runc on the same file (user ${JSON.stringify(user)})`);
  }
});

rootTest('execCPUAffinity: the final CPU list applies once the process is in the cgroup', (t) => {
  const box = startBox(t, TSRUN);
  const file = path.join(box.b.dir, 'process.json');
  fs.writeFileSync(
    file,
    JSON.stringify({
      args: ['grep', 'Cpus_allowed_list', '/proc/self/status'],
      env: ['PATH=/bin'],
      cwd: '/',
      user: { uid: 0, gid: 0 },
      execCPUAffinity: { initial: '0', final: '1' },
    }),
  );
  const r = box.exec(['--process', file, box.id]);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /Cpus_allowed_list:\s+1$/m);
});

rootTest(
  'a runtime pinned to one CPU passes no affinity on: the init and an exec’d process get every CPU, execCPUAffinity.initial alone stays (runc >= 1.3.1)',
  (t) => {
    const online = fs.readFileSync('/sys/devices/system/cpu/online', 'utf8').trim();
    if (online === '0') return t.pass('one CPU: nothing to reset to');
    const pinned = (args: string[]) => {
      const r = spawnSync('taskset', ['-c', '0', TSRUN, ...args], { encoding: 'utf8' });
      t.is(r.status, 0, r.stderr);
      return /Cpus_allowed_list:\s*(\S+)/.exec(r.stdout)?.[1];
    };
    const box = startBox(t, TSRUN, (s) => (s.process!.args = ['sleep', '1000']));
    const status = ['grep', 'Cpus_allowed_list', '/proc/self/status'];
    t.is(pinned(['--root', box.root, 'exec', box.id, ...status]), online, 'an exec without execCPUAffinity');
    const file = path.join(box.b.dir, 'initial.json');
    fs.writeFileSync(
      file,
      JSON.stringify({ args: status, env: ['PATH=/bin'], cwd: '/', user: { uid: 0, gid: 0 }, execCPUAffinity: { initial: '1' } }),
    );
    t.is(pinned(['--root', box.root, 'exec', '--process', file, box.id]), '1', 'initial alone is kept');
    const root = tempRoot();
    const b = makeBundle((s) => (s.process!.args = status));
    t.teardown(() => b.cleanup());
    t.is(pinned(['--root', root, 'run', '-b', b.dir, uniqueId('aff')]), online, 'the init');
  },
);

rootTest('--apparmor and --process-label: runc’s error where the host has no such LSM', (t) => {
  const box = startBox(t, TSRUN);
  const a = box.exec(['--apparmor', 'unconfined', box.id, 'true']);
  t.is(a.status, 255);
  t.regex(a.stderr, /process\.apparmorProfile: an AppArmor profile is specified, but AppArmor is not enabled on this host/);
  const l = box.exec(['--process-label', 'system_u:system_r:container_t:s0', box.id, 'true']);
  t.regex(l.stderr, /process\.selinuxLabel: an SELinux label is specified, but SELinux is disabled/);
});

rootTest('-t: the pty belongs to the process user and group tty, and takes the caller’s size, as runc', (t) => {
  for (const [name, bin] of RUNTIMES) {
    const box = startBox(t, bin);
    const r = spawnSync(
      'script',
      [
        '-qec',
        `stty cols 91 rows 33; ${bin} --root ${box.root} exec -t -u 1000 ${box.id} sh -c 'stat -c %u:%g $(tty); test -t 0 && echo tty-in; exit 3'`,
        '/dev/null',
      ],
      { encoding: 'utf8', timeout: 30_000, input: '' },
    );
    t.is(r.status, 3, `${name}: ${r.stdout}${r.stderr}`);
    t.regex(withoutTtyEcho(r.stdout), /^1000:5\ntty-in\n$/, `${name}: ${JSON.stringify(r.stdout)}`);
  }
  const box = startBox(t, TSRUN);
  const size = spawnSync('script', ['-qec', `stty cols 91 rows 33; ${TSRUN} --root ${box.root} exec -t ${box.id} stty size`, '/dev/null'], {
    encoding: 'utf8',
    timeout: 30_000,
    input: '',
  });
  t.regex(withoutTtyEcho(size.stdout), /^33 91$/m);
  // stdin that is not a terminal works too
  const piped = box.exec(['-t', box.id, 'sh', '-c', 'tty'], { input: '' });
  t.is(piped.status, 0, piped.stderr);
  t.regex(piped.stdout, /^\/dev\/pts\/\d+\r?$/m);
});

rootTest('-t --detach needs a console socket', (t) => {
  const box = startBox(t, TSRUN);
  const r = box.exec(['-t', '-d', box.id, 'true']);
  t.is(r.status, 255);
  t.regex(r.stderr, /process\.terminal: cannot allocate a tty when detaching without --console-socket/);
});

rootTest('--cgroup on v1: the process runs in an existing sub-cgroup of one controller, as runc', (t) => {
  const v1 = fs.existsSync('/sys/fs/cgroup/pids') && !fs.existsSync('/sys/fs/cgroup/cgroup.controllers');
  if (!v1) return t.pass('not a cgroup v1 host');
  for (const [name, bin] of RUNTIMES) {
    const box = startBox(t, bin);
    const own = /^\d+:pids:(.*)$/m.exec(fs.readFileSync(`/proc/${box.pid}/cgroup`, 'utf8'))![1]!;
    const sub = path.join('/sys/fs/cgroup/pids', own, 'sub');
    fs.mkdirSync(sub);
    t.teardown(() => fs.rmdirSync(sub));
    const r = box.exec(['--cgroup', 'pids:sub', box.id, 'cat', '/proc/self/cgroup']);
    t.is(r.status, 0, `${name}: ${r.stderr}`);
    t.regex(r.stdout, /^\d+:pids:.*\/sub$/m, name);
    const others = (text: string) =>
      text
        .split('\n')
        .filter((l) => !/^\d+:pids:/.test(l))
        .join('\n');
    t.is(others(r.stdout), others(fs.readFileSync(`/proc/${box.pid}/cgroup`, 'utf8')), `${name}: other controllers unchanged`);
    const missing = box.exec(['--cgroup', 'pids:nope', box.id, 'true']);
    t.is(missing.status, 255, name);
  }
});

rootTest('the API: Runtime.exec resolves to the exit status; execDetached returns the pid', async (t) => {
  const { Runtime } = await import('../../lib/index.js');
  const rt = new Runtime({ root: tempRoot() });
  const b = makeBundle((s) => {
    s.process!.args = ['sleep', '1000'];
  });
  const id = uniqueId('api-exec');
  await rt.create(id, { bundle: b.dir });
  t.teardown(async () => {
    await rt.delete(id, { force: true });
    b.cleanup();
  });
  await rt.start(id);
  t.is(await rt.exec(id, { args: ['sh', '-c', 'exit 9'] }), 9);
  t.is(await rt.exec(id, { process: { args: ['true'], env: ['PATH=/bin'], cwd: '/', user: { uid: 0, gid: 0 } } }), 0);
  // it runs until the test has looked at it, however slow the machine
  const go = path.join(b.rootfs, 'tmp', 'go');
  const { pid, exited } = await rt.execDetached(id, { args: ['sh', '-c', 'while [ ! -e /tmp/go ]; do sleep 0.05; done; exit 4'] });
  t.is(fs.readFileSync(`/proc/${pid}/comm`, 'utf8'), 'sh\n');
  fs.writeFileSync(go, '');
  t.is(await exited, 4);
  await rt.execDetached(id, { args: ['sleep', '30'] }); // still running at delete: reaped all the same
  await t.throwsAsync(() => rt.exec('nope', { args: ['true'] }), { message: /container does not exist/ });
  // captured: stdout and stderr apart, as buffers; the status kept
  const o = await rt.execOutput(id, { args: ['sh', '-c', 'echo out; echo err >&2; exit 3'] });
  t.deepEqual([o.status, o.stdout.toString(), o.stderr.toString()], [3, 'out\n', 'err\n']);
});

(IS_ROOT && hasPython ? test.serial : test.skip)(
  '--console-socket: the pty master goes to the socket; the process runs on the pty, as runc',
  async (t) => {
    for (const [name, bin] of RUNTIMES) {
      const box = startBox(t, bin);
      const sock = path.join(box.b.dir, 'console.sock');
      const rx = spawn('python3', ['-c', CONSOLE_RECEIVER, sock], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      rx.stdout.on('data', (d) => (out += d));
      await new Promise<void>((resolve) => rx.stdout.once('data', () => resolve()));
      const r = box.exec([
        '-t',
        '-d',
        '--console-socket',
        sock,
        '-u',
        '1000',
        box.id,
        'sh',
        '-c',
        'tty; stat -c %u $(tty); test -t 1 && echo on-tty',
      ]);
      if (r.status !== 0) rx.kill();
      t.is(r.status, 0, `${name}: ${r.stderr}`);
      await new Promise((resolve) => rx.on('close', resolve));
      t.regex(out, /fds=1 name=\/dev\/ptmx/, name);
      t.regex(out, /\/dev\/pts\/\d+\r?\n1000\r?\non-tty/, name);
    }
  },
);

rootTest('--no-new-privs sets no_new_privs for the process, over a config without it, as runc', (t) => {
  const without = (s: Spec) => {
    s.process!.noNewPrivileges = false;
  };
  const r = onBoth(t, (box) => ['--no-new-privs', box.id, 'grep', 'NoNewPrivs', '/proc/self/status'], without);
  t.regex(r.tsrun!.stdout, /NoNewPrivs:\s+1/);
  same(t, r, 'stdout');
  const box = startBox(t, TSRUN, without);
  t.regex(box.exec([box.id, 'grep', 'NoNewPrivs', '/proc/self/status']).stdout, /NoNewPrivs:\s+0/, 'the config has none');
});

rootTest('the foreground exec forwards signals to the process and exits with its code', async (t) => {
  for (const [name, bin] of RUNTIMES) {
    const box = startBox(t, bin);
    const child = spawn(
      bin,
      ['--root', box.root, 'exec', box.id, 'sh', '-c', 'trap "exit 42" TERM; echo ready; while :; do sleep 0.1; done'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    const done = new Promise<number | null>((resolve) => child.on('close', resolve));
    child.kill('SIGTERM');
    t.is(await done, 42, name);
  }
});

rootTest('--process: oomScoreAdj and consoleSize apply to the exec’d process', (t) => {
  const box = startBox(t, TSRUN);
  const file = path.join(box.b.dir, 'process.json');
  fs.writeFileSync(
    file,
    JSON.stringify({
      args: ['sh', '-c', 'cat /proc/self/oom_score_adj; stty size'],
      env: ['PATH=/bin'],
      cwd: '/',
      user: { uid: 0, gid: 0 },
      oomScoreAdj: 500,
      terminal: true,
      consoleSize: { height: 21, width: 77 },
    }),
  );
  const r = box.exec(['--process', file, box.id], { input: '' });
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /^500\r?\n21 77\r?$/m);
});

// An engine as conmon and containerd's shim are: a subreaper that runs
// `exec --detach --pid-file` and then collects the exit status of that pid,
// which only reaches it if the runtime left the process unreaped.
const SUBREAPER = `
import ctypes, os, subprocess, sys, time
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
pidfile = sys.argv[1]
rc = subprocess.call(sys.argv[2:])
if rc != 0:
    print("runtime-exit", rc); sys.exit(1)
want = int(open(pidfile).read())
deadline = time.time() + 60
while time.time() < deadline:
    try:
        pid, status = os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        break
    if pid == want:
        print("status", os.waitstatus_to_exitcode(status)); sys.exit(0)
    if pid == 0:
        time.sleep(0.02)
print("lost"); sys.exit(1)
`;

(IS_ROOT && hasPython ? test.serial : test.skip)(
  '--detach leaves the exit status to the caller’s subreaper (conmon, the shim), as runc',
  (t) => {
    for (const [name, bin] of RUNTIMES) {
      const box = startBox(t, bin);
      const pidFile = path.join(box.b.dir, 'exec.pid');
      for (const script of ['exit 3', 'sleep 0.5; exit 3']) {
        const r = spawnSync(
          'python3',
          ['-c', SUBREAPER, pidFile, bin, '--root', box.root, 'exec', '--detach', '--pid-file', pidFile, box.id, 'sh', '-c', script],
          {
            encoding: 'utf8',
            timeout: 30_000,
          },
        );
        t.is(r.stdout.trim(), 'status 3', `${name}: ${script}: ${r.stderr}`);
      }
    }
  },
);

rootTest('an exec’d process joins the container’s session keyring (_ses.ID, made searchable by the init), as runc', (t) => {
  const keyrings = (id: string) =>
    fs
      .readFileSync('/proc/keys', 'utf8')
      .split('\n')
      .filter((l) => l.includes(` _ses.${id}:`));
  const seen: Record<string, number[]> = {};
  for (const [name, bin] of RUNTIMES) {
    const box = startBox(t, bin);
    const before = keyrings(box.id).length;
    const r = box.exec(['-d', box.id, 'sleep', '1000']);
    t.is(r.status, 0, `${name}: ${r.stderr}`);
    // the init's keyring has USR search added (runc's 0x080000): its permission column
    const perm = parseInt(keyrings(box.id)[0]?.split(/\s+/)[4] ?? '0', 16);
    seen[name] = [before, keyrings(box.id).length, perm & 0x080000];
  }
  t.log(seen);
  t.deepEqual(seen.tsrun, [1, 1, 0x080000], 'one keyring, shared');
  if (seen.runc) t.deepEqual(seen.tsrun, seen.runc);
});

// runc's --pidfd-socket consumer: one connection, one SCM_RIGHTS pidfd; says the message, the pid
// the pidfd refers to (its fdinfo), and whether a signal 0 through it reaches the process.
const PIDFD_RECEIVER = fdReceiver(`pid = [l.split()[1] for l in open("/proc/self/fdinfo/%d" % fds[0]) if l.startswith("Pid:")][0]
signal.pidfd_send_signal(fds[0], 0)
print("fds=%d msg=%s pid=%s" % (len(fds), msg.decode(), pid), flush=True)
`);

(IS_ROOT && hasPython ? test.serial : test.skip)(
  '--pidfd-socket: create and exec send a pidfd of the init ("standard") and of the exec’d process ("setns"), as runc >= 1.2',
  async (t) => {
    const receive = async (sock: string, act: () => number | null) => {
      const rx = spawn('python3', ['-c', PIDFD_RECEIVER, sock], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      rx.stdout.on('data', (d) => (out += d));
      await new Promise<void>((resolve) => rx.stdout.once('data', () => resolve()));
      const pid = act();
      await new Promise<void>((resolve) => rx.once('exit', () => resolve()));
      return { line: out.split('\n')[1] ?? '', pid };
    };
    const root = tempRoot();
    const id = uniqueId('pidfd');
    const b = makeBundle((s) => (s.process!.args = ['sleep', '1000']));
    t.teardown(() => {
      runtime(TSRUN, root, ['delete', '--force', id]);
      b.cleanup();
    });
    const init = await receive(path.join(b.dir, 'init.sock'), () => {
      const r = runtime(TSRUN, root, ['create', '--pidfd-socket', path.join(b.dir, 'init.sock'), '-b', b.dir, id]);
      t.is(r.status, 0, r.stderr);
      return JSON.parse(runtime(TSRUN, root, ['state', id]).stdout).pid as number;
    });
    t.is(init.line, `fds=1 msg=standard pid=${init.pid}`);
    t.is(runtime(TSRUN, root, ['start', id]).status, 0);
    const pidFile = path.join(b.dir, 'exec.pid');
    const tenant = await receive(path.join(b.dir, 'exec.sock'), () => {
      const r = runtime(TSRUN, root, [
        'exec',
        '-d',
        '--pid-file',
        pidFile,
        '--pidfd-socket',
        path.join(b.dir, 'exec.sock'),
        id,
        'sleep',
        '100',
      ]);
      t.is(r.status, 0, r.stderr);
      return Number(fs.readFileSync(pidFile, 'utf8'));
    });
    t.is(tenant.line, `fds=1 msg=setns pid=${tenant.pid}`);
  },
);
