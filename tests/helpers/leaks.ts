/** Leak checks shared by the reliability tests (kill points, load). */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Every cgroup hierarchy of this host (v2: the one; v1 and hybrid: each mounted controller and the unified dir). */
export function cgroupHierarchies(): string[] {
  if (!fs.existsSync('/sys/fs/cgroup')) return [];
  if (fs.existsSync('/sys/fs/cgroup/cgroup.controllers')) return ['/sys/fs/cgroup'];
  return fs
    .readdirSync('/sys/fs/cgroup')
    .map((h) => path.join('/sys/fs/cgroup', h))
    .filter((h) => fs.existsSync(path.join(h, 'cgroup.procs')));
}

/**
 * What container `id` (state under `root`, bundle dir `bundle`, cgroupsPath
 * `cgroupRel` without its leading "/") left behind: one line per thing —
 * its state dir, a cgroup directory in any hierarchy, a mount under the
 * bundle or the state dir, a process.
 */
export function leftovers(root: string, id: string, bundle: string, cgroupRel: string): string[] {
  const out: string[] = [];
  const dir = path.join(root, id);
  if (fs.existsSync(dir)) out.push(`state dir ${dir}: ${fs.readdirSync(dir).join(' ')}`);
  for (const h of cgroupHierarchies()) if (fs.existsSync(path.join(h, cgroupRel))) out.push(`cgroup ${path.join(h, cgroupRel)}`);
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const point = line.split(' ')[4];
    if (point && (point.startsWith(bundle + '/') || point.startsWith(dir))) out.push(`mount ${point}`);
  }
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      // an init that had not exec'd yet carries the runtime's argv (with the
      // id); one that had is in the container's cgroup
      if (fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').includes(id)) out.push(`process ${p} (argv)`);
      else if (fs.readFileSync(`/proc/${p}/cgroup`, 'utf8').includes(`/${cgroupRel}\n`)) out.push(`process ${p} (cgroup)`);
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Our own fds and unreaped children: a runtime (killed or not) must leave neither in its caller. */
export function callerSnapshot(): { fds: number; children: string } {
  const children = fs
    .readdirSync('/proc/self/task')
    .map((t) => {
      try {
        return fs.readFileSync(`/proc/self/task/${t}/children`, 'utf8').trim();
      } catch {
        return '';
      }
    })
    .filter(Boolean)
    .join(' ');
  return { fds: fs.readdirSync('/proc/self/fd').length, children };
}
