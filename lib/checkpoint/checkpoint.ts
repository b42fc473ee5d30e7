/**
 * checkpoint: a running container's process tree dumped by CRIU into an
 * image directory, as runc does it (the options, the external mounts and
 * namespaces, descriptors.json, the end state), over CRIU's RPC service
 * (lib/checkpoint/criu.ts).
 *
 * What CRIU must be told, decided from the config and the host before it
 * runs: every bind mount is external (its source is the host's: a restore
 * names the source it is to have then), and so is each /dev/null a masked
 * file is, each device node, and on cgroup v1 each hierarchy bound under a
 * cgroup mount; a namespace joined by path is external too. Nothing else
 * of the host is trusted to be as it was.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { loadBundle } from '../config/load.js';
import type { Spec } from '../config/types.js';
import type { LifecycleContext } from '../container/context.js';
import { cgroupOf } from '../container/context.js';
import { TsrunError } from '../errors.js';
import { containerPath } from '../plan/mounts.js';
import { criuCall, criuVersion, type CriuOpts } from './criu.js';

/** CRIU's oldest version runc checkpoints with (external net and pid namespaces): 3.15. */
export const CRIU_MIN = 31500;
/** CLONE_NEWNET: runc never has CRIU dump or restore a network namespace's contents. */
const CLONE_NEWNET = 0x40000000;

export type ManageCgroupsMode = 'soft' | 'full' | 'strict' | 'ignore';
const CG_MODES: Record<string, number> = { '': 6, soft: 3, full: 4, strict: 5, ignore: 0 };

export interface CheckpointOptions {
  /** Where the images go (made if missing); default ./checkpoint. */
  imagePath?: string;
  /** CRIU's work dir (its log); default: the image dir. */
  workPath?: string;
  /** A pre-dump's image dir, relative to the image dir. */
  parentPath?: string;
  leaveRunning?: boolean;
  tcpEstablished?: boolean;
  tcpSkipInFlight?: boolean;
  linkRemap?: boolean;
  extUnixSk?: boolean;
  shellJob?: boolean;
  fileLocks?: boolean;
  /** Memory only, the container keeps running: the parent of a later dump. */
  preDump?: boolean;
  manageCgroupsMode?: ManageCgroupsMode | '';
  /** Namespaces CRIU leaves empty (only "network", which it always is). */
  emptyNs?: string[];
  autoDedup?: boolean;
  lazyPages?: boolean;
  /** With lazyPages: an fd that gets one NUL byte when the lazy-pages server is ready. */
  statusFd?: number;
  /** ADDRESS:PORT of a CRIU page server to send the pages to. */
  pageServer?: string;
}

/** --manage-cgroups-mode as CRIU's enum, or runc's error. */
export function cgroupsMode(mode: string | undefined): number {
  const m = CG_MODES[mode ?? ''];
  if (m === undefined) throw new TsrunError('EUSAGE', 'invalid manage-cgroups-mode value');
  return m;
}

/** --empty-ns as CRIU's mask (always with the network namespace). */
export function emptyNsMask(list: string[] | undefined): number {
  for (const ns of list ?? []) if (ns !== 'network') throw new TsrunError('EUSAGE', `namespace ${JSON.stringify(ns)} is not supported`);
  return CLONE_NEWNET;
}

