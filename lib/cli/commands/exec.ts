/**
 * exec: runc's `exec [flags] ID [COMMAND [ARGS…]]` or `exec [flags] -p
 * process.json ID`. Flags come before the id; everything after it is the
 * command, so `exec box sh -c 'x'` keeps its `-c` (flagsFirst).
 * Failures exit 255, as runc's do: any lower code may be the process's own.
 */

import { TsrunError } from '../../errors.js';
import type { ExecWhat } from '../../runtime.js';
import { loadProcessFile } from '../../container/exec.js';
import { listenFdOptions } from '../listen-fds.js';
import { takeExecCacheKey } from '../../container/exec-cache.js';
import type { Command } from '../args.js';

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

export const execCommand: Command = {
  name: 'exec',
  describe: 'run a new process inside a running container (flags go before the id; everything after it is the command)',
  positionals: [
    { name: 'container-id', required: true },
    { name: 'command', rest: true, describe: 'the program and its arguments' },
  ],
  flagsFirst: true,
  flags: [
    { name: 'process', alias: 'p', type: 'string', describe: 'a runtime-spec process JSON file (instead of the command and flags)' },
    { name: 'console-socket', type: 'string', describe: 'AF_UNIX socket to send the pty master to' },
    { name: 'tty', alias: 't', type: 'boolean', describe: 'allocate a pseudo-terminal' },
    { name: 'detach', alias: 'd', type: 'boolean', default: false, describe: 'return once the process runs' },
    { name: 'pid-file', type: 'string', describe: 'file to write the process pid to' },
    { name: 'cwd', type: 'string', describe: 'working directory in the container' },
    { name: 'env', alias: 'e', type: 'strings', describe: 'set an environment variable (NAME=value), repeatable' },
    { name: 'user', alias: 'u', type: 'string', describe: 'uid[:gid]' },
    { name: 'additional-gids', alias: 'g', type: 'strings', describe: 'an additional group id, repeatable' },
    { name: 'cap', alias: 'c', type: 'strings', describe: 'add a capability, repeatable' },
    { name: 'no-new-privs', type: 'boolean', describe: 'set no_new_privs for the process' },
    { name: 'preserve-fds', type: 'number', default: 0, describe: 'pass fds 3..3+N-1 to the process' },
    { name: 'process-label', type: 'string', describe: 'the SELinux label of the process' },
    { name: 'apparmor', type: 'string', describe: 'the AppArmor profile of the process' },
    { name: 'cgroup', type: 'strings', describe: 'run in an existing sub-cgroup: [controller[,controller]:]path' },
    { name: 'ignore-paused', type: 'boolean', default: false, describe: 'allow exec in a paused container' },
    { name: 'no-subreaper', type: 'boolean', hidden: true },
    { name: 'pidfd-socket', type: 'string', describe: "AF_UNIX socket that receives a pidfd of the exec'd process" },
  ],
  failCode: 255,
  failLabel: 'exec failed',
  async run(ctx, a) {
    const id = a['container-id'] as string;
    const command = (a.command as string[] | undefined) ?? [];
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
        env: a.env as string[] | undefined,
        tty: a.tty as boolean | undefined,
        user: a.user !== undefined ? parseUser(String(a.user)) : undefined,
        additionalGids: additionalGids(a['additional-gids'] as string[] | undefined),
        caps: a.cap as string[] | undefined,
        noNewPrivileges: a['no-new-privs'] as boolean | undefined,
        apparmorProfile: a.apparmor as string | undefined,
        selinuxLabel: a['process-label'] as string | undefined,
      };
    }
    const fds = listenFdOptions(a['preserve-fds'] as number);
    const opts = {
      consoleSocket: a['console-socket'] as string | undefined,
      pidfdSocket: a['pidfd-socket'] as string | undefined,
      pidFile: a['pid-file'] as string | undefined,
      preserveFds: fds.preserveFds,
      extraEnv: fds.extraEnv,
      ignorePaused: a['ignore-paused'] as boolean,
      subCgroups: a.cgroup as string[] | undefined,
      // the front's key on a miss (native/front/exec.c): the plan is kept under it
      cacheKey: takeExecCacheKey(),
    };
    const rt = ctx.runtime();
    if (a.detach) {
      // the CLI's Runtime reaps nothing: the caller (conmon, a containerd
      // shim) is the subreaper that collects its exit status once we have exited
      await rt.execDetached(id, what, opts);
      return 0;
    }
    return rt.exec(id, what, opts);
  },
};

function additionalGids(v: string[] | undefined): number[] | undefined {
  return v?.map((g) => {
    const n = Number(g);
    if (!Number.isInteger(n) || n < 0 || n > 0xfffffffe)
      throw new TsrunError('EUSAGE', `additional-gids must be a positive number ${String(g)}`);
    return n;
  });
}
