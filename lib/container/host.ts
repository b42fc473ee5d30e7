/** The real host behind the planner's and validator's host interfaces. */
import * as fs from 'node:fs';
import * as path from 'node:path';

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

interface MountInfo {
  mountPoint: string;
  fstype: string;
  superOptions: string;
  root: string;
}

function mountInfo(): MountInfo[] {
  const text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [left, right = ''] = line.split(' - ');
      const f = (left ?? '').split(' ');
      const r = right.split(' ');
      const unescape = (s: string) => s.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
      return { root: unescape(f[3] ?? ''), mountPoint: unescape(f[4] ?? ''), fstype: r[0] ?? '', superOptions: r[2] ?? '' };
    });
}

/** Our own cgroup per v1 hierarchy (by controller list) and on v2 (""). */
function selfCgroups(): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}

export const realHost: ValidationHost & PlanHost = {
  kind,
  read(p: string): string | null {
    try {
      return fs.readFileSync(p, 'utf8');
    } catch {
      return null;
    }
  },
  cgroupV2Only() {
    return mountInfo().some((m) => m.mountPoint === '/sys/fs/cgroup' && m.fstype === 'cgroup2');
  },
  cgroupV1Hierarchies() {
    const own = selfCgroups();
    const out: { mountPoint: string; name: string; cgroupPath: string }[] = [];
    for (const m of mountInfo()) {
      if (m.fstype !== 'cgroup' || !m.mountPoint.startsWith('/sys/fs/cgroup/')) continue;
      const controllers = m.superOptions
        .split(',')
        .filter((o) => !['rw', 'ro', 'relatime', 'nosuid', 'nodev', 'noexec', 'clone_children', 'xattr'].includes(o) && !o.startsWith('release_agent='));
      const key = controllers.join(',');
      const cg = own.get(key) ?? '/';
      // a bind of our cgroup as seen inside this mount (its root may be nested)
      const rel = path.posix.relative(m.root, cg);
      out.push({ mountPoint: m.mountPoint, name: path.posix.basename(m.mountPoint), cgroupPath: rel.startsWith('..') ? '/' : `/${rel}` });
    }
    return out;
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
