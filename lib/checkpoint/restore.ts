/**
 * restore: a container made again from a checkpoint's images by CRIU, as
 * runc does it, in create's order where create has one:
 *
 *   claim    the state dir, locked
 *   load     the restore-time bundle's config.json; validate it
 *   decide   the cgroup (decideCreate), CRIU's options: nothing exists yet
 *   make     the seccomp filter exec loads, the intent record, the cgroup
 *            with every limit
 *   restore  `criu swrk` in a mount namespace of its own where the rootfs
 *            is bound on <state dir>/criu-root (so no host mount exists at
 *            any moment), moved into the container's cgroup before it is
 *            asked; its notifications answered: setup-namespaces runs the
 *            prestart and createRuntime hooks, orphan-pts-master hands the
 *            terminal on, post-restore records the state and the pid file
 *
 * A failure runs the undo stack (the restored init killed, the cgroup and
 * the state dir removed); a kill of the runtime midway leaves an intent
 * record `delete --force` undoes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { parseProcCgroup } from '../cgroups/host.js';
import { loadBundle, type LoadedBundle } from '../config/load.js';
import type { Spec } from '../config/types.js';
import { validateSpec } from '../config/validate.js';
import type { LifecycleContext } from '../container/context.js';
import { creatingState, decideCreate, makeCgroup, stateRecord, withOwned } from '../container/create.js';
import { runHooks } from '../container/hooks.js';
import { writePidFile } from '../container/safe-files.js';
import type { StoredState } from '../container/state.js';
import { Undo } from '../container/undo.js';
import { TsrunError } from '../errors.js';
import { containerPath } from '../plan/mounts.js';
import { compileSeccomp } from '../plan/seccomp.js';
import {
  bindMounts,
  cgroupMountDest,
  cgroupsMode,
  CRIU_MIN,
  criuConfigFile,
  deviceNodes,
  emptyNsMask,
  openDir,
  type ManageCgroupsMode,
} from './checkpoint.js';
import { criuCall, criuVersion, type CriuOpts } from './criu.js';

export interface RestoreOptions {
  bundle: string;
  /** The checkpoint's images; default ./checkpoint. */
  imagePath?: string;
  workPath?: string;
  /** Return once restored (exit 0); else wait for the container and delete it. */
  detach: boolean;
  pidFile?: string;
  /** Where the terminal's master goes (process.terminal, detached). */
  consoleSocket?: string;
  noSubreaper?: boolean;
  noPivot?: boolean;
  tcpEstablished?: boolean;
  extUnixSk?: boolean;
  shellJob?: boolean;
  fileLocks?: boolean;
  manageCgroupsMode?: ManageCgroupsMode | '';
  lazyPages?: boolean;
  emptyNs?: string[];
  autoDedup?: boolean;
  /** CRIU's lsm_profile ("apparmor:NAME", "selinux:LABEL"). */
  lsmProfile?: string;
  /** The restored init's fds 0-2 (-1: ours); pipes among its old ones are replaced by these. */
  stdio?: readonly number[];
  words?: 'cli' | 'api';
}

export interface Restored {
  state: StoredState;
  /** The terminal's master, when process.terminal and no console socket (a foreground restore relays it). */
  ptyMaster: number | null;
}

const NS_NAMES: Record<string, string> = { ipc: 'ipc', uts: 'uts', mount: 'mnt', user: 'user', time: 'time' };

