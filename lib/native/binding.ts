/**
 * The one typed loader of the native addon (build/Release/tsrun.node).
 * Lifecycle code takes a `NativeBinding` so tests can inject their own.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';

import type { SystemdProperty, SystemdUnitRef } from '../cgroups/systemd.js';
import type { RdtGroup } from '../plan/resctrl.js';
import type { SeccompNative } from '../plan/seccomp.js';
import { KERNEL, PLAN_VERSION } from './constants.js';

/**
 * The plan version lib/native/plan-codec.ts and lib/plan/ were built
 * against (TSRUN_PLAN_VERSION, from the headers at build time): an addon
 * built from other headers is refused when it loads, not found out by a
 * garbled plan.
 */
export { PLAN_VERSION };

/** Where launchNext stopped (native/host/launch.c): a SyncType, or what failed. */
export interface LaunchEvent {
  /** SyncType.IDMAP, PID, HOOKS, SECCOMP, READY or ERROR. */
  type: number;
  /** The process's pid (after PID: the real one, past the fork into its namespaces). */
  pid: number;
  /** Its /proc/<pid>/stat start time, read at PID (0 before). */
  startTime: number;
  /** SECCOMP: the notify fd (the caller's to close); else -1. */
  fd: number;
  /** The pty master the process sent (PTY), -1: none yet. */
  ptyMaster: number;
  /** ERROR: the init's step, errno and message; READY: the message holds the init's step times. */
  step: number;
  errno: number;
  code: string | null;
  message: string;
  /** ERROR: the message as the user reads it ("<message>: <ERRNO> (<step>)"; launch.c words it). */
  text?: string;
}

/** A launch in progress (native/host/launch.c's struct tsrun_launch). */
export type LaunchHandle = { readonly __launch: unique symbol };

/** A running relayPipes (native/binding/relay.cc). */
export interface PipeRelay {
  /** Resolves once every flow is over (both outputs at EOF, the input ended), or at stop(). */
  done: Promise<void>;
  /** Reads no more of our stdin and closes the process's stdin pipe (it reads EOF). */
  endInput(): void;
  /** Ends the relay: every pipe end it owns is closed; it no longer keeps the event loop alive. */
  stop(): void;
}

export interface WaitStatus {
  code: number | null;
  signal: number | null;
}

/** What a host call (native/host/) returns: what it warned about, and its output. */
export interface HostResult {
  warnings: string[];
  /** Each step's end, in ms since the call began (native/host's tsrun_mark). */
  marks: { step: string; ms: number }[];
  /** state: runc's state JSON; list: a JSON array of them. */
  out?: string;
  /** status: created, running, paused or stopped. */
  status?: 'created' | 'running' | 'paused' | 'stopped';
  /** ps: host pids, sorted. */
  pids?: number[];
}

/** What one tar entry of an image layer becomes (native/host/layer.c). */
export type LayerEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo' | 'whiteout' | 'opaque';

/** One tar entry of an image layer, for layerEntry and layerFinish. */
export interface LayerEntry {
  /** Relative to the layer root ('usr/bin/env'); empty, absolute and '..' paths are refused (EINVAL). */
  path: string;
  type: LayerEntryType;
  /** Permission bits incl. setuid/setgid/sticky (`& 0o7777`). */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch, may be fractional (atime is set to it too). */
  mtime: number;
  /** symlink: the target, stored as is; hardlink: a path relative to the layer root. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes (from PAX SCHILY.xattr.*); trusted.overlay.* and user.overlay.* are refused (EPERM). */
  xattrs?: Record<string, Buffer>;
  /** Set owners (false: rootless, owners left as the caller's). */
  chown: boolean;
  /** The namespace of the opaque marker: `${overlayXattr}.overlay.opaque`. */
  overlayXattr: 'trusted' | 'user';
}

/** The operations of native/host/commands.c, on a container under `root`. */
export type HostOp = 'state' | 'list' | 'status' | 'kill' | 'delete' | 'start' | 'pause' | 'resume' | 'ps';

