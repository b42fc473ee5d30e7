/**
 * runc's --rootless cgroup rules, decided before anything is created. A
 * rootless runtime uses the container's cgroup when it may create it (a
 * delegated, writable cgroup: systemd's user@.service on v2, or a chown'd
 * directory); otherwise (runc's fs and fs2 managers, rootless):
 *
 *   no linux.cgroupsPath, no limits   → no cgroup, silently
 *   linux.cgroupsPath set             → the permission error
 *   limits set (anything but devices) → "rootless needs no limits + no
 *                                       cgrouppath when no permission is
 *                                       granted for cgroups"
 *
 * Device rules are never an unprivileged runtime's to apply (a v2 device
 * program needs CAP_SYS_ADMIN on the host; runc skips them in a user
 * namespace); the user cannot create device nodes anyway.
 */
import * as path from 'node:path';

import { ConfigError } from '../errors.js';
import type { LinuxResources } from './resources.js';

export interface CgroupAccess {
  /** The path exists. */
  exists(p: string): boolean;
  /** We may create entries in the directory (W_OK | X_OK). */
  writable(dir: string): boolean;
}

/** Whether every directory of the cgroup exists writable, or could be made: its nearest existing ancestor is writable. */
export function cgroupUsable(dirs: readonly string[], access: CgroupAccess): boolean {
  return dirs.every((dir) => {
    let d = dir;
    while (!access.exists(d)) {
      const up = path.dirname(d);
      if (up === d) return false;
      d = up;
    }
    return access.writable(d);
  });
}

/** A value runc treats as a limit: a non-zero number, a non-empty string or list, true, or an object holding one. */
function isSet(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.values(v as object).some(isSet);
  return true;
}

/** The limits of linux.resources other than the device rules; the first one's key, or null. */
export function limitSet(r: LinuxResources | undefined): string | null {
  for (const [k, v] of Object.entries(r ?? {})) {
    if (k === 'devices') continue;
    // pids.limit 0 is a limit too (runtime-spec 1.3; runc ≥ 1.4 writes pids.max 1)
    if (k === 'pids' ? typeof (v as LinuxResources['pids'])?.limit === 'number' : isSet(v)) return k;
  }
  return null;
}

/**
 * Rootless and the cgroup is not ours to make: null (skip it) when runc
 * would, else the ConfigError runc's rules give.
 */
export function rootlessWithoutCgroup(cgroupsPath: string | undefined, r: LinuxResources | undefined, dir: string): null {
  if (cgroupsPath)
    throw new ConfigError(
      'linux.cgroupsPath',
      `rootless: no permission to create cgroup ${dir} (delegate a writable cgroup to this user, or leave cgroupsPath out)`,
    );
  const limit = limitSet(r);
  if (limit)
    throw new ConfigError(
      `linux.resources.${limit}`,
      `rootless needs no limits + no cgrouppath when no permission is granted for cgroups (no writable cgroup at ${dir})`,
    );
  return null;
}

/** linux.resources without the device rules (an unprivileged runtime cannot apply them). */
export function withoutDevices(r: LinuxResources): LinuxResources {
  const { devices: _devices, ...rest } = r as LinuxResources & { devices?: unknown };
  return rest as LinuxResources;
}
