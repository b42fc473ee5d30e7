/** runc-compatible command-line behaviour that container engines rely on
 * (containerd, podman/conmon, CRI-O). Not part of the OCI spec: level CLI. */
import * as fs from 'node:fs';
import { removeNamespace } from '../harness/config.js';
import { describe } from '../harness/exec.js';
import { check, eq, fail, type Case } from '../harness/types.js';
import { cli, def, expectError, expectOk, LONG_MS, LONG_S, pidAlive } from './util.js';

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
    for (let i = 0; i < 50 && pidAlive(pid); i++) await new Promise((r) => setTimeout(r, 20));
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
