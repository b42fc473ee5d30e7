/** runc-compatible command-line behaviour that container engines rely on
 * (containerd, podman/conmon, CRI-O). Not part of the OCI spec: level CLI. */
import * as fs from 'node:fs';
import { CAPS } from '../harness/caps.js';
import { linux, proc, removeNamespace } from '../harness/config.js';
import type { CaseContext } from '../harness/context.js';
import { describe } from '../harness/exec.js';
import { hasCap } from '../harness/host.js';
import { check, eq, fail, skip, type Case } from '../harness/types.js';
import { cli, def, expectError, expectOk, LONG_MS, LONG_S, pidAlive, waitUntil } from './util.js';

export const cliCases: Case[] = [
  def('cli::run-exit-code', cli('run', "run exits with the container process's exit code"), async (ctx) => {
    const { exec } = await ctx.run(ctx.bundle(['exit', '42']), { allowFailure: true });
    eq(exec.code, 42, 'exit status of `run`');
  }),

  def('cli::run-signal-exit-code', cli('run', 'run exits 128+N when the container process is killed by signal N'), async (ctx) => {
    const b = ctx.bundle(['kill-self', '15']);
    removeNamespace(b.config, 'pid'); // a pid-namespace init would ignore its own SIGTERM
    const { exec } = await ctx.run(b, { allowFailure: true });
    eq(exec.code, 143, 'exit status of `run`');
  }),

  def('cli::delete-force-running', cli('delete --force', 'delete --force kills and removes a running container'), async (ctx) => {
    const c = await ctx.create(ctx.bundle(['sleep-ms', LONG_MS]));
    await c.startOk();
    const pid = await c.pid();
    expectOk(await c.delete(true), 'delete --force');
    check((await c.state()).code !== 0, 'the container still exists');
    await waitUntil(() => !pidAlive(pid) || isZombie(pid), 10000);
    check(!pidAlive(pid) || isZombie(pid), `container process ${pid} still runs`);
  }),

  def('cli::delete-force-created', cli('delete --force', 'delete --force removes a created container'), async (ctx) => {
    const c = await ctx.create(ctx.bundle(['sleep-ms', LONG_MS]));
    expectOk(await c.delete(true), 'delete --force');
    check((await c.state()).code !== 0, 'the container still exists');
  }),

  def(
    'cli::delete-force-unknown',
    cli('delete --force', 'delete --force of a missing container exits 0 (podman and containerd call it after failures)'),
    async (ctx) => {
      expectOk(await ctx.rt.delete(ctx.id('nope'), true), 'delete --force of an unknown id');
    },
  ),

  def('cli::delete-force-after-failed-create', cli('delete --force', 'after a failed create, delete --force exits 0'), async (ctx) => {
    const b = ctx.bundle(['exit', '0']);
    b.config.root = { path: 'missing-rootfs' };
    const c = await ctx.tryCreate(b);
    expectError(c.createResult, 'create with a missing rootfs');
    expectOk(await c.delete(true), 'delete --force after the failed create');
  }),

  def('cli::kill-default-sigterm', cli('kill', 'kill without a signal sends SIGTERM'), async (ctx) => {
    const c = await ctx.create(ctx.bundle(['wait-signal', LONG_S]));
    await c.startOk();
    await c.waitFor('ready');
    expectOk(await c.kill(), 'kill without a signal');
    await c.waitStopped();
    eq(c.report().get('signal'), 'TERM', 'signal received');
  }),

  def('cli::kill-signal-names', cli('kill', 'signals parse as NAME, SIGNAME and number'), async (ctx) => {
    for (const [sig, want] of [
      ['SIGUSR2', 'USR2'],
      ['HUP', 'HUP'],
      ['10', 'USR1'],
    ] as const) {
      const c = await ctx.create(ctx.bundle(['wait-signal', LONG_S]));
      await c.startOk();
      await c.waitFor('ready');
      expectOk(await c.kill(sig), `kill ${sig}`);
      await c.waitStopped();
      eq(c.report().get('signal'), want, `signal received for "kill ${sig}"`);
    }
  }),

  def(
    'cli::kill-zero',
    cli('kill ID 0', 'signal 0 asks whether the container runs: exit 0 while it runs (nothing delivered), non-zero once it stopped'),
    async (ctx) => {
      const c = await ctx.create(ctx.bundle(['sleep-ms', LONG_MS]));
      await c.startOk();
      expectOk(await c.kill('0'), 'kill ID 0 on a running container');
      eq(await c.status(), 'running', 'status after kill ID 0');
      expectOk(await c.kill('KILL'), 'kill ID KILL');
      await c.waitStopped();
      expectError(await c.kill('0'), 'kill ID 0 on a stopped container');
    },
  ),

  def(
    'cli::no-pivot-procfs',
    cli(
      'run --no-pivot',
      "with --no-pivot the host's procfs is out of reach: with every capability and no seccomp, a fresh proc cannot be mounted inside",
    ),
    async (ctx) => {
      const help = await ctx.rt.bare(['run', '--help']);
      if (!/--no-pivot\b/.test(help.stdout + help.stderr)) skip('`run --help` offers no --no-pivot');
      const caps = Object.keys(CAPS).filter((c) => hasCap(ctx.host, c));
      // The kernel lets CAP_SYS_ADMIN of the initial user namespace mount procfs
      // anywhere; only a mount namespace owned by another user namespace gets a
      // fresh proc just where one is already fully visible. Hence the nested
      // user namespace, as runc's no_pivot.bats does (`unshare -mrpf`): the
      // host's /proc, left in the namespace under the chroot, must be gone.
      const attempt = async (masked: boolean): Promise<ReturnType<CaseContext['run']>> => {
        const b = ctx.bundle();
        proc(b.config).capabilities = { bounding: caps, effective: caps, permitted: caps };
        if (masked) {
          // As in runc spec: the container's own /proc is then not fully visible.
          linux(b.config).maskedPaths = ['/proc/kcore', '/proc/keys', '/proc/timer_list'];
          linux(b.config).readonlyPaths = ['/proc/sys', '/proc/sysrq-trigger'];
        }
        proc(b.config).args = [
          '/bin/sh',
          '-c',
          'echo started=1; unshare -mrpf sh -c "echo nested=1; if mount -t proc proc /mnt; then echo mounted=1; else echo mounted=0; fi"',
        ];
        return ctx.run(b, { flags: ['--no-pivot'], allowFailure: true });
      };
      // Control: without masks the container's own /proc is fully visible, so
      // the nested mount must work; otherwise the refusal below would prove nothing.
      const control = await attempt(false);
      if (!control.report.has('started')) fail(`run --no-pivot did not run the container: ${describe(control.exec)}`);
      if (!control.report.has('nested')) skip(`no user namespace can be made inside the container on this host: ${describe(control.exec)}`);
      if (control.report.get('mounted') !== '1')
        skip(`a nested user namespace cannot mount proc here even beside a fully visible one: ${describe(control.exec)}`);
      const { exec, report } = await attempt(true);
      if (!report.has('nested')) fail(`the nested user namespace was not made: ${describe(exec)}`);
      eq(report.need('mounted'), '0', 'mount -t proc inside (1 = a fresh procfs was mounted)');
    },
  ),

  def('cli::kill-all', cli('kill --all', 'kill --all ID KILL stops a running container'), async (ctx) => {
    const c = await ctx.create(ctx.bundle(['sleep-ms', LONG_MS]));
    await c.startOk();
    expectOk(await c.kill('KILL', true), 'kill --all');
    await c.waitStopped();
  }),

  def(
    'cli::kill-all-stopped',
    cli('kill --all', 'kill --all on a stopped container exits 0 (runc behaviour containerd relies on)'),
    async (ctx) => {
      const c = await ctx.create(ctx.bundle(['exit', '0']));
      await c.startOk();
      await c.waitStopped();
      expectOk(await c.kill('KILL', true), 'kill --all on a stopped container');
    },
  ),

  def(
    'cli::kill-stopped-wording',
    cli('kill', 'kill of a stopped container says "container not running" (containerd/CRI-O match it)'),
    async (ctx) => {
      const c = await ctx.create(ctx.bundle(['exit', '0']));
      await c.startOk();
      await c.waitStopped();
      const r = await c.kill('KILL');
      expectError(r, 'kill of a stopped container');
      check(/container not running/i.test(r.stderr), `stderr lacks "container not running": ${r.stderr.trim()}`);
    },
  ),

  def('cli::delete-running-wording', cli('delete', 'delete of a running container says "... that is not stopped"'), async (ctx) => {
    const c = await ctx.create(ctx.bundle(['sleep-ms', LONG_MS]));
    await c.startOk();
    const r = await c.delete();
    expectError(r, 'delete of a running container');
    check(/not stopped/i.test(r.stderr), `stderr lacks "not stopped": ${r.stderr.trim()}`);
  }),

  def(
    'cli::missing-wording',
    cli('state', 'operations on a missing container say "does not exist" (containerd matches it)'),
    async (ctx) => {
      const r = await ctx.rt.state(ctx.id('nope'));
      expectError(r, 'state of an unknown id');
      check(/does not exist/i.test(r.stderr), `stderr lacks "does not exist": ${r.stderr.trim()}`);
    },
  ),

  def(
    'cli::ps-json',
    cli('ps --format json', 'ps --format json prints a JSON array of host pids (containerd reads []int)'),
    async (ctx) => {
      const c = await ctx.create(ctx.bundle(['sleep-ms', LONG_MS]));
      await c.startOk();
      const pid = await c.pid();
      const r = await ctx.rt.exec(['ps', '--format', 'json', c.id]);
      expectOk(r, 'ps --format json');
      let list: unknown;
      try {
        list = JSON.parse(r.stdout);
      } catch {
        fail(`ps output is not JSON: ${r.stdout.slice(0, 200)}`);
      }
      check(Array.isArray(list) && list.every((x) => Number.isInteger(x)), `ps output is not an array of integers: ${r.stdout.trim()}`);
      check((list as number[]).includes(pid), `ps output ${r.stdout.trim()} lacks the container pid ${pid}`);
    },
  ),

  def(
    'cli::pause-resume',
    cli('pause / resume', 'pause freezes the container (status "paused"), resume thaws it (status "running")'),
    async (ctx) => {
      const c = await ctx.create(ctx.bundle(['sleep-ms', LONG_MS]));
      await c.startOk();
      expectOk(await ctx.rt.exec(['pause', c.id]), 'pause');
      eq(await c.status(), 'paused', 'status after pause');
      expectOk(await ctx.rt.exec(['resume', c.id]), 'resume');
      eq(await c.status(), 'running', 'status after resume');
    },
    { rootless: 'skip: pause freezes the container cgroup, and the user may create none here' },
  ),

  def(
    'cli::log-json',
    cli('--log --log-format json', 'errors are appended to the log file as JSON lines {level, msg, time (RFC 3339)}'),
    async (ctx) => {
      const b = ctx.bundle(['exit', '0']);
      b.config.root = { path: 'missing-rootfs' };
      b.write();
      const log = ctx.path('log.json');
      const r = await ctx.rt.exec(['--log', log, '--log-format', 'json', 'create', '--bundle', b.dir, ctx.id('log')]);
      expectError(r, 'create with a missing rootfs');
      const lines = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean) : [];
      if (lines.length === 0) fail('nothing was written to the --log file');
      const errors = lines
        .map((l) => {
          try {
            return JSON.parse(l) as Record<string, unknown>;
          } catch {
            fail(`log line is not JSON: ${l}`);
          }
        })
        .filter((o) => o.level === 'error');
      const last = errors.pop();
      if (!last) fail(`no level:"error" line in the log: ${lines.join(' | ')}`);
      check(typeof last.msg === 'string' && last.msg.length > 0, 'the error line has no msg');
      check(typeof last.time === 'string' && !Number.isNaN(Date.parse(last.time)), `time ${String(last.time)} does not parse as RFC 3339`);
    },
  ),

  def('cli::preserve-fds', cli('create --preserve-fds', '--preserve-fds N passes fds 3..3+N-1 to the container'), async (ctx) => {
    const file = ctx.path('passed');
    fs.writeFileSync(file, 'x');
    const fd = fs.openSync(file, 'r');
    try {
      const { report } = await ctx.run(ctx.bundle(['fds']), { extraFds: [fd], preserveFds: 1 });
      const got = report.get('fd.3');
      check(got === file, `fd 3 in the container is ${got ?? 'missing'}, want ${file}`);
    } finally {
      fs.closeSync(fd);
    }
  }),

  def('cli::root-flag-equals', cli('--root', 'global flags also parse as --flag=value'), async (ctx) => {
    const b = ctx.bundle(['exit', '0']);
    b.write();
    const id = ctx.id('eq');
    const r = await ctx.rt.bare([`--root=${ctx.rt.root}`, 'run', '--bundle', b.dir, id]);
    expectOk(r, '--root=DIR run');
  }),

  def('cli::version', cli('--version', '--version exits 0 and names a version on its first line'), async (ctx) => {
    const r = await ctx.rt.bare(['--version']);
    expectOk(r, '--version');
    check(/version/i.test(r.stdout.split('\n')[0] ?? ''), `first line is ${JSON.stringify(r.stdout.split('\n')[0])}`);
  }),

  def(
    'cli::create-leaves-no-runtime-process',
    cli('create', 'when create returns, no runtime process stays behind: the container process is reparented'),
    async (ctx) => {
      const c = await ctx.create(ctx.bundle(['sleep-ms', LONG_MS]));
      const pid = await c.pid();
      const ppid = Number(/^PPid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
      let parentExe = '';
      let parentCmd = '';
      try {
        parentExe = fs.readlinkSync(`/proc/${ppid}/exe`);
        parentCmd = fs.readFileSync(`/proc/${ppid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      } catch {
        /* the parent is gone or not inspectable: not the runtime */
      }
      const runtimeExe = fs.realpathSync(ctx.rt.path);
      const isRuntime = parentExe === runtimeExe || parentCmd.includes(ctx.rt.path) || parentCmd.includes(runtimeExe);
      check(
        !isRuntime,
        `the container process's parent ${ppid} is still the runtime (${parentCmd.trim() || parentExe}): ${describe(c.createResult)}`,
      );
    },
  ),
];

function isZombie(pid: number): boolean {
  try {
    return /^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true;
  }
}