export interface NativeBinding extends SeccompNative {
  /** TSRUN_PLAN_VERSION as the addon was compiled (loadBinding checks it). */
  readonly planVersion: number;
  /** Every constant shared with C, as JSON (native/host/constants.c): what lib/native/constants.gen.ts was generated from. */
  constantsJson(): string;
  /**
   * Checks the plan and starts a process that execs tsrun-init with it
   * (native/host/launch.c, spawn.c). cgroupFd: a cgroup v2 directory to be
   * born in (CLONE_INTO_CGROUP), -1: none; stdio: its fds 0-2 (-1: ours);
   * timeoutMs: the longest wait for one sync message (-1: none).
   */
  launchStart(plan: Uint8Array, cgroupFd: number, stdio: readonly number[], timeoutMs: number): { handle: LaunchHandle; pid: number };
  /** The sync loop, off the event loop, up to the next step the caller takes (or READY, or ERROR); rejects (hostCode) when the runtime's side fails. */
  launchNext(handle: LaunchHandle): Promise<LaunchEvent>;
  /** GO; after PID with the process's pid as we see it. */
  launchGo(handle: LaunchHandle, pid?: number): void;
  /** SIGKILL and reap what was started (off the event loop), close what is held. */
  launchAbort(handle: LaunchHandle): Promise<void>;
  /** Done: the sync socket closes; the process and its pty master are the caller's. */
  launchClose(handle: LaunchHandle): void;
  /** Starts, on a thread of its own, the RCU grace period a v1 cgroup join waits for (native/host/launch.c). */
  cgroupWarm(): void;
  /** process.oomScoreAdj, written to /proc/<pid>/oom_score_adj (native/host/launch.c). */
  writeOomScoreAdj(pid: number, value: number): void;
  /** CLOCK_MONOTONIC in ms (the init reports its step times on it). */
  monotonicMs(): number;
  /** CLOCK_REALTIME in nanoseconds. */
  realtimeNs(): bigint;
  /** pipe2(O_CLOEXEC): [read end, write end]. */
  pipe(): [number, number];
  /** socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC). */
  seqpacketPair(): [number, number];
  /** One whole message on a SOCK_SEQPACKET socket. */
  sendPacket(fd: number, data: Buffer): void;
  /** One message (empty at EOF) and an fd it carried (-1: none), off the event loop; a message of `max` bytes or more is refused (EMSGSIZE). */
  recvPacket(fd: number, max: number): Promise<{ data: Buffer; fd: number }>;
  /** mount(source, target, MS_BIND | MS_REC) in our mount namespace. */
  bindMount(source: string, target: string): void;
  /** `unref`: the wait does not keep the process alive. */
  waitPid(pid: number, unref?: boolean): Promise<WaitStatus>;
  /**
   * Copies `ours[0]` into the stdin pipe and the stdout and stderr pipes to
   * `ours[1]` and `ours[2]`, on a thread of its own. `pipes`: our ends (the
   * stdin pipe's write end, the others' read ends), owned by the relay from
   * the call on, even when it throws; `ours`: -1 for a closed fd.
   */
  relayPipes(pipes: readonly [number, number, number], ours: readonly [number, number, number]): PipeRelay;
  reap(pid: number): WaitStatus | null;
  mkfifo(path: string, mode: number): void;
  flock(fd: number, op: number): void;
  connectUnix(path: string): number;
  /** runc's pid file, replaced whole, following no symlink (native/host/files.c). */
  writePidFile(file: string, pid: number): void;
  setChildSubreaper(): void;
  /** Gives the pty `to` the window size of terminal `from`; false if `from` is no terminal. */
  copyWinsize(from: number, to: number): boolean;
  /** The window size of terminal `fd`, or null when it is none. */
  terminalSize(fd: number): { rows: number; cols: number } | null;
  /**
   * Runs the runtime's hooks of `kind` (prestart, createRuntime, poststart,
   * poststop) from a `{kind: [...]}` JSON, in our namespaces, with `input`
   * on stdin, on the threadpool. Resolves to the warnings of warnOnly; a
   * failure otherwise rejects (hostCode ECHILD, the hook named).
   */
  runHooks(hooksJson: string, kind: string, input: string, warnOnly: boolean): Promise<string[]>;
  /** A host command, on this thread; failures throw with `hostCode` (see hostError). */
  host(op: HostOp, root: string, id?: string, signal?: number, flag?: boolean): HostResult;
  /** The same, on the libuv threadpool. */
  hostAsync(op: HostOp, root: string, id?: string, signal?: number, flag?: boolean): Promise<HostResult>;
  /** A failed create's cgroup directories (top first) go, with whatever runs in them: native/host's routine, off the event loop. */
  cgroupRemove(dirs: readonly string[], systemd?: SystemdUnitRef): Promise<void>;
  /**
   * A container's resctrl groups (native/host/resctrl.c): "make" (whether clos is new), "schemata" (update's write),
   * "join" (a pid into clos, then its MON group), "remove" (what `owned` says). Throws with hostCode.
   */
  rdt(op: 'make', group: RdtGroup, arg: { schemata: string | null; mustExist: boolean; named: boolean }): boolean;
  rdt(op: 'schemata', group: RdtGroup, schemata: string): void;
  rdt(op: 'join', group: RdtGroup, pid: number): void;
  rdt(op: 'remove', group: RdtGroup): void;
  /** native/host/systemd.c, on the threadpool: resolves the unit's ControlGroup ("/system.slice/x.scope"). */
  systemdStart(ref: SystemdUnitRef, props: readonly SystemdProperty[]): Promise<string>;
  systemdSet(ref: SystemdUnitRef, props: readonly SystemdProperty[]): Promise<void>;
  systemdStop(ref: SystemdUnitRef): Promise<void>;
  /** Detaches every mount at or below rootfs, deepest first; returns the warnings. */
  unmountUnder(rootfs: string): string[];
  /** runc's signal names and numbers; -1 when `text` names none. */
  parseSignal(text: string): number;
  /**
   * native/host/rootless.c: whether to run rootless under --rootless `mode`
   * (null: not true/false/auto) and the default --root (runc's rule:
   * $XDG_RUNTIME_DIR/tsrun unless the real root), which the front follows too.
   */
  rootless(mode: string): { rootless: boolean | null; defaultRoot: string; xdg: boolean };
  /** /proc/<pid>/stat's state letter and start time; null when the process is gone. */
  procStartTime(pid: number): { startTime: number; state: string } | null;
  /** Throws (hostCode EID, runc's words) when a container may not have this id (native/host/state.c). */
  checkId(id: string): void;
  /** pid is still the process that had this start time, and not a zombie (native/host/status.c). */
  pidAlive(pid: number, startTime: number): boolean;
  /** Throws (hostCode ESTATE) where runc refuses an exec into a container in this status (native/host/status.c). */
  canExec(status: string, ignorePaused: boolean): void;
  /** The passwd name of `uid` (getpwuid_r), or the uid itself: state.json's owner. */
  userName(uid: number): string;
  /** One sendmsg of `data` with `fd` as SCM_RIGHTS. */
  sendWithFd(sock: number, data: string, fd: number): void;
  /** CLONE_NEW* of a namespace file's fd (ioctl NS_GET_NSTYPE); throws if it is none. */
  nsType(fd: number): number;
  /** The fd of a detached copy of `source` (rbind: with submounts), idmapped (ridmap: submounts too) through a user namespace with these maps. */
  idmapTree(source: string, rbind: boolean, ridmap: boolean, uidMap: string, gidMap: string): number;
  /** prlimit64 of process `pid` (limits as u64; RLIM_INFINITY is 2^64-1); throws with the errno. */
  prlimit(pid: number, resource: number, soft: bigint, hard: bigint): void;
  /** A detached copy of `source` (rbind: with its submounts): open_tree(OPEN_TREE_CLONE), for the init to attach. */
  bindTree(source: string, rbind: boolean): number;
  /** Loads a BPF_PROG_TYPE_CGROUP_DEVICE program and attaches it to the cgroup directory. */
  attachDeviceProgram?(cgroupDir: string, insns: Uint8Array): void;
  /** A small regular file of a container tree (`root`: a rootfs or /proc/<pid>/root), resolved inside it; null when absent. */
  readInRoot(root: string, file: string, maxBytes: number): string | null;
  /**
   * Image layers (native/host/layer.c): nothing a layer's entries say (`..`, absolute paths, symlinks
   * or hardlinks made earlier in the layer) reaches outside the layer's directory. Errors carry
   * `errno`, `code` (ELOOP: a parent lies through a symlink) and `path`.
   *
   * An O_PATH|O_DIRECTORY fd of an existing directory (opened with O_NOFOLLOW): the root of one layer being unpacked.
   * Close it with fs.closeSync.
   */
  layerRoot(dir: string): number;
  /**
   * Creates one tar entry below the layer root: missing parents are made (0755, owned by 0:0 when chown); an existing
   * entry is replaced (a dir kept for 'dir' and 'opaque'; a non-empty dir in the way: ENOTEMPTY). 'file': returns an fd
   * open O_WRONLY on the new empty file (0600), to be written and handed to layerFinish; every other type is complete on
   * return (owners, xattrs, mode, mtime) and returns -1. 'opaque' sets only `${overlayXattr}.overlay.opaque` = "y" on
   * the dir at path (made if missing).
   */
  layerEntry(rootFd: number, entry: LayerEntry): number;
  /** For a 'file' entry: owners (when chown), xattrs, mode, mtime on fd, then closes it, also on error. */
  layerFinish(fd: number, entry: LayerEntry): void;
  /** Sets only the mtime (and atime) of an existing entry beneath the root without following a final symlink. */
  layerTimes(rootFd: number, path: string, mtime: number): void;
}

