/** config.md#process, #user, #linux-process, #hostname, runtime-linux.md#file-descriptors. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { proc, setNamespace } from '../harness/config.js';
import { describe } from '../harness/exec.js';
import { scaled } from '../harness/timing.js';
import { check, eq, fail, skip, type Case } from '../harness/types.js';
import { cli, configMd, def, linuxMd, runtimeLinuxMd, runtimeMd } from './util.js';

/** The CPUs of Cpus_allowed_list in a /proc/PID/status text ("0-3,6" → [0, 1, 2, 3, 6]). */
function cpuList(status: string): number[] {
  const list = /^Cpus_allowed_list:\s*(\S+)$/m.exec(status)?.[1] ?? '';
  return list.split(',').flatMap((r) => {
    const [a, b = a] = r.split('-').map(Number);
    return Number.isInteger(a) && Number.isInteger(b) ? Array.from({ length: b! - a! + 1 }, (_, i) => a! + i) : [];
  });
}

const probeUser = (uid: number, gid: number, extra: Record<string, unknown> = {}) => ({ uid, gid, ...extra });

export const processCases: Case[] = [
  def('process::args', configMd('#process', 'args: the executable and its arguments, with execvp argv semantics'), async (ctx) => {
    const args = ['/bin/tsrun-probe', 'args', 'two words', '', 'ünïcödé', '--flag=v', '$HOME'];
    const b = ctx.bundle();
    proc(b.config).args = args;
    const { report } = await ctx.run(b);
    eq(report.need('argc'), String(args.length), 'argc');
    args.forEach((a, i) => eq(report.text(`arg${i}`), a, `argv[${i}]`));
  }),

  def(
    'process::args-path-lookup',
    configMd('#process', "the first args entry is used with the same semantics as execvp's file (PATH lookup)"),
    async (ctx) => {
      const b = ctx.bundle();
      proc(b.config).args = ['tsrun-probe', 'info'];
      const { report } = await ctx.run(b);
      check(report.has('pid'), `the probe did not run when args[0] is a bare name: ${report.raw.slice(0, 200)}`);
    },
  ),

  def('process::args-path-from-env', configMd('#process', 'execvp semantics: the PATH searched is the one in process.env'), async (ctx) => {
    const b = ctx.bundle();
    fs.mkdirSync(b.inRootfs('opt/spec/bin'), { recursive: true });
    fs.linkSync(b.inRootfs('bin/tsrun-probe'), b.inRootfs('opt/spec/bin/spec-only-probe'));
    const p = proc(b.config);
    p.env = ['PATH=/opt/spec/bin'];
    p.args = ['spec-only-probe', 'info'];
    const { report } = await ctx.run(b);
    check(report.has('pid'), 'a program found only through the container PATH did not run');
  }),

  def(
    'process::args-missing-executable',
    runtimeMd('#lifecycle', 'the runtime MUST run the user-specified program; a missing executable MUST generate an error'),
    async (ctx) => {
      const b = ctx.bundle();
      proc(b.config).args = ['/bin/spec-no-such-program'];
      const c = await ctx.tryCreate(b);
      if (!c.created) return;
      const s = await c.start();
      if (s.code === 0) fail('create and start both succeeded for a nonexistent executable');
    },
  ),

  def('process::env', configMd('#process', 'env: variables with the same semantics as environ'), async (ctx) => {
    const b = ctx.bundle(['env']);
    const env = ['PATH=/bin', 'SPEC_A=one', 'SPEC_EMPTY=', 'SPEC_EQ=a=b=c', 'SPEC_SPACE=with space'];
    proc(b.config).env = env;
    const { report } = await ctx.run(b);
    const got = report
      .withPrefix('env')
      .filter(([k]) => /^env\d+$/.test(k))
      .map(([, v]) => Buffer.from(v, 'hex').toString());
    for (const e of env) check(got.includes(e), `${JSON.stringify(e)} missing from the environment: ${JSON.stringify(got)}`);
  }),

  def('process::cwd', configMd('#process', 'cwd is the working directory that will be set for the executable'), async (ctx) => {
    const b = ctx.bundle();
    proc(b.config).cwd = '/etc';
    eq((await ctx.run(b)).report.need('cwd'), '/etc', 'getcwd()');
  }),

  def(
    'process::cwd-relative-invalid',
    configMd('#process', 'cwd MUST be an absolute path; runtimes MUST generate an error for invalid values'),
    async (ctx) => {
      const b = ctx.bundle();
      proc(b.config).cwd = 'etc';
      const c = await ctx.tryCreate(b);
      if (!c.created) return;
      const s = await c.start();
      if (s.code === 0) fail('a relative cwd was accepted');
    },
  ),

  def('process::user-uid', configMd('#posix-platform-user', 'uid specifies the user ID in the container namespace'), async (ctx) => {
    const b = ctx.bundle();
    proc(b.config).user = probeUser(1000, 1001);
    const { report } = await ctx.run(b);
    eq(`${report.need('uid')}/${report.need('euid')}/${report.need('suid')}`, '1000/1000/1000', 'real/effective/saved uid');
  }),

  def('process::user-gid', configMd('#posix-platform-user', 'gid specifies the group ID in the container namespace'), async (ctx) => {
    const b = ctx.bundle();
    proc(b.config).user = probeUser(1000, 1001);
    const { report } = await ctx.run(b);
    eq(`${report.need('gid')}/${report.need('egid')}/${report.need('sgid')}`, '1001/1001/1001', 'real/effective/saved gid');
  }),

  def(
    'process::additional-gids',
    configMd('#posix-platform-user', 'additionalGids specifies additional group IDs to be added to the process'),
    async (ctx) => {
      const b = ctx.bundle();
      proc(b.config).user = probeUser(1000, 1001, { additionalGids: [2001, 2002] });
      const groups = new Set((await ctx.run(b)).report.need('groups').split(',').filter(Boolean));
      check(groups.has('2001') && groups.has('2002'), `supplementary groups ${[...groups].join(',')} lack 2001,2002`);
      const extra = [...groups].filter((g) => !['2001', '2002', '1001'].includes(g));
      check(extra.length === 0, `unexpected supplementary groups: ${extra.join(',')}`);
    },
  ),

  def(
    'process::no-inherited-groups',
    configMd(
      '#posix-platform-user',
      "without additionalGids the process gets no supplementary groups of the runtime (e.g. root's group 0)",
    ),
    async (ctx) => {
      const b = ctx.bundle();
      proc(b.config).user = probeUser(1000, 1001);
      const groups = (await ctx.run(b)).report
        .need('groups')
        .split(',')
        .filter((g) => g && g !== '1001');
      check(groups.length === 0, `the process has supplementary groups it was not given: ${groups.join(',')}`);
    },
  ),

  def(
    'process::umask',
    configMd('#posix-platform-user', 'umask specifies the umask of the user'),
    async (ctx) => {
      const b = ctx.bundle();
      proc(b.config).user = probeUser(0, 0, { umask: 0o027 });
      eq((await ctx.run(b)).report.need('umask'), '0027', 'umask');
    },
    { since: '1.1.0' },
  ),

  def(
    'process::no-new-privileges-true',
    configMd('#linux-process', 'noNewPrivileges true prevents the process from gaining additional privileges'),
    async (ctx) => {
      const b = ctx.bundle();
      proc(b.config).noNewPrivileges = true;
      eq((await ctx.run(b)).report.need('nnp'), '1', 'PR_GET_NO_NEW_PRIVS');
    },
  ),

  def(
    'process::no-new-privileges-false',
    configMd('#linux-process', 'noNewPrivileges false leaves no_new_privs unset', 'SHOULD'),
    async (ctx) => {
      const b = ctx.bundle();
      proc(b.config).noNewPrivileges = false;
      eq((await ctx.run(b)).report.need('nnp'), '0', 'PR_GET_NO_NEW_PRIVS');
    },
  ),

  def(
    'process::oom-score-adj',
    configMd('#linux-process', 'If oomScoreAdj is set, the runtime MUST set oom_score_adj to the given value'),
    async (ctx) => {
      const b = ctx.bundle();
      proc(b.config).oomScoreAdj = 321;
      eq((await ctx.run(b)).report.need('oom_score_adj'), '321', 'oom_score_adj');
    },
  ),

  def(
    'process::oom-score-adj-unset',
    configMd('#linux-process', 'If oomScoreAdj is not set, the runtime MUST NOT change the value of oom_score_adj'),
    async (ctx) => {
      const b = ctx.bundle();
      delete proc(b.config).oomScoreAdj;
      b.write();
      const id = ctx.id('oom');
      // The runtime inherits 123 from a shell that sets it and execs the
      // runtime (rootless: through the wrap that makes it the user).
      const r = await ctx.rt.exec(['run', '--bundle', b.dir, id], { timeoutMs: scaled(15000) }, [
        '/bin/sh',
        '-c',
        'echo 123 > /proc/self/oom_score_adj && exec "$@"',
        'sh',
      ]);
      const m = /^oom_score_adj=(.*)$/m.exec(r.stdout);
      if (!m) fail(`the probe did not run: ${describe(r)}`);
      eq(m[1], '123', 'oom_score_adj inherited from the runtime caller');
    },
  ),

  def(
    'process::terminal-false',
    configMd('#process', 'terminal false (default): no pseudoterminal is attached to the process'),
    async (ctx) => {
      const { report } = await ctx.run(ctx.bundle());
      eq(`${report.need('isatty0')}${report.need('isatty1')}${report.need('isatty2')}`, '000', 'isatty(0/1/2)');
    },
  ),

  def(
    'process::stdio-only-fds',
    runtimeLinuxMd('#file-descriptors', 'By default, only the stdin, stdout and stderr file descriptors are kept open for the application'),
    async (ctx) => {
      const b = ctx.bundle(['fds']);
      const extra = fs.openSync(path.join(ctx.dir, 'leak-me'), 'w');
      try {
        const { report } = await ctx.run(b, { extraFds: [extra, extra] });
        const fds = report.withPrefix('fd.').map(([k, v]) => `${k.slice(3)}→${v}`);
        const beyond = fds.filter((f) => Number(f.split('→')[0]) > 2);
        check(beyond.length === 0, `the process has fds beyond stdio: ${beyond.join(', ')}`);
      } finally {
        fs.closeSync(extra);
      }
    },
  ),

  def(
    'process::hostname',
    configMd('#hostname', "hostname specifies the container's hostname as seen by processes inside the container"),
    async (ctx) => {
      const b = ctx.bundle();
      b.config.hostname = 'spec-host-name';
      eq((await ctx.run(b)).report.need('hostname'), 'spec-host-name', 'uname nodename');
    },
  ),

  def(
    'process::domainname',
    configMd('#domainname', "domainname specifies the container's domainname as seen by processes inside the container"),
    async (ctx) => {
      const b = ctx.bundle();
      b.config.domainname = 'spec.example';
      eq((await ctx.run(b)).report.need('domainname'), 'spec.example', 'uname domainname');
    },
    { since: '1.1.0' },
  ),

  def(
    'process::sysctl-net',
    linuxMd('#sysctl', 'sysctl allows kernel parameters to be modified at runtime for the container (net, in the new net namespace)'),
    async (ctx) => {
      const b = ctx.bundle(['read', '/proc/sys/net/ipv4/ip_forward']);
      setNamespace(b.config, 'network'); // rootless configs have none
      b.config.linux!.sysctl = { 'net.ipv4.ip_forward': '1' };
      const { report } = await ctx.run(b);
      eq(Buffer.from(report.need('data./proc/sys/net/ipv4/ip_forward'), 'hex').toString().trim(), '1', 'net.ipv4.ip_forward');
    },
  ),

  def(
    'process::sysctl-ipc',
    linuxMd('#sysctl', 'sysctl allows kernel parameters to be modified at runtime for the container (ipc namespace)'),
    async (ctx) => {
      const b = ctx.bundle(['read', '/proc/sys/kernel/msgmax']);
      b.config.linux!.sysctl = { 'kernel.msgmax': '4321' };
      const { report } = await ctx.run(b);
      eq(Buffer.from(report.need('data./proc/sys/kernel/msgmax'), 'hex').toString().trim(), '4321', 'kernel.msgmax');
    },
  ),

  def(
    'process::personality',
    linuxMd('#personality', 'personality LINUX32 sets uname to show a 32 bit CPU type'),
    async (ctx) => {
      if (ctx.host.arch !== 'x64') fail('this check knows only x86_64 (expects i686)');
      const b = ctx.bundle();
      b.config.linux!.personality = { domain: 'LINUX32' };
      eq((await ctx.run(b)).report.need('machine'), 'i686', 'uname machine');
    },
    { since: '1.1.0' },
  ),

  def(
    'process::scheduler',
    configMd('#linux-process', 'scheduler describes the scheduler properties for the process (SCHED_BATCH, nice 5)'),
    async (ctx) => {
      const b = ctx.bundle();
      proc(b.config).scheduler = { policy: 'SCHED_BATCH', nice: 5 };
      const { report } = await ctx.run(b);
      eq(report.need('sched_policy'), '3', 'sched_getscheduler (SCHED_BATCH = 3)');
      eq(report.need('nice'), '5', 'nice');
    },
    { since: '1.2.0' },
  ),

  def(
    'process::io-priority',
    configMd('#linux-process', 'ioPriority configures the I/O priority (class and priority)'),
    async (ctx) => {
      const b = ctx.bundle();
      proc(b.config).ioPriority = { class: 'IOPRIO_CLASS_BE', priority: 6 };
      eq((await ctx.run(b)).report.need('ioprio'), '2:6', 'ioprio_get (class BE = 2)');
    },
    { since: '1.2.0' },
  ),

  def(
    'process::cpu-affinity-reset',
    cli('run', 'a runtime pinned to one CPU does not pass its affinity on: the container process may run on every CPU of its cpuset'),
    async (ctx) => {
      const own = cpuList(fs.readFileSync('/proc/self/status', 'utf8'));
      if (own.length < 2) skip(`the harness may run on ${own.length} CPU(s) only: nothing to reset to`);
      const b = ctx.bundle(['cat', '/proc/self/status']);
      const { exec } = await ctx.run(b, { wrap: ['taskset', '-c', String(own[0])] });
      const theirs = cpuList(exec.stdout);
      check(
        theirs.length > 1,
        `the container process may run on CPU ${theirs.join(',')} only: the runtime's taskset -c ${own[0]} leaked into it`,
      );
    },
  ),
];