/** An image or work directory, made (0700) if missing, opened. */
export function openDir(dir: string, opts: { parents: boolean }): number {
  try {
    fs.mkdirSync(dir, { recursive: opts.parents, mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new TsrunError('ESYSTEM', `${dir}: ${(e as Error).message}`);
  }
  return fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
}

/** CRIU's name for an external namespace: `net[<inode>]:extRootNetNS`. */
export function externalNs(type: 'network' | 'pid', file: string): string {
  const name = type === 'network' ? 'net' : 'pid';
  return `${name}[${fs.statSync(file).ino}]:extRoot${name[0]!.toUpperCase()}${name.slice(1)}NS`;
}

/** CRIU's configuration file (runc's annotation org.criu.config: absent, runc's default; empty, none). */
export function criuConfigFile(spec: Spec): string | null {
  const given = spec.annotations?.['org.criu.config'];
  if (given === undefined) return '/etc/criu/runc.conf';
  return given === '' ? null : given;
}

/** The default device nodes every container has (runc's list), and the config's. */
export function deviceNodes(spec: Spec): string[] {
  const defaults = ['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty'];
  return [...new Set([...defaults, ...(spec.linux?.devices ?? []).map((d) => containerPath(d.path))])];
}

/** Bind mounts of the config (by destination; `bind` or `rbind` in the options, or type bind). */
export function bindMounts(spec: Spec): { destination: string; source: string }[] {
  return (spec.mounts ?? [])
    .filter((m) => m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind'))
    .map((m) => ({ destination: containerPath(m.destination), source: m.source ?? '' }));
}

/** The cgroup mount's destination, when the config has one and no cgroup namespace of its own (v1: binds of each hierarchy). */
export function cgroupMountDest(spec: Spec): string | null {
  if ((spec.linux?.namespaces ?? []).some((n) => n.type === 'cgroup')) return null;
  const m = (spec.mounts ?? []).find((x) => x.type === 'cgroup');
  return m ? containerPath(m.destination) : null;
}

export async function checkpointContainer(ctx: LifecycleContext, id: string, opts: CheckpointOptions): Promise<void> {
  const { native, store } = ctx;
  const state = store.read(id);
  const status = store.status(state);
  if (status === 'created' || status === 'stopped') throw new TsrunError('ESTATE', `Container cannot be checkpointed in ${status} state`);
  if (opts.parentPath !== undefined && path.isAbsolute(opts.parentPath)) throw new TsrunError('EUSAGE', '--parent-path must be relative');
  let ps: { address: string; port: number } | undefined;
  if (opts.pageServer) {
    const m = /^(.*):([^:]*)$/.exec(opts.pageServer);
    if (!m || !m[1]) throw new TsrunError('EUSAGE', 'Use --page-server ADDRESS:PORT to specify page server');
    if (!/^\d+$/.test(m[2]!)) throw new TsrunError('EUSAGE', 'Invalid port number');
    ps = { address: m[1], port: Number(m[2]) };
  }
  const mode = cgroupsMode(opts.manageCgroupsMode);
  const emptyNs = emptyNsMask(opts.emptyNs);
  const version = await criuVersion(native);
  if (version < CRIU_MIN) throw new TsrunError('EUNSUPPORTED', `CRIU version ${version} must be ${CRIU_MIN} or higher`);
  if (opts.preDump) {
    const r = await criuCall(native, { type: 'FEATURE_CHECK', features: { mem_track: true } });
    if (!r.features?.mem_track) throw new TsrunError('EUNSUPPORTED', 'criu is missing features: [MemTrack]');
  }
  if (opts.lazyPages) {
    const r = await criuCall(native, { type: 'FEATURE_CHECK', features: { lazy_pages: true } });
    if (!r.features?.lazy_pages) throw new TsrunError('EUNSUPPORTED', 'criu is missing features: [LazyPages]');
  }
  const spec = loadBundle(state.bundle).spec;
  const imageDir = path.resolve(opts.imagePath || 'checkpoint');
  const fds: number[] = [];
  try {
    const imagesFd = openDir(imageDir, { parents: true });
    fds.push(imagesFd);
    const workFd = opts.workPath ? openDir(path.resolve(opts.workPath), { parents: false }) : -1;
    if (workFd >= 0) fds.push(workFd);
    if (opts.parentPath !== undefined) {
      const parent = path.join(imageDir, opts.parentPath);
      let st: fs.Stats;
      try {
        st = fs.statSync(parent);
      } catch (e) {
        throw new TsrunError('EUSAGE', `invalid --parent-path: ${(e as Error).message}`);
      }
      if (!st.isDirectory()) throw new TsrunError('EUSAGE', `invalid --parent-path: stat ${parent}: not a directory`);
    }
    const logFile = 'dump.log'; // a pre-dump's too, as runc names it
    const criuOpts: CriuOpts = {
      images_dir_fd: imagesFd,
      log_level: 4,
      log_file: logFile,
      root: state.rootfs,
      manage_cgroups: true,
      manage_cgroups_mode: mode,
      notify_scripts: true,
      pid: state.pid,
      shell_job: !!opts.shellJob,
      leave_running: !!opts.leaveRunning,
      tcp_established: !!opts.tcpEstablished,
      tcp_skip_in_flight: !!opts.tcpSkipInFlight,
      link_remap: !!opts.linkRemap,
      ext_unix_sk: !!opts.extUnixSk,
      file_locks: !!opts.fileLocks,
      empty_ns: emptyNs,
      orphan_pts_master: true,
      auto_dedup: !!opts.autoDedup,
      lazy_pages: !!opts.lazyPages,
    };
    if (workFd >= 0) criuOpts.work_dir_fd = workFd;
    if (ps) criuOpts.ps = ps;
    if (opts.parentPath !== undefined) {
      criuOpts.parent_img = opts.parentPath;
      criuOpts.track_mem = true;
    }
    const config = criuConfigFile(spec);
    if (config) criuOpts.config_file = config;
    const external: string[] = [];
    for (const ns of spec.linux?.namespaces ?? [])
      if ((ns.type === 'network' || ns.type === 'pid') && ns.path) external.push(externalNs(ns.type, ns.path));
    if (external.length) criuOpts.external = external;
    const cg = state.cgroup ? cgroupOf(ctx, state) : null;
    const freezer = cg?.state.version === 1 ? cg.state.paths.freezer : cg?.v2Dir;
    if (freezer) criuOpts.freeze_cgroup = freezer;
    if (!opts.preDump) {
      criuOpts.ext_mnt = externalMounts(spec, state.pid, cg?.state.version === 1 ? cg.v1Hierarchies() : []);
      // the init's stdio, for a restore to give new ones in their place
      fs.writeFileSync(path.join(imageDir, 'descriptors.json'), JSON.stringify(stdioOf(state.pid)), { mode: 0o600 });
    }
    let statusFd = opts.lazyPages && opts.statusFd !== undefined && opts.statusFd >= 0 ? opts.statusFd : -1;
    await criuCall(native, {
      type: opts.preDump ? 'PRE_DUMP' : 'DUMP',
      opts: criuOpts,
      logFile: path.join(opts.workPath ? path.resolve(opts.workPath) : imageDir, logFile),
      onNotify: (n) => {
        if (n.script === 'status-ready' && statusFd >= 0) {
          fs.writeSync(statusFd, Buffer.alloc(1));
          fs.closeSync(statusFd);
          statusFd = -1;
        }
      },
    });
  } finally {
    for (const fd of fds) fs.closeSync(fd);
  }
}

/** The link targets of a process's fds 0-2 ("" where unreadable), as descriptors.json keeps them. */
export function stdioOf(pid: number): string[] {
  return [0, 1, 2].map((fd) => {
    try {
      return fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      return '';
    }
  });
}

/** ext_mnt of a dump: each mount whose source is the host's, by its path in the container. */
function externalMounts(spec: Spec, pid: number, v1: { name: string }[]): { key: string; val: string }[] {
  const out = new Map<string, string>();
  for (const m of bindMounts(spec)) out.set(m.destination, m.destination);
  const cgroupDest = cgroupMountDest(spec);
  if (cgroupDest) for (const h of v1) out.set(path.posix.join(cgroupDest, h.name), path.posix.join(cgroupDest, h.name));
  for (const p of spec.linux?.maskedPaths ?? []) {
    // a masked file is /dev/null bound on it; a masked dir, a tmpfs CRIU dumps itself
    try {
      if (!fs.lstatSync(`/proc/${pid}/root${containerPath(p)}`).isDirectory()) out.set(p, '/dev/null');
    } catch {
      // not in this container
    }
  }
  for (const d of deviceNodes(spec)) out.set(d, d);
  return [...out].map(([key, val]) => ({ key, val }));
}
