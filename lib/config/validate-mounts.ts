/**
 * The rules of config.json `mounts`: destinations, and what may be mounted
 * on or below the container's /proc (runc's checkProcMount). Pure: whether a
 * bind source is a procfs comes from the injected host.
 */
import * as path from 'node:path';

import { ConfigError } from '../errors.js';
import { bindMount, containerPath } from '../plan/mounts.js';
import type { Spec } from './types.js';

/** statfs(2) f_type of procfs (linux/magic.h PROC_SUPER_MAGIC). */
export const PROC_SUPER_MAGIC = 0x9fa0;

/**
 * The entries below /proc a mount may cover, runc's list: what lxcfs
 * emulates (a bind of its file over each), and two CRIU and FIPS knobs.
 * Nothing else below /proc: a file bound over, say, /proc/self/attr/exec or
 * /proc/sys/kernel/core_pattern would take the writes meant for the kernel
 * (CVE-2019-16884, CVE-2025-52881).
 */
export const PROC_MOUNT_ALLOWED = [
  '/proc/cpuinfo',
  '/proc/diskstats',
  '/proc/meminfo',
  '/proc/stat',
  '/proc/swaps',
  '/proc/uptime',
  '/proc/loadavg',
  '/proc/slabinfo',
  '/proc/sys/kernel/ns_last_pid',
  '/proc/sys/crypto/fips_enabled',
];

export interface MountValidationHost {
  /** statfs(2) f_type of the filesystem `p` is on (symlinks followed), or null when it cannot be told. */
  fsType?(p: string): number | null;
}

/** `bundle`: where relative bind sources are (config.md). Throws on the first violation. */
export function validateMounts(spec: Spec, host: MountValidationHost, bundle: string): void {
  (spec.mounts ?? []).forEach((m, i) => {
    const at = `mounts[${i}].destination`;
    if (m.destination === '') throw new ConfigError(at, 'must not be empty');
    if (m.destination.split('/').includes('..')) throw new ConfigError(at, `must not contain "..": ${JSON.stringify(m.destination)}`);
    const dest = containerPath(m.destination);
    if (dest === '/proc') {
      // a fresh procfs, or a bind of a procfs; nothing else may hide the container's /proc
      const bind = bindMount(m);
      const procfs = bind ? host.fsType?.(path.resolve(bundle, m.source ?? '')) === PROC_SUPER_MAGIC : m.type === 'proc';
      if (!procfs) throw new ConfigError(at, `${JSON.stringify(dest)} cannot be mounted because it is not of type proc`);
    } else if (dest.startsWith('/proc/') && !PROC_MOUNT_ALLOWED.includes(dest)) {
      throw new ConfigError(at, `${JSON.stringify(dest)} cannot be mounted because it is inside /proc`);
    }
  });
}
