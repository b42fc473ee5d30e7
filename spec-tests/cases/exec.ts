/** `exec`: a new process in an existing container. exec is not an operation of
 * runtime.md; these are runc's documented behaviours (`runc exec --help`, the
 * runc man page) that containerd, podman and CRI-O build `exec` / `kubectl exec`
 * on: level CLI. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { capMask, parseMask } from '../harness/caps.js';
import { linux, proc, type Config } from '../harness/config.js';
import type { CaseContext, Container } from '../harness/context.js';
import { sleep } from '../harness/exec.js';
import { excerpt, Report } from '../harness/probe-output.js';
import { PROBE_IN_CONTAINER } from '../harness/rootfs.js';
import { scaled } from '../harness/timing.js';
import { check, eq, fail, type Case } from '../harness/types.js';
import { consoleReceiver, terminalOutput } from './console.js';
import { cli, def, expectError, expectErrno, expectOk, LONG_MS, nsLink, pidAlive } from './util.js';

const PROBE = PROBE_IN_CONTAINER;

/** A started container whose process sleeps (it is killed at cleanup). */
async function running(ctx: CaseContext, mutate: (config: Config) => void = () => undefined): Promise<Container> {
  const b = ctx.bundle(['sleep-ms', LONG_MS]);
  b.otherIds = true; // exec -u and process files use uid 1000
  mutate(b.config);
  const c = await ctx.create(b);
  await c.startOk();
  return c;
}

/** Foreground exec of the probe; fails the case unless it exits 0; returns its report. */
async function probe(c: Container, args: string[], flags: string[] = []): Promise<Report> {
  const r = await c.exec([PROBE, ...args], flags);
  expectOk(r, 'exec');
  return new Report(r.stdout);
}

/** The probe's `env` report as a list of NAME=value strings. */
function envOf(r: Report): string[] {
  return r
    .withPrefix('env')
    .filter(([k]) => /^env\d+$/.test(k))
    .map(([, v]) => Buffer.from(v, 'hex').toString());
}

/** Every path under dir, relative, sorted (to see what a failed exec left behind). */
function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      out.push(path.relative(dir, p));
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

/** `exec -d --pid-file` of a sleeping probe; returns the pid from the file. */
async function detached(ctx: CaseContext, c: Container): Promise<{ pid: number; text: string }> {
  const pidFile = ctx.path('exec.pid');
  const r = await c.exec([PROBE, 'sleep-ms', LONG_MS], ['-d', '--pid-file', pidFile]);
  expectOk(r, 'exec -d --pid-file');
  const text = fs.existsSync(pidFile) ? fs.readFileSync(pidFile, 'utf8') : '';
  return { pid: Number(text), text };
}

const NS_KINDS = ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'time', 'user', 'uts'];

