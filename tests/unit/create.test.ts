/**
 * create → launch → record, and exec, through the public Runtime with a
 * fake binding and a fake host: no root, no kernel call that makes
 * anything. Each test reads the log of what the lifecycle asked for
 * (spawn, sync messages, cgroup create/apply/join, id maps, kill, reap,
 * cgroup removal, hooks) and what it left on disk; the failure tests break
 * one step at a time and check that exactly what was made before it is
 * undone, last first.
 *
 * What stays real: the state store in a temp root, the bundle in a temp
 * dir, validation and planning, the seccomp compiler, native/host's state
 * and status (the fake init is a real `sleep` of this test, so it is alive).
 */
import test, { type ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { CgroupManager, CgroupState } from '../../lib/cgroups/manager.js';
import { defaultSpec } from '../../lib/config/default-spec.js';
import type { Spec } from '../../lib/config/types.js';
import { realLifecycleHost, type LifecycleHost } from '../../lib/container/host.js';
import { ConfigError, InitStepError, TsrunError } from '../../lib/errors.js';
import { Runtime } from '../../lib/index.js';
import { loadBinding, type NativeBinding, type LaunchEvent } from '../../lib/native/binding.js';
import { LAYOUT, PlanFlag, stepName, STEP_NAMES, SyncType } from '../../lib/native/constants.js';
import { CLONE_NEWPID } from '../../lib/plan/linux.js';

const real = loadBinding();

/** The step to break, by name; undefined: none. */
type Break =
  'config' | 'seccomp' | 'cgroup.create' | 'cgroup.apply' | 'mkfifo' | 'console' | 'spawn' | 'init.namespaces' | 'prestart' | 'init.hooks';

interface World {
  rt: Runtime;
  root: string;
  bundle: string;
  log: string[];
  /** The fake init: a real process of ours, so native/host finds it alive. */
  init: ChildProcess;
  /** fds the fake handed out (the sync socket, the console socket): each must end closed. */
  handed: number[];
}

const step = (name: string) => STEP_NAMES.indexOf(name);

function msg(type: number, extra: Partial<LaunchEvent> = {}): LaunchEvent {
  return { type, step: 0, errno: 0, code: null, message: '', fd: -1, pid: 0, startTime: 0, ptyMaster: -1, ...extra };
}

/** A CgroupManager that only writes down what it is asked. */
function fakeCgroup(log: string[], brk: Break | undefined, id: string): CgroupManager {
  const state: CgroupState = { version: 2, paths: { '': `/sys/fs/cgroup/tsrun-fake/${id}` } };
  let made: string[] = [];
  return {
    state,
    v2Dir: null,
    check: () => [],
    create() {
      log.push('cgroup.create');
      if (brk === 'cgroup.create') throw new TsrunError('ESYSTEM', 'cannot create cgroup: EACCES');
      made = [state.paths['']!];
      return made;
    },
    owned: () => made,
    made: () => ({ dirs: made }),
    apply() {
      log.push('cgroup.apply');
      if (brk === 'cgroup.apply') throw new ConfigError('linux.resources.memory.limit', 'cannot write "1": EINVAL');
    },
    addProcess: (pid) => void log.push(`cgroup.join ${pid}`),
    stats: () => ({}) as never,
    oomKills: () => 0,
    v1Hierarchies: () => [],
  };
}

function world(t: ExecutionContext, brk?: Break, mutate?: (s: Spec) => void): World {
  const log: string[] = [];
  const handed: number[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-create-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const root = path.join(dir, 'root');
  const bundle = path.join(dir, 'bundle');
  fs.mkdirSync(path.join(bundle, 'rootfs', 'etc'), { recursive: true });
  fs.mkdirSync(root, { mode: 0o700 });
  const spec = defaultSpec();
  spec.process!.terminal = false;
  spec.process!.args = ['/bin/true'];
  if (brk === 'config') spec.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 10, hard: 5 }];
  if (brk === 'prestart') spec.hooks = { prestart: [{ path: '/x/prestart' }], poststop: [{ path: '/x/poststop' }] };
  if (brk === 'init.hooks') spec.hooks = { createContainer: [{ path: '/x/cc' }], poststop: [{ path: '/x/poststop' }] };
  mutate?.(spec);
  fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec));
  const init = spawn('sleep', ['600'], { stdio: 'ignore' });
  t.teardown(() => init.kill('SIGKILL'));
  const initPid = init.pid!;

  // What the init says, one event per launchNext.
  const script: LaunchEvent[] = [];
  const isTenant = (plan: Uint8Array) => {
    const flags = Buffer.from(plan).readUInt32LE(LAYOUT.plan_header.fields.flags.off);
    return (flags & PlanFlag.TENANT) !== 0;
  };
  const devNull = () => {
    const fd = fs.openSync('/dev/null', 'r');
    handed.push(fd);
    return fd;
  };

  const fake: NativeBinding = Object.create(real) as NativeBinding;
  Object.assign(fake, {
    launchStart(plan: Uint8Array, cgroupFd: number) {
      const tenant = isTenant(plan);
      log.push(`spawn ${tenant ? 'tenant' : 'init'} cgroupFd=${cgroupFd}`);
      if (brk === 'spawn') throw new Error('clone3: EAGAIN');
      script.length = 0;
      if (brk === 'init.namespaces')
        script.push(
          msg(SyncType.ERROR, {
            step: step('namespaces'),
            errno: 1,
            code: 'EPERM',
            message: 'unshare namespaces',
            text: 'unshare namespaces: EPERM (namespaces)',
          }),
        );
      script.push(msg(SyncType.PID));
      if (!tenant && (brk === 'prestart' || brk === 'init.hooks')) script.push(msg(SyncType.HOOKS));
      if (brk === 'init.hooks')
        script.push(
          msg(SyncType.ERROR, {
            step: step('hooks'),
            message: 'error running createContainer hook #0: exit status 1 (/x/cc)',
            text: 'error running createContainer hook #0: exit status 1 (/x/cc) (hooks)',
          }),
        );
      // (a tenant's READY: launch.c has seen its execve too)
      script.push(msg(SyncType.READY, { message: '' }));
      const pid = tenant ? 7777 : initPid;
      const handle = { pid };
      for (const m of script) m.pid = pid;
      return { handle, pid };
    },
    async launchNext() {
      const m = script.shift();
      if (!m) throw new Error('the fake init has nothing more to say');
      log.push(`recv ${Object.entries(SyncType).find(([, v]) => v === m.type)![0]}`);
      return { ...m, startTime: real.procStartTime(initPid)?.startTime ?? 0, ptyMaster: -1 };
    },
    launchGo: (_h: unknown, pid?: number) => void log.push(`send GO${pid ? ` pid=${pid}` : ''}`),
    async launchAbort(h: { pid: number }) {
      log.push(`kill ${h.pid} 9`, `reap ${h.pid}`);
    },
    launchClose: () => undefined,
    async waitPid(pid: number) {
      log.push(`reap ${pid}`);
      return { code: null, signal: 9 };
    },
    procStartTime: (pid: number) => real.procStartTime(pid === 7777 ? initPid : pid),
    mkfifo(p: string, mode: number) {
      log.push('mkfifo');
      if (brk === 'mkfifo') throw Object.assign(new Error('mkfifo: ENOSPC'), { code: 'ENOSPC' });
      real.mkfifo(p, mode);
    },
    connectUnix() {
      log.push('connect console socket');
      if (brk === 'console') throw Object.assign(new Error('connect: ECONNREFUSED'), { code: 'ECONNREFUSED' });
      return devNull();
    },
    seccompCompile(...a: Parameters<NativeBinding['seccompCompile']>) {
      log.push('seccomp compile');
      if (brk === 'seccomp') throw new ConfigError('linux.seccomp.syscalls[0].action', 'SCMP_ACT_NOTIFY is not supported by this kernel');
      return real.seccompCompile(...a);
    },
    async cgroupRemove(dirs: readonly string[]) {
      log.push(`cgroup.remove ${dirs.join(',')}`);
    },
    async runHooks(hooks: string, kind: string) {
      log.push(`hooks ${kind}`);
      if (brk === 'prestart' && kind === 'prestart')
        throw Object.assign(new Error('error running prestart hook #0: exit status 1 (/x/prestart)'), { hostCode: 'ECHILD', warnings: [] });
      void hooks;
      return [];
    },
    terminalSize: () => null,
    setChildSubreaper: () => undefined,
  });

  const host: LifecycleHost = {
    ...realLifecycleHost(fake),
    unprivileged: () => null,
    ownUserNs: () => ({ uidMap: '0 0 4294967295', gidMap: '0 0 4294967295', setgroupsDenied: false }),
    cgroupV2Only: () => true,
    cgroupV1Hierarchies: () => [],
    newCgroup: (req) => fakeCgroup(log, brk, req.id),
    loadCgroup: (state) => ({ ...fakeCgroup(log, brk, 'x'), state }),
    openProcessNamespaces: () => [{ fd: devNull(), nstype: Number(CLONE_NEWPID) }],
    setgroupsOf: () => 'allow',
    writeIdMaps: async (pid) => void log.push(`id maps ${pid}`),
    writeOomScoreAdj: (pid, v) => void log.push(`oom_score_adj ${pid} ${v}`),
    moveNetDevices: () => undefined,
    joinRdt: (pid, g) => void log.push(`rdt ${pid} ${g.clos}`),
    kill: (pid, sig) => void log.push(`kill ${pid} ${sig}`),
  };
  const rt = new Runtime({ root, native: fake, host, rootless: false, reapChildren: false });
  return { rt, root, bundle, log, init, handed };
}

