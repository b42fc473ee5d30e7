/**
 * A validated process → the Plan of a tenant: a process that joins a
 * running container (exec). It sets up no root filesystem: it joins every
 * namespace of the container's init (user first), is placed in the
 * container's cgroup by the runtime, and then gets the process attributes
 * the init would (ids, capabilities, rlimits, terminal, seccomp, ...).
 * Pure, like buildPlan: the runtime opens the namespaces and compiles the
 * filter before calling it, so the plan is complete when this returns.
 */
import type { Process, Spec } from '../config/types.js';
import { listMask, planProcAttrs } from './attrs.js';
import { processFlags, sessionKeyring } from './build.js';
import { CLONE_NEWPID, CLONE_NEWTIME, CLONE_NEWUSER } from './linux.js';
import { planCaps, planEnv, planRlimits } from './process.js';
import type { RdtGroup } from './resctrl.js';
import type { PlanSeccomp } from './seccomp.js';
import { NsFlag, PlanFlag, type Plan, type PlanNsJoin } from './types.js';

export interface TenantOptions {
  /** The container's id: its session keyring is joined by name. */
  id: string;
  /** The container's namespaces that differ from the runtime's, user first (setns by fd). */
  joins: readonly PlanNsJoin[];
  /** The container was created with --no-new-keyring. */
  noNewKeyring: boolean;
  /** fd of the connected --console-socket, or -1. */
  consoleSocketFd: number;
  /** fd of the connected --pidfd-socket, or -1 (absent: none). */
  pidfdSocketFd?: number;
  preserveFds: number;
  /** Appended to the process environment (socket activation). */
  extraEnv: readonly string[];
  /** The container's seccomp filter, compiled at create, null: none. */
  seccomp: PlanSeccomp | null;
  /** The pty's size when process.consoleSize has none: the caller's terminal (foreground). */
  terminalSize?: { rows: number; cols: number } | null;
  /** HOME of the process user in the container's /etc/passwd, for an env without HOME. */
  home: string | null;
  /** The container's user namespace denies setgroups (a rootless one mapping one gid): the process keeps its groups. */
  setgroupsDenied?: boolean;
  /** The container's resctrl groups (state.json's intelRdt), which the process joins too. */
  rdt?: RdtGroup | null;
}

export function buildTenantPlan(proc: Process, opts: TenantOptions): Plan {
  let flags = processFlags(proc) | PlanFlag.TENANT;
  if (!opts.noNewKeyring) flags |= PlanFlag.NEW_KEYRING;
  if (opts.setgroupsDenied) flags |= PlanFlag.NO_SETGROUPS;
  // setns into pid and time namespaces applies to children only: the
  // namespace step forks once more so the program is inside them
  const forks = opts.joins.some((j) => j.nstype === Number(CLONE_NEWPID) || j.nstype === Number(CLONE_NEWTIME));
  const nsFlags = opts.joins.length ? NsFlag.STAGE | (forks ? NsFlag.FORK : 0) : 0;
  const affinity = proc.execCPUAffinity;
  const rlimits = planRlimits(proc);
  return {
    init: {
      flags,
      cloneFlags: 0n,
      rootfsPropagation: 0n,
      rootfsParentPropagation: 0,
      caps: proc.capabilities ? planCaps(proc.capabilities) : [0n, 0n, 0n, 0n, 0n],
      uid: proc.user.uid,
      gid: proc.user.gid,
      umask: proc.user.umask ?? 0,
      consoleWidth: proc.consoleSize?.width ?? opts.terminalSize?.cols ?? 0,
      consoleHeight: proc.consoleSize?.height ?? opts.terminalSize?.rows ?? 0,
      consoleSocketFd: opts.consoleSocketFd,
      pidfdSocketFd: opts.pidfdSocketFd ?? -1,
      preserveFds: opts.preserveFds,
      rootfs: null,
      hostname: null,
      domainname: null,
      cwd: proc.cwd,
      stateDir: null,
      keyring: opts.noNewKeyring ? null : sessionKeyring(opts.id),
      args: [...proc.args!],
      env: [...planEnv(proc, () => opts.home), ...opts.extraEnv],
      additionalGids: [...(proc.user.additionalGids ?? [])],
      mounts: [],
      rlimits,
      devices: [],
      symlinks: [],
      seccomp: opts.seccomp,
      // the process-level attributes only (scheduler, ioPriority): the
      // linux.* ones (personality, memoryPolicy, sysctl) belong to the init
      procAttrs: planProcAttrs({ ociVersion: '', process: proc } as Spec, 0n),
      mountAttrs: [],
      unshareFlags: 0n,
      nsFlags,
      keyringPerms: 0, // a tenant joins the init's keyring
      nsJoins: [...opts.joins],
      timeOffsets: { monotonic: [0n, 0], boottime: [0n, 0] },
      idmapMounts: [],
      cpuAffinity: {
        initial: affinity?.initial ? listMask(affinity.initial) : [],
        final: affinity?.final ? listMask(affinity.final) : [],
      },
      hooks: [],
      hookState: null,
      apparmorProfile: proc.apparmorProfile || null,
      selinuxLabel: proc.selinuxLabel || null,
      mqueueLabel: null,
      rootfsOverlay: null,
    },
    // runtime.md: no network devices or id maps for a process that joins
    host: {
      oomScoreAdj: proc.oomScoreAdj ?? null,
      netDevices: [],
      idMaps: null,
      rlimits: opts.joins.some((j) => j.nstype === Number(CLONE_NEWUSER)) ? rlimits : [],
      rdt: opts.rdt ?? null,
    },
  };
}
