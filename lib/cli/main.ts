/**
 * The tsrun command line: runc's global flags and subcommands.
 * Every failure: one error line (stderr, and --log), exit status 1.
 */
import * as fs from 'node:fs';
import yargs from 'yargs';

import { TsrunError } from '../errors.js';
import { packageRoot } from '../native/binding.js';
import { deleteCommand, createCommand, killCommand, listCommand, startCommand, stateCommand, type Runner } from './commands/lifecycle.js';
import { featuresCommand } from './commands/features.js';
import { eventsCommand, pauseCommand, psCommand, resumeCommand, updateCommand } from './commands/cgroups.js';
import { runCommand } from './commands/run.js';
import { execCommand, splitExecArgv } from './commands/exec.js';
import { specCommand } from './commands/spec.js';
import { Context, type GlobalArgs } from './context.js';
import { Logger, writeFd } from './log.js';

export const VERSION = '0.1.0';
export const SPEC_VERSION = '1.3.0';

function versionText(): string {
  let commit = 'unknown';
  try {
    commit = fs.readFileSync(`${packageRoot()}/dist/commit`, 'utf8').trim() || commit;
  } catch {
    /* not recorded */
  }
  return `tsrun version ${VERSION}\ncommit: ${commit}\nspec: ${SPEC_VERSION}\nnode: ${process.version}\n`;
}

/** Global flags that take a value (the rest are booleans). */
const GLOBAL_VALUE_FLAGS = new Set(['root', 'log', 'log-format', 'criu', 'rootless']);

/** Global flags go before the subcommand (runc's convention). */
function globals(argv: string[]): GlobalArgs {
  const g: GlobalArgs = { root: '/run/tsrun', 'log-format': 'text', debug: false, 'systemd-cgroup': false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('-')) break;
    const [flag, inline] = arg.replace(/^--?/, '').split(/=(.*)/s, 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i] ?? '';
    if (flag === 'root') g.root = value();
    else if (flag === 'log') g.log = value();
    else if (flag === 'log-format') g['log-format'] = value() === 'json' ? 'json' : 'text';
    else if (flag === 'debug') g.debug = inline === undefined || inline === 'true';
    else if (flag === 'systemd-cgroup') g['systemd-cgroup'] = inline === undefined || inline === 'true';
  }
  return g;
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

const COMMANDS = new Set([
  'create',
  'start',
  'run',
  'exec',
  'state',
  'kill',
  'delete',
  'list',
  'spec',
  'features',
  'pause',
  'resume',
  'ps',
  'events',
  'update',
]);

/**
 * runc's help forms: `help [COMMAND]`, and `-h`/`--help` among a command's
 * flags (before its first argument: `exec box ls -h` is ls's). Returns the
 * argv yargs should see, or an exit status when there is nothing to show.
 */
function helpRequest(argv: readonly string[]): string[] | number | null {
  const at = commandIndex(argv);
  const isHelp = (a: string) => a === '-h' || a === '--help';
  if (at < 0) return argv.some(isHelp) ? ['--help'] : null;
  const cmd = argv[at]!;
  if (cmd === 'help') return argv[at + 1] ? helpFor(argv[at + 1]!) : ['--help'];
  const own = argv.slice(at + 1);
  const firstArg = own.findIndex((a) => !a.startsWith('-'));
  if (!(firstArg < 0 ? own : own.slice(0, firstArg)).some(isHelp)) return null;
  return helpFor(cmd);
}

