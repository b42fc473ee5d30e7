/** config-linux.md#seccomp. The probe calls syscalls the runtime itself does not
 * need after loading the filter (getpriority, getppid) and reports the result. */
import * as fs from 'node:fs';
import { linux, proc } from '../harness/config.js';
import type { Bundle, CaseContext } from '../harness/context.js';
import { describe } from '../harness/exec.js';
import { scaled } from '../harness/timing.js';
import { errnoOf, Report, type Report as ReportT } from '../harness/probe-output.js';
import { check, eq, fail, skip, type Case } from '../harness/types.js';
import { cli, def, expectErrno, expectError, linuxMd, waitUntil } from './util.js';

const GP = 'getpriority:0:0';

function seccomp(b: Bundle, s: Record<string, unknown>): void {
  linux(b.config).seccomp = s;
}

function requireAction(ctx: CaseContext, action: string): void {
  const actions = ctx.features?.linux?.seccomp?.actions;
  if (actions && !actions.includes(action)) skip(`runtime's features document does not list seccomp action ${action}`);
}

/** Runs the probe's syscalls under the bundle's filter; fails the case when the
 * runtime refused the config (the probe never got to its first syscall). */
async function call(ctx: CaseContext, b: Bundle, specs: string[]): Promise<ReportT> {
  b.config.process!.args = ['/bin/tsrun-probe', 'syscall', ...specs];
  const { exec, report } = await ctx.run(b, { allowFailure: true });
  if (!report.has(`calling.${specs[0]}`)) fail(`the container did not run: ${describe(exec)}`);
  return report;
}

