/**
 * Node built-in modules loaded when first used, not at start-up: every
 * command pays for what the CLI imports, and child_process or crypto cost
 * (and net, with the streams it brings) more to load than a `state` takes
 * to run.
 */
import { createRequire } from 'node:module';

type Builtins = {
  'node:child_process': typeof import('node:child_process');
  'node:crypto': typeof import('node:crypto');
  'node:net': typeof import('node:net');
};

const load = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule ?? createRequire(import.meta.url);

export function builtin<K extends keyof Builtins>(id: K): Builtins[K] {
  return load(id) as Builtins[K];
}
