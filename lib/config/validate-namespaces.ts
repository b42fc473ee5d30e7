/**
 * the MUST rules of linux.namespaces, uid/gidMappings and
 * timeOffsets (config-linux.md), and which namespace owns a sysctl. Pure:
 * whether a namespace path really is a namespace of its type is a host fact,
 * checked when it is opened (lib/container/namespaces.ts), still before clone.
 */
import * as path from 'node:path';

import { ConfigError, shown } from '../errors.js';
import { sysctlName } from '../plan/attrs.js';
import type { IdMapping, Mount, Spec } from './types.js';

const TIME_CLOCKS = new Set(['monotonic', 'boottime']);
const UINT32_MAX = 0xffffffff;

/** Namespace types present in linux.namespaces, new (no path) or joined. */
function nsEntries(spec: Spec): Map<string, { index: number; joined: boolean }> {
  const out = new Map<string, { index: number; joined: boolean }>();
  (spec.linux?.namespaces ?? []).forEach((ns, index) => {
    if (!out.has(ns.type)) out.set(ns.type, { index, joined: ns.path !== undefined && ns.path !== '' });
  });
  return out;
}

/** Runs after validate.ts has checked each entry's type and duplicates. */
export function validateNamespaceRules(spec: Spec): void {
  const l = spec.linux;
  const ns = nsEntries(spec);
  (l?.namespaces ?? []).forEach((n, i) => {
    if (n.path !== undefined && n.path !== '' && !path.isAbsolute(n.path))
      throw new ConfigError(`linux.namespaces[${i}].path`, `must be an absolute path, got ${shown(n.path)}`);
  });

  const user = ns.get('user');
  for (const field of ['uidMappings', 'gidMappings'] as const) {
    (l?.[field] ?? []).forEach((m, i) => checkMapping(m, `linux.${field}[${i}]`));
  }
  const hasMappings = (l?.uidMappings?.length ?? 0) > 0 || (l?.gidMappings?.length ?? 0) > 0;
  if (hasMappings && !user) {
    const field = l?.uidMappings?.length ? 'linux.uidMappings' : 'linux.gidMappings';
    throw new ConfigError(field, 'id mappings require a user namespace (linux.namespaces has no "user" entry)');
  }
  // A new user namespace without maps would leave every id unmapped (the
  // container could not even own a file); runc refuses it too. A joined one
  // already has its maps: config mappings are then ignored, as runc does.
  if (user && !user.joined) {
    if (!l?.uidMappings?.length) throw new ConfigError('linux.uidMappings', 'a new user namespace requires uid mappings');
    if (!l?.gidMappings?.length) throw new ConfigError('linux.gidMappings', 'a new user namespace requires gid mappings');
  }

  const offsets = l?.timeOffsets;
  if (offsets && Object.keys(offsets).length) {
    const time = ns.get('time');
    if (!time) throw new ConfigError('linux.timeOffsets', 'time offsets require a time namespace (linux.namespaces has no "time" entry)');
    if (time.joined)
      throw new ConfigError('linux.timeOffsets', `cannot set offsets of an existing time namespace (linux.namespaces[${time.index}].path)`);
    for (const [clock, o] of Object.entries(offsets)) {
      const at = `linux.timeOffsets.${clock}`;
      if (!TIME_CLOCKS.has(clock)) throw new ConfigError(at, `unknown clock ${JSON.stringify(clock)} (monotonic or boottime)`);
      if (o.secs !== undefined && !Number.isSafeInteger(o.secs)) throw new ConfigError(`${at}.secs`, `must be an integer, got ${o.secs}`);
      if (o.nanosecs !== undefined && (!Number.isInteger(o.nanosecs) || o.nanosecs < 0 || o.nanosecs > 999_999_999))
        throw new ConfigError(`${at}.nanosecs`, `must be between 0 and 999999999, got ${o.nanosecs}`);
    }
  }

  validateIdmapMounts(spec, user);
}

/** An idmapped mount: option idmap/ridmap, or mount-level mappings. */
export function isIdmapped(m: Mount): boolean {
  const o = m.options ?? [];
  return o.includes('idmap') || o.includes('ridmap') || (m.uidMappings?.length ?? 0) > 0 || (m.gidMappings?.length ?? 0) > 0;
}

function validateIdmapMounts(spec: Spec, user: { joined: boolean } | undefined): void {
  (spec.mounts ?? []).forEach((m, i) => {
    if (!isIdmapped(m)) return;
    const at = `mounts[${i}]`;
    const o = m.options ?? [];
    if (m.type !== 'bind' && !o.includes('bind') && !o.includes('rbind'))
      throw new ConfigError(`${at}.options`, 'idmapped mounts (idmap, ridmap, uid/gidMappings) are supported for bind mounts only');
    const hasUid = (m.uidMappings?.length ?? 0) > 0;
    const hasGid = (m.gidMappings?.length ?? 0) > 0;
    if (hasUid !== hasGid)
      throw new ConfigError(`${at}.${hasUid ? 'gidMappings' : 'uidMappings'}`, 'an idmapped mount needs both uidMappings and gidMappings');
    for (const field of ['uidMappings', 'gidMappings'] as const)
      (m[field] ?? []).forEach((x, j) => checkMapping(x, `${at}.${field}[${j}]`));
    if (!hasUid && (!user || user.joined))
      throw new ConfigError(
        `${at}.options`,
        'idmap without mount uidMappings/gidMappings uses the mappings of a new user namespace (linux.namespaces, linux.uidMappings)',
      );
  });
}

function checkMapping(m: IdMapping, at: string): void {
  for (const f of ['containerID', 'hostID', 'size'] as const) {
    const v = m[f];
    if (!Number.isInteger(v) || v < 0 || v > UINT32_MAX)
      throw new ConfigError(`${at}.${f}`, `must be an integer from 0 to ${UINT32_MAX}, got ${v}`);
  }
  if (m.size === 0) throw new ConfigError(`${at}.size`, 'must not be zero');
}

const IPC_SYSCTLS = new Set([
  'kernel.msgmax',
  'kernel.msgmnb',
  'kernel.msgmni',
  'kernel.sem',
  'kernel.shmall',
  'kernel.shmmax',
  'kernel.shmmni',
  'kernel.shm_rmid_forced',
]);

/**
 * The namespace whose own copy of the sysctl `key` the container writes, or
 * null when the sysctl is host-wide (the same list as runc's validator).
 * `user.*` are the ucounts limits (max_*_namespaces, inotify, fanotify):
 * each user namespace has its own, and a process sees and writes those of
 * the namespace it is in, so the container's user namespace keeps them to
 * itself (runc ≥ 1.4; without a user namespace they would be the host's).
 */
export function sysctlNamespace(key: string): 'ipc' | 'network' | 'uts' | 'user' | null {
  const k = sysctlName(key);
  if (IPC_SYSCTLS.has(k) || k.startsWith('fs.mqueue.')) return 'ipc';
  if (k.startsWith('net.')) return 'network';
  // kernel.hostname is the UTS namespace's too, but validate-process.ts
  // refuses it: the OCI hostname field owns it.
  if (k === 'kernel.hostname' || k === 'kernel.domainname') return 'uts';
  if (k.startsWith('user.')) return 'user';
  return null;
}
