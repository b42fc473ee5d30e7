/**
 * run one bundle under tsrun and, when installed, runc,
 * so a test can check the container from inside and compare the two.
 */
import * as fs from 'node:fs';

import type { Spec } from '../../lib/config/types.js';
import { RUNC, TSRUN, makeBundle, runtime, tempRoot, uniqueId, type Bundle, type RunResult } from './bundle.js';

export interface Both {
  tsrun: RunResult;
  runc: RunResult | null;
}

/** `sh -c script` in a fresh bundle (mutated by `mutate`) under each runtime. */
export function runBoth(script: string | string[], mutate?: (s: Spec, b: Bundle) => void, opts: { runc?: boolean } = {}): Both {
  const run = (bin: string): RunResult => {
    const b = makeBundle((s) => {
      s.process!.args = Array.isArray(script) ? script : ['sh', '-c', script];
    });
    fs.chmodSync(b.rootfs, 0o755); // mkdtemp's 0700 would lock out non-root container users
    mutate?.(b.spec, b);
    b.write();
    try {
      return runtime(bin, tempRoot(), ['run', '-b', b.dir, uniqueId('both')], { cwd: b.dir });
    } finally {
      b.cleanup();
    }
  };
  return { tsrun: run(TSRUN), runc: RUNC && opts.runc !== false ? run(RUNC) : null };
}
