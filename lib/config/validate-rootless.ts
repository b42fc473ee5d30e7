/**
 * What a runtime without privilege (euid != 0) may do, decided from the
 * config and host facts before anything exists on the host. Pure: the
 * facts come in through `UnprivilegedHost`.
 *
 * Id maps (user_namespaces(7)): a process may write the uid_map of a user
 * namespace it owns only with one line mapping its own euid, and the
 * gid_map only with one line mapping its own egid after writing "deny" to
 * setgroups. Anything wider goes through the setuid helpers newuidmap and
 * newgidmap (package uidmap), which allow the ranges /etc/subuid and
 * /etc/subgid give the user, plus the user's own id. As runc does: a
 * direct write for one's own id, the helper otherwise.
 */
import { ConfigError } from '../errors.js';
import type { IdMapping, Spec } from './types.js';

export interface UnprivilegedHost {
  euid: number;
  egid: number;
  /** The passwd name of euid, or null. */
  userName: string | null;
  /** /etc/subuid or /etc/subgid, or null when missing. */
  readSubIds(file: '/etc/subuid' | '/etc/subgid'): string | null;
  /** The absolute path of a program on PATH (or /usr/bin, /bin), or null. */
  which(program: 'newuidmap' | 'newgidmap'): string | null;
  /** Our own /proc/self/oom_score_adj. */
  oomScoreAdj(): number;
}

/** How the parent writes the maps of a new user namespace. */
export interface IdMapWriter {
  /** null: write /proc/<pid>/uid_map directly; else the newuidmap to run. */
  newuidmap: string | null;
  newgidmap: string | null;
  /** Write "deny" to /proc/<pid>/setgroups first (the init then calls no setgroups). */
  denySetgroups: boolean;
}

/** A runtime with privilege writes the maps itself and keeps setgroups allowed. */
export const PRIVILEGED_WRITER: IdMapWriter = { newuidmap: null, newgidmap: null, denySetgroups: false };

/** The ranges of /etc/subuid or /etc/subgid that belong to the user (by name or by number). */
export function subIdRanges(text: string | null, user: string | null, id: number): { start: number; count: number }[] {
  const out: { start: number; count: number }[] = [];
  for (const line of (text ?? '').split('\n')) {
    const [who, start, count] = line.trim().split(':');
    if (!who || start === undefined || count === undefined || (who !== user && who !== String(id))) continue;
    const s = Number(start);
    const c = Number(count);
    if (Number.isSafeInteger(s) && Number.isSafeInteger(c) && c > 0) out.push({ start: s, count: c });
  }
  return out;
}

const isOwnId = (maps: readonly IdMapping[], id: number) => maps.length === 1 && maps[0]!.hostID === id && maps[0]!.size === 1;

/**
 * The checks (ConfigError with the JSON path) for a runtime without
 * privilege, and how it will write the maps of a new user namespace (a
 * joined one has its maps: the config's are ignored, as runc does).
 */
export function checkUnprivileged(spec: Spec, host: UnprivilegedHost): IdMapWriter {
  const l = spec.linux ?? {};
  const userNs = (l.namespaces ?? []).find((n) => n.type === 'user');
  if (!userNs)
    throw new ConfigError(
      'linux.namespaces',
      'rootless container requires user namespaces (euid is not 0; tsrun spec --rootless makes one)',
    );
  if (l.netDevices && Object.keys(l.netDevices).length)
    throw new ConfigError(
      'linux.netDevices',
      'moving host network devices needs CAP_NET_ADMIN in the host network namespace; not rootless',
    );
  const oom = spec.process?.oomScoreAdj;
  if (oom !== undefined) {
    const now = host.oomScoreAdj();
    if (oom < now)
      throw new ConfigError(
        'process.oomScoreAdj',
        `${oom} is below the runtime's own ${now}: lowering it needs CAP_SYS_RESOURCE (rootless: only upwards)`,
      );
  }
  if (userNs.path) return PRIVILEGED_WRITER; // its maps exist; the config's are ignored
  const uids = l.uidMappings ?? [];
  const gids = l.gidMappings ?? [];
  checkMountIds(spec, uids, gids);
  const writer: IdMapWriter = {
    newuidmap: isOwnId(uids, host.euid) ? null : helper(host, 'newuidmap', 'linux.uidMappings', uids, '/etc/subuid', host.euid),
    newgidmap: isOwnId(gids, host.egid) ? null : helper(host, 'newgidmap', 'linux.gidMappings', gids, '/etc/subgid', host.egid),
    denySetgroups: isOwnId(gids, host.egid),
  };
  // setgroups(2) is refused in a user namespace whose setgroups is "deny"
  if (writer.denySetgroups && (spec.process?.user.additionalGids ?? []).length)
    throw new ConfigError(
      'process.user.additionalGids',
      'cannot set any additional groups in a rootless container whose linux.gidMappings maps only your own gid (setgroups is denied; map ranges of /etc/subgid instead)',
    );
  return writer;
}

