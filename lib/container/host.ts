/** The real host behind the planner's and validator's host interfaces. */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { hostCgroups } from '../cgroups/host.js';
import type { ValidationHost } from '../config/validate.js';
import type { PlanHost } from '../plan/build.js';
import type { CgroupAccess } from '../cgroups/rootless.js';
import type { OwnUserNs, UnprivilegedHost } from '../config/validate-rootless.js';

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

/** The real host, with the addon for the passwd lookup. */
export function realLifecycleHost(native: { userName(uid: number): string }): LifecycleHost {
  return {
    ...realHost,
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

export const realHost: ValidationHost & PlanHost = {
  kind,
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
  homeOf(rootfs: string, uid: number) {
    const file = path.join(rootfs, 'etc', 'passwd');
    try {
      // never follow a symlink out of the image
      if (!fs.lstatSync(file).isFile()) return null;
      for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
        const f = line.split(':');
        if (f.length >= 7 && Number(f[2]) === uid && f[5]) return f[5];
      }
    } catch {
      /* no passwd: runc's default applies */
    }
    return null;
  },
};
