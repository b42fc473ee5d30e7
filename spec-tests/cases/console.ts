/** config.md#process terminal/consoleSize, config-linux.md#default-devices
 * (/dev/console), and the --console-socket protocol (runc CLI). The probe's
 * `recv-fd console` mode is the socket receiver: Node cannot take SCM_RIGHTS. */
import * as fs from 'node:fs';
import { proc } from '../harness/config.js';
import type { Bundle, CaseContext, Container } from '../harness/context.js';
import { scaled } from '../harness/timing.js';
import { Report } from '../harness/probe-output.js';
import { check, eq, fail, type Case } from '../harness/types.js';
import { cli, configMd, def, linuxMd, waitUntil } from './util.js';

interface ConsoleRun {
  c: Container;
  /** The receiver's report (fds, payload, ptn...). */
  rep: Report;
  /** What the container wrote to its terminal, parsed as probe output. */
  out: Report;
  /** The receiver's report as it was when create returned. */
  atCreate: Report;
}

/** The probe listening on a --console-socket path (`recv-fd console`): it takes
 * the pty master and records what the slave side writes until it closes. */
export interface ConsoleReceiver {
  sock: string;
  /** The receiver's report so far (fds, payload, ptn, data...). */
  report(): Report;
  /** Resolves when the receiver has exited (the slave side closed, or its deadline). */
  done: Promise<unknown>;
}

export async function consoleReceiver(ctx: CaseContext): Promise<ConsoleReceiver> {
  const sock = ctx.path('console.sock');
  const reportFile = ctx.path('console.report');
  const done = ctx.hostProbe(['recv-fd', 'console', sock, reportFile, String(scaled(15000))], scaled(20000));
  await waitUntil(() => fs.existsSync(sock), 10000);
  if (!fs.existsSync(sock)) fail('the console socket receiver did not start');
  return { sock, report: () => new Report(fs.readFileSync(reportFile, 'utf8')), done };
}

/** What the process wrote to its terminal, parsed as probe output. */
export function terminalOutput(rep: Report): Report {
  const data = Buffer.from(rep.get('data') ?? '', 'hex')
    .toString()
    .replace(/\r/g, '');
  return new Report(data);
}

async function withConsole(ctx: CaseContext, probeArgs: string[], mutate: (b: Bundle) => void = () => undefined): Promise<ConsoleRun> {
  const recv = await consoleReceiver(ctx);
  const b = ctx.bundle(probeArgs);
  proc(b.config).terminal = true;
  mutate(b);
  const c = await ctx.create(b, { consoleSocket: recv.sock });
  const atCreate = recv.report();
  await c.startOk();
  await c.waitStopped();
  await recv.done;
  const rep = recv.report();
  return { c, rep, out: terminalOutput(rep), atCreate };
}

export const consoleCases: Case[] = [
  def(
    'console::receives-pty-master',
    cli('create --console-socket', 'the runtime sends exactly one fd, the pty master, with SCM_RIGHTS'),
    async (ctx) => {
      const { rep } = await withConsole(ctx, ['exit', '0']);
      eq(rep.need('fds'), '1', 'number of fds received');
      eq(rep.need('cmsg_len_exact'), '1', 'cmsg_len == CMSG_LEN(sizeof(int)) (conmon checks it)');
      eq(rep.need('truncated'), '0', 'message truncated');
      check(/^\d+$/.test(rep.need('ptn')), `the fd is not a pty master (TIOCGPTN: ${rep.need('ptn')})`);
    },
  ),

  def(
    'console::sent-before-create-returns',
    cli('create --console-socket', 'the pty master is sent before create exits (conmon and containerd wait for it)'),
    async (ctx) => {
      const { atCreate } = await withConsole(ctx, ['exit', '0']);
      check(atCreate.has('fds'), 'when create returned, the receiver had not yet got the pty master');
    },
  ),

  def('console::payload', cli('create --console-socket', 'one message with a payload under 4096 bytes (go-runc limit)'), async (ctx) => {
    const { rep } = await withConsole(ctx, ['exit', '0']);
    const len = rep.need('payload').length / 2;
    check(len > 0 && len < 4096, `payload is ${len} bytes`);
  }),

  def(
    'console::stdio-is-tty',
    configMd('#process', "terminal true: the pseudoterminal pty is duplicated on the process's standard streams"),
    async (ctx) => {
      const { out } = await withConsole(ctx, ['tty']);
      eq(`${out.need('isatty0')}${out.need('isatty1')}${out.need('isatty2')}`, '111', 'isatty(0/1/2)');
    },
  ),

  def(
    'console::dev-console',
    linuxMd('#default-devices', '/dev/console is set up if terminal is enabled by bind mounting the pseudoterminal pty to /dev/console'),
    async (ctx) => {
      const { out } = await withConsole(ctx, ['statf', '/dev/console', '/proc/self/fd/0']);
      const con = out.attrs('statf./dev/console');
      const stdin = out.attrs('statf./proc/self/fd/0');
      eq(con.type, 'chr', '/dev/console type');
      eq(`${con.major}:${con.minor}`, `${stdin.major}:${stdin.minor}`, '/dev/console device vs the terminal on stdin');
    },
  ),

  def(
    'console::console-size',
    configMd('#process', 'consoleSize specifies the console size in characters of the terminal'),
    async (ctx) => {
      const { out } = await withConsole(ctx, ['tty'], (b) => {
        proc(b.config).consoleSize = { height: 37, width: 111 };
      });
      eq(out.need('winsize'), '37x111', 'TIOCGWINSZ rows x cols');
    },
  ),

  def(
    'console::controlling-terminal',
    configMd('#process', "terminal true: the pty is the process's controlling terminal", 'SHOULD'),
    async (ctx) => {
      const { out } = await withConsole(ctx, ['tty']);
      eq(out.need('devtty'), 'ok', 'open("/dev/tty")');
    },
  ),

  def(
    'console::pty-owner',
    cli(
      'create --console-socket',
      'the pty of a process running as uid 1000 belongs to uid 1000, with the group devpts gives it (gid=5, as in runc spec)',
    ),
    async (ctx) => {
      const { out } = await withConsole(ctx, ['statf', '/proc/self/fd/0', ',', 'info'], (b) => {
        proc(b.config).user = { uid: 1000, gid: 1000 };
        const pts = b.config.mounts?.find((m) => m.destination === '/dev/pts');
        if (!pts) fail('the default config has no /dev/pts mount');
        pts.options = ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'];
      });
      eq(out.need('uid'), '1000', 'uid of the process');
      const tty = out.attrs('statf./proc/self/fd/0');
      eq(tty.type, 'chr', 'the terminal on stdin');
      eq(`${tty.uid}:${tty.gid}`, '1000:5', 'owner uid:gid of the terminal');
    },
  ),

  def(
    'console::size-ignored-without-terminal',
    configMd('#process', 'Runtimes MUST ignore consoleSize if terminal is false or unset'),
    async (ctx) => {
      const b = ctx.bundle(['info']);
      proc(b.config).consoleSize = { height: 10, width: 10 };
      const { report } = await ctx.run(b);
      eq(report.need('isatty1'), '0', 'isatty(1) without terminal');
    },
  ),
];
