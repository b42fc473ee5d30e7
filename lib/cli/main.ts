/**
 * The tsrun command line: runc's global flags and subcommands.
 * Every failure: one error line (stderr, and --log), exit status 1 (exec:
 * 255, as runc).
 */
import * as fs from 'node:fs';

import { TsrunError } from '../errors.js';
import { loadBinding, runtimeFile } from '../native/binding.js';
import { STATE_FILES } from '../native/constants.js';
import { commandHelp, globalHelp, parseArgs, type Command, type Flag } from './args.js';
import { deleteCommand, createCommand, killCommand, listCommand, startCommand, stateCommand } from './commands/lifecycle.js';
import { featuresCommand } from './commands/features.js';
import { eventsCommand, pauseCommand, psCommand, resumeCommand, updateCommand } from './commands/cgroups.js';
import { runCommand } from './commands/run.js';
import { execCommand } from './commands/exec.js';
import { specCommand } from './commands/spec.js';
import { checkpointCommand, restoreCommand } from './commands/checkpoint.js';
import { Context, type GlobalArgs } from './context.js';
import { Logger, writeFd } from './log.js';

export const VERSION = '0.1.0';
export const SPEC_VERSION = '1.3.0';

export const COMMANDS: readonly Command[] = [
  createCommand,
  startCommand,
  runCommand,
  execCommand,
  stateCommand,
  killCommand,
  deleteCommand,
  listCommand,
  specCommand,
  featuresCommand,
  pauseCommand,
  resumeCommand,
  psCommand,
  eventsCommand,
  updateCommand,
  checkpointCommand,
  restoreCommand,
];

export const GLOBAL_FLAGS: readonly Flag[] = [
  {
    name: 'root',
    type: 'string',
    default: '/run/tsrun',
    describe: 'directory for container state ($XDG_RUNTIME_DIR/tsrun instead when not the real root)',
  },
  { name: 'log', type: 'string', describe: 'append errors (and --debug output) to this file' },
  { name: 'log-format', type: 'string', choices: ['text', 'json'], default: 'text', describe: 'text or json' },
  { name: 'debug', type: 'boolean', default: false, describe: 'debug output: a line per setup step, and the step timeline' },
  {
    name: 'systemd-cgroup',
    type: 'boolean',
    default: false,
    describe: 'use the systemd cgroup driver: linux.cgroupsPath is "slice:prefix:name" (e.g. "system.slice:tsrun:c1")',
  },
  {
    name: 'rootless',
    type: 'string',
    default: 'auto',
    describe: "ignore cgroup permission errors ('true', 'false', or 'auto': when euid != 0 or in a user namespace)",
  },
  { name: 'criu', type: 'string', hidden: true },
  { name: 'help', alias: 'h', type: 'boolean', describe: 'show help' },
  { name: 'version', alias: 'v', type: 'boolean', describe: 'print the version' },
];

/** Global flags that take a value (the rest are booleans). */
const GLOBAL_VALUE_FLAGS = new Set(
  GLOBAL_FLAGS.filter((f) => f.type !== 'boolean').flatMap((f) => [f.name, ...(f.alias ? [f.alias] : [])]),
);

function versionText(): string {
  let commit = 'unknown';
  try {
    commit = fs.readFileSync(runtimeFile('commit'), 'utf8').trim() || commit;
  } catch {
    /* not recorded */
  }
  const engine = process.versions.bun ? `bun: ${process.versions.bun}` : `node: ${process.version}`;
  return `tsrun version ${VERSION}\ncommit: ${commit}\nspec: ${SPEC_VERSION}\n${engine}\n`;
}

/** Where the command is in argv (after the global flags), or -1. */
function commandIndex(argv: readonly string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('-')) return i;
    const name = arg.replace(/^--?/, '');
    if (!name.includes('=') && GLOBAL_VALUE_FLAGS.has(name)) i++;
  }
  return -1;
}

/** Global flags go before the subcommand (runc's convention). */
function globals(argv: readonly string[]): GlobalArgs {
  const g: GlobalArgs = { 'log-format': 'text', debug: false, 'systemd-cgroup': false, rootless: 'auto' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('-')) break;
    const [flag, inline] = arg.replace(/^--?/, '').split(/=(.*)/s, 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i] ?? '';
    if (flag === 'root') g.root = value();
    else if (flag === 'log') g.log = value();
    else if (flag === 'rootless') g.rootless = value();
    else if (flag === 'log-format') g['log-format'] = value() === 'json' ? 'json' : 'text';
    else if (flag === 'debug') g.debug = inline === undefined || inline === 'true';
    else if (flag === 'systemd-cgroup') g['systemd-cgroup'] = inline === undefined || inline === 'true';
    else if (GLOBAL_VALUE_FLAGS.has(flag) && inline === undefined) i++;
  }
  return g;
}