function helpFor(cmd: string): string[] | number {
  if (COMMANDS.has(cmd)) return [cmd, '--help'];
  writeFd(2, `tsrun: No help topic for '${cmd}'\n`);
  return 3; // runc's status for it
}

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === '--version' || argv[0] === '-v' || argv[0] === 'version') {
    writeFd(1, versionText());
    return 0;
  }
  const help = helpRequest(argv);
  if (typeof help === 'number') return help;
  if (help) argv = help;
  const g = globals(argv);
  const log = new Logger(g.log, g['log-format'], g.debug);
  const ctx = new Context(g.root, log);
  let exitCode = 0;
  let command = 'tsrun';
  const run: Runner = (fn, fail) => async (args) => {
    command = String((args as { _?: unknown[] })._?.[0] ?? command);
    try {
      if (g['systemd-cgroup'] && (command === 'create' || command === 'run'))
        throw new TsrunError('EUNSUPPORTED', '--systemd-cgroup: the systemd cgroup driver is not supported yet; use the cgroupfs driver');
      exitCode = await fn(ctx, args as never);
      if (g.debug && ctx.timeline.entries.length) log.debug(`timeline:\n${ctx.timeline.format()}`);
    } catch (e) {
      exitCode = fail?.failCode ?? 1;
      log.error(`${fail?.label ?? command}: ${describe(e)}`);
      if (g.debug && e instanceof Error && e.stack) log.debug(e.stack);
    }
  };

  // yargs takes a lone "-" for a positional; `update -r -` means stdin
  const args = splitExecArgv(argv, GLOBAL_VALUE_FLAGS).map((a, i, all) =>
    a === '-' && (all[i - 1] === '-r' || all[i - 1] === '--resources') ? '/dev/stdin' : a,
  );
  const parser = yargs(args)
    .scriptName('tsrun')
    // runc's --no-pivot and --no-new-keyring are flags of their own, not
    // negations of "pivot"/"new-keyring" (which strictOptions refused).
    .parserConfiguration({ 'boolean-negation': false })
    .usage('tsrun [global options] <command> [options]\n\nAn OCI container runtime, runc-compatible.')
    .option('root', { type: 'string', default: '/run/tsrun', describe: 'directory for container state' })
    .option('log', { type: 'string', describe: 'append errors (and --debug output) to this file' })
    .option('log-format', { choices: ['text', 'json'] as const, default: 'text' })
    .option('debug', { type: 'boolean', default: false, describe: 'debug output, including the step timeline' })
    .option('systemd-cgroup', { type: 'boolean', default: false, describe: 'use the systemd cgroup driver (not supported yet)' })
    .option('rootless', { type: 'string', hidden: true })
    .option('criu', { type: 'string', hidden: true })
    .command(createCommand(run))
    .command(startCommand(run))
    .command(runCommand(run))
    .command(execCommand(run))
    .command(stateCommand(run))
    .command(killCommand(run))
    .command(deleteCommand(run))
    .command(listCommand(run))
    .command(specCommand(run))
    .command(featuresCommand(run))
    .command(pauseCommand(run))
    .command(resumeCommand(run))
    .command(psCommand(run))
    .command(eventsCommand(run))
    .command(updateCommand(run))
    .example('tsrun run -b ./bundle mybox', 'run the bundle in ./bundle as container "mybox"')
    .example('tsrun run ./bundle/', 'run ./bundle under a generated id (bundle-3fa9c1)')
    .demandCommand(1, 'no command given')
    .strictCommands()
    .strictOptions()
    .version(false)
    .help('help')
    .alias('help', 'h')
    // a fixed width: reading process.stdout.columns would make Node set up fd 1,
    // which may turn a pipe shared with the container non-blocking
    .wrap(100)
    .exitProcess(false)
    .fail((msg, err) => {
      throw err ?? new TsrunError('EUSAGE', msg);
    });
  try {
    await parser.parseAsync();
  } catch (e) {
    log.error(describe(e));
    return 1;
  }
  return exitCode;
}

function describe(e: unknown): string {
  if (e instanceof TsrunError) return e.message;
  if (e instanceof Error) {
    const se = e as NodeJS.ErrnoException;
    if (se.code && se.syscall) return `${se.syscall}${se.path ? ` ${se.path}` : ''}: ${se.code}`;
    return e.message;
  }
  return String(e);
}

const code = await main(process.argv.slice(2));
process.exit(code);
