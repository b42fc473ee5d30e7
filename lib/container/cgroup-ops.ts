/**
 * The commands that act on a container's cgroup: pause, resume, ps
 * (native/host, through Lifecycle), events, update. Each takes the container lock, checks its status in one
 * place and goes through the cgroup manager recorded in state.json.
 */
import { TsrunError } from '../errors.js';
import type { CgroupManager } from '../cgroups/manager.js';
import type { LinuxResources } from '../cgroups/resources.js';
import type { CgroupStats } from '../cgroups/stats.js';
import { validateCgroups } from '../config/validate-cgroups.js';
import type { Lifecycle } from './lifecycle.js';
import type { StoredState } from './state.js';

function withCgroup<T>(lc: Lifecycle, id: string, fn: (cg: CgroupManager, state: StoredState) => T): T {
  const lock = lc.store.lock(id);
  try {
    const state = lc.store.read(id);
    const cg = lc.cgroupOf(state);
    if (!cg) throw new TsrunError('EUNSUPPORTED', `container ${id} has no cgroup (created without cgroup support)`);
    return fn(cg, state);
  } finally {
    lock.release();
  }
}

export function pause(lc: Lifecycle, id: string): Promise<void> {
  return lc.pause(id);
}

export function resume(lc: Lifecycle, id: string): Promise<void> {
  return lc.resume(id);
}

/** Host pids of the container's processes ([] once it has stopped). */
export function ps(lc: Lifecycle, id: string): Promise<number[]> {
  return lc.ps(id);
}

export function stats(lc: Lifecycle, id: string): CgroupStats {
  return withCgroup(lc, id, (cg, state) => {
    if (lc.store.status(state) === 'stopped') throw new TsrunError('ESTATE', 'container not running');
    return cg.stats();
  });
}

/** OOM kills so far (read before the status: the kill may be what stopped it). */
export function oomKills(lc: Lifecycle, id: string): { count: number; stopped: boolean } {
  return withCgroup(lc, id, (cg, state) => {
    const count = cg.oomKills();
    return { count, stopped: lc.store.status(state) === 'stopped' };
  });
}

/** Applies new limits to a running (or created, or paused) container. */
export function update(lc: Lifecycle, id: string, r: LinuxResources): void {
  validateCgroups({ ociVersion: '1.0.0', linux: { resources: r as Record<string, unknown> } });
  withCgroup(lc, id, (cg, state) => {
    if (lc.store.status(state) === 'stopped') throw new TsrunError('ESTATE', 'container not running');
    cg.apply(r, { update: true });
  });
}
