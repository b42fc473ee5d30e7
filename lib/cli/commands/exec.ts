/**
 * exec: runc's `exec [flags] ID [COMMAND [ARGS…]]` or `exec [flags] -p
 * process.json ID`. Flags come before the id; everything after it is the
 * command, so `exec box sh -c 'x'` keeps its `-c` (splitExecArgv).
 * Failures exit 255, as runc's do: any lower code may be the process's own.
 */
import type { Argv, CommandModule } from 'yargs';

import { TsrunError } from '../../errors.js';
import type { ExecWhat } from '../../index.js';
import { loadProcessFile } from '../../container/exec.js';
import { listenFdOptions } from '../listen-fds.js';
import type { Runner } from './lifecycle.js';

/** exec's flags that take a value (the rest are booleans). */
const VALUE_FLAGS = new Set([
  'console-socket',
  'pidfd-socket',
  'cwd',
  'env',
  'e',
  'user',
  'u',
  'additional-gids',
  'g',
  'process',
  'p',
  'pid-file',
  'process-label',
  'apparmor',
  'cap',
  'c',
  'preserve-fds',
  'cgroup',
]);

/**
 * Puts `--` after exec's container id, so that yargs takes what follows as
 * the command however it is spelled. Returns argv unchanged when the
 * command is not exec. `globalValueFlags`: global flags that take a value.
 */
export function splitExecArgv(argv: readonly string[], globalValueFlags: ReadonlySet<string>): string[] {
  let i = 0;
  const skipFlags = (valueFlags: ReadonlySet<string>) => {
    while (i < argv.length && argv[i]!.startsWith('-') && argv[i] !== '-' && argv[i] !== '--') {
      const name = argv[i]!.replace(/^--?/, '');
      i += !name.includes('=') && valueFlags.has(name) ? 2 : 1;
    }
  };
  skipFlags(globalValueFlags);
  if (argv[i] !== 'exec') return [...argv];
  i++;
  skipFlags(VALUE_FLAGS);
  if (argv[i] === '--') i++; // `exec -- ID …`
  if (i + 1 >= argv.length || argv[i + 1] === '--') return [...argv]; // no command, or already split
  return [...argv.slice(0, i + 1), '--', ...argv.slice(i + 1)];
}

/** `--user uid[:gid]`, runc's parse. */
export function parseUser(text: string): { uid: number; gid?: number } {
  const [u, g] = text.split(/:(.*)/s, 2) as [string, string | undefined];
  const num = (s: string, what: string) => {
    if (!/^\d+$/.test(s) || Number(s) > 0xfffffffe)
      throw new TsrunError('EUSAGE', `--user ${text}: parsing ${s} as int for ${what} failed`);
    return Number(s);
  };
  return g === undefined ? { uid: num(u, 'uid') } : { uid: num(u, 'uid'), gid: num(g, 'gid') };
}

