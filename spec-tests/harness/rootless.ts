/**
 * Grading a runtime rootless: every runtime command runs as an unprivileged
 * user (`setpriv --reuid --regid --init-groups`) with `--rootless true`, a
 * --root and bundles that user owns, and configs shaped the way
 * `runc spec --rootless` shapes them. Self-contained (spec-tests import
 * nothing from tsrun); the user is made as tests/integration/rootless.test.ts
 * makes it: `useradd`, then /etc/subuid and /etc/subgid ranges.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { removeNamespace, setNamespace, type Config, type IdMapping } from './config.js';

export const DEFAULT_ROOTLESS_USER = 'tsrun-rootless';
const SUB_START = 100000;
const SUB_COUNT = 65536;

export interface RootlessUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  /** First subordinate uid/gid and how many (/etc/subuid, /etc/subgid), if any. */
  subuid?: { start: number; count: number };
  subgid?: { start: number; count: number };
  /** newuidmap and newgidmap exist: maps beyond the user's own id can be written. */
  newidmap: boolean;
}

/** Finds the user, making it (with subordinate ranges) when it is the default
 * one and missing. Throws with the reason when rootless grading is impossible. */
export function setUpRootlessUser(name = DEFAULT_ROOTLESS_USER): RootlessUser {
  if (process.getuid?.() !== 0) throw new Error('--rootless needs root (to become the unprivileged user)');
  if (readTrim('/proc/sys/user/max_user_namespaces') === '0') throw new Error('user namespaces are off (user.max_user_namespaces = 0)');
  if (readTrim('/proc/sys/kernel/unprivileged_userns_clone') === '0')
    throw new Error('unprivileged user namespaces are off (kernel.unprivileged_userns_clone = 0)');
  if (!onPath('setpriv')) throw new Error('setpriv (util-linux) is needed to run the runtime as the user');
  if (spawnSync('id', ['-u', name]).status !== 0) {
    if (name !== DEFAULT_ROOTLESS_USER) throw new Error(`no user ${name}`);
    const r = spawnSync('useradd', ['--create-home', '--shell', '/bin/sh', name], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`useradd ${name}: ${r.stderr.trim()}`);
  }
  if (name === DEFAULT_ROOTLESS_USER && (!subRange('/etc/subuid', name) || !subRange('/etc/subgid', name))) {
    const range = `${SUB_START}-${SUB_START + SUB_COUNT - 1}`;
    const r = spawnSync('usermod', ['--add-subuids', range, '--add-subgids', range, name], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`usermod --add-subuids: ${r.stderr.trim()}`);
  }
  const num = (flag: string): number => Number(spawnSync('id', [flag, name], { encoding: 'utf8' }).stdout.trim());
  const uid = num('-u');
  const gid = num('-g');
  if (uid === 0) throw new Error(`${name} is root`);
  const home = (spawnSync('getent', ['passwd', name], { encoding: 'utf8' }).stdout.split(':')[5] ?? '').trim() || '/';
  const user: RootlessUser = { name, uid, gid, home, newidmap: !!onPath('newuidmap') && !!onPath('newgidmap') };
  const su = subRange('/etc/subuid', name);
  const sg = subRange('/etc/subgid', name);
  if (su) user.subuid = su;
  if (sg) user.subgid = sg;
  const unshare = spawnSync('setpriv', [...asUserPrefix(user).slice(1), 'unshare', '--user', '--map-root-user', 'true'], {
    encoding: 'utf8',
  });
  if (unshare.status !== 0) throw new Error(`${name} cannot make a user namespace: ${unshare.stderr.trim() || `exit ${unshare.status}`}`);
  return user;
}

/** `setpriv ... --`: the command prefix that runs the rest as the user. */
export function asUserPrefix(u: RootlessUser): string[] {
  return ['setpriv', `--reuid=${u.uid}`, `--regid=${u.gid}`, '--init-groups', '--'];
}

/** The environment a login of the user would give the runtime. */
export function userEnv(u: RootlessUser, xdg: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin',
    HOME: u.home,
    USER: u.name,
    LOGNAME: u.name,
    XDG_RUNTIME_DIR: xdg,
  };
}

/** runc's `spec --rootless` (ToRootless) applied to a config made for root: a
 * user namespace mapping the user's ids to 0, no network namespace, /sys as a
 * read-only rbind of the host's, no uid=/gid= mount options, no resources. */
export function toRootless(config: Config, u: RootlessUser): void {
  removeNamespace(config, 'network');
  setNamespace(config, 'user');
  const l = (config.linux ??= {});
  l.uidMappings = [{ containerID: 0, hostID: u.uid, size: 1 }];
  l.gidMappings = [{ containerID: 0, hostID: u.gid, size: 1 }];
  delete l.resources;
  config.mounts = (config.mounts ?? []).map((m) => {
    if (m.type === 'sysfs')
      return { destination: m.destination, type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] };
    if (!m.options) return m;
    return { ...m, options: m.options.filter((o) => !o.startsWith('uid=') && !o.startsWith('gid=')) };
  });
}

/**
 * What a case changed after `toRootless`, made runnable by the user, at write
 * time: a case that replaced the namespace list gets the user namespace back
 * (unless it joins one by path), and a case that uses ids other than 0
 * (process.user, additionalGids, device owners) gets the user's subordinate
 * range mapped from 1, as rootless podman maps it. Returns why the config
 * cannot be run rootless, or undefined.
 */
