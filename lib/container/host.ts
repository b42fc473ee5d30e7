/** The real host behind the planner's and validator's host interfaces. */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { hostCgroups } from '../cgroups/host.js';
import type { ValidationHost } from '../config/validate.js';
import type { PlanHost } from '../plan/build.js';
import type { CgroupAccess } from '../cgroups/rootless.js';
import type { OwnUserNs, UnprivilegedHost } from '../config/validate-rootless.js';
import type { NativeBinding } from '../native/binding.js';
import { homeIn } from './passwd.js';

/** Host facts the lifecycle reads before it makes anything. */
export interface LifecycleHost extends ValidationHost, PlanHost, CgroupAccess {
  /** The facts an unprivileged runtime (euid != 0) is judged by; null for root. */
  unprivileged(): UnprivilegedHost | null;
  /** The user namespace the runtime runs in. */
  ownUserNs(): OwnUserNs;
}

function readOr(p: string): string | null {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return null;
  }
}

/** PATH's, then the usual places (engines run us with an empty environment). */
function which(program: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(':').filter((d) => d.startsWith('/')), '/usr/bin', '/bin', '/usr/sbin', '/sbin'];
  for (const d of dirs) {
    const p = path.join(d, program);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

function unprivileged(native: { userName(uid: number): string }): UnprivilegedHost | null {
  const euid = process.geteuid!();
  if (euid === 0) return null;
  const name = native.userName(euid);
  return {
    euid,
    egid: process.getegid!(),
    userName: name === String(euid) ? null : name,
    readSubIds: readOr,
    which,
    oomScoreAdj: () => Number(readOr('/proc/self/oom_score_adj') ?? 0),
  };
}

/** The real host, with the addon for the passwd lookups. */
export function realLifecycleHost(native: Pick<NativeBinding, 'userName' | 'readInRoot'>): LifecycleHost {
  return {
    ...realHost,
    homeOf: (rootfs, uid) => homeIn(native, rootfs, uid),
    exists: (p) => fs.existsSync(p),
    writable(dir) {
      try {
        fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
        return true;
      } catch {
        return false;
      }
    },
    unprivileged: () => unprivileged(native),
    ownUserNs: () => ({
      uidMap: readOr('/proc/self/uid_map') ?? '0 0 4294967295',
      gidMap: readOr('/proc/self/gid_map') ?? '0 0 4294967295',
      setgroupsDenied: readOr('/proc/self/setgroups')?.trim() === 'deny',
    }),
  };
}

function kind(p: string): 'dir' | 'file' | 'other' | null {
  try {
    const st = fs.statSync(p);
    return st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
  } catch {
    return null;
  }
}

export const realHost: ValidationHost & Omit<PlanHost, 'homeOf'> = {
  kind,
  realPath(p: string): string | null {
    try {
      return fs.realpathSync.native(p);
    } catch {
      return null;
    }
  },
  // the cgroup layout is the cgroup manager's (lib/cgroups/host.ts)
  read(p: string): string | null {
    try {
      return fs.readFileSync(p, 'utf8');
    } catch {
      return null;
    }
  },
  cgroupV2Only() {
    return hostCgroups().mode === 'unified';
  },
  cgroupV1Hierarchies() {
    return hostCgroups().v1.map((h) => ({ mountPoint: h.mountPoint, name: h.name, cgroupPath: h.own }));
  },
};
