/**
 * config.json mounts (plus maskedPaths/readonlyPaths) → plan mounts.
 */
import * as path from 'node:path';

import type { Mount, Spec } from '../config/types.js';
import { RECURSIVE_OPTIONS, recursiveAttrs } from './attrs.js';
import { MS } from './linux.js';
import { MountKind, TargetKind, type PlanMount } from './types.js';

interface FlagOption {
  set: boolean;
  flag: bigint;
}

/** runc's mount option table: options that are MS_* flags. */
const FLAG_OPTIONS: Record<string, FlagOption> = {
  async: { set: false, flag: MS.SYNCHRONOUS },
  atime: { set: false, flag: MS.NOATIME },
  bind: { set: true, flag: MS.BIND },
  defaults: { set: false, flag: 0n },
  dev: { set: false, flag: MS.NODEV },
  diratime: { set: false, flag: MS.NODIRATIME },
  dirsync: { set: true, flag: MS.DIRSYNC },
  exec: { set: false, flag: MS.NOEXEC },
  iversion: { set: true, flag: MS.I_VERSION },
  lazytime: { set: true, flag: MS.LAZYTIME },
  loud: { set: false, flag: MS.SILENT },
  mand: { set: true, flag: MS.MANDLOCK },
  noatime: { set: true, flag: MS.NOATIME },
  nodev: { set: true, flag: MS.NODEV },
  nodiratime: { set: true, flag: MS.NODIRATIME },
  noexec: { set: true, flag: MS.NOEXEC },
  noiversion: { set: false, flag: MS.I_VERSION },
  nolazytime: { set: false, flag: MS.LAZYTIME },
  nomand: { set: false, flag: MS.MANDLOCK },
  norelatime: { set: false, flag: MS.RELATIME },
  nostrictatime: { set: false, flag: MS.STRICTATIME },
  nosuid: { set: true, flag: MS.NOSUID },
  nosymfollow: { set: true, flag: MS.NOSYMFOLLOW },
  rbind: { set: true, flag: MS.BIND | MS.REC },
  relatime: { set: true, flag: MS.RELATIME },
  remount: { set: true, flag: MS.REMOUNT },
  ro: { set: true, flag: MS.RDONLY },
  rw: { set: false, flag: MS.RDONLY },
  silent: { set: true, flag: MS.SILENT },
  strictatime: { set: true, flag: MS.STRICTATIME },
  suid: { set: false, flag: MS.NOSUID },
  sync: { set: true, flag: MS.SYNCHRONOUS },
};

export const PROPAGATION_OPTIONS: Record<string, bigint> = {
  private: MS.PRIVATE,
  rprivate: MS.PRIVATE | MS.REC,
  shared: MS.SHARED,
  rshared: MS.SHARED | MS.REC,
  slave: MS.SLAVE,
  rslave: MS.SLAVE | MS.REC,
  unbindable: MS.UNBINDABLE,
  runbindable: MS.UNBINDABLE | MS.REC,
};

export interface ParsedOptions {
  flags: bigint;
  propagation: bigint;
  data: string[];
}

export function parseMountOptions(options: readonly string[]): ParsedOptions {
  let flags = 0n;
  let propagation = 0n;
  const data: string[] = [];
  for (const opt of options) {
    if (opt in RECURSIVE_OPTIONS) continue; // mount_setattr, see planMount
    if (opt === TMPCOPYUP) continue; // runc's extension, not the filesystem's: see planMountKinds
    const f = FLAG_OPTIONS[opt];
    if (f) {
      flags = f.set ? flags | f.flag : flags & ~f.flag;
      continue;
    }
    const p = PROPAGATION_OPTIONS[opt];
    if (p !== undefined) {
      propagation = p;
      continue;
    }
    data.push(opt);
  }
  return { flags, propagation, data };
}

/** The data of the read-only tmpfs over masked directories: one block, one inode (its root), as runc. */
export const MASK_TMPFS_DATA = 'nr_blocks=1,nr_inodes=1';