const isClosed = (fd: number) => {
  try {
    fs.fstatSync(fd);
    return false;
  } catch {
    return true;
  }
};

test('create → launch → record: what it asks for, in order, and the state it records', async (t) => {
  const w = world(t, undefined, (s) => (s.linux!.resources = { pids: { limit: 10 } }));
  const c = await w.rt.create('box', { bundle: w.bundle, pidFile: path.join(w.root, '..', 'box.pid') });
  t.deepEqual(w.log, [
    'seccomp compile',
    'cgroup.create',
    'cgroup.apply',
    'mkfifo',
    'spawn init cgroupFd=-1',
    'recv PID',
    `cgroup.join ${w.init.pid}`,
    `send GO pid=${w.init.pid}`,
    'recv READY',
  ]);
  t.is(c.pid, w.init.pid!);
  const state = JSON.parse(fs.readFileSync(path.join(w.root, 'box', 'state.json'), 'utf8')) as Record<string, unknown>;
  t.is(state.pid, w.init.pid);
  t.is(state.pidStartTime, real.procStartTime(w.init.pid!)?.startTime, 'read once, at PID');
  t.deepEqual((state.cgroup as CgroupState).owned, ['/sys/fs/cgroup/tsrun-fake/box'], 'the cgroup it made is the container’s');
  t.true(state.pidNamespace as boolean);
  t.is(fs.readFileSync(path.join(w.root, '..', 'box.pid'), 'utf8'), String(w.init.pid));
  t.is(c.state.status, 'created', 'native/host reads it back: alive, with its exec fifo');
  for (const fd of w.handed) t.true(isClosed(fd), `fd ${fd} closed`);
});

