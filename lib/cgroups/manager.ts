/**
 * The cgroup manager: one interface, a v2 and a v1 backend, chosen by what
 * the host mounts (host.ts). The runtime creates the cgroup and applies
 * every limit BEFORE the container's init exists, so a missing controller or
 * a bad value fails create with nothing started; the init joins it while it
 * still waits for GO. All calls are synchronous: they touch only cgroupfs.
 */
import * as path from 'node:path';

import { cgroupRelPath, hostCgroups, type CgroupHost } from './host.js';
import type { LinuxResources } from './resources.js';
import type { CgroupStats } from './stats.js';
import { V1Manager } from './v1.js';
import { V2Manager } from './v2.js';

export { cgroupRelPath } from './host.js';

/** What state.json records: enough to find the cgroup again, and what of it is the container's. */
export interface CgroupState {
  version: 1 | 2;
  /** v2: { "": dir }. v1: controller → dir; on hybrid hosts also "" → the unified dir (tracking only). */
  paths: Record<string, string>;
  /**
   * The directories of `paths` that the container's create made. Only in
   * those does delete (native/host) kill every process and remove the
   * directory; one that existed before (linux.cgroupsPath naming it) may hold
   * the host's processes and cgroups, and is left alone. Absent: none.
   */
  owned?: string[];
}

/** Loads and attaches a BPF_PROG_TYPE_CGROUP_DEVICE program (the addon). */
export type AttachDeviceProgram = (cgroupDir: string, insns: Uint8Array) => void;

export interface CgroupManager {
  readonly state: CgroupState;
  /**
   * Before create(), touching nothing: throws when the init could never run
   * there (the cgroup, or the ancestor a new one inherits from, is frozen:
   * runc's "container's cgroup unexpectedly frozen"; v1: `unified` asked for);
   * returns runc's warning when the cgroup already holds processes.
   */
  check(r: LinuxResources): string[];
  /** mkdir the cgroup (and parents; v2: enable the controllers on the way down;
   * v1: empty cpusets on the way down get their parent's cpus and mems).
   * Returns the directories of `state.paths` it made (empty when every one
   * existed already): the container's own (`CgroupState.owned`). */
  create(): string[];
  /** Every directory create() made, top first (intermediate ones too): what a
   * failed create removes (native/host's tsrun_cgroup_remove, through the
   * addon); a cgroup that existed before, and what runs in it, is left alone. */
  madeDirs(): string[];
  /** Writes linux.resources; errors name the config field. */
  apply(r: LinuxResources, opts?: { update?: boolean }): void;
  /** Moves a process in (the fallback when it was not born there). */
  addProcess(pid: number): void;
  stats(): CgroupStats;
  /** How many processes the OOM killer has killed in the cgroup. */
  oomKills(): number;
  /** The v2 directory (pure v2 only), for CLONE_INTO_CGROUP. */
  readonly v2Dir: string | null;
  /** The container's cgroup in each v1 hierarchy (for the cgroup mount inside). */
  v1Hierarchies(): { mountPoint: string; name: string; cgroupPath: string }[];
}

/** A manager for a new container (nothing is created until create()). */
export function newCgroupManager(
  cgroupsPath: string | undefined,
  id: string,
  attach?: AttachDeviceProgram,
  host: CgroupHost = hostCgroups(),
): CgroupManager | null {
  if (host.mode === 'none') return null;
  if (host.mode === 'unified') return new V2Manager(host.v2Mount!, cgroupRelPath(cgroupsPath, id, host.v2Own), attach);
  return new V1Manager(host, cgroupsPath, id);
}

/** The manager of an existing container, from its state.json. */
export function loadCgroupManager(state: CgroupState, attach?: AttachDeviceProgram, host: CgroupHost = hostCgroups()): CgroupManager {
  if (state.version === 2) {
    const dir = state.paths['']!;
    const mount = host.v2Mount ?? '/sys/fs/cgroup';
    return new V2Manager(mount, path.relative(mount, dir), attach, state);
  }
  return new V1Manager(host, undefined, '', state);
}
