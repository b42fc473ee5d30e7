/** exec's pure parts: argv splitting, flag parsing, the process it builds, the status guard. */
import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { defaultSpec } from '../../lib/config/default-spec.js';
import { parseArgs } from '../../lib/cli/args.js';
import { execCommand, parseUser } from '../../lib/cli/commands/exec.js';
import { loadProcessFile, parseSubCgroups, resolveExecProcess } from '../../lib/container/exec.js';
import { fromHost } from '../../lib/native/host.js';
import { loadBinding } from '../../lib/native/binding.js';
import { buildTenantPlan } from '../../lib/plan/tenant.js';
import { NsFlag, PlanFlag } from '../../lib/plan/types.js';

test('exec’s command line: flags before the id, everything after it is the command', (t) => {
  t.deepEqual(parseArgs(execCommand, ['box', 'sh', '-c', 'exit 3']).command, ['sh', '-c', 'exit 3']);
  const a = parseArgs(execCommand, ['-e', 'A=1', '--env=B=2', '--cwd=/tmp', '-t', '-u', '1000', 'box', 'ls', '-l', '-e']);
  t.deepEqual(a.env, ['A=1', 'B=2'], 'repeatable, in both spellings');
  t.is(a.cwd, '/tmp');
  t.is(a.tty, true);
  t.is(a['container-id'], 'box');
  t.deepEqual(a.command, ['ls', '-l', '-e'], 'the program’s own flags stay its own');
  t.deepEqual(parseArgs(execCommand, ['-p', 'p.json', 'box']).command, []);
  t.deepEqual(parseArgs(execCommand, ['box', '--', 'true']).command, ['true'], 'a -- right after the id only separates');
  t.deepEqual(parseArgs(execCommand, ['--', 'box', 'true']).command, ['true']);
  t.throws(() => parseArgs(execCommand, ['--nope', 'box']), { message: 'flag provided but not defined: -nope' });
  t.throws(() => parseArgs(execCommand, []), { message: '"exec" requires a minimum of 1 argument(s)' });
  t.is(parseArgs(execCommand, ['-d=false', 'box', 'x']).detach, false);
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
  for (const set of ['bounding', 'effective', 'permitted'] as const) t.true(p.capabilities![set]!.includes('CAP_SYS_ADMIN'), set);
  t.false(p.capabilities!.inheritable?.includes('CAP_SYS_ADMIN') ?? false);
  t.false(p.noNewPrivileges);
  t.true(spec.process!.terminal, 'config.json’s process is not changed');
  t.is(resolveExecProcess(spec, { args: ['x'], tty: true }).terminal, true);
});

test('resolveExecProcess: --cap reaches the ambient set only when config.json has an inheritable set, as runc ≥ 1.2', (t) => {
  const spec = defaultSpec();
  spec.process!.capabilities = { bounding: ['CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'], ambient: ['CAP_KILL'] };
  const none = resolveExecProcess(spec, { args: ['x'], caps: ['CAP_SYS_ADMIN'] }).capabilities!;
  t.deepEqual(none.ambient, ['CAP_KILL'], 'no inheritable set: ambient stays config.json’s');
  t.deepEqual(none.bounding, ['CAP_KILL', 'CAP_SYS_ADMIN']);
  t.is(none.inheritable, undefined, '--cap never adds to inheritable');
  for (const inheritable of [[], ['CAP_SYS_ADMIN']]) {
    spec.process!.capabilities.inheritable = inheritable;
    const c = resolveExecProcess(spec, { args: ['x'], caps: ['CAP_SYS_ADMIN'] }).capabilities!;
    t.deepEqual(c.ambient, ['CAP_KILL', 'CAP_SYS_ADMIN'], `inheritable ${JSON.stringify(inheritable)}`);
    t.deepEqual(c.inheritable, inheritable);
  }
  // no capabilities in config.json at all: --cap alone, none of it ambient
  delete spec.process!.capabilities;
  t.deepEqual(resolveExecProcess(spec, { args: ['x'], caps: ['CAP_SYS_ADMIN'] }).capabilities, {
    bounding: ['CAP_SYS_ADMIN'],
    effective: ['CAP_SYS_ADMIN'],
    permitted: ['CAP_SYS_ADMIN'],
  });
});

/** native/host/status.c's exec guard, as TypeScript meets it. */
function canExec(status: string, ignorePaused: boolean): void {
  try {
    loadBinding().canExec(status, ignorePaused);
  } catch (e) {
    throw fromHost(e);
  }
}

test('loadProcessFile: no user, or no uid or gid in it, is 0 (root), as runc reads the file; cwd is still required', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-process-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const load = (p: unknown) => {
    const file = path.join(dir, 'process.json');
    fs.writeFileSync(file, JSON.stringify(p));
    return loadProcessFile(file);
  };
  const base = { args: ['id'], cwd: '/' };
  t.deepEqual(load(base).user, { uid: 0, gid: 0 });
  t.deepEqual(load({ ...base, user: null }).user, { uid: 0, gid: 0 });
  t.deepEqual(load({ ...base, user: { uid: 1000 } }).user, { uid: 1000, gid: 0 });
  t.deepEqual(load({ ...base, user: { gid: 5, additionalGids: [7] } }).user, { uid: 0, gid: 5, additionalGids: [7] });
  t.throws(() => load({ ...base, user: { uid: 'x' } }), { message: /process\.user\.uid: must be an integer/ });
  t.throws(() => load({ args: ['id'] }), { message: /process\.cwd: is required/ });
});

test('canExec (native/host): created and running; paused with ignorePaused; never stopped', (t) => {
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
