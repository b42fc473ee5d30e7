/**
 * The host the lifecycle works on, behind one injectable interface: the
 * facts it reads before it makes anything (validation, planning, rootless
 * rules) and what it does to processes and cgroups besides the addon's
 * calls. The real one is here; tests/unit/create.test.ts drives create and
 * exec through a fake one (and a fake binding), without root.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { hostCgroups } from '../cgroups/host.js';
import {
  loadCgroupManager,
  newCgroupManager,
  type AttachDeviceProgram,
  type CgroupManager,
  type CgroupState,
  type NewCgroup,
} from '../cgroups/manager.js';
import type { SystemdBus } from '../cgroups/systemd-manager.js';
import type { ValidationHost } from '../config/validate.js';
import type { PlanHost } from '../plan/build.js';
import type { CgroupAccess } from '../cgroups/rootless.js';
import type { OwnUserNs, UnprivilegedHost } from '../config/validate-rootless.js';
import { TsrunError } from '../errors.js';
import type { NativeBinding } from '../native/binding.js';
import { fromHost } from '../native/host.js';
import type { RdtGroup } from '../plan/resctrl.js';
import type { PlanIdMaps, PlanNsJoin, PlanRlimit } from '../plan/types.js';
import { openProcessNamespaces, setgroupsOf, writeIdMaps } from './namespaces.js';
import { moveNetDevices, type NetDeviceMove } from './netdev.js';
import { homeIn } from './passwd.js';

/** What launch does to the new process from the host (lib/container/launch.ts). */
export interface ProcessOps {
  /** /proc/<pid>/uid_map and gid_map (or newuidmap/newgidmap). */
  writeIdMaps(pid: number, maps: PlanIdMaps): Promise<void>;
  /** process.oomScoreAdj: /proc/<pid>/oom_score_adj. */
  writeOomScoreAdj(pid: number, value: number): void;
  /**
   * The plan's host rlimits with prlimit(2) from here; one the runtime may not set either is left
   * to the process, which sets each itself and names the one refused.
   */
  setRlimits(pid: number, rlimits: readonly PlanRlimit[]): void;
  /** linux.netDevices into the process's network namespace. */
  moveNetDevices(pid: number, devices: readonly NetDeviceMove[]): void;
  /** linux.intelRdt: pid into the container's resctrl groups (native/host/resctrl.c). */
  joinRdt(pid: number, group: RdtGroup): void;
  /** kill(2); a process already gone is no error. */
  kill(pid: number, signal: number): void;
}

/** Host facts and operations of the lifecycle, beyond the addon's. */
export interface LifecycleHost extends ValidationHost, PlanHost, CgroupAccess, ProcessOps {
  /** The facts an unprivileged runtime (euid != 0) is judged by; null for root. */
  unprivileged(): UnprivilegedHost | null;
  /** The user namespace the runtime runs in. */
  ownUserNs(): OwnUserNs;
  /** The cgroup of a new container, nothing made yet (null: the host has none we manage). */
  newCgroup(req: NewCgroup): CgroupManager | null;
  /** The cgroup state.json records (bus: for a systemd unit's update). */
  loadCgroup(state: CgroupState, attach?: AttachDeviceProgram, bus?: SystemdBus): CgroupManager;
  /** Every namespace of pid that is not ours, opened for a tenant to join (user first, mount last). */
  openProcessNamespaces(pid: number): PlanNsJoin[];
  /** /proc/<pid>/setgroups: "allow" or "deny" (null: unreadable). */
  setgroupsOf(pid: number): string | null;
}

function readOr(p: string): string | null {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return null;
  }
}

/** PATH's, then the usual places (engines run us with an empty environment). */
function which(program: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(':').filter((d) => d.startsWith('/')), '/usr/bin', '/bin', '/usr/sbin', '/sbin'];
  for (const d of dirs) {
    const p = path.join(d, program);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

function unprivileged(native: { userName(uid: number): string }): UnprivilegedHost | null {
  const euid = process.geteuid!();
  if (euid === 0) return null;
  const name = native.userName(euid);
  return {
    euid,
    egid: process.getegid!(),
    userName: name === String(euid) ? null : name,
    readSubIds: readOr,
    which,
    oomScoreAdj: () => Number(readOr('/proc/self/oom_score_adj') ?? 0),
  };
}

/** The real host, with the addon for the passwd lookups. */
export function realLifecycleHost(
  native: Pick<NativeBinding, 'userName' | 'readInRoot' | 'prlimit' | 'rdt' | 'writeOomScoreAdj'>,
): LifecycleHost {
  return {
    ...realHost,
    homeOf: (rootfs, uid) => homeIn(native, rootfs, uid),
    exists: (p) => fs.existsSync(p),
    writable(dir) {
      try {
        fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
        return true;
      } catch {
        return false;
      }
    },
    unprivileged: () => unprivileged(native),
    ownUserNs: () => ({
      uidMap: readOr('/proc/self/uid_map') ?? '0 0 4294967295',
      gidMap: readOr('/proc/self/gid_map') ?? '0 0 4294967295',
      setgroupsDenied: readOr('/proc/self/setgroups')?.trim() === 'deny',
    }),
    newCgroup: (req) => newCgroupManager(req),
    loadCgroup: (state, attach, bus) => loadCgroupManager(state, attach, bus),
    openProcessNamespaces: (pid) => openProcessNamespaces(pid),
    setgroupsOf,
    writeIdMaps,
    writeOomScoreAdj(pid, value) {
      try {
        native.writeOomScoreAdj(pid, value);
      } catch (e) {
        throw fromHost(e);
      }
    },
    setRlimits(pid, rlimits) {
      for (const r of rlimits) {
        try {
          native.prlimit(pid, r.resource, r.soft, r.hard);
        } catch {
          /* the process's own setrlimit fails the same way, with the resource's name */
        }
      }
    },
    moveNetDevices,
    joinRdt(pid, group) {
      try {
        native.rdt('join', group, pid);
      } catch (e) {
        throw new TsrunError('ESYSTEM', `linux.intelRdt: ${(e as Error).message}`, { cause: e });
      }
    },
    kill(pid, signal) {
      try {
        process.kill(pid, signal);
      } catch {
        /* already gone */
      }
    },
  };
}

function kind(p: string): 'dir' | 'file' | 'other' | null {
  try {
    const st = fs.statSync(p);
    return st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
  } catch {
    return null;
  }
}

export const realHost: ValidationHost & Omit<PlanHost, 'homeOf'> = {
  kind,
  realPath(p: string): string | null {
    try {
      return fs.realpathSync.native(p);
    } catch {
      return null;
    }
  },
  fsType(p: string): number | null {
    try {
      return fs.statfsSync(p).type;
    } catch {
      return null;
    }
  },
  // the cgroup layout is the cgroup manager's (lib/cgroups/host.ts)
  read(p: string): string | null {
    try {
      return fs.readFileSync(p, 'utf8');
    } catch {
      return null;
    }
  },
  cgroupV2Only() {
    return hostCgroups().mode === 'unified';
  },
  // the kernel's own check (security_context_to_sid), as libselinux's security_check_context
  selinuxContextValid(label: string): boolean | null {
    let fd: number;
    try {
      fd = fs.openSync('/sys/fs/selinux/context', 'r+');
    } catch {
      return null;
    }
    try {
      fs.writeSync(fd, label);
      return true;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'EINVAL' ? false : null;
    } finally {
      fs.closeSync(fd);
    }
  },
  cgroupV1Hierarchies() {
    return hostCgroups().v1.map((h) => ({ mountPoint: h.mountPoint, name: h.name, cgroupPath: h.own }));
  },
};