export function execCommand(run: Runner): CommandModule {
  return {
    command: 'exec <container-id> [command..]',
    describe: 'run a new process inside a running container (flags go before the id; everything after it is the command)',
    builder: (y: Argv) =>
      y
        .positional('container-id', { type: 'string', demandOption: true })
        .positional('command', { type: 'string', array: true, describe: 'the program and its arguments' })
        .option('process', { alias: 'p', type: 'string', describe: 'a runtime-spec process JSON file (instead of the command and flags)' })
        .option('console-socket', { type: 'string', describe: 'AF_UNIX socket to send the pty master to' })
        .option('tty', { alias: 't', type: 'boolean', describe: 'allocate a pseudo-terminal' })
        .option('detach', { alias: 'd', type: 'boolean', default: false, describe: 'return once the process runs' })
        .option('pid-file', { type: 'string', describe: 'file to write the process pid to' })
        .option('cwd', { type: 'string', describe: 'working directory in the container' })
        .option('env', { alias: 'e', type: 'string', describe: 'set an environment variable (NAME=value), repeatable' })
        .option('user', { alias: 'u', type: 'string', describe: 'uid[:gid]' })
        .option('additional-gids', { alias: 'g', type: 'string', describe: 'an additional group id, repeatable' })
        .option('cap', { alias: 'c', type: 'string', describe: 'add a capability, repeatable' })
        .option('no-new-privs', { type: 'boolean', describe: 'set no_new_privs for the process' })
        .option('preserve-fds', { type: 'number', default: 0, describe: 'pass fds 3..3+N-1 to the process' })
        .option('process-label', { type: 'string', describe: 'the SELinux label of the process' })
        .option('apparmor', { type: 'string', describe: 'the AppArmor profile of the process' })
        .option('cgroup', { type: 'string', describe: 'run in an existing sub-cgroup: [controller[,controller]:]path' })
        .option('ignore-paused', { type: 'boolean', default: false, describe: 'allow exec in a paused container' })
        .option('no-subreaper', { type: 'boolean', hidden: true, describe: 'accepted for runc compatibility' })
        .option('pidfd-socket', { type: 'string', hidden: true }),
    handler: run(
      async (ctx, a: Record<string, unknown>) => {
        const id = a['container-id'] as string;
        if (a['pidfd-socket'] !== undefined) throw new TsrunError('EUNSUPPORTED', '--pidfd-socket is not supported by this tsrun yet');
        // splitExecArgv put the command after `--`: yargs leaves it in `_`, after "exec"
        const command = [...((a.command as unknown[] | undefined) ?? []), ...((a._ as unknown[] | undefined) ?? []).slice(1)].map(String);
        const file = a.process as string | undefined;
        if (!file && command.length === 0) throw new TsrunError('EUSAGE', 'process args cannot be empty');
        let what: ExecWhat;
        if (file) {
          const process = loadProcessFile(file);
          // Args after the id replace the file's (runc 1.1 ignores them).
          if (command.length) process.args = command;
          what = { process };
        } else {
          what = {
            args: command,
            cwd: a.cwd as string | undefined,
            env: list(a.env),
            tty: a.tty as boolean | undefined,
            user: a.user !== undefined ? parseUser(String(a.user)) : undefined,
            additionalGids: additionalGids(a['additional-gids']),
            caps: list(a.cap),
            noNewPrivileges: a['no-new-privs'] as boolean | undefined,
            apparmorProfile: a.apparmor as string | undefined,
            selinuxLabel: a['process-label'] as string | undefined,
          };
        }
        const fds = listenFdOptions(a['preserve-fds'] as number);
        const opts = {
          consoleSocket: a['console-socket'] as string | undefined,
          pidFile: a['pid-file'] as string | undefined,
          preserveFds: fds.preserveFds,
          extraEnv: fds.extraEnv,
          ignorePaused: a['ignore-paused'] as boolean,
          subCgroups: list(a.cgroup),
        };
        const rt = ctx.runtime();
        if (a.detach) {
          // Not the API's execDetached: that one reaps the process, and here
          // the caller (conmon, a containerd shim) is the subreaper that must
          // collect its exit status once we have exited.
          ctx.lifecycle().exec(id, { ...opts, process: rt.execProcessOf(id, what), detach: true });
          return 0;
        }
        return rt.exec(id, what, opts);
      },
      { failCode: 255, label: 'exec failed' },
    ),
  };
}

/**
 * A repeatable flag's values. Repeated flags are not yargs arrays: an array
 * option would swallow the container id and the command after it.
 */
function list(v: unknown): string[] | undefined {
  if (v === undefined) return undefined;
  return (Array.isArray(v) ? v : [v]).map(String);
}

function additionalGids(v: unknown): number[] | undefined {
  return list(v)?.map((g) => {
    const n = Number(g);
    if (!Number.isInteger(n) || n < 0 || n > 0xfffffffe)
      throw new TsrunError('EUSAGE', `additional-gids must be a positive number ${String(g)}`);
    return n;
  });
}
