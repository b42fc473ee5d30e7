/**
 * What the host mounts: pure v2 (cgroup2 at /sys/fs/cgroup), hybrid (v1
 * controllers plus cgroup2 at /sys/fs/cgroup/unified, used only for
 * tracking) or legacy (v1 only); and our own cgroup in each hierarchy,
 * under which relative cgroupsPaths go (runc's rule).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export type CgroupMode = 'unified' | 'hybrid' | 'legacy' | 'none';

export interface V1Hierarchy {
  mountPoint: string;
  /** Directory name under /sys/fs/cgroup ("cpu,cpuacct", "systemd"). */
  name: string;
  /** Controllers of this hierarchy ("cpu", "cpuacct", "name=systemd"). */
  controllers: string[];
  /** Our own cgroup in it, relative to the mount point. */
  own: string;
}

export interface CgroupHost {
  mode: CgroupMode;
  /** The cgroup2 mount (pure v2 or the hybrid's unified), else null. */
  v2Mount: string | null;
  /** Our own v2 cgroup, relative to v2Mount. */
  v2Own: string;
  v1: V1Hierarchy[];
}

interface MountLine {
  root: string;
  mountPoint: string;
  fstype: string;
  superOptions: string;
}

const unescape = (s: string) => s.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

export function parseMountInfo(text: string): MountLine[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [left, right = ''] = line.split(' - ');
      const f = (left ?? '').split(' ');
      const r = right.split(' ');
      return { root: unescape(f[3] ?? ''), mountPoint: unescape(f[4] ?? ''), fstype: r[0] ?? '', superOptions: r[2] ?? '' };
    });
}

/** /proc/self/cgroup as controller-list → path ("" for v2). */
export function parseProcCgroup(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}

const NOT_CONTROLLERS = new Set([
  'rw',
  'ro',
  'relatime',
  'noatime',
  'nosuid',
  'nodev',
  'noexec',
  'clone_children',
  'xattr',
  'noprefix',
  'cpuset_v2_mode',
]);

function relativeTo(root: string, own: string): string {
  if (root === '/' || root === '') return own;
  if (own === root) return '/';
  if (own.startsWith(`${root}/`)) return own.slice(root.length);
  return '/';
}

/** Pure: the cgroup layout from mountinfo and /proc/self/cgroup text. */
export function detectCgroups(mountinfo: string, selfCgroup: string): CgroupHost {
  const mounts = parseMountInfo(mountinfo);
  const own = parseProcCgroup(selfCgroup);
  const v2 = mounts.find((m) => m.fstype === 'cgroup2' && (m.mountPoint === '/sys/fs/cgroup' || m.mountPoint === '/sys/fs/cgroup/unified'));
  const v1: V1Hierarchy[] = [];
  const seen = new Set<string>();
  for (const m of mounts) {
    if (m.fstype !== 'cgroup' || !m.mountPoint.startsWith('/sys/fs/cgroup/')) continue;
    const controllers = m.superOptions.split(',').filter((o) => !NOT_CONTROLLERS.has(o) && !o.startsWith('release_agent='));
    const key = controllers.join(',');
    if (seen.has(key)) continue; // the same hierarchy mounted twice
    seen.add(key);
    v1.push({
      mountPoint: m.mountPoint,
      name: m.mountPoint.slice('/sys/fs/cgroup/'.length),
      controllers,
      own: relativeTo(m.root, own.get(key) ?? '/'),
    });
  }
  const mode: CgroupMode = v2?.mountPoint === '/sys/fs/cgroup' ? 'unified' : v1.length ? (v2 ? 'hybrid' : 'legacy') : 'none';
  return {
    mode,
    v2Mount: v2?.mountPoint ?? null,
    v2Own: v2 ? relativeTo(v2.root, own.get('') ?? '/') : '/',
    v1: mode === 'unified' ? [] : v1,
  };
}

function cleanRel(p: string): string {
  return path.posix.normalize(`/${p}`);
}

/**
 * Where the container's cgroup is, relative to a hierarchy's mount (runc's
 * rules): an absolute cgroupsPath as it is; a relative one, or the id,
 * below our own cgroup — on cgroup v2 (`beside`) below its parent instead:
 * ours holds processes (a service's, a session's), and a v2 cgroup with
 * processes in it gives its children no controllers.
 */
export function cgroupRelPath(cgroupsPath: string | undefined, id: string, own: string, beside = false): string {
  if (cgroupsPath && cgroupsPath.startsWith('/')) return cleanRel(cgroupsPath);
  return cleanRel(path.posix.join(beside ? path.posix.dirname(own) : own, cgroupsPath || id));
}

let cached: CgroupHost | undefined;

export function hostCgroups(): CgroupHost {
  cached ??= detectCgroups(fs.readFileSync('/proc/self/mountinfo', 'utf8'), fs.readFileSync('/proc/self/cgroup', 'utf8'));
  return cached;
}