/** flock(2)'s operations. */
export const { LOCK_SH, LOCK_EX, LOCK_NB, LOCK_UN } = KERNEL.flock;

let cached: NativeBinding | undefined;

/**
 * One of the runtime's own files, in whichever layout this copy of tsrun is
 * (the front finds the CLI by the same layouts, native/front/main.c):
 *  - a release: <prefix>/lib/tsrun/ holds the compiled CLI, tsrun.node, tsrun-init and commit;
 *  - a checkout: build/Release/ the addon and the init, dist/ the CLIs and commit;
 *  - the npm package: prebuilds/linux-x64/ the addon, the init and the front, dist/ the rest.
 * A build from source (build/Release/) wins over the package's prebuilt one. The first
 * candidate that exists; else the first (the caller's error names it).
 */
export function runtimeFile(name: 'tsrun.node' | 'commit'): string {
  const candidates: string[] = [];
  if (compiledCli()) {
    const dir = path.dirname(process.execPath);
    candidates.push(path.join(dir, name), path.join(dir, '..', name === 'commit' ? 'dist' : 'build/Release', name));
  } else {
    // the CLI bundle of a release runs from lib/tsrun/ on Node where Bun cannot run (engine-any-cpu)
    candidates.push(path.join(moduleDir(), name));
    const root = findPackageRoot();
    if (root && name === 'commit') candidates.push(path.join(root, 'dist', name));
    else if (root) candidates.push(path.join(root, 'build', 'Release', name), path.join(root, 'prebuilds', `linux-${process.arch}`, name));
  }
  return candidates.find((f) => fs.existsSync(f)) ?? candidates[candidates.length > 1 ? 1 : 0]!;
}

