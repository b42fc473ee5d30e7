/**
 * The host side of namespaces. Before clone: open every
 * linux.namespaces[i].path and check it is a namespace of that type (the
 * child then joins by fd and never looks a path up), or, for exec, every
 * namespace of the container's init. Between clone and GO: write the id
 * maps of a new user namespace (lib/container/launch.ts asks).
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';

import { ConfigError, TsrunError } from '../errors.js';
import type { Spec } from '../config/types.js';
import type { NativeBinding } from '../native/binding.js';
import { JOIN_ROOT, KERNEL } from '../native/constants.js';
import { NAMESPACE_CLONE_FLAGS } from '../plan/linux.js';
import { closeAll } from './fds.js';
import type { PlanIdMaps } from '../plan/types.js';

/**
 * Opens the namespace paths; returns fds by linux.namespaces index. On any
 * error the fds opened so far are closed and a ConfigError names the entry.
 */
export function openNamespacePaths(spec: Spec, native: Pick<NativeBinding, 'nsType'>): (number | undefined)[] {
  const fds: (number | undefined)[] = [];
  try {
    (spec.linux?.namespaces ?? []).forEach((ns, i) => {
      if (!ns.path) return;
      const at = `linux.namespaces[${i}].path`;
      let fd: number;
      try {
        fd = fs.openSync(ns.path, fs.constants.O_RDONLY | fs.constants.O_NOCTTY | fs.constants.O_NONBLOCK);
      } catch (e) {
        throw new ConfigError(at, `cannot open ${ns.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      fds[i] = fd;
      let type: number;
      try {
        type = native.nsType(fd);
      } catch {
        throw new ConfigError(at, `${ns.path} is not a namespace`);
      }
      const want = Number(NAMESPACE_CLONE_FLAGS[ns.type]);
      if (type !== want) {
        const got = Object.entries(NAMESPACE_CLONE_FLAGS).find(([, f]) => Number(f) === type)?.[0] ?? `type ${type}`;
        throw new ConfigError(at, `${ns.path} is a ${got} namespace, not a ${ns.type} namespace`);
      }
    });
  } catch (e) {
    closeAll(fds);
    throw e;
  }
  return fds;
}

/** /proc/<pid>/setgroups ("allow" or "deny") of a process's user namespace, or null. */
export function setgroupsOf(pid: number): string | null {
  try {
    return fs.readFileSync(`/proc/${pid}/setgroups`, 'utf8').trim();
  } catch {
    return null;
  }
}

/**
 * A user namespace joined by a /proc/<pid>/ns/user path that denies
 * setgroups (a rootless container's) cannot give additionalGids: refused
 * before anything exists (the init checks any other path itself).
 */
export function checkJoinedSetgroups(spec: Spec): void {
  if (!(spec.process?.user.additionalGids ?? []).length) return;
  const i = (spec.linux?.namespaces ?? []).findIndex((n) => n.type === 'user' && n.path);
  const owner = i < 0 ? null : /^\/proc\/(\d+)\/ns\/user$/.exec(spec.linux!.namespaces![i]!.path!);
  if (owner && setgroupsOf(Number(owner[1])) === 'deny')
    throw new ConfigError(
      'process.user.additionalGids',
      `cannot set any additional groups: the user namespace linux.namespaces[${i}].path joins denies setgroups`,
    );
}

/**
 * Writes /proc/<pid>/uid_map and gid_map (each must be one write(2)), or
 * has newuidmap/newgidmap write them (an unprivileged runtime mapping more
 * than its own id: the helpers check /etc/subuid and /etc/subgid). As root
 * we keep setgroups allowed (the init replaces its groups with
 * additionalGids), as runc does; an unprivileged runtime mapping its own gid
 * must write "deny" to setgroups before gid_map (user_namespaces(7)).
 */
export async function writeIdMaps(pid: number, maps: PlanIdMaps): Promise<void> {
  const write = (file: string, text: string, field: string) => {
    try {
      fs.writeFileSync(`/proc/${pid}/${file}`, text);
    } catch (e) {
      throw new ConfigError(
        field,
        `cannot write ${file} ${JSON.stringify(text.trim().replace(/\n/g, ', '))}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      );
    }
  };
  // off the event loop: a setuid helper, with a deadline
  const helper = (tool: string, text: string, field: string) =>
    new Promise<void>((resolve, reject) => {
      execFile(tool, [String(pid), ...text.split(/\s+/).filter(Boolean)], { timeout: 10_000 }, (err, _out, stderr) => {
        if (!err) return resolve();
        const why = (String(stderr).trim().split('\n')[0] || err.message).trim();
        reject(new ConfigError(field, `${tool} ${JSON.stringify(text.trim().replace(/\n/g, ', '))} failed: ${why}`));
      });
    });
  if (maps.denySetgroups) write('setgroups', 'deny', 'linux.gidMappings');
  if (maps.newuidmap) await helper(maps.newuidmap, maps.uidMap, 'linux.uidMappings');
  else write('uid_map', maps.uidMap, 'linux.uidMappings');
  if (maps.newgidmap) await helper(maps.newgidmap, maps.gidMap, 'linux.gidMappings');
  else write('gid_map', maps.gidMap, 'linux.gidMappings');
}

/**
 * The order a tenant enters the container's namespaces in: the user
 * namespace first (it grants the right to join the ones it owns), the mount
 * namespace last (it moves our root and cwd into the container).
 */
const TENANT_ORDER = ['user', 'ipc', 'uts', 'net', 'pid', 'time', 'cgroup', 'mnt'] as const;
const NSTYPE: Record<(typeof TENANT_ORDER)[number], keyof typeof NAMESPACE_CLONE_FLAGS> = {
  user: 'user',
  ipc: 'ipc',
  uts: 'uts',
  net: 'network',
  pid: 'pid',
  time: 'time',
  cgroup: 'cgroup',
  mnt: 'mount',
};

/**
 * Opens every namespace of process `pid` that is not the runtime's own
 * (/proc/<pid>/ns/*), for a tenant to join by fd. The caller checks
 * afterwards that `pid` is still the container's init (pid reuse); on error
 * the fds opened so far are closed.
 */
export function openProcessNamespaces(pid: number, procRoot = '/proc'): { fd: number; nstype: number }[] {
  const out: { fd: number; nstype: number }[] = [];
  try {
    for (const name of TENANT_ORDER) {
      let mine: string;
      try {
        mine = fs.readlinkSync(`${procRoot}/self/ns/${name}`);
      } catch {
        continue; // this kernel has no such namespace
      }
      const theirs = `${procRoot}/${pid}/ns/${name}`;
      let fd: number;
      try {
        if (fs.readlinkSync(theirs) === mine) continue;
        fd = fs.openSync(theirs, fs.constants.O_RDONLY);
      } catch (e) {
        // gone, or a zombie whose namespaces are released
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new TsrunError('ESTATE', 'cannot exec in a stopped container');
        // Only a runtime with CAP_SYS_PTRACE over a created init may read
        // its ns links, unless the init waits dumpable (native/init/exec.c):
        // rootless, when the container has a procfs at /proc.
        if ((e as NodeJS.ErrnoException).code === 'EACCES')
          throw new TsrunError(
            'EUNSUPPORTED',
            `cannot join the namespaces of init ${pid} (${theirs}: EACCES): an unprivileged runtime joins a created container only when the container has a procfs at /proc (docs/rootless.md); start it first`,
          );
        throw e;
      }
      out.push({ fd, nstype: Number(NAMESPACE_CLONE_FLAGS[NSTYPE[name]]) });
    }
    // last, after the mount namespace: the init's root (native/init enters it; TSRUN_JOIN_ROOT says why)
    try {
      out.push({ fd: fs.openSync(`${procRoot}/${pid}/root`, KERNEL.openPath | fs.constants.O_DIRECTORY), nstype: JOIN_ROOT });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new TsrunError('ESTATE', 'cannot exec in a stopped container');
      if ((e as NodeJS.ErrnoException).code === 'EACCES')
        throw new TsrunError('EUNSUPPORTED', `cannot enter the root of init ${pid} (${procRoot}/${pid}/root: EACCES): start it first`);
      throw e;
    }
  } catch (e) {
    closeAll(out.map((j) => j.fd));
    throw e;
  }
  return out;
}