/**
 * runc's help forms: `help [COMMAND]`, `-h`/`--help` before the command or
 * among its own flags (before its first argument: `exec box ls -h` is ls's).
 * Returns the text to print and its exit status, or null.
 */
function helpRequest(argv: readonly string[]): { text: string; code: number; fd: 1 | 2 } | null {
  const at = commandIndex(argv);
  const isHelp = (a: string) => a === '-h' || a === '--help';
  const forCommand = (name: string) => {
    const cmd = COMMANDS.find((c) => c.name === name);
    return cmd
      ? { text: commandHelp(cmd), code: 0, fd: 1 as const }
      : { text: `tsrun: No help topic for '${name}'\n`, code: 3, fd: 2 as const };
  };
  if ((at < 0 ? argv : argv.slice(0, at)).some(isHelp)) return { text: globalHelp(COMMANDS, GLOBAL_FLAGS), code: 0, fd: 1 };
  if (at < 0) return null;
  const name = argv[at]!;
  if (name === 'help') return argv[at + 1] ? forCommand(argv[at + 1]!) : { text: globalHelp(COMMANDS, GLOBAL_FLAGS), code: 0, fd: 1 };
  const own = argv.slice(at + 1);
  const firstArg = own.findIndex((a) => !a.startsWith('-'));
  return (firstArg < 0 ? own : own.slice(0, firstArg)).some(isHelp) ? forCommand(name) : null;
}

/** When the engine had started and the modules were loaded (performance.now(): ms since the process started). */
export interface StartTimes {
  engine: number;
  modules: number;
}

export async function main(argv: string[], started?: StartTimes): Promise<number> {
  const at = commandIndex(argv);
  if ((at < 0 ? argv : argv.slice(0, at)).some((a) => a === '--version' || a === '-v') || argv[at] === 'version') {
    writeFd(1, versionText());
    return 0;
  }
  const help = helpRequest(argv);
  if (help) {
    writeFd(help.fd, help.text);
    return help.code;
  }
  const g = globals(argv);
  const log = new Logger(g.log, g['log-format'], g.debug);
  if (at < 0) {
    log.error('no command given (tsrun --help lists them)');
    return 1;
  }
  const cmd = COMMANDS.find((c) => c.name === argv[at]);
  if (!cmd) {
    log.error(`No help topic for '${argv[at]}'`); // runc's words for an unknown command
    return 3;
  }
  let root: string | undefined = g.root;
  // every failure from here on is one line (the addon that will not load
  // included), its stack only under --debug
  try {
    const native = loadBinding();
    const rootless = native.rootless(g.rootless);
    if (rootless.rootless === null) {
      log.error(`invalid --rootless value ${JSON.stringify(g.rootless)}: want true, false or auto`);
      return 1;
    }
    root ??= rootless.defaultRoot;
    const ctx = new Context(root, log, {
      rootless: rootless.rootless,
      xdgRoot: g.root === undefined && rootless.xdg,
      systemdCgroup: g['systemd-cgroup'],
    });
    if (started) {
      ctx.timeline.markAt('engine', started.engine);
      ctx.timeline.markAt('modules', started.modules);
    }
    const code = await cmd.run(ctx, parseArgs(cmd, argv.slice(at + 1)));
    ctx.timeline.mark('exit');
    if (g.debug) {
      log.debug('timeline:');
      for (const line of ctx.timeline.format().split('\n')) log.debug(line);
    }
    return code;
  } catch (e) {
    log.error(`${cmd.failLabel ?? cmd.name}: ${describe(e, root)}`);
    if (g.debug && e instanceof Error && e.stack) for (const line of e.stack.split('\n')) log.debug(line);
    return cmd.failCode ?? 1;
  }
}

/** One line for an error; a state root the user may not use says what to do (native/host's words too). */
export function describe(e: unknown, root?: string): string {
  if (e instanceof TsrunError) return e.message;
  if (e instanceof Error) {
    const se = e as NodeJS.ErrnoException;
    if (se.code && se.syscall) {
      const text = `${se.syscall}${se.path ? ` ${se.path}` : ''}: ${se.code}`;
      const uid = process.geteuid?.() ?? 0;
      const underRoot = root !== undefined && se.path !== undefined && (se.path === root || se.path.startsWith(`${root}/`));
      return (se.code === 'EACCES' || se.code === 'EPERM') && uid !== 0 && underRoot
        ? `${text} (running as uid ${uid}: ${STATE_FILES.rootHint})`
        : text;
    }
    return e.message.split('\n')[0]!;
  }
  return String(e);
}
