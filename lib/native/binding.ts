/**
 * The one typed loader of the native addon (build/Release/tsrun.node).
 * Lifecycle code takes a `NativeBinding` so tests can inject their own.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import type { SeccompNative } from '../plan/seccomp.js';
import type { NativeConstants } from './constants.js';

/**
 * The plan version lib/native/plan-codec.ts and lib/plan/ are written for
 * (TSRUN_PLAN_VERSION): an addon built from other headers is refused when
 * it loads, not found out by a garbled plan.
 */
export const PLAN_VERSION = 3;

export interface SyncMessage {
  /** 0 = EOF: the init died without a word. */
  type: number;
  step: number;
  errno: number;
  code: string | null;
  message: string;
  /** An fd passed with the message (TSRUN_SYNC_PTY), else -1. */
  fd: number;
  /** TSRUN_SYNC_PID: the process's pid after the namespace step's fork (0: unchanged). */
  pid: number;
}

export interface WaitStatus {
  code: number | null;
  signal: number | null;
}

export interface HookResult {
  code: number | null;
  signal: number | null;
  timedOut: boolean;
  /** stdout and stderr, interleaved, at most 64 KiB. */
  output: string;
}

export interface NativeBinding extends SeccompNative {
  /** Flags, kinds, sync types, step names and the plan layout (lib/native/constants.ts). */
  readonly constants: NativeConstants;
  /** cgroupFd: a cgroup v2 directory to clone the init into (CLONE_INTO_CGROUP). */
  spawn(plan: Uint8Array, cgroupFd?: number): { pid: number; syncFd: number };
  syncRecv(fd: number, timeoutMs: number): SyncMessage;
  syncSend(fd: number, type: number): void;
  waitPid(pid: number): Promise<WaitStatus>;
  reap(pid: number): WaitStatus | null;
  mkfifo(path: string, mode: number): void;
  /** "exec" once the program replaced the init, "dead" if the init died first. */
  releaseFifo(path: string, pid: number, timeoutMs: number): 'exec' | 'dead';
  flock(fd: number, op: number): void;
  connectUnix(path: string): number;
  setChildSubreaper(): void;
  /** Gives the pty `to` the window size of terminal `from`; false if `from` is no terminal. */
  copyWinsize(from: number, to: number): boolean;
  /** The window size of terminal `fd`, or null when it is none. */
  terminalSize(fd: number): { rows: number; cols: number } | null;
  /** Runs a hook with `stdin` as input; nsPid > 0 joins that process's namespaces; then cwd, then the seccomp filter. */
  runHook(
    path: string,
    args: string[],
    env: string[],
    stdin: string,
    timeoutMs: number,
    nsPid: number,
    cwd: string | null,
    seccompBpf: Uint8Array | null,
    seccompFlags: number,
  ): HookResult;
  /** One sendmsg of `data` with `fd` as SCM_RIGHTS. */
  sendWithFd(sock: number, data: string, fd: number): void;
  /** CLONE_NEW* of a namespace file's fd (ioctl NS_GET_NSTYPE); throws if it is none. */
  nsType(fd: number): number;
  /** The fd of a detached copy of `source` (rbind: with submounts), idmapped (ridmap: submounts too) through a user namespace with these maps. */
  idmapTree(source: string, rbind: boolean, ridmap: boolean, uidMap: string, gidMap: string): number;
  /** Loads a BPF_PROG_TYPE_CGROUP_DEVICE program and attaches it to the cgroup directory. */
  attachDeviceProgram?(cgroupDir: string, insns: Uint8Array): void;
  /** A small regular file of a container tree (`root`: a rootfs or /proc/<pid>/root), resolved inside it; null when absent. */
  readInRoot(root: string, file: string, maxBytes: number): string | null;
  /** umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW). */
  unmount(path: string): void;
}

export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

let cached: NativeBinding | undefined;

/** Loads the addon from the package's build directory (or TSRUN_ADDON). */
export function loadBinding(): NativeBinding {
  if (cached) return cached;
  const file = process.env.TSRUN_ADDON || path.join(packageRoot(), 'build', 'Release', 'tsrun.node');
  const require = createRequire(import.meta.url);
  const binding = require(file) as NativeBinding;
  const version = binding.constants?.planVersion;
  if (version !== PLAN_VERSION)
    throw new Error(
      `tsrun: the native addon ${file} speaks plan version ${version}, this tsrun ${PLAN_VERSION}: rebuild it (npm run build)`,
    );
  cached = binding;
  return cached;
}

let root: string | undefined;

/** The package root (where build/ and dist/ live): the nearest directory
 * above this module with our package.json (works from dist/lib/… and from
 * the single-file bundle dist/tsrun.mjs alike). */
export function packageRoot(): string {
  if (root) return root;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'tsrun') return (root = dir);
    } catch {
      /* keep looking */
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error('tsrun: cannot find the package root');
    dir = up;
  }
}
