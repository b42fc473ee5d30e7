/** The real host behind the planner's and validator's host interfaces. */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { hostCgroups } from '../cgroups/host.js';
import type { ValidationHost } from '../config/validate.js';
import type { PlanHost } from '../plan/build.js';

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
