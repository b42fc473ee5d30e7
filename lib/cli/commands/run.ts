/** run: the Runtime's (lib/index.ts) create + start, then (without --detach) supervise until exit. */
import * as path from 'node:path';

import { builtin } from '../../builtin.js';
import type { Command } from '../args.js';
import { listenFdOptions } from '../listen-fds.js';
import { CREATE_FLAGS } from './lifecycle.js';

/**
 * `tsrun run bundle/`: a positional with "/" is a bundle (ids never contain
 * "/"); the id is the directory name plus a short unique suffix.
 */
export function resolveRunTarget(positional: string, bundleFlag: string | undefined): { id: string; bundle: string } {
  if (positional.includes('/')) {
    const bundle = path.resolve(positional);
    const base =
      path
        .basename(bundle)
        .replace(/[^A-Za-z0-9_.+-]/g, '-')
        .replace(/^[^A-Za-z0-9]+/, '') || 'container';
    return { id: `${base}-${builtin('node:crypto').randomBytes(3).toString('hex')}`, bundle };
  }
  return { id: positional, bundle: bundleFlag ?? '.' };
}

export const runCommand: Command = {
  name: 'run',
  describe:
    'create and start a container. `tsrun run -b BUNDLE ID` names the container; `tsrun run BUNDLE/` (an argument containing "/") runs that bundle under a generated id',
  positionals: [{ name: 'container-id', required: true, describe: 'a container id, or a bundle path containing "/"' }],
  flags: [
    { name: 'bundle', alias: 'b', type: 'string', describe: 'path to the bundle directory (default: .)' },
    { name: 'detach', alias: 'd', type: 'boolean', default: false, describe: 'do not wait for the container' },
    ...CREATE_FLAGS,
    { name: 'keep', type: 'boolean', default: false, describe: 'do not delete the container after it exits' },
    { name: 'no-subreaper', type: 'boolean', hidden: true },
  ],
  async run(ctx, a) {
    const { id, bundle } = resolveRunTarget(String(a['container-id']), a.bundle as string | undefined);
    return ctx.runtime().run(id, {
      bundle,
      pidFile: a['pid-file'] as string | undefined,
      consoleSocket: a['console-socket'] as string | undefined,
      pidfdSocket: a['pidfd-socket'] as string | undefined,
      noPivot: a['no-pivot'] as boolean,
      noNewKeyring: a['no-new-keyring'] as boolean,
      ...listenFdOptions(a['preserve-fds'] as number),
      detach: a.detach as boolean,
      keep: a.keep as boolean,
      // as runc: the container's orphans are ours to reap while it runs
      adoptOrphans: true,
    });
  },
};