test('exec: a tenant joins the container’s namespaces and cgroup, and is reaped once, never killed', async (t) => {
  const w = world(t);
  await w.rt.create('box', { bundle: w.bundle });
  w.log.length = 0;
  const run = await w.rt.execDetached('box', { process: { ...defaultSpec().process!, args: ['/bin/true'], terminal: false } });
  t.is(run.pid, 7777);
  t.is(run.exited, null, 'a Runtime that leaves its children to its caller does not wait for them');
  t.deepEqual(w.log, ['spawn tenant cgroupFd=-1', 'recv PID', 'cgroup.join 7777', 'send GO pid=7777', 'recv READY']);
  for (const fd of w.handed) t.true(isClosed(fd), `fd ${fd} closed (the namespace fds and the sync socket)`);
});

/** What each broken step must leave undone, and the error create must throw. */
const failures: {
  brk: Break;
  error: RegExp | (new (...a: never[]) => Error);
  tail: (w: World) => string[];
  consoleSocket?: string;
  mutate?: (s: Spec) => void;
}[] = [
  // refused before anything is asked of the kernel
  { brk: 'config', error: ConfigError, tail: () => [] },
  { brk: 'seccomp', error: /SCMP_ACT_NOTIFY/, tail: () => ['seccomp compile'] },
  // nothing of the cgroup was made: nothing to remove
  { brk: 'cgroup.create', error: /cannot create cgroup/, tail: () => ['seccomp compile', 'cgroup.create'] },
  {
    brk: 'cgroup.apply',
    error: ConfigError,
    tail: () => ['seccomp compile', 'cgroup.create', 'cgroup.apply', 'cgroup.remove /sys/fs/cgroup/tsrun-fake/box'],
  },
  {
    brk: 'mkfifo',
    error: /ENOSPC/,
    tail: () => ['seccomp compile', 'cgroup.create', 'cgroup.apply', 'mkfifo', 'cgroup.remove /sys/fs/cgroup/tsrun-fake/box'],
  },
  {
    brk: 'console',
    consoleSocket: '/run/tsrun-fake.sock',
    mutate: (s) => (s.process!.terminal = true),
    error: /ECONNREFUSED/,
    tail: () => ['mkfifo', 'connect console socket', 'cgroup.remove /sys/fs/cgroup/tsrun-fake/box'],
  },
  {
    brk: 'spawn',
    error: /EAGAIN/,
    tail: () => [
      'seccomp compile',
      'cgroup.create',
      'cgroup.apply',
      'mkfifo',
      'spawn init cgroupFd=-1',
      'cgroup.remove /sys/fs/cgroup/tsrun-fake/box',
    ],
  },
  {
    brk: 'init.namespaces',
    error: InitStepError,
    tail: (w) => [
      'spawn init cgroupFd=-1',
      'recv ERROR',
      // launch: the process (and no intermediate) killed and reaped before the error comes out
      `kill ${w.init.pid} 9`,
      `reap ${w.init.pid}`,
      'cgroup.remove /sys/fs/cgroup/tsrun-fake/box',
    ],
  },
  {
    brk: 'prestart',
    error: /prestart hook #0/,
    tail: (w) => [
      'recv HOOKS',
      'hooks prestart',
      `kill ${w.init.pid} 9`,
      `reap ${w.init.pid}`,
      'cgroup.remove /sys/fs/cgroup/tsrun-fake/box',
      // runtime.md: a failed create hook goes on at delete: poststop runs
      'hooks poststop',
    ],
  },
  {
    brk: 'init.hooks',
    error: InitStepError,
    tail: (w) => [
      'recv HOOKS',
      `send GO pid=${w.init.pid}`,
      'recv ERROR',
      `kill ${w.init.pid} 9`,
      `reap ${w.init.pid}`,
      'cgroup.remove /sys/fs/cgroup/tsrun-fake/box',
      'hooks poststop',
    ],
  },
];

