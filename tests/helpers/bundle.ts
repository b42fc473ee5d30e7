/**
 * Test bundles: a busybox-static rootfs in a temp dir with a config.json
 * from `tsrun spec`'s defaults (terminal off), adjustable per test.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import { defaultSpec } from '../../lib/config/default-spec.js';
import type { Spec } from '../../lib/config/types.js';
import { WAIT_MS, waitForSync } from './wait.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const TSRUN = path.join(ROOT, 'bin', 'tsrun');
export const BUSYBOX = '/bin/busybox';
export const RUNC = ['/usr/sbin/runc', '/usr/bin/runc'].find((p) => fs.existsSync(p));
export const IS_ROOT = process.getuid?.() === 0;
/** How the front runs the JavaScript CLI (dist/engine, scripts/postbuild.mjs): its argv prefix, "./x" entries as paths in dist/. */
export const ENGINE: readonly string[] = (() => {
  try {
    return fs
      .readFileSync(path.join(ROOT, 'dist', 'engine'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((e) => (e.startsWith('./') ? path.join(ROOT, 'dist', e) : e));
  } catch {
    return [];
  }
})();

const APPLETS = [
  'sh',
  'ls',
  'cat',
  'echo',
  'hostname',
  'id',
  'sleep',
  'true',
  'false',
  'env',
  'grep',
  'mount',
  'ps',
  'kill',
  'readlink',
  'stat',
  'test',
  'touch',
  'wc',
  'pwd',
  'ulimit',
  'head',
  'tty',
  'stty',
];

let template: string | undefined;

/** A shared, read-only busybox rootfs to copy from. */
function rootfsTemplate(): string {
  if (template) return template;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-rootfs-'));
  fs.mkdirSync(path.join(dir, 'bin'));
  fs.copyFileSync(BUSYBOX, path.join(dir, 'bin', 'busybox'));
  fs.chmodSync(path.join(dir, 'bin', 'busybox'), 0o755);
  for (const a of APPLETS) fs.symlinkSync('busybox', path.join(dir, 'bin', a));
  for (const d of ['proc', 'sys', 'dev', 'etc', 'tmp', 'root']) fs.mkdirSync(path.join(dir, d));
  template = dir;
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** An image-style rootfs in `dir`: busybox-static as /bin/busybox, a symlink per applet, the usual empty dirs, /tmp 1777. */
export function busyboxRootfs(dir: string): void {
  fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
  fs.copyFileSync(BUSYBOX, path.join(dir, 'bin', 'busybox'));
  fs.chmodSync(path.join(dir, 'bin', 'busybox'), 0o755);
  const applets = spawnSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  for (const a of applets) if (a !== 'busybox') fs.symlinkSync('busybox', path.join(dir, 'bin', a));
  for (const d of ['proc', 'sys', 'dev', 'etc', 'tmp', 'root', 'run']) fs.mkdirSync(path.join(dir, d));
  fs.chmodSync(path.join(dir, 'tmp'), 0o1777);
}

export interface Bundle {
  dir: string;
  rootfs: string;
  spec: Spec;
  write(): void;
  cleanup(): void;
}

export function makeBundle(mutate?: (spec: Spec) => void): Bundle {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-bundle-'));
  const rootfs = path.join(dir, 'rootfs');
  fs.cpSync(rootfsTemplate(), rootfs, { recursive: true, verbatimSymlinks: true });
  const spec = defaultSpec();
  spec.ociVersion = '1.0.2-dev'; // what runc 1.1 writes; both runtimes accept it
  spec.process!.terminal = false;
  spec.process!.args = ['true'];
  mutate?.(spec);
  const b: Bundle = {
    dir,
    rootfs,
    spec,
    write() {
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(b.spec, null, 2));
    },
    cleanup() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  b.write();
  return b;
}

export interface RunResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a runtime CLI with a private --root. Output goes through temp files,
 * not pipes: a created container inherits the runtime's stdio, and a pipe
 * would keep the call waiting until the container exits.
 */
export function runtime(
  bin: string,
  root: string,
  args: string[],
  opts: { cwd?: string; timeout?: number; input?: string } = {},
): RunResult {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-io-'));
  const outFile = path.join(dir, 'out');
  const errFile = path.join(dir, 'err');
  const out = fs.openSync(outFile, 'w+');
  const err = fs.openSync(errFile, 'w+');
  try {
    const r = spawnSync(bin, ['--root', root, ...args], {
      cwd: opts.cwd,
      timeout: opts.timeout ?? 30_000,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', out, err],
      input: opts.input,
    });
    return { status: r.status, signal: r.signal, stdout: fs.readFileSync(outFile, 'utf8'), stderr: fs.readFileSync(errFile, 'utf8') };
  } finally {
    fs.closeSync(out);
    fs.closeSync(err);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** What `state` says of `id`: its status, or 'gone' when there is no such container. */
export function statusOf(bin: string, root: string, id: string): string {
  const r = runtime(bin, root, ['state', id]);
  return r.status === 0 ? (JSON.parse(r.stdout) as { status: string }).status : 'gone';
}

/**
 * Waits until `state` says `status` (a killed init is stopped only once the
 * kernel has let it die: later than the kill returns on a loaded machine).
 * Blocks between looks. True if it did within `ms`.
 */
export function waitForStatus(bin: string, root: string, id: string, status: string, ms = WAIT_MS): boolean {
  return waitForSync(() => statusOf(bin, root, id) === status, ms);
}

/**
 * How process `pid` takes signal number `signal` (/proc/<pid>/status): a
 * shell's `trap "…" SIG` is 'caught', `trap "" SIG` is 'ignored'. Before its
 * trap is set a container's init (pid 1 of its namespace) drops a signal it
 * has no handler for, so a test waits for the trap before it signals.
 */
export function signalDisposition(pid: number, signal: number): 'caught' | 'ignored' | 'default' | 'gone' {
  let status: string;
  try {
    status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return 'gone';
  }
  const bit = 1n << BigInt(signal - 1);
  const mask = (field: string) => BigInt('0x' + (new RegExp(`^${field}:\\s*([0-9a-f]+)$`, 'm').exec(status)?.[1] ?? '0'));
  if (mask('SigCgt') & bit) return 'caught';
  return mask('SigIgn') & bit ? 'ignored' : 'default';
}

const roots: string[] = [];
process.on('exit', () => {
  for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
});

/** A private --root, removed when the test process exits. */
export function tempRoot(): string {
  const r = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-root-'));
  roots.push(r);
  return r;
}

/**
 * What a --root holds besides tsrun's own cache (`.cache`, docs/seccomp.md):
 * a container's state dir, or a create's claim, left behind.
 */
export function leftIn(root: string): string[] {
  return fs.existsSync(root) ? fs.readdirSync(root).filter((n) => n !== '.cache') : [];
}

let counter = 0;
export function uniqueId(prefix: string): string {
  return `${prefix}-${process.pid}-${++counter}`;
}

/** Pids of processes whose cmdline mentions `needle` (leak checks). */
export function processesMatching(needle: string): number[] {
  const out: number[] = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(needle)) out.push(Number(p));
    } catch {
      /* gone */
    }
  }
  return out;
}
