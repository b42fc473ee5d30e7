/** create, start, state, kill, delete, list — thin wrappers over Lifecycle. */
import type { Argv, CommandModule } from 'yargs';

import { writeFd } from '../log.js';
import { parseSignal } from '../signals.js';
import type { Context } from '../context.js';
import { listenFdOptions } from '../listen-fds.js';

type Handler<A> = (ctx: Context, args: A) => Promise<number> | number;
/** How a command fails: its exit status (default 1) and the word before its message (default: the command's name). */
export interface FailAs {
  failCode?: number;
  label?: string;
}
export type Runner = <A>(fn: Handler<A>, fail?: FailAs) => (args: A) => Promise<void>;

export function createCommand(run: Runner): CommandModule {
  return {
    command: 'create <container-id>',
    describe: 'create a container from a bundle; it waits for `start`',
    builder: (y: Argv) =>
      y
        .positional('container-id', { type: 'string', demandOption: true })
        .option('bundle', { alias: 'b', type: 'string', default: '.', describe: 'path to the bundle directory' })
        .option('pid-file', { type: 'string', describe: 'file to write the init pid to' })
        .option('console-socket', { type: 'string', describe: 'AF_UNIX socket to send the pty master to' })
        .option('no-pivot', { type: 'boolean', default: false, describe: 'use MS_MOVE and chroot instead of pivot_root' })
        .option('no-new-keyring', { type: 'boolean', default: false, describe: 'keep the caller session keyring' })
        .option('preserve-fds', { type: 'number', default: 0, describe: 'pass fds 3..3+N-1 to the container' }),
    handler: run((ctx, a: Record<string, unknown>) => {
      ctx.lifecycle().create(a['container-id'] as string, {
        bundle: a.bundle as string,
        pidFile: a['pid-file'] as string | undefined,
        consoleSocket: a['console-socket'] as string | undefined,
        noPivot: a['no-pivot'] as boolean,
        noNewKeyring: a['no-new-keyring'] as boolean,
        ...listenFdOptions(a['preserve-fds'] as number),
        detach: true,
      });
      return 0;
    }),
  };
}

export function startCommand(run: Runner): CommandModule {
  return {
    command: 'start <container-id>',
    describe: 'start the program of a created container',
    builder: (y: Argv) => y.positional('container-id', { type: 'string', demandOption: true }),
    handler: run((ctx, a: Record<string, unknown>) => {
      ctx.lifecycle().start(a['container-id'] as string);
      return 0;
    }),
  };
}

export function stateCommand(run: Runner): CommandModule {
  return {
    command: 'state <container-id>',
    describe: 'print the state of a container as JSON',
    builder: (y: Argv) => y.positional('container-id', { type: 'string', demandOption: true }),
    handler: run((ctx, a: Record<string, unknown>) => {
      const state = ctx.lifecycle().state(a['container-id'] as string);
      writeFd(1, `${JSON.stringify(state, null, 2)}\n`);
      return 0;
    }),
  };
}

export function killCommand(run: Runner): CommandModule {
  return {
    command: 'kill <container-id> [signal]',
    describe: 'send a signal (default TERM) to the container init, or with --all to every process',
    builder: (y: Argv) =>
      y
        .positional('container-id', { type: 'string', demandOption: true })
        .positional('signal', { type: 'string', default: 'TERM' })
        .option('all', { alias: 'a', type: 'boolean', default: false, describe: 'signal every process of the container' }),
    handler: run((ctx, a: Record<string, unknown>) => {
      ctx.lifecycle().kill(a['container-id'] as string, parseSignal(String(a.signal)), a.all as boolean);
      return 0;
    }),
  };
}

export function deleteCommand(run: Runner): CommandModule {
  return {
    command: 'delete <container-id>',
    describe: 'delete a stopped (or, with --force, any) container',
    builder: (y: Argv) =>
      y
        .positional('container-id', { type: 'string', demandOption: true })
        .option('force', { alias: 'f', type: 'boolean', default: false, describe: 'kill the container first if it runs' }),
    handler: run(async (ctx, a: Record<string, unknown>) => {
      await ctx.lifecycle().delete(a['container-id'] as string, a.force as boolean);
      return 0;
    }),
  };
}

export function listCommand(run: Runner): CommandModule {
  return {
    command: 'list',
    describe: 'list the containers under --root',
    builder: (y: Argv) =>
      y
        .option('format', { alias: 'f', choices: ['table', 'json'] as const, default: 'table' })
        .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'print only the ids' }),
    handler: run((ctx, a: Record<string, unknown>) => {
      const states = ctx.lifecycle().list();
      if (a.quiet) {
        writeFd(1, states.map((s) => `${s.id}\n`).join(''));
      } else if (a.format === 'json') {
        writeFd(1, `${JSON.stringify(states)}\n`);
      } else {
        const rows = [
          ['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER'],
          ...states.map((s) => [s.id, String(s.pid), s.status, s.bundle, s.created, s.owner]),
        ];
        const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
        writeFd(1, rows.map((r) => r.map((c, i) => (i < r.length - 1 ? c.padEnd(widths[i]! + 3) : c)).join('')).join('\n') + '\n');
      }
      return 0;
    }),
  };
}