for (const f of failures) {
  test(`a create that fails at ${f.brk} undoes what it made, last first, and leaves no state`, async (t) => {
    const w = world(t, f.brk, f.mutate);
    const e = await t.throwsAsync(w.rt.create('box', { bundle: w.bundle, consoleSocket: f.consoleSocket }));
    if (f.brk === 'config') t.deepEqual(w.log, [], 'nothing asked of the kernel');
    if (f.error instanceof RegExp) t.regex(e!.message, f.error);
    else t.true(e instanceof f.error, `${e?.constructor.name}: ${e?.message}`);
    const tail = f.tail(w);
    t.deepEqual(w.log.slice(w.log.length - tail.length), tail, w.log.join('\n'));
    t.deepEqual(
      fs.readdirSync(w.root).filter((e) => e !== '.cache'),
      [],
      'no state dir, no claim (the seccomp cache stays)',
    );
    for (const fd of w.handed) t.true(isClosed(fd), `fd ${fd} closed`);
  });
}

test('a create that fails at record (the pid file) kills and reaps its init, closes the console socket, removes the cgroup and the state', async (t) => {
  const w = world(t, undefined, (s) => (s.process!.terminal = true));
  const e = await t.throwsAsync(
    w.rt.create('box', { bundle: w.bundle, consoleSocket: '/run/tsrun-fake.sock', pidFile: '/nonexistent/dir/box.pid' }),
  );
  t.regex(e!.message, /ENOENT|no such file/i);
  // the pid file is written last: everything before it is undone, the init first
  t.deepEqual(w.log.slice(-3), [`kill ${w.init.pid} 9`, `reap ${w.init.pid}`, 'cgroup.remove /sys/fs/cgroup/tsrun-fake/box']);
  t.true(w.log.includes('connect console socket'));
  t.deepEqual(
    fs.readdirSync(w.root).filter((e) => e !== '.cache'),
    [],
  );
  for (const fd of w.handed) t.true(isClosed(fd), `fd ${fd} closed`);
});

test('the step names the fake init reports are the init’s own (native/init/init.h)', (t) => {
  t.is(stepName(step('namespaces')), 'namespaces');
  t.is(stepName(step('hooks')), 'hooks');
});
