/**
 * The command line, parsed the way runc's (urfave/cli) is: global flags
 * before the command, each command's own flags, `--flag value`,
 * `--flag=value`, `-f value`, booleans as `--flag` or `--flag=false`,
 * repeatable flags, positionals. Declarative and small: starting the CLI
 * costs no more than the command needs (a general parser library cost more
 * to load than most commands take to run), and help is generated from the
 * same declarations.
 */
import { TsrunError } from '../errors.js';
import type { Context } from './context.js';

export type FlagType = 'boolean' | 'string' | 'number' | 'strings';

export interface Flag {
  name: string;
  alias?: string;
  type: FlagType;
  default?: unknown;
  describe?: string;
  hidden?: boolean;
  choices?: readonly string[];
}

export interface Positional {
  name: string;
  required?: boolean;
  /** Takes every remaining argument. */
  rest?: boolean;
  describe?: string;
}

export type Args = Record<string, unknown>;

export interface Command {
  name: string;
  describe: string;
  positionals?: Positional[];
  flags?: Flag[];
  /** Flags only before the first positional; what follows is the command's (exec, ps). */
  flagsFirst?: boolean;
  /** A failure's exit status (default 1) and the word before its message (default: the name). */
  failCode?: number;
  failLabel?: string;
  run(ctx: Context, args: Args): Promise<number> | number;
}

/** Parses a command's argv (after its name); throws EUSAGE with runc's wording. */
export function parseArgs(cmd: Command, argv: readonly string[]): Args {
  const flags = cmd.flags ?? [];
  const byName = new Map<string, Flag>();
  for (const f of flags) {
    byName.set(f.name, f);
    if (f.alias) byName.set(f.alias, f);
  }
  const out: Args = {};
  for (const f of flags) if (f.default !== undefined) out[f.name] = f.default;
  const positionals: string[] = [];
  let onlyPositionals = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    // `exec ID -- cmd`: the first -- after the id only separates
    if (cmd.flagsFirst && arg === '--' && positionals.length === 1 && argv[i - 1] === positionals[0]) continue;
    if (onlyPositionals || arg === '-' || !arg.startsWith('-')) {
      positionals.push(arg);
      if (cmd.flagsFirst) onlyPositionals = true;
      continue;
    }
    if (arg === '--') {
      onlyPositionals = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(arg.startsWith('--') ? 2 : 1, eq < 0 ? undefined : eq);
    const inline = eq < 0 ? undefined : arg.slice(eq + 1);
    const f = byName.get(name);
    if (!f) throw new TsrunError('EUSAGE', `flag provided but not defined: -${name}`);
    if (f.type === 'boolean') {
      if (inline !== undefined && inline !== 'true' && inline !== 'false')
        throw new TsrunError('EUSAGE', `invalid boolean value ${JSON.stringify(inline)} for -${name}`);
      out[f.name] = inline !== 'false';
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new TsrunError('EUSAGE', `flag needs an argument: -${name}`);
    if (f.choices && !f.choices.includes(value))
      throw new TsrunError('EUSAGE', `invalid value ${JSON.stringify(value)} for -${name} (one of ${f.choices.join(', ')})`);
    if (f.type === 'number') {
      if (!/^-?\d+$/.test(value)) throw new TsrunError('EUSAGE', `invalid value ${JSON.stringify(value)} for -${name}: a number`);
      out[f.name] = Number(value);
    } else if (f.type === 'strings') {
      out[f.name] = [...((out[f.name] as string[] | undefined) ?? []), value];
    } else out[f.name] = value;
  }
  const pos = cmd.positionals ?? [];
  pos.forEach((p, i) => {
    if (p.rest) out[p.name] = positionals.slice(i);
    else if (positionals[i] !== undefined) out[p.name] = positionals[i];
    else if (p.required) {
      const n = pos.filter((x) => x.required).length;
      const exactly = pos.every((x) => x.required && !x.rest);
      throw new TsrunError('EUSAGE', `"${cmd.name}" requires ${exactly ? 'exactly' : 'a minimum of'} ${n} argument(s)`); // runc's words
    }
  });
  const max = pos.some((p) => p.rest) ? Infinity : pos.length;
  if (positionals.length > max) throw new TsrunError('EUSAGE', `"${cmd.name}": unexpected argument ${JSON.stringify(positionals[max])}`);
  return out;
}

export function usageLine(cmd: Command): string {
  const pos = (cmd.positionals ?? []).map((p) => (p.rest ? `[${p.name}...]` : p.required ? `<${p.name}>` : `[${p.name}]`));
  return `tsrun [global options] ${cmd.name}${cmd.flags?.length ? ' [options]' : ''}${pos.length ? ` ${pos.join(' ')}` : ''}`;
}

function flagLines(flags: readonly Flag[]): string[] {
  const shown = flags.filter((f) => !f.hidden);
  const left = shown.map((f) => `${f.alias ? `-${f.alias}, ` : ''}--${f.name}${f.type === 'boolean' ? '' : ' value'}`);
  const width = Math.max(0, ...left.map((l) => l.length));
  return shown.map((f, i) => {
    const extra = f.default !== undefined && f.type !== 'boolean' ? ` (default: ${String(f.default)})` : '';
    return `   ${left[i]!.padEnd(width)}   ${f.describe ?? ''}${extra}`;
  });
}

/** `tsrun COMMAND --help`. */
export function commandHelp(cmd: Command): string {
  const lines = [`NAME:\n   tsrun ${cmd.name} - ${cmd.describe}`, '', `USAGE:\n   ${usageLine(cmd)}`];
  const pos = (cmd.positionals ?? []).filter((p) => p.describe);
  if (pos.length) lines.push('', 'ARGUMENTS:', ...pos.map((p) => `   ${p.name}   ${p.describe}`));
  if (cmd.flags?.length) lines.push('', 'OPTIONS:', ...flagLines(cmd.flags));
  return `${lines.join('\n')}\n`;
}

/** `tsrun --help`. */
export function globalHelp(commands: readonly Command[], globals: readonly Flag[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'NAME:\n   tsrun - an OCI container runtime, runc-compatible',
    '',
    'USAGE:\n   tsrun [global options] command [command options] [arguments...]',
    '',
    'COMMANDS:',
    ...commands.map((c) => `   ${c.name.padEnd(width)}   ${c.describe}`),
    '',
    'GLOBAL OPTIONS:',
    ...flagLines(globals),
    '',
  ].join('\n');
}