/** This module's directory (the CLI bundle's, where it is bundled). */
function moduleDir(): string {
  return path.dirname(decodeURIComponent(new URL(import.meta.url).pathname));
}

/** This is the CLI compiled into one executable (Bun: scripts/postbuild.mjs, scripts/release.mjs). */
function compiledCli(): boolean {
  return !!process.versions.bun && path.basename(process.execPath) === 'tsrun-cli';
}

/** Loads the addon (TSRUN_ADDON, else runtimeFile's). */
export function loadBinding(): NativeBinding {
  if (cached) return cached;
  const file = process.env.TSRUN_ADDON || runtimeFile('tsrun.node');
  const require = createRequire(import.meta.url);
  const binding = require(file) as NativeBinding;
  const version = binding.planVersion;
  if (version !== PLAN_VERSION)
    throw new Error(
      `tsrun: the native addon ${file} speaks plan version ${version}, this tsrun ${PLAN_VERSION}: rebuild it (npm run build)`,
    );
  cached = binding;
  const st = fs.statSync(file);
  loadedId = `${file}:${st.size}:${st.mtimeMs}`;
  return cached;
}

let loadedId: string | undefined;

/** Which build of the addon loadBinding() loaded (its path, size and mtime): what compiled artefacts are keyed on. */
export function addonId(): string | undefined {
  return loadedId;
}

let root: string | undefined;

/** The package root (where build/ and dist/ live): the nearest directory
 * above this module with our package.json (works from dist/lib/… and from
 * the single-file bundle dist/tsrun.mjs alike), or, for the compiled CLI
 * (whose import.meta.url is no file of ours), the parent of its directory. */
export function packageRoot(): string {
  const found = findPackageRoot();
  if (!found) throw new Error('tsrun: cannot find the package root');
  return found;
}

function findPackageRoot(): string | null {
  if (root) return root;
  if (compiledCli()) return (root = path.dirname(path.dirname(process.execPath)));
  let dir = moduleDir();
  for (;;) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'tsrun') return (root = dir);
    } catch {
      /* keep looking */
    }
    const up = path.dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}
