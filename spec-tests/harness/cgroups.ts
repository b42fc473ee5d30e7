/** Where a process's cgroups are on the host, for v2 and v1 hierarchies. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { HostInfo } from './host.js';

export interface CgroupPlace {
  /** `''` for the v2 hierarchy, else the v1 controller list (`cpu,cpuacct`, `name=systemd`). */
  controllers: string;
  /** Path as written in /proc/PID/cgroup. */
  path: string;
  /** Host directory of that cgroup, when its hierarchy is mounted. */
  dir: string;
}

export function readCgroupPaths(host: HostInfo, pid: number): CgroupPlace[] {
  let text = '';
  try {
    text = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  } catch {
    return [];
  }
  const out: CgroupPlace[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const controllers = m[2] ?? '';
    const p = m[3] ?? '/';
    let mount: string | undefined;
    if (controllers === '') {
      mount = host.cgroupMode === 'unified' ? '/sys/fs/cgroup' : host.cgroupMode === 'hybrid' ? '/sys/fs/cgroup/unified' : undefined;
    } else {
      mount = controllers
        .split(',')
        .map((c) => host.v1Mounts[c])
        .find(Boolean);
    }
    if (mount) out.push({ controllers, path: p, dir: path.join(mount, p) });
  }
  return out;
}

/** Host directory of the v2 cgroup of `pid` (unified hosts only). */
export function v2Dir(host: HostInfo, pid: number): string | undefined {
  if (host.cgroupMode !== 'unified') return undefined;
  return readCgroupPaths(host, pid).find((p) => p.controllers === '')?.dir;
}

/** Host directory of the v1 cgroup of `pid` for one controller. */
export function v1Dir(host: HostInfo, pid: number, controller: string): string | undefined {
  return readCgroupPaths(host, pid).find((p) => p.controllers.split(',').includes(controller))?.dir;
}

export function readTrim(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}
