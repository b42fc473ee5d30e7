/**
 * The manual and shell completions, generated from the command table the
 * CLI parses with (lib/cli/main.ts), so neither can drift from the flags:
 * tsrun(8) and one tsrun-<command>(8) per command, as runc ships its man
 * pages, and bash, zsh and fish completions. scripts/release.mjs writes
 * them into the release; nothing here runs at a command's start.
 */
import { usageLine, type Command, type Flag } from './args.js';

/** roff text: backslashes and a leading dot or quote made literal. */
function roff(text: string): string {
  return text.replace(/\\/g, '\\e').replace(/-/g, '\\-').replace(/^[.']/gm, '\\&$&');
}

function flagItems(flags: readonly Flag[]): string[] {
  return flags
    .filter((f) => !f.hidden)
    .flatMap((f) => {
      const value = f.type === 'boolean' ? '' : ` \\fI${f.type === 'number' ? 'N' : 'value'}\\fR`;
      const names = `${f.alias ? `\\fB\\-${f.alias}\\fR, ` : ''}\\fB\\-\\-${roff(f.name)}\\fR${value}`;
      const def = f.default !== undefined && f.type !== 'boolean' ? ` (default: ${roff(String(f.default))})` : '';
      const choices = f.choices ? ` (one of: ${f.choices.map(roff).join(', ')})` : '';
      return ['.TP', names, `${roff(f.describe ?? '')}${choices}${def}`];
    });
}

function header(name: string, version: string): string[] {
  return [`.TH ${name.toUpperCase()} 8 "" "tsrun ${version}" "System Administration"`, '.nh', '.ad l'];
}

/** tsrun(8) and tsrun-<command>(8): file name → roff. */
export function manPages(commands: readonly Command[], globals: readonly Flag[], version: string): Map<string, string> {
  const pages = new Map<string, string>();
  const shown = commands.filter((c) => c.name !== 'help');
  pages.set(
    'tsrun.8',
    [
      ...header('tsrun', version),
      '.SH NAME',
      'tsrun \\- an OCI container runtime, a drop\\-in for runc',
      '.SH SYNOPSIS',
      '\\fBtsrun\\fR [\\fIglobal options\\fR] \\fIcommand\\fR [\\fIcommand options\\fR] [\\fIarguments\\fR...]',
      '.SH DESCRIPTION',
      'tsrun creates and runs containers from OCI bundles (a directory with a \\fBconfig.json\\fR and a root',
      'filesystem), as runc does: engines (containerd, CRI\\-O, podman, Docker, buildah) call it with the same',
      'commands, flags and state, and root can run a bundle by hand with \\fBtsrun run \\-b\\fR \\fIbundle\\fR \\fIid\\fR.',
      'Errors name the config field at fault, exit with status 1, and leave nothing behind.',
      '.SH GLOBAL OPTIONS',
      ...flagItems(globals),
      '.SH COMMANDS',
      ...shown.flatMap((c) => ['.TP', `\\fB${roff(c.name)}\\fR`, `${roff(c.describe)}. See \\fBtsrun\\-${roff(c.name)}\\fR(8).`]),
      '.SH ENVIRONMENT',
      '.TP',
      '\\fBXDG_RUNTIME_DIR\\fR',
      'The state directory of a runtime that is not the real root is \\fB$XDG_RUNTIME_DIR/tsrun\\fR.',
      '.TP',
      '\\fBTSRUN_ADDON\\fR',
      'A native addon (tsrun.node) to load instead of the installed one.',
      '.SH FILES',
      '.TP',
      '\\fB/run/tsrun\\fR',
      "root's state directory: one directory per container (\\fB\\-\\-root\\fR changes it).",
      '.SH EXIT STATUS',
      '0 on success; 1 when the command fails (the reason on standard error, or in \\fB\\-\\-log\\fR); 3 for an',
      'unknown command. \\fBrun\\fR and \\fBexec\\fR exit with the status of the container process.',
      '.SH SEE ALSO',
      `${shown.map((c) => `\\fBtsrun\\-${roff(c.name)}\\fR(8)`).join(', ')}, \\fBrunc\\fR(8)`,
      '',
    ].join('\n'),
  );
  for (const c of shown) {
    const pos = (c.positionals ?? []).filter((p) => p.describe);
    pages.set(
      `tsrun-${c.name}.8`,
      [
        ...header(`tsrun-${c.name}`, version),
        '.SH NAME',
        `tsrun\\-${roff(c.name)} \\- ${roff(c.describe)}`,
        '.SH SYNOPSIS',
        `\\fB${roff(usageLine(c))}\\fR`,
        ...(pos.length ? ['.SH ARGUMENTS', ...pos.flatMap((p) => ['.TP', `\\fI${roff(p.name)}\\fR`, roff(p.describe!)])] : []),
        ...(c.flags?.some((f) => !f.hidden) ? ['.SH OPTIONS', ...flagItems(c.flags)] : []),
        '.SH SEE ALSO',
        '\\fBtsrun\\fR(8)',
        '',
      ].join('\n'),
    );
  }
  return pages;
}

/** The commands whose first argument is a container id (completed from `tsrun list -q`). */
function takesId(c: Command): boolean {
  return c.positionals?.[0]?.name === 'container-id';
}

const visible = (flags: readonly Flag[] | undefined) => (flags ?? []).filter((f) => !f.hidden);
const spellings = (f: Flag) => [`--${f.name}`, ...(f.alias ? [`-${f.alias}`] : [])];

/** bash: commands, each one's flags, and container ids where a command takes one. */
export function bashCompletion(commands: readonly Command[], globals: readonly Flag[]): string {
  const names = commands.map((c) => c.name).join(' ');
  const cases = commands
    .map((c) => {
      const flags = visible(c.flags).flatMap(spellings).join(' ');
      return `    ${c.name}) flags='${flags}'; ids=${takesId(c) ? 1 : 0} ;;`;
    })
    .join('\n');
  return `# bash completion for tsrun (generated from its command table: lib/cli/manual.ts)
_tsrun() {
  local cur=\${COMP_WORDS[COMP_CWORD]} cmd='' i flags='' ids=0
  for ((i = 1; i < COMP_CWORD; i++)); do
    case \${COMP_WORDS[i]} in
      ${globals
        .filter((f) => f.type !== 'boolean')
        .flatMap(spellings)
        .join('|')}) ((i++)); [[ \${COMP_WORDS[i]} == = ]] && ((i++)) ;; # --root /x, --root=/x (split at =)
      -*) ;;
      *) cmd=\${COMP_WORDS[i]}; break ;;
    esac
  done
  if [[ -z $cmd ]]; then
    if [[ $cur == -* ]]; then
      COMPREPLY=($(compgen -W '${visible(globals).flatMap(spellings).join(' ')}' -- "$cur"))
    else
      COMPREPLY=($(compgen -W '${names}' -- "$cur"))
    fi
    return
  fi
  case $cmd in
${cases}
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
  elif ((ids)); then
    COMPREPLY=($(compgen -W "$(tsrun list -q 2>/dev/null)" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -F _tsrun tsrun
`;
}

/** zsh's _arguments spec of one flag. */
function zshFlag(f: Flag): string {
  const describe = (f.describe ?? '').replace(/[[\]':]/g, (ch) => (ch === "'" ? "'\\''" : `\\${ch}`));
  const value = f.type === 'boolean' ? '' : f.choices ? `:value:(${f.choices.join(' ')})` : ':value:_files';
  const names = spellings(f);
  return names.length > 1 ? `'(${names.join(' ')})'{${names.join(',')}}'[${describe}]${value}'` : `'${names[0]}[${describe}]${value}'`;
}

/** zsh: as bash's, with each flag's description. */
export function zshCompletion(commands: readonly Command[], globals: readonly Flag[]): string {
  const cmds = commands.map((c) => `    '${c.name}:${c.describe.replace(/'/g, "'\\''").replace(/:/g, '\\:')}'`).join('\n');
  const cases = commands
    .map((c) => {
      const args = [...visible(c.flags).map(zshFlag), takesId(c) ? "'1:container:_tsrun_ids'" : "'*:file:_files'"];
      return `    ${c.name}) _arguments ${args.join(' ')} ;;`;
    })
    .join('\n');
  return `#compdef tsrun
# zsh completion for tsrun (generated from its command table: lib/cli/manual.ts)
_tsrun_ids() {
  local -a ids
  ids=(\${(f)"$(tsrun list -q 2>/dev/null)"})
  _describe container ids
}
_tsrun() {
  local -a commands
  commands=(
${cmds}
  )
  _arguments -C ${visible(globals).map(zshFlag).join(' ')} '1:command:->command' '*::arg:->args'
  case $state in
    command) _describe command commands ;;
    args)
      case $words[1] in
${cases}
      esac ;;
  esac
}
_tsrun "$@"
`;
}

/** fish: commands, their flags with descriptions, and container ids. */
export function fishCompletion(commands: readonly Command[], globals: readonly Flag[]): string {
  const q = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  const flag = (f: Flag, cond: string) =>
    `complete -c tsrun -n ${q(cond)} -l ${f.name}${f.alias ? ` -s ${f.alias}` : ''}${f.type === 'boolean' ? '' : ' -r'}${
      f.choices ? ` -a ${q(f.choices.join(' '))}` : ''
    } -d ${q(f.describe ?? '')}`;
  const names = commands.map((c) => c.name).join(' ');
  const lines = [
    '# fish completion for tsrun (generated from its command table: lib/cli/manual.ts)',
    'complete -c tsrun -f',
    ...visible(globals).map((f) => flag(f, `not __fish_seen_subcommand_from ${names}`)),
    ...commands.map((c) => `complete -c tsrun -n ${q(`not __fish_seen_subcommand_from ${names}`)} -a ${c.name} -d ${q(c.describe)}`),
    ...commands.flatMap((c) => [
      ...visible(c.flags).map((f) => flag(f, `__fish_seen_subcommand_from ${c.name}`)),
      ...(takesId(c) ? [`complete -c tsrun -n ${q(`__fish_seen_subcommand_from ${c.name}`)} -a '(tsrun list -q 2>/dev/null)'`] : []),
    ]),
  ];
  return `${lines.join('\n')}\n`;
}
