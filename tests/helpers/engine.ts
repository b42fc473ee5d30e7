/**
 * Shared by the engine tests (podman, containerd): which runtime binary the
 * engine is told to use, and whether a program is installed.
 *
 * TSRUN_ENGINE_RUNTIME switches the runtime, so the same tests can be run
 * against runc to tell a tsrun bug from a test bug:
 *   TSRUN_ENGINE_RUNTIME=/usr/sbin/runc node node_modules/ava/entrypoints/cli.mjs --serial dist/tests/integration/podman.test.js
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

import { TSRUN } from './bundle.js';

/** An absolute path: engines exec it from their own cwd and environment. */
export const ENGINE_RUNTIME = path.resolve(process.env.TSRUN_ENGINE_RUNTIME || TSRUN);

export const have = (bin: string) => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
