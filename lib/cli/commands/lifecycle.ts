/** create, start, state, kill, delete, list — thin wrappers over the Runtime (lib/index.ts). */
import type { Command, Flag } from '../args.js';
import { writeFd } from '../log.js';
import { listenFdOptions } from '../listen-fds.js';

const ID = { name: 'container-id', required: true } as const;

/** The flags run shares with create: one definition, one description each. */
export const CREATE_FLAGS: Flag[] = [
  { name: 'pid-file', type: 'string', describe: 'file to write the init pid to' },
  { name: 'console-socket', type: 'string', describe: 'AF_UNIX socket to send the pty master to' },
  { name: 'pidfd-socket', type: 'string', describe: 'AF_UNIX socket that receives a pidfd of the container init' },
  { name: 'no-pivot', type: 'boolean', default: false, describe: 'use MS_MOVE and chroot instead of pivot_root' },
  { name: 'no-new-keyring', type: 'boolean', default: false, describe: 'keep the caller session keyring' },
  { name: 'preserve-fds', type: 'number', default: 0, describe: 'pass fds 3..3+N-1 to the container' },
];

export const createCommand: Command = {
  name: 'create',
  describe: 'create a container from a bundle; it waits for `start`',
  positionals: [ID],
  flags: [{ name: 'bundle', alias: 'b', type: 'string', default: '.', describe: 'path to the bundle directory' }, ...CREATE_FLAGS],
  async run(ctx, a) {
    await ctx.runtime().create(a['container-id'] as string, {
      bundle: a.bundle as string,
      pidFile: a['pid-file'] as string | undefined,
      consoleSocket: a['console-socket'] as string | undefined,
      pidfdSocket: a['pidfd-socket'] as string | undefined,
      noPivot: a['no-pivot'] as boolean,
      noNewKeyring: a['no-new-keyring'] as boolean,
      ...listenFdOptions(a['preserve-fds'] as number),
    });
    return 0;
  },
};

export const startCommand: Command = {
  name: 'start',
  describe: 'start the program of a created container',
  positionals: [ID],
  async run(ctx, a) {
    await ctx.runtime().start(a['container-id'] as string);
    return 0;
  },
};

export const stateCommand: Command = {
  name: 'state',
  describe: 'print the state of a container as JSON',
  positionals: [ID],
  run(ctx, a) {
    const state = ctx.runtime().state(a['container-id'] as string);
    writeFd(1, `${JSON.stringify(state, null, 2)}\n`);
    return 0;
  },
};

export const killCommand: Command = {
  name: 'kill',
  describe: 'send a signal (default TERM) to the container init, or with --all to every process',
  positionals: [ID, { name: 'signal' }],
  flags: [{ name: 'all', alias: 'a', type: 'boolean', default: false, describe: 'signal every process of the container' }],
  async run(ctx, a) {
    await ctx.runtime().kill(a['container-id'] as string, String(a.signal ?? 'TERM'), { all: a.all as boolean });
    return 0;
  },
};

export const deleteCommand: Command = {
  name: 'delete',
  describe: 'delete a stopped (or, with --force, any) container',
  positionals: [ID],
  flags: [{ name: 'force', alias: 'f', type: 'boolean', default: false, describe: 'kill the container first if it runs' }],
  async run(ctx, a) {
    await ctx.runtime().delete(a['container-id'] as string, { force: a.force as boolean });
    return 0;
  },
};

export const listCommand: Command = {
  name: 'list',
  describe: 'list the containers under --root',
  flags: [
    { name: 'format', alias: 'f', type: 'string', choices: ['table', 'json'], default: 'table', describe: 'table or json' },
    { name: 'quiet', alias: 'q', type: 'boolean', default: false, describe: 'print only the ids' },
  ],
  run(ctx, a) {
    const states = ctx.runtime().list();
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
  },
};