export const execCases: Case[] = [
  def(
    'exec::runs-in-container',
    cli('exec', 'runc exec executes a new process inside a running container; its output reaches the caller'),
    async (ctx) => {
      const c = await running(ctx);
      const rep = await probe(c, ['info']);
      check(rep.has('pid'), `the exec'd probe printed nothing to the caller's stdout: ${excerpt(rep.raw)}`);
      eq(rep.need('hostname'), 'spec-tests', "hostname seen by the exec'd process (the container's)");
      check(rep.need('pid') !== '1', "the exec'd process is pid 1: it is not in the pid namespace of the container process");
    },
  ),

  def('exec::exit-status', cli('exec', "runc exec (without -d) exits with the exec'd process's exit status"), async (ctx) => {
    const c = await running(ctx);
    eq((await c.exec([PROBE, 'exit', '7'])).code, 7, 'exit status of `exec ID tsrun-probe exit 7`');
  }),

  def('exec::signal-exit-status', cli('exec', "runc exec exits 128+N when the exec'd process is killed by signal N"), async (ctx) => {
    const c = await running(ctx);
    eq((await c.exec(['sh', '-c', 'kill -9 $$'])).code, 137, "exit status of `exec ID sh -c 'kill -9 $$'`");
  }),

  def(
    'exec::missing-executable',
    cli('exec', 'a program not found in the container PATH fails exec with 255 and "executable file not found in $PATH"'),
    async (ctx) => {
      const c = await running(ctx);
      const r = await c.exec(['spec-no-such-program']);
      expectError(r, 'exec of a missing program');
      eq(r.code, 255, 'exit status (runc reports its own failures as 255)');
      check(
        /executable file not found in \$PATH/.test(r.stderr),
        `stderr lacks "executable file not found in $PATH": ${excerpt(r.stderr)}`,
      );
      eq(await c.status(), 'running', 'container status after the failed exec');
    },
  ),

  def(
    'exec::joins-namespaces',
    cli('exec', "the exec'd process runs in every namespace of the container process (runc setns()es into each)"),
    async (ctx) => {
      const c = await running(ctx);
      const pid = await c.pid();
      const rep = await probe(c, ['ns']);
      const kinds = NS_KINDS.filter((k) => ctx.host.namespaces.includes(k));
      for (const k of kinds) {
        eq(rep.need(`ns.${k}`), nsLink(pid, k), `${k} namespace of the exec'd process vs /proc/${pid}/ns/${k}`);
      }
    },
  ),

  def('exec::joins-cgroup', cli('exec', "the exec'd process is placed in the container's cgroup(s)"), async (ctx) => {
    const c = await running(ctx);
    const init = await c.pid();
    const { pid } = await detached(ctx, c);
    check(pid > 0 && pidAlive(pid), `the pid file does not name a live process: ${pid}`);
    eq(
      fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8'),
      fs.readFileSync(`/proc/${init}/cgroup`, 'utf8'),
      `/proc/${pid}/cgroup vs the container process's`,
    );
  }),

  def('exec::cwd', cli('exec --cwd', '--cwd sets the current working directory in the container'), async (ctx) => {
    const c = await running(ctx);
    eq((await probe(c, ['info'], ['--cwd', '/etc'])).need('cwd'), '/etc', 'getcwd() with --cwd /etc');
  }),

  def('exec::env', cli('exec -e', "-e NAME=value is appended to the environment of config.json's process"), async (ctx) => {
    const c = await running(ctx);
    const env = envOf(await probe(c, ['env'], ['-e', 'SPEC_EXEC=one', '-e', 'SPEC_EXEC2=two words']));
    for (const want of ['TERM=xterm', 'SPEC_EXEC=one', 'SPEC_EXEC2=two words']) {
      check(env.includes(want), `${want} missing from the exec'd environment: ${JSON.stringify(env)}`);
    }
    check(env.indexOf('TERM=xterm') < env.indexOf('SPEC_EXEC=one'), `-e was not appended after config.json's env: ${JSON.stringify(env)}`);
  }),

  def('exec::user', cli('exec -u', '-u uid:gid runs the process as that user and group'), async (ctx) => {
    const c = await running(ctx);
    const rep = await probe(c, ['info'], ['-u', '1000:1000']);
    eq(`${rep.need('uid')}/${rep.need('euid')}/${rep.need('suid')}`, '1000/1000/1000', 'real/effective/saved uid');
    eq(`${rep.need('gid')}/${rep.need('egid')}/${rep.need('sgid')}`, '1000/1000/1000', 'real/effective/saved gid');
  }),

  def(
    'exec::process-file',
    cli('exec --process', "-p process.json: the process (args, env, cwd, user) is the file's, not config.json's"),
    async (ctx) => {
      const c = await running(ctx);
      const file = ctx.path('process.json');
      fs.writeFileSync(
        file,
        JSON.stringify({
          terminal: false,
          user: { uid: 1000, gid: 1000 },
          args: [PROBE, 'info', ',', 'env'],
          env: ['PATH=/bin', 'SPEC_PROCESS_FILE=yes'],
          cwd: '/tmp',
        }),
      );
      const r = await c.exec([], ['--process', file]);
      expectOk(r, 'exec --process');
      const rep = new Report(r.stdout);
      eq(rep.need('cwd'), '/tmp', 'cwd');
      eq(`${rep.need('uid')}:${rep.need('gid')}`, '1000:1000', 'uid:gid');
      const env = envOf(rep);
      check(env.includes('SPEC_PROCESS_FILE=yes'), `the file's env is missing: ${JSON.stringify(env)}`);
      check(!env.includes('TERM=xterm'), `config.json's env leaked into a --process exec: ${JSON.stringify(env)}`);
    },
  ),

  def(
    'exec::detach-pid-file',
    cli(
      'exec -d --pid-file',
      "-d returns while the process runs; --pid-file holds its host pid (no newline), in the container's pid namespace",
    ),
    async (ctx) => {
      const c = await running(ctx);
      const init = await c.pid();
      const { pid, text } = await detached(ctx, c);
      check(/^\d+$/.test(text), `pid file content ${JSON.stringify(text)} is not bare decimal digits`);
      check(pid !== init, `the pid file names the container process ${init}, not the exec'd one`);
      check(pidAlive(pid), `pid ${pid} from the pid file is not running after exec -d returned`);
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
      eq(cmd, `${PROBE} sleep-ms ${LONG_MS}`, `/proc/${pid}/cmdline (the pid must be the exec'd process itself)`);
      eq(nsLink(pid, 'pid'), nsLink(init, 'pid'), "pid namespace of the pid-file process vs the container's");
    },
  ),

  def('exec::created-container', cli('exec', 'exec works in a created (not yet started) container and leaves it created'), async (ctx) => {
    const c = await ctx.create(ctx.bundle(['sleep-ms', LONG_MS]));
    const init = await c.pid();
    const rep = await probe(c, ['info']);
    check(rep.has('pid'), `the exec'd probe did not run: ${excerpt(rep.raw)}`);
    eq(await c.status(), 'created', 'status after exec');
    eq(await c.pid(), init, 'container pid after exec');
    await c.startOk();
    eq(await c.status(), 'running', 'status after start following the exec');
  }),

  def(
    'exec::stopped-container',
    cli('exec', 'exec in a stopped container fails ("cannot exec in a stopped container") and changes nothing'),
    async (ctx) => {
      const c = await ctx.create(ctx.bundle(['exit', '0']));
      await c.startOk();
      await c.waitStopped();
      const before = listTree(ctx.rt.root);
      expectError(await c.exec([PROBE, 'exit', '0']), 'exec in a stopped container');
      eq(await c.status(), 'stopped', 'status after the failed exec');
      const after = listTree(ctx.rt.root);
      eq(after.join(' '), before.join(' '), `files under --root after the failed exec`);
      expectOk(await c.delete(), 'delete after the failed exec');
    },
  ),

  def(
    'exec::paused-container',
    cli('exec --ignore-paused', 'exec in a paused container fails unless --ignore-paused is given'),
    async (ctx) => {
      const b = ctx.bundle(['sleep-ms', LONG_MS]);
      const shared = ctx.shareDir(b);
      const c = await ctx.create(b);
      await c.startOk();
      expectOk(await ctx.rt.exec(['pause', c.id]), 'pause');
      try {
        expectError(await c.exec([PROBE, 'touch', '/shared/ran']), 'exec in a paused container');
        eq(await c.status(), 'paused', 'status after the refused exec');
      } finally {
        await ctx.rt.exec(['resume', c.id]);
      }
      await sleep(scaled(200));
      check(!fs.existsSync(path.join(shared, 'ran')), 'the refused exec ran its program anyway');
    },
    { rootless: 'skip: pause freezes the container cgroup, and the user may create none here' },
  ),

  def('exec::preserve-fds', cli('exec --preserve-fds', '--preserve-fds N passes fds 3..3+N-1 to the process'), async (ctx) => {
    const c = await running(ctx);
    const file = ctx.path('passed');
    fs.writeFileSync(file, 'x');
    const fd = fs.openSync(file, 'r');
    try {
      const r = await c.exec([PROBE, 'fds'], ['--preserve-fds', '1'], { extraFds: [fd] });
      expectOk(r, 'exec --preserve-fds 1');
      const got = new Report(r.stdout).get('fd.3');
      check(got === file, `fd 3 in the exec'd process is ${got ?? 'missing'}, want ${file}`);
    } finally {
      fs.closeSync(fd);
    }
  }),

  def(
    'exec::no-leaked-fds',
    cli(
      'exec',
      "the exec'd process gets only stdio (+ preserved fds) and a cwd inside the container: no runtime fd leaks (CVE-2024-21626)",
    ),
    async (ctx) => {
      const c = await running(ctx);
      const extra = fs.openSync(path.join(ctx.dir, 'leak-me'), 'w');
      try {
        const r = await c.exec([PROBE, 'fds', ',', 'info'], [], { extraFds: [extra, extra] });
        expectOk(r, 'exec');
        const rep = new Report(r.stdout);
        const beyond = rep
          .withPrefix('fd.')
          .filter(([k]) => Number(k.slice(3)) > 2)
          .map(([k, v]) => `${k.slice(3)}→${v}`);
        check(beyond.length === 0, `the exec'd process has fds beyond stdio: ${beyond.join(', ')}`);
        eq(rep.need('cwd'), '/', "getcwd() of the exec'd process (config cwd /)");
      } finally {
        fs.closeSync(extra);
      }
    },
  ),

  def(
    'exec::tty-console-socket',
    cli(
      'exec -d -t --console-socket',
      'with -d and -t the pty master is sent over --console-socket (runc refuses the socket without both); the process has the slave on stdio',
    ),
    async (ctx) => {
      const c = await running(ctx);
      const recv = await consoleReceiver(ctx);
      const r = await c.exec([PROBE, 'tty'], ['-d', '-t', '--console-socket', recv.sock]);
      expectOk(r, 'exec -d -t --console-socket');
      await recv.done;
      const rep = recv.report();
      eq(rep.need('fds'), '1', 'number of fds received on the console socket');
      check(/^\d+$/.test(rep.need('ptn')), `the fd is not a pty master (TIOCGPTN: ${rep.need('ptn')})`);
      const out = terminalOutput(rep);
      eq(`${out.need('isatty0')}${out.need('isatty1')}${out.need('isatty2')}`, '111', "isatty(0/1/2) of the exec'd process");
    },
  ),

  def(
    'exec::seccomp',
    cli('exec', "the container's seccomp profile (config.json linux.seccomp) applies to the exec'd process"),
    async (ctx) => {
      const c = await running(ctx, (config) => {
        linux(config).seccomp = {
          defaultAction: 'SCMP_ACT_ALLOW',
          syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }],
        };
      });
      const rep = await probe(c, ['syscall', 'mkdir:/tmp/spec-exec', 'getppid']);
      expectErrno(rep.need('syscall.mkdir:/tmp/spec-exec'), 'EPERM', "mkdir in the exec'd process");
      check(rep.need('syscall.getppid').startsWith('ret:'), `an unlisted syscall failed: ${rep.need('syscall.getppid')}`);
    },
  ),

  def('exec::caps-no-new-privs', cli('exec', "config.json's capabilities and noNewPrivileges apply to the exec'd process"), async (ctx) => {
    const caps = ['CAP_CHOWN', 'CAP_KILL'];
    const c = await running(ctx, (config) => {
      const p = proc(config);
      p.capabilities = { bounding: caps, effective: caps, permitted: caps };
      p.noNewPrivileges = true;
    });
    const rep = await probe(c, ['info']);
    for (const field of ['CapEff', 'CapPrm', 'CapBnd']) {
      const got = parseMask(rep.need(field));
      if (got !== capMask(caps)) fail(`${field} of the exec'd process is ${rep.need(field)}, want the config's ${caps.join(' ')}`);
    }
    eq(rep.need('NoNewPrivs'), '1', "NoNewPrivs of the exec'd process");
  }),
];
