/** exec's pure parts: argv splitting, flag parsing, the process it builds, the status guard. */
import test from 'ava';

import { defaultSpec } from '../../lib/cli/commands/spec.js';
import { parseUser, splitExecArgv } from '../../lib/cli/commands/exec.js';
import { parseSubCgroups, resolveExecProcess } from '../../lib/container/exec.js';
import { canExec } from '../../lib/container/status.js';
import { buildTenantPlan } from '../../lib/plan/tenant.js';
import { NsFlag, PlanFlag } from '../../lib/plan/types.js';

const G = new Set(['root', 'log', 'log-format']);

test('splitExecArgv: the command after the id keeps its own flags', (t) => {
  t.deepEqual(splitExecArgv(['--root', '/r', 'exec', 'box', 'sh', '-c', 'exit 3'], G), [
    '--root',
    '/r',
    'exec',
    'box',
    '--',
    'sh',
    '-c',
    'exit 3',
  ]);
  t.deepEqual(splitExecArgv(['exec', '-e', 'A=1', '--cwd=/tmp', '-t', '-u', '1000', 'box', 'ls', '-l'], G), [
    'exec',
    '-e',
    'A=1',
    '--cwd=/tmp',
    '-t',
    '-u',
    '1000',
    'box',
    '--',
    'ls',
    '-l',
  ]);
  t.deepEqual(splitExecArgv(['exec', '-p', 'p.json', 'box'], G), ['exec', '-p', 'p.json', 'box']);
  t.deepEqual(splitExecArgv(['exec', 'box', '--', 'true'], G), ['exec', 'box', '--', 'true'], 'an explicit -- stays as it is');
  t.deepEqual(splitExecArgv(['--log', 'x', 'kill', 'box', '-9'], G), ['--log', 'x', 'kill', 'box', '-9'], 'other commands untouched');
});

test('parseUser: uid[:gid], as runc parses it', (t) => {
  t.deepEqual(parseUser('1000'), { uid: 1000 });
  t.deepEqual(parseUser('1000:5'), { uid: 1000, gid: 5 });
  t.throws(() => parseUser('bob'), { message: /parsing bob as int for uid failed/ });
  t.throws(() => parseUser('1:x'), { message: /parsing x as int for gid failed/ });
});

test('parseSubCgroups: [controller[,controller]:]path, relative and without ..', (t) => {
  t.deepEqual([...parseSubCgroups(['sub'])], [['', 'sub']]);
  t.deepEqual(
    [...parseSubCgroups(['cpu,cpuacct:a/b', 'pids:c'])],
    [
      ['cpu', 'a/b'],
      ['cpuacct', 'a/b'],
      ['pids', 'c'],
    ],
  );
  t.throws(() => parseSubCgroups(['a', 'b']), { message: /missing <controller>: prefix/ });
  t.throws(() => parseSubCgroups(['pids:../x']), { message: /without "\.\."/ });
  t.throws(() => parseSubCgroups(['pids:/abs']), { message: /relative/ });
  t.throws(() => parseSubCgroups(['a:b:c']), { message: /invalid --cgroup argument/ });
});

test('resolveExecProcess: config.json’s process with runc’s flags applied', (t) => {
  const spec = defaultSpec();
  spec.process!.terminal = true;
  spec.process!.env = ['PATH=/bin', 'A=1'];
  const p = resolveExecProcess(spec, {
    args: ['ls'],
    cwd: '/tmp',
    env: ['B=2'],
    user: { uid: 1000 },
    additionalGids: [5],
    caps: ['CAP_SYS_ADMIN'],
    noNewPrivileges: false,
  });
  t.deepEqual(p.args, ['ls']);
  t.is(p.cwd, '/tmp');
  t.deepEqual(p.env, ['PATH=/bin', 'A=1', 'B=2']);
  t.false(p.terminal, 'no terminal unless -t');
  t.deepEqual(p.user, { uid: 1000, gid: 0, additionalGids: [5] });
  for (const set of ['bounding', 'effective', 'permitted', 'ambient'] as const)
    t.true(p.capabilities![set]!.includes('CAP_SYS_ADMIN'), set);
  t.false(p.capabilities!.inheritable?.includes('CAP_SYS_ADMIN') ?? false);
  t.false(p.noNewPrivileges);
  t.true(spec.process!.terminal, 'config.json’s process is not changed');
  t.is(resolveExecProcess(spec, { args: ['x'], tty: true }).terminal, true);
});

test('canExec: created and running; paused with ignorePaused; never stopped', (t) => {
  t.notThrows(() => canExec('created', false));
  t.notThrows(() => canExec('running', false));
  t.throws(() => canExec('paused', false), { message: 'cannot exec in a paused container (use --ignore-paused to override)' });
  t.notThrows(() => canExec('paused', true));
  t.throws(() => canExec('stopped', true), { message: 'cannot exec in a stopped container' });
});

test('a tenant plan: joins only, forks for pid and time namespaces, keeps the process fields', (t) => {
  const proc = defaultSpec().process!;
  const base = { id: 'b', noNewKeyring: true, consoleSocketFd: -1, preserveFds: 0, extraEnv: [], seccomp: null, home: null };
  const net = buildTenantPlan(proc, { ...base, joins: [{ fd: 5, nstype: 0x40000000 }] }).init;
  t.is(net.nsFlags, NsFlag.STAGE, 'a network namespace needs no fork');
  t.is(net.keyring, null);
  t.truthy(net.flags & PlanFlag.TENANT);
  t.is(net.cloneFlags | net.unshareFlags, 0n, 'a tenant makes no namespace');
  t.deepEqual([net.rootfs, net.stateDir, net.mounts.length, net.devices.length], [null, null, 0, 0]);
  const time = buildTenantPlan(proc, { ...base, joins: [{ fd: 5, nstype: 0x80 }] }).init;
  t.is(time.nsFlags, NsFlag.STAGE | NsFlag.FORK);
  t.is(buildTenantPlan(proc, { ...base, joins: [] }).init.nsFlags, 0, 'nothing to join: no namespace step');
  t.true(net.env.includes('HOME=/'));
});