export async function restoreContainer(ctx: LifecycleContext, id: string, opts: RestoreOptions): Promise<Restored> {
  const { native, store } = ctx;
  const t = ctx.timeline;
  const imageDir = path.resolve(opts.imagePath || 'checkpoint');
  const lock = store.claim(id);
  const undo = new Undo();
  undo.push('the state dir', () => store.remove(id));
  try {
    const loaded = loadBundle(opts.bundle);
    const { spec } = loaded;
    const consoleSocket = opts.consoleSocket !== undefined;
    const v = { rootfs: loaded.rootfs, bundle: loaded.bundle, detach: opts.detach, consoleSocket, words: opts.words };
    for (const w of validateSpec(spec, ctx.host, v)) ctx.warn(w);
    if (spec.linux?.intelRdt) throw new TsrunError('EUNSUPPORTED', 'linux.intelRdt: restore does not make resctrl groups yet');
    if (spec.linux?.namespaces?.some((n) => n.type === 'cgroup' && n.path))
      throw new TsrunError('EUNSUPPORTED', 'Do not know how to handle namespace NEWCGROUP');
    const mode = cgroupsMode(opts.manageCgroupsMode);
    const emptyNs = emptyNsMask(opts.emptyNs);
    const decided = decideCreate(ctx, id, loaded, { bundle: opts.bundle, detach: opts.detach, consoleSocket: opts.consoleSocket });
    for (const w of decided.warnings) ctx.warn(w);
    const version = await criuVersion(native);
    if (version < CRIU_MIN) throw new TsrunError('EUNSUPPORTED', `CRIU version ${version} must be ${CRIU_MIN} or higher`);
    let descriptors: string[];
    try {
      descriptors = JSON.parse(fs.readFileSync(path.join(imageDir, 'descriptors.json'), 'utf8')) as string[];
    } catch (e) {
      throw new TsrunError('EUSAGE', `${path.join(imageDir, 'descriptors.json')}: ${(e as Error).message} (not a checkpoint's image dir?)`);
    }
    t?.mark('validate');

    // make: what exec needs (the filter), then the cgroup, intent first
    const compiled = spec.linux?.seccomp ? compileSeccomp(native, spec.linux.seccomp, ctx.debug, ctx.seccompCache) : null;
    if (compiled) store.keepSeccomp(id, compiled.bpf);
    const cg = decided.cgroup;
    if (cg) {
      const intent = withOwned({ id }, cg.manager.state, cg.fresh);
      if (intent.cgroup) store.writeIntent(intent);
      await makeCgroup(ctx, cg, intent, undo);
    }

    const fds: number[] = [];
    undo.push('the fds for CRIU', () => {
      for (const fd of fds.splice(0)) fs.closeSync(fd);
    });
    const imagesFd = fs.openSync(imageDir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    fds.push(imagesFd);
    // CRIU works (and mounts its cgroup yard) in a dir of the state dir's: a CRIU that dies mid-restore leaves
    // its mounts where delete --force unmounts them; its log is copied where runc's would be afterwards
    if (opts.workPath) fs.closeSync(openDir(path.resolve(opts.workPath), { parents: false })); // made as runc makes it
    const criuWork = path.join(store.dir(id), 'criu-work');
    const workFd = openDir(criuWork, { parents: false });
    fds.push(workFd);
    const logTo = path.join(opts.workPath ? path.resolve(opts.workPath) : imageDir, 'restore.log');
    undo.push('the restore log', () => copyLog(path.join(criuWork, 'restore.log'), logTo));
    // CRIU restores onto a mount point: the rootfs bound on <state dir>/criu-root while it runs (as runc's);
    // delete unmounts it first, and never removes across a mount point (native/host/commands.c)
    const criuRoot = path.join(store.dir(id), 'criu-root');
    fs.mkdirSync(criuRoot, { mode: 0o755 });
    undo.push('the rootfs bound for CRIU', () => {
      for (const w of native.unmountUnder(criuRoot)) ctx.warn(w);
      try {
        fs.rmdirSync(criuRoot);
      } catch {
        // still mounted after all: delete takes it, without crossing into it
      }
    });
    makeMountpoints(spec, loaded.rootfs, loaded.bundle);
    native.bindMount(fs.realpathSync(loaded.rootfs), criuRoot);
    const criuOpts: CriuOpts = {
      images_dir_fd: imagesFd,
      evasive_devices: true,
      log_level: 4,
      log_file: 'restore.log',
      rst_sibling: true,
      root: criuRoot,
      manage_cgroups: true,
      manage_cgroups_mode: mode,
      notify_scripts: true,
      shell_job: !!opts.shellJob,
      ext_unix_sk: !!opts.extUnixSk,
      tcp_established: !!opts.tcpEstablished,
      file_locks: !!opts.fileLocks,
      empty_ns: emptyNs,
      orphan_pts_master: true,
      auto_dedup: !!opts.autoDedup,
      lazy_pages: !!opts.lazyPages,
    };
    criuOpts.work_dir_fd = workFd;
    if (opts.lsmProfile) criuOpts.lsm_profile = opts.lsmProfile;
    const config = criuConfigFile(spec);
    if (config) criuOpts.config_file = config;
    // namespaces joined by path: the external ones by an fd of criu's, the others joined by it
    const inherit: { key: string; fd: number }[] = [];
    const extraFds: number[] = [];
    const joins: { ns: string; ns_file: string }[] = [];
    for (const ns of spec.linux?.namespaces ?? []) {
      if (!ns.path) continue;
      if (ns.type === 'network' || ns.type === 'pid') {
        let fd: number;
        try {
          fd = fs.openSync(ns.path, 'r');
        } catch {
          throw new TsrunError('ECONFIG', `Requested network namespace ${ns.path} does not exist`);
        }
        fds.push(fd);
        inherit.push({ key: ns.type === 'network' ? 'extRootNetNS' : 'extRootPidNS', fd: 4 + extraFds.length });
        extraFds.push(fd);
      } else if (NS_NAMES[ns.type]) joins.push({ ns: NS_NAMES[ns.type]!, ns_file: ns.path });
    }
    // a pipe of the old stdio stands for the new stdio's fd i (CRIU's own 0-2)
    descriptors.forEach((d, i) => {
      if (i < 3 && typeof d === 'string' && d.includes('pipe:')) inherit.push({ key: d, fd: i });
    });
    if (inherit.length) criuOpts.inherit_fd = inherit;
    if (joins.length) criuOpts.join_ns = joins;
    criuOpts.ext_mnt = restoreMounts(spec, loaded.bundle, cg?.manager.state.version === 1 ? cg.manager.v1Hierarchies() : []);

    const creating = creatingState(spec, id, loaded.bundle);
    let ptyMaster: number | null = null;
    let state: StoredState | null = null;
    const stdio = (opts.stdio ?? [-1, -1, -1]).map((fd, i) => (fd < 0 ? i : fd)) as [number, number, number];
    const userns = spec.linux?.namespaces?.some((n) => n.type === 'user' && !n.path);
    await criuCall(native, {
      type: 'RESTORE',
      opts: criuOpts,
      stdio,
      extraFds,
      cwd: loaded.bundle,
      logFile: path.join(criuWork, 'restore.log'),
      onSpawn: async (criuPid) => {
        if (!cg) return;
        await cg.manager.addProcess(criuPid);
        const roots = cgroupRoots(criuPid);
        if (roots.length) criuOpts.cg_root = roots;
      },
      onNotify: async (n) => {
        if (n.script === 'setup-namespaces') {
          await runHooks(native, spec.hooks, 'prestart', creating(n.pid));
          await runHooks(native, spec.hooks, 'createRuntime', creating(n.pid));
        } else if (n.script === 'orphan-pts-master' && n.fd >= 0) {
          if (opts.consoleSocket !== undefined) {
            const sock = native.connectUnix(opts.consoleSocket);
            try {
              native.sendWithFd(sock, '/dev/ptmx', n.fd);
            } finally {
              fs.closeSync(sock);
              fs.closeSync(n.fd);
            }
          } else ptyMaster = n.fd;
        } else if (n.script === 'post-restore') {
          const pid = n.pid;
          // rst_sibling: the restored init is our child; a failure from here on kills it
          undo.push('the restored init', async () => {
            ctx.host.kill(pid, 9);
            await native.waitPid(pid).catch(() => undefined);
          });
          state = recordRestored(ctx, id, loaded, pid, cg ? { ...cg.manager.state, owned: cg.manager.owned() } : undefined, compiled);
          if (opts.pidFile) writePidFile(native, opts.pidFile, pid);
        } else if (n.fd >= 0) fs.closeSync(n.fd);
      },
    }).catch((e: unknown) => {
      // the restored tasks read their images as the container's root: in a user namespace, a host uid
      if (userns && e instanceof TsrunError && /Permission denied/.test(e.message)) {
        const root = spec.linux?.uidMappings?.find((m) => m.containerID === 0)?.hostID;
        const [first, ...rest] = e.message.split('\n');
        throw new TsrunError(
          e.code,
          [
            `${first}: in a user namespace the images must be readable by the container's root (host uid ${root ?? '?'}): chown or chmod ${imageDir}`,
            ...rest,
          ].join('\n'),
        );
      }
      throw e;
    });
    t?.mark('restore');
    if (!state) throw new TsrunError('ESYSTEM', 'criu restored without telling the restored process (no post-restore notification)');
    for (const fd of fds.splice(0)) fs.closeSync(fd);
    for (const w of native.unmountUnder(criuRoot)) ctx.warn(w);
    fs.rmdirSync(criuRoot);
    copyLog(path.join(criuWork, 'restore.log'), logTo);
    fs.rmSync(criuWork, { recursive: true, force: true });
    return { state, ptyMaster };
  } catch (e) {
    await undo.run(ctx.warn);
    throw e;
  } finally {
    lock.release();
  }
}

/** CRIU's log where runc's would be (the work dir, else the image dir); best effort. */
function copyLog(from: string, to: string): void {
  try {
    fs.copyFileSync(from, to);
  } catch {
    // no log, or nowhere to put it
  }
}

/**
 * Each mount's target made in the rootfs where it is missing (CRIU mounts
 * onto what is there; a rootfs unpacked anew, podman's --import, lacks the
 * files an engine binds, /run/.containerenv): a file for a bind of a file,
 * else directories. Not below a tmpfs destination (CRIU restores a tmpfs's
 * content) nor for cgroup mounts. Nothing runs in the rootfs meanwhile; a
 * symlink on the way is left alone (never followed), and CRIU then names
 * what it could not mount.
 */
function makeMountpoints(spec: Spec, rootfs: string, bundle: string): void {
  const mounts = spec.mounts ?? [];
  const tmpfs = mounts.filter((m) => m.type === 'tmpfs').map((m) => containerPath(m.destination));
  for (const m of mounts) {
    const dest = containerPath(m.destination);
    if (m.type === 'cgroup' || dest === '/' || tmpfs.some((t) => t !== dest && dest.startsWith(`${t}/`))) continue;
    const bind = m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
    let file = false;
    if (bind) {
      try {
        file = !fs.statSync(path.resolve(bundle, m.source ?? '')).isDirectory();
      } catch {
        continue; // the source is missing: CRIU says so
      }
    }
    const parts = dest.split('/').filter(Boolean);
    let at = rootfs;
    for (const [i, part] of parts.entries()) {
      at = path.join(at, part);
      const last = i === parts.length - 1;
      let st: fs.Stats | null = null;
      try {
        st = fs.lstatSync(at);
      } catch {
        st = null;
      }
      if (st === null) {
        if (last && file) fs.writeFileSync(at, '', { flag: 'wx', mode: 0o644 });
        else fs.mkdirSync(at, { mode: 0o755 });
      } else if (!st.isDirectory()) break;
    }
  }
}

function recordRestored(
  ctx: LifecycleContext,
  id: string,
  loaded: LoadedBundle,
  pid: number,
  cgroup: StoredState['cgroup'],
  compiled: { flags: number } | null,
): StoredState {
  const start = ctx.native.procStartTime(pid);
  if (!start) throw new TsrunError('ESYSTEM', `the restored init ${pid} is gone`);
  const ns = loaded.spec.linux?.namespaces ?? [];
  const state = stateRecord(ctx, id, loaded, {
    pid,
    pidStartTime: start.startTime,
    pidNamespace: ns.some((n) => n.type === 'pid' && !n.path),
    hostMounts: !ns.some((n) => n.type === 'mount'),
    seccompFlags: compiled?.flags ?? null,
    cgroup,
  });
  ctx.store.write(state);
  return state;
}

/** cg_root of a restore: criu's own cgroups (it is in the container's by now), one per controller. */
function cgroupRoots(pid: number): { ctrl: string; path: string }[] {
  const out: { ctrl: string; path: string }[] = [];
  for (const [controllers, dir] of parseProcCgroup(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8')))
    if (controllers === '') out.push({ ctrl: '', path: dir });
    else for (const c of controllers.split(',')) out.push({ ctrl: c, path: dir });
  return out;
}

/** ext_mnt of a restore: each external mount's key (as the dump named it) and its source now. */
function restoreMounts(
  spec: Spec,
  bundle: string,
  v1: { mountPoint: string; name: string; cgroupPath: string }[],
): { key: string; val: string }[] {
  const out = new Map<string, string>();
  for (const m of bindMounts(spec)) out.set(m.destination, path.resolve(bundle, m.source));
  const cgroupDest = cgroupMountDest(spec);
  if (cgroupDest)
    for (const h of v1) out.set(path.posix.join(cgroupDest, h.name), path.posix.join(h.mountPoint, h.cgroupPath).replace(/(.)\/$/, '$1'));
  if ((spec.linux?.maskedPaths ?? []).length) out.set('/dev/null', '/dev/null');
  for (const d of deviceNodes(spec)) out.set(d, d);
  return [...out].map(([key, val]) => ({ key, val }));
}