/** The helper, after checking every range is the user's: newuidmap would refuse the rest after the init exists. */
function helper(
  host: UnprivilegedHost,
  program: 'newuidmap' | 'newgidmap',
  field: string,
  maps: readonly IdMapping[],
  file: '/etc/subuid' | '/etc/subgid',
  own: number,
): string {
  const what = field === 'linux.uidMappings' ? 'uid' : 'gid';
  const tool = host.which(program);
  if (!tool)
    throw new ConfigError(
      field,
      `an unprivileged runtime can map only its own ${what} ${own} (size 1) itself; more needs ${program} (package uidmap)`,
    );
  const ranges = subIdRanges(host.readSubIds(file), host.userName, host.euid);
  maps.forEach((m, i) => {
    if (m.size === 1 && m.hostID === own) return;
    const end = m.hostID + m.size;
    if (ranges.some((r) => m.hostID >= r.start && end <= r.start + r.count)) return;
    const has = ranges.length ? ranges.map((r) => `${r.start}-${r.start + r.count - 1}`).join(', ') : 'none';
    throw new ConfigError(
      `${field}[${i}]`,
      `host ${what}s ${m.hostID}-${end - 1} are not yours to map: ${file} gives ${host.userName ?? own} ${has}`,
    );
  });
  return tool;
}

/** runc: uid=/gid= mount options must name ids the container has. */
function checkMountIds(spec: Spec, uids: readonly IdMapping[], gids: readonly IdMapping[]): void {
  const mapped = (maps: readonly IdMapping[], id: number) => maps.some((m) => id >= m.containerID && id < m.containerID + m.size);
  (spec.mounts ?? []).forEach((m, i) => {
    for (const o of m.options ?? []) {
      const [key, value] = o.split('=', 2);
      if ((key !== 'uid' && key !== 'gid') || value === undefined) continue;
      if (!mapped(key === 'uid' ? uids : gids, Number(value)))
        throw new ConfigError(
          `mounts[${i}].options`,
          `${o}: ${key} ${value} is not mapped in linux.${key}Mappings (a rootless container has only its mapped ids)`,
        );
    }
  });
}

/** Our own user namespace: its maps (/proc/self/uid_map, gid_map) and whether it denies setgroups. */
export interface OwnUserNs {
  uidMap: string;
  gidMap: string;
  setgroupsDenied: boolean;
}

/** The ids a map's "inside" column covers (ids of our own namespace we may map further). */
function insideRanges(map: string): { start: number; count: number }[] {
  return map
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number))
    .filter((f) => f.length === 3 && f.every(Number.isSafeInteger))
    .map(([inside, , count]) => ({ start: inside!, count: count! }));
}

/**
 * Rules that come from the user namespace the runtime itself runs in (as
 * root inside rootless podman's, say): a new user namespace inherits
 * "deny" from its parent, so the init must not call setgroups and
 * additionalGids cannot be set; and a map may only use ids that exist in
 * ours (the kernel refuses the rest after the init exists). A joined user
 * namespace has its maps already.
 */
export function checkOwnUserNs(spec: Spec, own: OwnUserNs, writer: IdMapWriter): IdMapWriter {
  const l = spec.linux ?? {};
  const userNs = (l.namespaces ?? []).find((n) => n.type === 'user');
  if (!userNs || userNs.path) return writer;
  for (const [field, maps, text] of [
    ['linux.uidMappings', l.uidMappings ?? [], own.uidMap],
    ['linux.gidMappings', l.gidMappings ?? [], own.gidMap],
  ] as const) {
    const ranges = insideRanges(text);
    maps.forEach((m, i) => {
      if (ranges.some((r) => m.hostID >= r.start && m.hostID + m.size <= r.start + r.count)) return;
      const what = field === 'linux.uidMappings' ? 'uid' : 'gid';
      throw new ConfigError(
        `${field}[${i}]`,
        `host ${what}s ${m.hostID}-${m.hostID + m.size - 1} do not exist in the runtime's own user namespace (its ${what}_map: ${text.trim().replace(/\s+/g, ' ')})`,
      );
    });
  }
  if (!own.setgroupsDenied) return writer;
  if ((spec.process?.user.additionalGids ?? []).length)
    throw new ConfigError(
      'process.user.additionalGids',
      "cannot set any additional groups: the runtime's own user namespace denies setgroups, and so will the container's",
    );
  return { ...writer, denySetgroups: true };
}
