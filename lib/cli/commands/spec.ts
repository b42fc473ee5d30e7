/** spec: write a starter config.json (runs `sh`), as `runc spec` does. */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { hostCgroups } from '../../cgroups/host.js';
import { defaultSpec, toRootless } from '../../config/default-spec.js';
import { TsrunError } from '../../errors.js';
import type { Command } from '../args.js';

export const specCommand: Command = {
  name: 'spec',
  describe: 'write a starter config.json that runs `sh` into the bundle directory',
  flags: [
    { name: 'bundle', alias: 'b', type: 'string', default: '.', describe: 'where to write config.json' },
    { name: 'rootless', type: 'boolean', default: false, describe: 'a spec for a rootless container (docs/rootless.md)' },
  ],
  run(_ctx, a) {
    const file = path.join(a.bundle as string, 'config.json');
    if (fs.existsSync(file)) throw new TsrunError('EUSAGE', `File ${file} exists. Remove it first`);
    const base = defaultSpec();
    // runc's template: a cgroup namespace of its own on a pure cgroup-v2 host
    if (hostCgroups().mode === 'unified') base.linux!.namespaces!.push({ type: 'cgroup' });
    const spec = a.rootless ? toRootless(base, process.geteuid!(), process.getegid!()) : base;
    fs.writeFileSync(file, `${JSON.stringify(spec, null, '\t')}\n`, { mode: 0o666 });
    return 0;
  },
};
