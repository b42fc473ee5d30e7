/**
 * Facts about the host that decide skips: cgroup layout, capabilities of the
 * harness itself, kernel, namespaces the kernel offers, rlimits.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { capMask, CAPS } from './caps.js';

export type CgroupMode = 'unified' | 'hybrid' | 'legacy' | 'none';

export interface HostInfo {
  kernel: string;
  arch: string;
  cgroupMode: CgroupMode;
  /** Controllers available in the v2 hierarchy (unified mode), else []. */
  v2Controllers: string[];
  /** Mount points of v1 hierarchies by controller name (incl. `name=systemd`). */
  v1Mounts: Record<string, string>;
  /** Effective capability mask of the harness process. */
  capEff: bigint;
  /** Namespaces offered by the kernel (names of /proc/self/ns entries). */
  namespaces: string[];
  /** Harness rlimits: [soft, hard] as decimal strings, by RLIMIT_* name. */
  rlimits: Record<string, [string, string]>;
  isRoot: boolean;
}

const CGROUP2_SUPER_MAGIC = 0x63677270;

export function detectHost(): HostInfo {
  return {
    kernel: os.release(),
    arch: process.arch,
    ...detectCgroups(),
    capEff: readCapEff(),
    namespaces: safeReaddir('/proc/self/ns').filter((n) => !n.endsWith('_for_children')),
    rlimits: readLimits(),
    isRoot: process.getuid?.() === 0,
  };
}

export function hasCap(host: HostInfo, name: string): boolean {
  return (host.capEff & capMask([name])) !== 0n;
}

export function missingCaps(host: HostInfo): string[] {
  return Object.keys(CAPS).filter((c) => !hasCap(host, c));
}

export function describeHost(host: HostInfo): string {
  const missing = missingCaps(host).filter((c) => (CAPS[c] ?? 99) <= 40);
  return [
    `kernel ${host.kernel} (${host.arch})`,
    `cgroups ${host.cgroupMode}${host.cgroupMode === 'unified' ? ` [${host.v2Controllers.join(' ')}]` : ''}`,
    host.isRoot ? `root${missing.length ? `, lacking ${missing.join(', ')}` : ', all capabilities'}` : 'not root',
  ].join('; ');
}

function detectCgroups(): Pick<HostInfo, 'cgroupMode' | 'v2Controllers' | 'v1Mounts'> {
  const v1Mounts: Record<string, string> = {};
  let v2Root: string | undefined;
  for (const line of safeRead('/proc/self/mountinfo').split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    const mountPoint = pre.split(' ')[4] ?? '';
    const [fstype, , superOpts = ''] = post.split(' ');
    if (fstype === 'cgroup2' && mountPoint.startsWith('/sys/fs/cgroup')) v2Root ??= mountPoint;
    if (fstype === 'cgroup') {
      for (const opt of superOpts.split(',')) {
        if (['rw', 'ro'].includes(opt) || opt.startsWith('release_agent') || opt === 'xattr' || opt === 'clone_children') continue;
        v1Mounts[opt] = mountPoint;
      }
    }
  }
  let cgroupMode: CgroupMode = 'none';
  try {
    if (fs.statfsSync('/sys/fs/cgroup').type === CGROUP2_SUPER_MAGIC) cgroupMode = 'unified';
    else if (v2Root) cgroupMode = 'hybrid';
    else if (Object.keys(v1Mounts).length) cgroupMode = 'legacy';
  } catch {
    /* no cgroupfs at all */
  }
  const v2Controllers = cgroupMode === 'unified' ? safeRead('/sys/fs/cgroup/cgroup.controllers').trim().split(/\s+/).filter(Boolean) : [];
  return { cgroupMode, v2Controllers, v1Mounts };
}

function readCapEff(): bigint {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(safeRead('/proc/self/status'));
  return m?.[1] ? BigInt(`0x${m[1]}`) : 0n;
}

const LIMIT_NAMES: Record<string, string> = {
  'Max cpu time': 'RLIMIT_CPU',
  'Max file size': 'RLIMIT_FSIZE',
  'Max data size': 'RLIMIT_DATA',
  'Max stack size': 'RLIMIT_STACK',
  'Max core file size': 'RLIMIT_CORE',
  'Max resident set': 'RLIMIT_RSS',
  'Max processes': 'RLIMIT_NPROC',
  'Max open files': 'RLIMIT_NOFILE',
  'Max locked memory': 'RLIMIT_MEMLOCK',
  'Max address space': 'RLIMIT_AS',
  'Max file locks': 'RLIMIT_LOCKS',
  'Max pending signals': 'RLIMIT_SIGPENDING',
  'Max msgqueue size': 'RLIMIT_MSGQUEUE',
  'Max nice priority': 'RLIMIT_NICE',
  'Max realtime priority': 'RLIMIT_RTPRIO',
  'Max realtime timeout': 'RLIMIT_RTTIME',
};

export const RLIM_INFINITY = '18446744073709551615';

function readLimits(): Record<string, [string, string]> {
  const out: Record<string, [string, string]> = {};
  for (const line of safeRead('/proc/self/limits').split('\n').slice(1)) {
    const label = line.slice(0, 26).trim();
    const name = LIMIT_NAMES[label];
    if (!name) continue;
    const [soft = '', hard = ''] = line.slice(26).trim().split(/\s+/);
    const norm = (v: string): string => (v === 'unlimited' ? RLIM_INFINITY : v);
    out[name] = [norm(soft), norm(hard)];
  }
  return out;
}

export function safeRead(p: string): string {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}

function safeReaddir(p: string): string[] {
  try {
    return fs.readdirSync(p);
  } catch {
    return [];
  }
}
