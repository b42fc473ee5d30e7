/**
 * The cgroup manager: one interface, a v2 and a v1 backend, chosen by what
 * the host mounts (host.ts), and the systemd driver on v2
 * (systemd-manager.ts). The cgroupfs driver creates the cgroup and applies
 * every limit BEFORE the container's init exists, so a missing controller or
 * a bad value fails create with nothing started; the init joins it while it
 * still waits for GO. The systemd driver starts its unit with the init in it
 * at that join, then applies the limits: the init still runs nothing of the
 * container's before they are in place.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { TsrunError } from '../errors.js';
import { cgroupRelPath, hostCgroups, type CgroupHost } from './host.js';
import type { LinuxResources } from './resources.js';
import type { CgroupStats } from './stats.js';
import { SystemdManager, type SystemdBus, type SystemdOptions } from './systemd-manager.js';
import { systemdUnit, type SystemdUnitRef } from './systemd.js';
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
  /** The systemd driver's unit (lib/cgroups/systemd-manager.ts), started by the create: delete stops it. */
  systemd?: SystemdUnitRef;
}

/** What a create made of a cgroup, for a failed one to undo (native/host's tsrun_cgroup_remove). */
export interface CgroupMade {
  /** Directories, top first. */
  dirs: string[];
  /** A unit it started. */
  systemd?: SystemdUnitRef;
}

/** Loads and attaches a BPF_PROG_TYPE_CGROUP_DEVICE program (the addon). */
export type AttachDeviceProgram = (cgroupDir: string, insns: Uint8Array) => void;

export interface CgroupManager {
  readonly state: CgroupState;
  /**
   * Before create(), touching nothing: throws when the init could never run
   * there (the cgroup, or the ancestor a new one inherits from, is frozen:
   * runc's "container's cgroup unexpectedly frozen"; v1: `unified` asked for;
   * systemd: the unit exists already); returns runc's warning when the cgroup
   * already holds processes.
   */
  check(r: LinuxResources): string[];
  /** mkdir the cgroup (and parents; v2: enable the controllers on the way down;
   * v1: empty cpusets on the way down get their parent's cpus and mems).
   * Returns the directories of `state.paths` it made (empty when every one
   * existed already): the container's own. systemd: nothing (the unit
   * starts with the init, at addProcess). */
  create(): string[];
  /** The directories of `state.paths` that are the container's own as of now: state.json's `cgroup.owned`. */
  owned(): string[];
  /** Everything create() and addProcess() made, for a failed create to undo; a cgroup that existed before, and what runs in it, is left alone. */
  made(): CgroupMade;
  /** Writes linux.resources; errors name the config field. systemd, before the unit exists: kept for its start. */
  apply(r: LinuxResources, opts?: { update?: boolean }): void | Promise<void>;
  /** Moves a process in (the fallback when it was not born there); systemd: the init's starts the unit. */
  addProcess(pid: number): void | Promise<void>;
  stats(): CgroupStats;
  /** How many processes the OOM killer has killed in the cgroup. */
  oomKills(): number;
  /** The v2 directory (pure v2 only, and once it exists), for CLONE_INTO_CGROUP. */
  readonly v2Dir: string | null;
  /** The container's cgroup in each v1 hierarchy (for the cgroup mount inside). */
  v1Hierarchies(): { mountPoint: string; name: string; cgroupPath: string }[];
}

/** How a new container's cgroup is made: runc's cgroupfs driver, or its systemd one (`--systemd-cgroup`). */
export interface NewCgroup {
  cgroupsPath: string | undefined;
  id: string;
  /** The device program loader (privileged only: no device rules otherwise). */
  attach?: AttachDeviceProgram;
  /** The systemd driver, with its bus. */
  systemd?: Omit<SystemdOptions, 'id' | 'attach'>;
}

/** A manager for a new container (nothing is created until create()). */
export function newCgroupManager(req: NewCgroup, host: CgroupHost = hostCgroups()): CgroupManager | null {
  const { cgroupsPath, id, attach } = req;
  if (req.systemd) {
    if (host.mode !== 'unified')
      throw new TsrunError(
        'EUNSUPPORTED',
        `--systemd-cgroup: tsrun's systemd cgroup driver needs cgroup v2 (this host mounts ${host.mode === 'none' ? 'no cgroups' : 'cgroup v1'}); use the cgroupfs driver`,
      );
    if (!fs.existsSync('/run/systemd/system'))
      throw new TsrunError('EUNSUPPORTED', 'systemd not running on this host, cannot use systemd cgroups manager');
    const unit = systemdUnit(cgroupsPath, id, req.systemd.user);
    return new SystemdManager(host.v2Mount!, unit, { ...req.systemd, id, attach });
  }
  if (host.mode === 'none') return null;
  if (host.mode === 'unified') return new V2Manager(host.v2Mount!, cgroupRelPath(cgroupsPath, id, host.v2Own, true), attach);
  return new V1Manager(host, cgroupsPath, id);
}

/** The manager of an existing container, from its state.json. */
export function loadCgroupManager(
  state: CgroupState,
  attach?: AttachDeviceProgram,
  bus?: SystemdBus,
  host: CgroupHost = hostCgroups(),
): CgroupManager {
  if (state.version === 2) {
    const dir = state.paths['']!;
    const mount = host.v2Mount ?? '/sys/fs/cgroup';
    if (state.systemd && bus) {
      const rel = path.relative(mount, dir);
      return new SystemdManager(mount, { unit: state.systemd.unit, slice: '', path: `/${rel}` }, { bus, attach }, state);
    }
    return new V2Manager(mount, path.relative(mount, dir), attach, state);
  }
  return new V1Manager(host, undefined, '', state);
}
