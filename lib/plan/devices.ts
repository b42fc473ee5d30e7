/** /dev: the default devices every container gets, linux.devices, and the
 * standard symlinks. */
import type { Spec } from '../config/types.js';
import { DeviceType, type PlanDevice, type PlanSymlink } from './types.js';

/** The devices runc creates in every container (runtime-spec config-linux.md "Default Devices"). */
export const DEFAULT_DEVICES: readonly PlanDevice[] = [
  { path: '/dev/null', type: DeviceType.CHAR, major: 1, minor: 3, mode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/zero', type: DeviceType.CHAR, major: 1, minor: 5, mode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/full', type: DeviceType.CHAR, major: 1, minor: 7, mode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/random', type: DeviceType.CHAR, major: 1, minor: 8, mode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/urandom', type: DeviceType.CHAR, major: 1, minor: 9, mode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/tty', type: DeviceType.CHAR, major: 5, minor: 0, mode: 0o666, uid: 0, gid: 0 },
];

const TYPES: Record<string, number> = { c: DeviceType.CHAR, u: DeviceType.CHAR, b: DeviceType.BLOCK, p: DeviceType.FIFO };

/** /dev comes from the host (a bind mount) and so already has devices. */
function devIsBound(spec: Spec): boolean {
  return (spec.mounts ?? []).some(
    (m) =>
      m.destination.replace(/\/+$/, '') === '/dev' && (m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind')),
  );
}

export function planDevices(spec: Spec): PlanDevice[] {
  const out = new Map<string, PlanDevice>();
  if (!devIsBound(spec)) for (const d of DEFAULT_DEVICES) out.set(d.path, { ...d });
  for (const d of spec.linux?.devices ?? []) {
    out.set(d.path, {
      path: d.path,
      type: TYPES[d.type] ?? DeviceType.CHAR,
      major: d.major ?? 0,
      minor: d.minor ?? 0,
      mode: d.fileMode ?? 0o666,
      uid: d.uid ?? 0,
      gid: d.gid ?? 0,
    });
  }
  return [...out.values()];
}

/** `hostKcore`: the host has /proc/kcore, so /dev/core points at it (runc's rule). */
export function planSymlinks(spec: Spec, hostKcore = false): PlanSymlink[] {
  if (devIsBound(spec)) return [];
  const links: PlanSymlink[] = [
    { target: '/proc/self/fd', linkpath: '/dev/fd' },
    { target: '/proc/self/fd/0', linkpath: '/dev/stdin' },
    { target: '/proc/self/fd/1', linkpath: '/dev/stdout' },
    { target: '/proc/self/fd/2', linkpath: '/dev/stderr' },
  ];
  if (hostKcore) links.push({ target: '/proc/kcore', linkpath: '/dev/core' });
  // /dev/ptmx must be the container's own devpts instance.
  if (!(spec.linux?.devices ?? []).some((d) => d.path === '/dev/ptmx')) links.push({ target: 'pts/ptmx', linkpath: '/dev/ptmx' });
  return links;
}