/** runc's mount extension: copy what the image has at the target into the new tmpfs. */
export const TMPCOPYUP = 'tmpcopyup';

/** A v1 hierarchy: where it is mounted, its name, and a cgroup in it. */
export interface V1Hierarchy {
  mountPoint: string;
  name: string;
  cgroupPath: string;
}

export interface MountHost {
  kind(p: string): 'dir' | 'file' | 'other' | null;
  /** The v1 hierarchies mounted on the host, with the runtime's own cgroup in each. */
  cgroupV1Hierarchies(): V1Hierarchy[];
  /** True on a pure cgroup v2 host (cgroup2 at /sys/fs/cgroup). */
  cgroupV2Only(): boolean;
}

/** A destination made absolute and clean, as runc's (relative ones are relative to "/"; no trailing "/"). */
export function containerPath(dest: string): string {
  const p = path.posix.normalize(path.posix.isAbsolute(dest) ? dest : `/${dest}`);
  return p.length > 1 ? p.replace(/\/+$/, '') : p;
}

function planMount(m: Mount, from: number, bundle: string, host: MountHost, v1: readonly V1Hierarchy[]): PlanMount[] {
  const recursive = recursiveAttrs(m.options ?? []);
  const planned = planMountKinds(m, bundle, host, v1);
  planned[0]!.from = from;
  if (recursive) planned[0]!.recursive = recursive;
  return planned;
}

/** A bind mount (type `bind`, or the `bind`/`rbind` option), and whether it is recursive. */
export function bindMount(m: Mount): { recursive: boolean } | null {
  const opts = parseMountOptions(m.options ?? []);
  if (m.type !== 'bind' && (opts.flags & MS.BIND) === 0n) return null;
  return { recursive: (opts.flags & MS.REC) !== 0n };
}

function planMountKinds(m: Mount, bundle: string, host: MountHost, v1: readonly V1Hierarchy[]): PlanMount[] {
  const dest = containerPath(m.destination);
  const opts = parseMountOptions(m.options ?? []);
  if (bindMount(m)) {
    // config.md: bind sources are absolute or relative to the bundle
    const source = path.resolve(bundle, m.source ?? '');
    return [
      {
        source,
        destination: dest,
        fstype: null,
        data: null,
        flags: (opts.flags & ~MS.BIND) | ((opts.flags & MS.REC) !== 0n ? MS.REC : 0n),
        propagation: opts.propagation,
        kind: MountKind.BIND,
        targetKind: host.kind(source) === 'dir' ? TargetKind.DIR : TargetKind.FILE,
      },
    ];
  }
  if (m.type === 'cgroup') return planCgroupMount(dest, opts, host, v1);
  // tmpcopyup means something for tmpfs only; elsewhere runc ignores it too
  const copyup = m.type === 'tmpfs' && (m.options ?? []).includes(TMPCOPYUP);
  return [
    {
      source: m.source ?? m.type ?? 'none',
      destination: dest,
      fstype: m.type ?? null,
      data: opts.data.length ? opts.data.join(',') : null,
      flags: opts.flags,
      propagation: opts.propagation,
      kind: copyup ? MountKind.COPYUP : MountKind.FS,
      targetKind: TargetKind.DIR,
    },
  ];
}

/** Mounts whose superblock is not labelled by a context= option (runc's rule): proc, sysfs and cgroup2 are
 * the kernel's own; mqueue's superblock is its IPC namespace's, labelled by an attribute instead (mqueueLabel). */
const UNLABELLED_FS = new Set(['proc', 'sysfs', 'mqueue', 'cgroup', 'cgroup2']);

/**
 * linux.mountLabel (SELinux on): the `context=` option of every mount that makes a filesystem of its own
 * (tmpfs, devpts, a cgroup v1 tmpfs, the masks' tmpfs ...), as runc labels them. Binds keep their source's
 * labels. Quoted: a label's category set has commas.
 */
