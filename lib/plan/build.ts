/**
 * Spec → Plan. Pure: every host fact comes in through `PlanHost`.
 */
import type { Spec } from '../config/types.js';
import { hasCreateHooks } from '../container/hooks.js';
import { planMountAttrs, planProcAttrs, rootPropagationPlan } from './attrs.js';
import { planDevices, planSymlinks } from './devices.js';
import { planMounts, type MountHost } from './mounts.js';
import { planNamespaces } from './namespaces.js';
import { planCaps, planEnv, planRlimits } from './process.js';
import { PlanFlag, type Plan } from './types.js';

export interface PlanHost extends MountHost {
  /** HOME of `uid` from the rootfs's /etc/passwd, or null. */
  homeOf(rootfs: string, uid: number): string | null;
}

export interface PlanOptions {
  id: string;
  /** The bundle directory: relative bind sources resolve against it. */
  bundle: string;
  rootfs: string;
  stateDir: string;
  noPivot?: boolean;
  noNewKeyring?: boolean;
  /** fd of the connected --console-socket, or -1. */
  consoleSocketFd?: number;
  preserveFds?: number;
  /** Appended to the process environment (socket activation). */
  extraEnv?: string[];
  /** issue 3: fds of the opened linux.namespaces[i].path, by index. */
  nsFds?: readonly (number | undefined)[];
}

export function buildPlan(spec: Spec, opts: PlanOptions, host: PlanHost): Plan {
  const proc = spec.process!;
  const ns = planNamespaces(spec, opts.nsFds);
  let flags = 0;
  if (opts.noPivot) flags |= PlanFlag.NO_PIVOT;
  if (proc.noNewPrivileges) flags |= PlanFlag.NO_NEW_PRIVS;
  if (spec.root?.readonly) flags |= PlanFlag.ROOT_READONLY;
  if (proc.terminal) flags |= PlanFlag.TERMINAL;
  if (!opts.noNewKeyring) flags |= PlanFlag.NEW_KEYRING;
  if (proc.user.umask !== undefined) flags |= PlanFlag.SET_UMASK;
  if (hasCreateHooks(spec.hooks)) flags |= PlanFlag.HOOK_SYNC;
  let caps: Plan['init']['caps'] = [0n, 0n, 0n, 0n, 0n];
  if (proc.capabilities) {
    flags |= PlanFlag.SET_CAPS;
    caps = planCaps(proc.capabilities);
  }
  const { before: rootfsPropagation, after: rootPropagationAfter } = rootPropagationPlan(spec.linux?.rootfsPropagation);
  const mounts = planMounts(spec, opts.bundle, host);
  return {
    init: {
      flags,
      cloneFlags: ns.cloneFlags,
      rootfsPropagation,
      caps,
      uid: proc.user.uid,
      gid: proc.user.gid,
      umask: proc.user.umask ?? 0o022,
      consoleWidth: proc.consoleSize?.width ?? 0,
      consoleHeight: proc.consoleSize?.height ?? 0,
      consoleSocketFd: opts.consoleSocketFd ?? -1,
      preserveFds: opts.preserveFds ?? 0,
      rootfs: opts.rootfs,
      hostname: spec.hostname ? spec.hostname : null,
      domainname: spec.domainname ? spec.domainname : null,
      cwd: proc.cwd,
      stateDir: opts.stateDir,
      keyring: opts.noNewKeyring ? null : `_ses.${opts.id}`,
      args: [...proc.args!],
      env: [...planEnv(spec, host.homeOf(opts.rootfs, proc.user.uid) ?? '/'), ...(opts.extraEnv ?? [])],
      additionalGids: [...(proc.user.additionalGids ?? [])],
      mounts,
      rlimits: planRlimits(spec),
      devices: planDevices(spec),
      symlinks: planSymlinks(spec),
      procAttrs: planProcAttrs(spec, rootPropagationAfter),
      mountAttrs: planMountAttrs(mounts),
      unshareFlags: ns.unshareFlags,
      nsFlags: ns.nsFlags,
      nsJoins: ns.nsJoins,
      timeOffsets: ns.timeOffsets,
      idmapMounts: [], // filled by the runtime, which opens the trees (lib/container/idmap.ts)
    },
    host: {
      oomScoreAdj: proc.oomScoreAdj ?? null,
      netDevices: Object.entries(spec.linux?.netDevices ?? {}).map(([hostName, d]) => ({ hostName, name: d?.name || hostName })),
      idMaps: ns.idMaps,
    },
  };
}