/** Syscall names of this architecture, from the kernel UAPI header. */
function syscallNames(): string[] | undefined {
  for (const h of ['/usr/include/x86_64-linux-gnu/asm/unistd_64.h', '/usr/include/asm/unistd_64.h']) {
    try {
      const text = fs.readFileSync(h, 'utf8');
      return [...text.matchAll(/^#define __NR_(\w+)\s+\d+/gm)].map((m) => m[1] ?? '').filter(Boolean);
    } catch {
      /* try the next */
    }
  }
  return undefined;
}

const argOp = (op: string, value: number, valueTwo: number | undefined, blocked: number[]): Case =>
  def(
    `seccomp::arg-${op.replace('SCMP_CMP_', '').toLowerCase().replace('_', '-')}`,
    linuxMd('#seccomp', `syscalls[].args with op ${op} matches on the syscall argument`),
    async (ctx) => {
      const b = ctx.bundle();
      const arg: Record<string, unknown> = { index: 1, value, op };
      if (valueTwo !== undefined) arg.valueTwo = valueTwo;
      seccomp(b, {
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [{ names: ['getpriority'], action: 'SCMP_ACT_ERRNO', errnoRet: 18, args: [arg] }],
      });
      const whos = [0, 1, 2, 3];
      const r = await call(
        ctx,
        b,
        whos.map((w) => `getpriority:0:${w}`),
      );
      for (const w of whos) {
        const res = r.need(`syscall.getpriority:0:${w}`);
        const isBlocked = errnoOf(res) === 'EXDEV';
        if (isBlocked !== blocked.includes(w)) {
          fail(`getpriority(0, ${w}) was ${isBlocked ? '' : 'not '}filtered (${res}); expected filtered for who in [${blocked.join(',')}]`);
        }
      }
    },
  );

export const seccompCases: Case[] = [
  def('seccomp::errno-default-eperm', linuxMd('#seccomp', 'SCMP_ACT_ERRNO without errnoRet returns EPERM'), async (ctx) => {
    const b = ctx.bundle();
    seccomp(b, { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['getpriority'], action: 'SCMP_ACT_ERRNO' }] });
    const r = await call(ctx, b, [GP, 'getppid']);
    expectErrno(r.need(`syscall.${GP}`), 'EPERM', 'filtered getpriority');
    check(r.need('syscall.getppid').startsWith('ret:'), 'an unlisted syscall was affected');
  }),

  def('seccomp::errno-ret', linuxMd('#seccomp', 'errnoRet: the errno return code to use'), async (ctx) => {
    const b = ctx.bundle();
    seccomp(b, { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['getpriority'], action: 'SCMP_ACT_ERRNO', errnoRet: 18 }] });
    expectErrno((await call(ctx, b, [GP])).need(`syscall.${GP}`), 'EXDEV', 'filtered getpriority (errnoRet 18)');
  }),

  def('seccomp::names-multiple', linuxMd('#seccomp', 'names: the names of the syscalls (each listed syscall matches)'), async (ctx) => {
    const b = ctx.bundle();
    seccomp(b, {
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [{ names: ['getpriority', 'getppid'], action: 'SCMP_ACT_ERRNO', errnoRet: 18 }],
    });
    const r = await call(ctx, b, [GP, 'getppid', 'sysinfo']);
    expectErrno(r.need(`syscall.${GP}`), 'EXDEV', 'getpriority');
    expectErrno(r.need('syscall.getppid'), 'EXDEV', 'getppid');
    check(r.need('syscall.sysinfo').startsWith('ret:'), 'sysinfo (not listed) was filtered');
  }),

  def(
    'seccomp::default-action',
    linuxMd('#seccomp', 'defaultAction: the default action for seccomp (applies to unlisted syscalls)'),
    async (ctx) => {
      const names = syscallNames();
      if (!names) skip("no asm/unistd_64.h to list this architecture's syscalls (install linux-libc-dev)");
      const b = ctx.bundle();
      seccomp(b, {
        defaultAction: 'SCMP_ACT_ERRNO',
        syscalls: [{ names: names.filter((n) => n !== 'getpriority'), action: 'SCMP_ACT_ALLOW' }],
      });
      const r = await call(ctx, b, [GP, 'getppid']);
      expectErrno(r.need(`syscall.${GP}`), 'EPERM', 'getpriority, the one syscall left to the default action');
      check(r.need('syscall.getppid').startsWith('ret:'), 'an allowed syscall failed');
    },
  ),

  def(
    'seccomp::default-errno-ret',
    linuxMd('#seccomp', 'defaultErrnoRet: the errno return code to use for the default action'),
    async (ctx) => {
      const names = syscallNames();
      if (!names) skip("no asm/unistd_64.h to list this architecture's syscalls");
      const b = ctx.bundle();
      seccomp(b, {
        defaultAction: 'SCMP_ACT_ERRNO',
        defaultErrnoRet: 18,
        syscalls: [{ names: names.filter((n) => n !== 'getpriority'), action: 'SCMP_ACT_ALLOW' }],
      });
      expectErrno((await call(ctx, b, [GP])).need(`syscall.${GP}`), 'EXDEV', 'getpriority under defaultErrnoRet 18');
    },
    { since: '1.1.0' },
  ),

  def('seccomp::kill', linuxMd('#seccomp', 'SCMP_ACT_KILL: the process is killed by the kernel on the syscall'), async (ctx) => {
    requireAction(ctx, 'SCMP_ACT_KILL');
    const b = ctx.bundle();
    seccomp(b, { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['getpriority'], action: 'SCMP_ACT_KILL' }] });
    const r = await call(ctx, b, [GP]);
    check(r.has(`calling.${GP}`), `the probe did not get to the syscall: ${r.raw.slice(0, 200)}`);
    check(!r.has(`syscall.${GP}`) && !r.has('sigsys'), `the process survived SCMP_ACT_KILL: ${r.get(`syscall.${GP}`) ?? r.get('sigsys')}`);
  }),

  def('seccomp::kill-process', linuxMd('#seccomp', 'SCMP_ACT_KILL_PROCESS: the process is killed'), async (ctx) => {
    requireAction(ctx, 'SCMP_ACT_KILL_PROCESS');
    const b = ctx.bundle();
    seccomp(b, { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['getpriority'], action: 'SCMP_ACT_KILL_PROCESS' }] });
    const r = await call(ctx, b, [GP]);
    check(r.has(`calling.${GP}`) && !r.has(`syscall.${GP}`), 'the process survived SCMP_ACT_KILL_PROCESS');
  }),

  def('seccomp::kill-thread', linuxMd('#seccomp', 'SCMP_ACT_KILL_THREAD: the calling thread is killed'), async (ctx) => {
    requireAction(ctx, 'SCMP_ACT_KILL_THREAD');
    const b = ctx.bundle();
    seccomp(b, { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['getpriority'], action: 'SCMP_ACT_KILL_THREAD' }] });
    const r = await call(ctx, b, [GP]);
    check(r.has(`calling.${GP}`) && !r.has(`syscall.${GP}`), 'the thread survived SCMP_ACT_KILL_THREAD');
  }),

  def('seccomp::trap', linuxMd('#seccomp', 'SCMP_ACT_TRAP: the process receives SIGSYS'), async (ctx) => {
    requireAction(ctx, 'SCMP_ACT_TRAP');
    const b = ctx.bundle();
    seccomp(b, { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['getpriority'], action: 'SCMP_ACT_TRAP' }] });
    const r = await call(ctx, b, [GP]);
    check(r.has('sigsys'), `no SIGSYS was delivered: ${r.raw.slice(0, 200)}`);
  }),

  def('seccomp::log', linuxMd('#seccomp', 'SCMP_ACT_LOG: the syscall is allowed (and logged)'), async (ctx) => {
    requireAction(ctx, 'SCMP_ACT_LOG');
    const b = ctx.bundle();
    seccomp(b, { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['getpriority'], action: 'SCMP_ACT_LOG' }] });
    check((await call(ctx, b, [GP])).need(`syscall.${GP}`).startsWith('ret:'), 'a logged syscall failed');
  }),

  def(
    'seccomp::filter-installed',
    linuxMd('#seccomp', 'with seccomp configured the container process runs under a seccomp filter'),
    async (ctx) => {
      const b = ctx.bundle(['info']);
      seccomp(b, { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['getpriority'], action: 'SCMP_ACT_ERRNO' }] });
      eq((await ctx.run(b)).report.need('Seccomp'), '2', 'Seccomp mode in /proc/self/status (2 = filter)');
    },
  ),

  def(
    'seccomp::architectures',
    linuxMd('#seccomp', 'architectures: the architectures used for system calls (rules still apply)'),
    async (ctx) => {
      if (ctx.host.arch !== 'x64') skip('this case lists x86 architectures');
      const b = ctx.bundle();
      seccomp(b, {
        defaultAction: 'SCMP_ACT_ALLOW',
        architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
        syscalls: [{ names: ['getpriority'], action: 'SCMP_ACT_ERRNO', errnoRet: 18 }],
      });
      expectErrno((await call(ctx, b, [GP])).need(`syscall.${GP}`), 'EXDEV', 'getpriority with extra architectures');
    },
  ),

  def(
    'seccomp::enosys-beyond-profile',
    cli(
      'seccomp (-ENOSYS stub)',
      'with a refusing defaultAction, syscall numbers beyond those the profile knows fail with ENOSYS (so programs fall back); a known unlisted one gets the default errno',
    ),
    async (ctx) => {
      if (ctx.host.arch !== 'x64') skip('this case lists x86 architectures');
      const names = syscallNames();
      if (!names) skip("no asm/unistd_64.h to list this architecture's syscalls (install linux-libc-dev)");
      const b = ctx.bundle();
      // chroot("/") succeeds with CAP_SYS_CHROOT: its EPERM can only be the filter's.
      const caps = proc(b.config).capabilities ?? {};
      for (const set of ['bounding', 'effective', 'permitted'] as const) caps[set] = [...(caps[set] ?? []), 'CAP_SYS_CHROOT'];
      seccomp(b, {
        defaultAction: 'SCMP_ACT_ERRNO',
        architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
        syscalls: [{ names: names.filter((n) => n !== 'chroot'), action: 'SCMP_ACT_ALLOW' }],
      });
      const r = await call(ctx, b, ['nr:1000', 'nr:9999', 'chroot:/']);
      expectErrno(r.need('syscall.nr:1000'), 'ENOSYS', 'syscall number 1000 (beyond the profile)');
      expectErrno(r.need('syscall.nr:9999'), 'ENOSYS', 'syscall number 9999 (beyond the profile)');
      expectErrno(r.need('syscall.chroot:/'), 'EPERM', 'chroot("/"), known to the profile and not allowed');
    },
  ),

  argOp('SCMP_CMP_EQ', 1, undefined, [1]),
  argOp('SCMP_CMP_NE', 1, undefined, [0, 2, 3]),
  argOp('SCMP_CMP_LT', 2, undefined, [0, 1]),
  argOp('SCMP_CMP_LE', 2, undefined, [0, 1, 2]),
  argOp('SCMP_CMP_GT', 1, undefined, [2, 3]),
  argOp('SCMP_CMP_GE', 2, undefined, [2, 3]),
  argOp('SCMP_CMP_MASKED_EQ', 2, 2, [2, 3]),

  def(
    'seccomp::invalid-action',
    linuxMd('#seccomp', 'Runtimes MUST generate an error when invalid values are encountered (action)'),
    async (ctx) => {
      const b = ctx.bundle(['exit', '0']);
      seccomp(b, { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['getpriority'], action: 'SCMP_ACT_SPECTEST' }] });
      expectError((await ctx.tryCreate(b)).createResult, 'create with seccomp action SCMP_ACT_SPECTEST');
    },
  ),

  def(
    'seccomp::invalid-default-action',
    linuxMd('#seccomp', 'Runtimes MUST generate an error when invalid values are encountered (defaultAction)'),
    async (ctx) => {
      const b = ctx.bundle(['exit', '0']);
      seccomp(b, { defaultAction: 'SCMP_ACT_SPECTEST' });
      expectError((await ctx.tryCreate(b)).createResult, 'create with seccomp defaultAction SCMP_ACT_SPECTEST');
    },
  ),

  def(
    'seccomp::invalid-operator',
    linuxMd('#seccomp', 'Runtimes MUST generate an error when invalid values are encountered (op)'),
    async (ctx) => {
      const b = ctx.bundle(['exit', '0']);
      seccomp(b, {
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [{ names: ['getpriority'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 1, op: 'SCMP_CMP_SPECTEST' }] }],
      });
      expectError((await ctx.tryCreate(b)).createResult, 'create with seccomp op SCMP_CMP_SPECTEST');
    },
  ),

  def(
    'seccomp::invalid-architecture',
    linuxMd('#seccomp', 'Runtimes MUST generate an error when invalid values are encountered (architecture)'),
    async (ctx) => {
      const b = ctx.bundle(['exit', '0']);
      seccomp(b, {
        defaultAction: 'SCMP_ACT_ALLOW',
        architectures: ['SCMP_ARCH_SPECTEST'],
        syscalls: [{ names: ['getpriority'], action: 'SCMP_ACT_ERRNO' }],
      });
      expectError((await ctx.tryCreate(b)).createResult, 'create with architecture SCMP_ARCH_SPECTEST');
    },
  ),

  def(
    'seccomp::errno-ret-unsupported-action',
    linuxMd('#seccomp', "When the action doesn't support an errno, the runtime MUST print an error and fail"),
    async (ctx) => {
      const b = ctx.bundle(['exit', '0']);
      seccomp(b, { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['getpriority'], action: 'SCMP_ACT_KILL', errnoRet: 18 }] });
      expectError((await ctx.tryCreate(b)).createResult, 'create with errnoRet on SCMP_ACT_KILL');
    },
    { since: '1.1.0' },
  ),

  def(
    'seccomp::notify-listener',
    linuxMd('#seccomp', 'listenerPath: the runtime sends exactly one container process state with the seccompFd via SCM_RIGHTS'),
    async (ctx) => {
      requireAction(ctx, 'SCMP_ACT_NOTIFY');
      const sock = ctx.path('notify.sock');
      const reportFile = ctx.path('notify.report');
      const helper = ctx.hostProbe(['recv-fd', 'seccomp', sock, reportFile, String(scaled(15000))], scaled(20000));
      if (!(await waitUntil(() => fs.existsSync(sock), 10000))) fail('the socket receiver did not start');
      const b = ctx.bundle(['syscall', GP]);
      seccomp(b, {
        defaultAction: 'SCMP_ACT_ALLOW',
        listenerPath: sock,
        listenerMetadata: 'spec-tests-metadata',
        syscalls: [{ names: ['getpriority'], action: 'SCMP_ACT_NOTIFY' }],
      });
      const c = await ctx.create(b);
      await helper;
      const rep = new Report(fs.readFileSync(reportFile, 'utf8'));
      eq(rep.need('fds'), '1', 'number of fds received');
      const payload = JSON.parse(Buffer.from(rep.need('payload'), 'hex').toString()) as Record<string, unknown>;
      check(Array.isArray(payload.fds) && payload.fds[0] === 'seccompFd', `fds in the state is ${JSON.stringify(payload.fds)}`);
      check(typeof payload.pid === 'number' && payload.pid > 0, `pid ${String(payload.pid)}`);
      eq(payload.metadata, 'spec-tests-metadata', 'metadata');
      eq((payload.state as Record<string, unknown> | undefined)?.id, c.id, 'state.id');
      check(typeof payload.ociVersion === 'string', 'ociVersion missing from the container process state');
      await c.startOk();
      await c.waitStopped();
      expectErrno(c.report().need(`syscall.${GP}`), 'ENOSYS', 'notified syscall after the listener closed its fd');
    },
    { since: '1.1.0' },
  ),
];
