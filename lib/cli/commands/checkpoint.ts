/** checkpoint and restore: CRIU through the Runtime (lib/checkpoint/), with runc's flags. */
import { fstatSync } from 'node:fs';

import { TsrunError } from '../../errors.js';
import type { ManageCgroupsMode } from '../../checkpoint/checkpoint.js';
import type { Command, Flag } from '../args.js';

/** The flags checkpoint and restore share (runc's). */
const SHARED: Flag[] = [
  { name: 'image-path', type: 'string', describe: 'path for saving criu image files (default: ./checkpoint)' },
  { name: 'work-path', type: 'string', default: '', describe: 'path for saving work files and logs' },
  { name: 'tcp-established', type: 'boolean', default: false, describe: 'allow open tcp connections' },
  { name: 'ext-unix-sk', type: 'boolean', default: false, describe: 'allow external unix sockets' },
  { name: 'shell-job', type: 'boolean', default: false, describe: 'allow shell jobs' },
  { name: 'file-locks', type: 'boolean', default: false, describe: 'handle file locks, for safety' },
  { name: 'lazy-pages', type: 'boolean', default: false, describe: 'use userfaultfd to lazily restore memory pages' },
  { name: 'manage-cgroups-mode', type: 'string', describe: 'cgroups mode: soft, full, strict, ignore (default: soft)' },
  { name: 'empty-ns', type: 'strings', describe: 'create a namespace, but do not restore its properties (only "network")' },
  { name: 'auto-dedup', type: 'boolean', default: false, describe: 'enable auto deduplication of memory images' },
];

/** The options of the shared flags (lib/checkpoint/ checks the mode's value, with runc's words). */
function shared(a: Record<string, unknown>) {
  return {
    imagePath: (a['image-path'] as string | undefined) || undefined,
    workPath: (a['work-path'] as string | undefined) || undefined,
    tcpEstablished: a['tcp-established'] as boolean,
    extUnixSk: a['ext-unix-sk'] as boolean,
    shellJob: a['shell-job'] as boolean,
    fileLocks: a['file-locks'] as boolean,
    lazyPages: a['lazy-pages'] as boolean,
    manageCgroupsMode: ((a['manage-cgroups-mode'] as string | undefined) ?? '') as ManageCgroupsMode | '',
    emptyNs: a['empty-ns'] as string[] | undefined,
    autoDedup: a['auto-dedup'] as boolean,
  };
}

export const checkpointCommand: Command = {
  name: 'checkpoint',
  describe: 'checkpoint a running container with CRIU (docs/checkpoint.md)',
  positionals: [{ name: 'container-id', required: true }],
  flags: [
    ...SHARED,
    {
      name: 'parent-path',
      type: 'string',
      default: '',
      describe: 'path for previous criu image files in pre-dump (relative to --image-path)',
    },
    { name: 'leave-running', type: 'boolean', default: false, describe: 'leave the process running after checkpointing' },
    { name: 'tcp-skip-in-flight', type: 'boolean', default: false, describe: 'skip in-flight tcp connections' },
    { name: 'link-remap', type: 'boolean', default: false, describe: 'allow one to link unlinked files back when possible' },
    { name: 'status-fd', type: 'number', default: -1, describe: 'criu writes \\0 to this FD once lazy-pages is ready' },
    { name: 'page-server', type: 'string', default: '', describe: 'ADDRESS:PORT of the page server' },
    {
      name: 'pre-dump',
      type: 'boolean',
      default: false,
      describe: 'dump container memory information only, leave the container running after this',
    },
  ],
  async run(ctx, a) {
    const statusFd = a['status-fd'] as number;
    if (statusFd >= 0) {
      try {
        fstatSync(statusFd);
      } catch (e) {
        throw new TsrunError('EUSAGE', `invalid --status-fd argument ${statusFd}: ${(e as Error).message}`);
      }
    }
    await ctx.runtime().checkpoint(String(a['container-id']), {
      ...shared(a),
      parentPath: (a['parent-path'] as string) || undefined,
      leaveRunning: a['leave-running'] as boolean,
      tcpSkipInFlight: a['tcp-skip-in-flight'] as boolean,
      linkRemap: a['link-remap'] as boolean,
      preDump: a['pre-dump'] as boolean,
      statusFd,
      pageServer: (a['page-server'] as string) || undefined,
    });
    return 0;
  },
};

export const restoreCommand: Command = {
  name: 'restore',
  describe: 'restore a container from a checkpoint with CRIU (docs/checkpoint.md)',
  positionals: [{ name: 'container-id', required: true }],
  flags: [
    ...SHARED,
    { name: 'console-socket', type: 'string', describe: 'AF_UNIX socket that receives the pty master (process.terminal)' },
    { name: 'bundle', alias: 'b', type: 'string', describe: 'path to the bundle directory (default: .)' },
    { name: 'detach', alias: 'd', type: 'boolean', default: false, describe: 'detach from the container process' },
    { name: 'pid-file', type: 'string', describe: 'file to write the restored process id to' },
    {
      name: 'no-subreaper',
      type: 'boolean',
      default: false,
      describe: 'disable the use of the subreaper used to reap reparented processes',
    },
    { name: 'no-pivot', type: 'boolean', default: false, describe: 'accepted for runc compatibility (CRIU switches the root itself)' },
    { name: 'lsm-profile', type: 'string', default: '', describe: 'LSM profile of the restored process, TYPE:NAME' },
  ],
  async run(ctx, a) {
    return ctx.runtime().restore(String(a['container-id']), {
      bundle: (a.bundle as string) || '.',
      ...shared(a),
      detach: a.detach as boolean,
      pidFile: a['pid-file'] as string | undefined,
      consoleSocket: a['console-socket'] as string | undefined,
      noSubreaper: a['no-subreaper'] as boolean,
      noPivot: a['no-pivot'] as boolean,
      lsmProfile: (a['lsm-profile'] as string) || undefined,
      // a detached restore's process keeps our stdio (as create's); in the foreground too, the pipes runc makes aside
      stdio: 'inherit',
    });
  },
};
