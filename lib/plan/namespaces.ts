/**
 * linux.namespaces, uid/gidMappings and timeOffsets → how the init gets its
 * namespaces. Two shapes:
 *  - plain: every namespace is new and none needs work between creation and
 *    the first process inside it: clone3 creates them all (fast path);
 *  - staged: a join by path, a user namespace (the parent writes its id maps)
 *    or a time namespace (offsets must be written before any process is in
 *    it): the init clones with no namespace flags, then its namespace step
 *    (native/init/namespaces.c) joins, unshares and forks once more when the
 *    init must be inside a pid or time namespace the intermediate cannot enter.
 */
import type { Spec } from '../config/types.js';
import { CLONE_NEWCGROUP, CLONE_NEWPID, CLONE_NEWTIME, CLONE_NEWUSER, NAMESPACE_CLONE_FLAGS } from './linux.js';
import { NsFlag, type PlanNsJoin } from './types.js';

export interface NamespacePlan {
  cloneFlags: bigint;
  unshareFlags: bigint;
  nsFlags: number;
  nsJoins: PlanNsJoin[];
  timeOffsets: { monotonic: [bigint, number]; boottime: [bigint, number] };
  idMaps: { uidMap: string; gidMap: string } | null;
  /** The init is the first process of a pid namespace of its own (kill --all, delete). */
  newPidNamespace: boolean;
}

/** `fds[i]` is the opened linux.namespaces[i].path (lib/container/namespaces.ts), or undefined. */
export function planNamespaces(spec: Spec, fds: readonly (number | undefined)[] = []): NamespacePlan {
  let newFlags = 0n;
  const joins: PlanNsJoin[] = [];
  (spec.linux?.namespaces ?? []).forEach((ns, i) => {
    const flag = NAMESPACE_CLONE_FLAGS[ns.type];
    if (ns.path) {
      const fd = fds[i];
      if (fd === undefined) throw new Error(`planNamespaces: linux.namespaces[${i}].path was not opened`);
      joins.push({ fd, nstype: Number(flag) });
    } else newFlags |= flag;
  });
  // setns into the user namespace first: it is what grants the right to
  // join the namespaces it owns (runtime-spec: user namespace first).
  joins.sort((a, b) => Number(b.nstype === Number(CLONE_NEWUSER)) - Number(a.nstype === Number(CLONE_NEWUSER)));
  const joinsPid = joins.some((j) => j.nstype === Number(CLONE_NEWPID));
  const joinsTime = joins.some((j) => j.nstype === Number(CLONE_NEWTIME));
  const staged = joins.length > 0 || (newFlags & (CLONE_NEWUSER | CLONE_NEWTIME)) !== 0n;
  let nsFlags = 0;
  if (staged) {
    nsFlags |= NsFlag.STAGE;
    if (joinsPid || joinsTime || (newFlags & (CLONE_NEWPID | CLONE_NEWTIME)) !== 0n) nsFlags |= NsFlag.FORK;
  }
  const off = spec.linux?.timeOffsets;
  if ((newFlags & CLONE_NEWTIME) !== 0n && off && (off.monotonic || off.boottime)) nsFlags |= NsFlag.TIME_OFFSETS;
  const l = spec.linux;
  const idMaps =
    (newFlags & CLONE_NEWUSER) !== 0n
      ? {
          uidMap: (l?.uidMappings ?? []).map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join(''),
          gidMap: (l?.gidMappings ?? []).map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join(''),
        }
      : null;
  // A new cgroup namespace is rooted at the cgroup its creator is in when
  // it is made: the init unshares it only after the runtime has placed it
  // in the container's cgroup (step "cgroupns", after the first GO), never
  // by clone flags or in the namespace step.
  const cgroup = newFlags & CLONE_NEWCGROUP;
  return {
    cloneFlags: staged ? 0n : newFlags & ~CLONE_NEWCGROUP,
    unshareFlags: staged ? newFlags : cgroup,
    nsFlags,
    nsJoins: joins,
    timeOffsets: {
      monotonic: [BigInt(off?.monotonic?.secs ?? 0), off?.monotonic?.nanosecs ?? 0],
      boottime: [BigInt(off?.boottime?.secs ?? 0), off?.boottime?.nanosecs ?? 0],
    },
    idMaps,
    newPidNamespace: (newFlags & CLONE_NEWPID) !== 0n,
  };
}
