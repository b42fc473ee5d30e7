/**
 * The exec plan cache: a tenant plan, stored in the container's state dir
 * after a launch that worked, for the front (native/front/exec.c) to run
 * again without a JavaScript engine when the same exec comes again (the
 * probe pattern). Only TypeScript plans; this stores what it planned.
 *
 * The key is the front's: it reads the command line and everything the plan
 * depends on (the container's identity, tsrun's build, the namespaces to
 * join, the container's /etc/passwd, the bundle's config.json, the whole
 * --process file) and hands the text to the CLI in TSRUN_EXEC_KEY, with the
 * entry's name in TSRUN_EXEC_ENTRY, on a miss. Nothing here computes a key;
 * nothing there plans.
 *
 *   <state dir>/exec/<name>   0600, in a 0700 dir, removed with the state dir:
 *     "tsrun-exec-plan 1\n<key length>\n<key>\noom=<n|none>\nplan=<length>\n<plan>"
 *
 * At most MAX_ENTRIES per container: the least recently used go first (the
 * front touches an entry it runs).
 */
import * as fs from 'node:fs';

import { encodePlan } from '../native/plan-codec.js';
import type { Plan } from '../plan/types.js';
import { at, openPrivateDir, replaceFileAt } from './safe-files.js';

export const MAX_ENTRIES = 16;
const MAGIC = 'tsrun-exec-plan 1\n';

/** What the front told the CLI on a miss; null when it did not (the API, a call it does not serve). */
export interface ExecCacheKey {
  key: string;
  entry: string;
}

/** The front's key from the environment, taken out of it (no hook or child inherits it). */
export function takeExecCacheKey(env: NodeJS.ProcessEnv = process.env): ExecCacheKey | null {
  const key = env.TSRUN_EXEC_KEY;
  const entry = env.TSRUN_EXEC_ENTRY;
  delete env.TSRUN_EXEC_KEY;
  delete env.TSRUN_EXEC_ENTRY;
  if (!key || !entry || !/^[0-9a-f]{16}$/.test(entry)) return null;
  return { key, entry };
}

/**
 * Why this plan may not be run again from the cache, or null when it may:
 * only what the front can redo itself (join the cgroup, write
 * oom_score_adj) may be left to the host side.
 */
export function uncacheable(
  plan: Plan,
  o: { subCgroups: boolean; listener: boolean; terminalRelay: boolean; extraEnv: number },
): string | null {
  if (o.subCgroups) return '--cgroup';
  if (o.listener) return 'a seccomp listener';
  if (o.terminalRelay) return 'a terminal relayed by the runtime';
  if (o.extraEnv) return 'socket activation';
  const h = plan.host;
  if (h.idMaps || h.netDevices.length || h.rlimits.length || h.rdt) return 'host steps the front does not take';
  if (plan.init.cpuAffinity.initial.length) return 'execCPUAffinity.initial';
  return null;
}

/** Stores the plan under the front's key; the container must still be the one the key names. */
export function storeExecPlan(stateDir: string, k: ExecCacheKey, plan: Plan, identity: { pid: number; startTime: number }): boolean {
  // the key's own record of the container (its first lines): a container
  // restarted between the front's look and ours is not this plan's
  if (!k.key.includes(`\npid=${identity.pid}\nstart=${identity.startTime}\n`)) return false;
  const key = Buffer.from(k.key, 'utf8');
  const body = Buffer.from(encodePlan(plan.init));
  const oom = plan.host.oomScoreAdj === null ? 'none' : String(plan.host.oomScoreAdj);
  const data = Buffer.concat([Buffer.from(`${MAGIC}${key.length}\n`), key, Buffer.from(`\noom=${oom}\nplan=${body.length}\n`), body]);
  const dir = openPrivateDir(stateDir, ['exec'], { create: true });
  try {
    replaceFileAt(dir, k.entry, data, 0o600);
    trim(dir);
  } finally {
    fs.closeSync(dir);
  }
  return true;
}

/** The least recently used entries (by mtime: the front touches what it runs) beyond MAX_ENTRIES removed. */
function trim(dir: number): void {
  const names = fs.readdirSync(`/proc/self/fd/${dir}`).filter((n) => /^[0-9a-f]{16}$/.test(n));
  if (names.length <= MAX_ENTRIES) return;
  const aged = names
    .map((n) => {
      try {
        return { n, t: fs.lstatSync(at(dir, n)).mtimeMs };
      } catch {
        return { n, t: Infinity };
      }
    })
    .sort((a, b) => a.t - b.t);
  for (const { n } of aged.slice(0, names.length - MAX_ENTRIES)) fs.rmSync(at(dir, n), { force: true });
}