export function finishRootless(config: Config, u: RootlessUser, otherIds = false): string | undefined {
  const l = (config.linux ??= {});
  // mknod is refused in a user namespace: runtimes bind the host's node at the same path
  for (const [i, d] of (l.devices ?? []).entries()) {
    if (d.type !== 'p' && !fs.existsSync(d.path))
      return `rootless: linux.devices[${i}] is bound from the host's ${d.path} (mknod is refused in a user namespace), which does not exist`;
  }
  const has = (type: string): boolean => (l.namespaces ?? []).some((n) => n.type === type);
  // proc and mqueue of a namespace the user does not own cannot be mounted:
  // bind the host's /proc (as rootless podman does for --pid=host), drop mqueue
  config.mounts = (config.mounts ?? []).flatMap((m) => {
    if (m.type === 'proc' && !has('pid'))
      return [{ destination: m.destination, type: 'bind', source: '/proc', options: ['rbind', 'nosuid', 'noexec', 'nodev'] }];
    if (m.type === 'mqueue' && !has('ipc')) return [];
    return [m];
  });
  // the user may create no cgroup: the cases' paths are top-level ones, and a
  // limit without a cgroup is refused (runc: "rootless needs no limits + no cgrouppath")
  if (l.cgroupsPath) return 'rootless: linux.cgroupsPath needs a cgroup the user may create';
  const limits = Object.keys(l.resources ?? {}).filter((k) => k !== 'devices');
  if (limits.length) return `rootless: linux.resources.${limits.join(', ')} need a cgroup delegated to the user`;
  const userNs = (l.namespaces ?? []).find((n) => n.type === 'user');
  if (userNs?.path) return undefined;
  // joining another container's namespace needs its user namespace too (as a pod's containers join the infra's)
  const joined = /^\/proc\/(\d+)\/ns\//.exec((l.namespaces ?? []).find((n) => n.path)?.path ?? '')?.[1];
  if (joined) {
    // with that namespace's maps, as podman passes them (runc 1.1 wants them even when joining)
    setNamespace(config, 'user', `/proc/${joined}/ns/user`);
    l.uidMappings = readMap(`/proc/${joined}/uid_map`);
    l.gidMappings = readMap(`/proc/${joined}/gid_map`);
    return undefined;
  }
  if (!userNs) setNamespace(config, 'user');
  const own = (id: number, size: number): IdMapping[] => [{ containerID: 0, hostID: id, size }];
  const ownOnly = (m: IdMapping[] | undefined, id: number): boolean =>
    !m || (m.length === 1 && m[0]?.containerID === 0 && m[0].hostID === id);
  if (!ownOnly(l.uidMappings, u.uid) || !ownOnly(l.gidMappings, u.gid)) return undefined; // the case's own maps
  l.uidMappings ??= own(u.uid, 1);
  l.gidMappings ??= own(u.gid, 1);
  if (!otherIds && !usesOtherIds(config)) return undefined;
  if (!u.newidmap) return 'rootless: ids other than 0 need newuidmap/newgidmap (package uidmap)';
  if (!u.subuid || !u.subgid) return `rootless: ids other than 0 need /etc/subuid and /etc/subgid ranges for ${u.name}`;
  l.uidMappings = [...own(u.uid, 1), { containerID: 1, hostID: u.subuid.start, size: u.subuid.count }];
  l.gidMappings = [...own(u.gid, 1), { containerID: 1, hostID: u.subgid.start, size: u.subgid.count }];
  return undefined;
}

function readMap(file: string): IdMapping[] {
  return readTrim(file)
    .split('\n')
    .map((line) => line.trim().split(/\s+/).map(Number))
    .filter((f) => f.length === 3)
    .map(([containerID = 0, hostID = 0, size = 0]) => ({ containerID, hostID, size }));
}

function usesOtherIds(config: Config): boolean {
  const user = config.process?.user;
  if (user && (user.uid !== 0 || user.gid !== 0 || (user.additionalGids ?? []).some((g) => g !== 0))) return true;
  if ((config.linux?.devices ?? []).some((d) => (d.uid ?? 0) !== 0 || (d.gid ?? 0) !== 0)) return true;
  return (config.mounts ?? []).some((m) => (m.options ?? []).some((o) => /^[ug]id=[1-9]/.test(o)));
}

/** Gives a tree to the user (lchown, so symlinks are not followed). */
export function chownTree(p: string, uid: number, gid: number): void {
  const st = fs.lstatSync(p);
  if (st.uid !== uid || st.gid !== gid) fs.lchownSync(p, uid, gid);
  if (st.isDirectory()) for (const e of fs.readdirSync(p)) chownTree(path.join(p, e), uid, gid);
}

function subRange(file: string, name: string): { start: number; count: number } | undefined {
  const line = readTrim(file)
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (!line) return undefined;
  const [, start, count] = line.split(':');
  return { start: Number(start), count: Number(count) };
}

function readTrim(p: string): string {
  try {
    return fs.readFileSync(p, 'utf8').trim();
  } catch {
    return '';
  }
}

function onPath(name: string): string | undefined {
  for (const d of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/bin', '/bin'].filter(Boolean)) {
    try {
      fs.accessSync(path.join(d, name), fs.constants.X_OK);
      return path.join(d, name);
    } catch {
      /* next */
    }
  }
  return undefined;
}