export function labelMounts(mounts: readonly PlanMount[], label: string): PlanMount[] {
  const context = `context="${label}"`;
  return mounts.map((m) => {
    const own =
      m.kind === MountKind.MASK || ((m.kind === MountKind.FS || m.kind === MountKind.COPYUP) && !UNLABELLED_FS.has(m.fstype ?? ''));
    return own ? { ...m, data: m.data ? `${m.data},${context}` : context } : m;
  });
}

/**
 * A `cgroup` mount: cgroup2 on a pure v2 host; on v1 and hybrid hosts a
 * tmpfs with the container's own cgroup of each hierarchy bound in, as
 * runc does.
 */
function planCgroupMount(dest: string, opts: ParsedOptions, host: MountHost, v1: readonly V1Hierarchy[]): PlanMount[] {
  if (host.cgroupV2Only()) {
    return [
      {
        source: 'cgroup',
        destination: dest,
        fstype: 'cgroup2',
        data: null,
        flags: opts.flags,
        propagation: opts.propagation,
        kind: MountKind.FS,
        targetKind: TargetKind.DIR,
      },
    ];
  }
  const base = opts.flags & (MS.NOSUID | MS.NODEV | MS.NOEXEC);
  const out: PlanMount[] = [
    {
      source: 'tmpfs',
      destination: dest,
      fstype: 'tmpfs',
      data: 'mode=755',
      flags: base,
      propagation: 0n,
      kind: MountKind.FS,
      targetKind: TargetKind.DIR,
    },
  ];
  for (const h of v1) {
    out.push({
      source: path.posix.join(h.mountPoint, h.cgroupPath).replace(/(.)\/$/, '$1'),
      destination: path.posix.join(dest, h.name),
      fstype: null,
      data: null,
      flags: opts.flags | MS.REC,
      propagation: 0n,
      kind: MountKind.BIND,
      targetKind: TargetKind.DIR,
    });
  }
  return out;
}

/**
 * `v1`: the container's cgroup in each v1 hierarchy, bound under a `cgroup`
 * mount (default: the host's hierarchies with the runtime's own cgroups).
 */
export function planMounts(
  spec: Spec,
  bundle: string,
  host: MountHost,
  v1: readonly V1Hierarchy[] = host.cgroupV1Hierarchies(),
): PlanMount[] {
  const out: PlanMount[] = [];
  let devRemount: bigint | null = null;
  (spec.mounts ?? []).forEach((m, i) => {
    const planned = planMount(m, i, bundle, host, v1);
    // A read-only /dev is mounted writable and remounted read-only in place
    // only after the devices, /dev/pts, /dev/shm and the console targets are
    // in it, as runc does (finalizeRootfs: its own flags, MS_REMOUNT|MS_BIND|MS_RDONLY).
    const first = planned[0]!;
    if (first.destination === '/dev' && first.kind !== MountKind.BIND && first.flags & MS.RDONLY) {
      first.flags &= ~MS.RDONLY;
      devRemount = first.flags | MS.REMOUNT | MS.BIND | MS.RDONLY;
    }
    out.push(...planned);
  });
  const readonly = (destination: string): PlanMount => ({
    source: null,
    destination,
    fstype: null,
    data: null,
    flags: MS.RDONLY,
    propagation: 0n,
    kind: MountKind.READONLY,
    targetKind: TargetKind.DIR,
  });
  // readonly before masked, as runc orders them
  for (const p of spec.linux?.readonlyPaths ?? []) out.push(readonly(containerPath(p)));
  if (devRemount !== null) out.push({ ...readonly('/dev'), flags: devRemount });
  // Each path once (runc skips repeats). The directories share one tmpfs: the first gets it, the others
  // a bind of it (native/init/rootfs.c), as runc 1.3.6/1.4.3/1.5 and crun do; the smallest tmpfs there is.
  for (const p of new Set((spec.linux?.maskedPaths ?? []).map(containerPath)))
    out.push({
      source: null,
      destination: p,
      fstype: null,
      data: MASK_TMPFS_DATA,
      flags: MS.RDONLY,
      propagation: 0n,
      kind: MountKind.MASK,
      targetKind: TargetKind.DIR,
    });
  return out;
}
