/**
 * What the production lane's test files share (tests/vm/run-in-vm.sh --host
 * trixie): whether this process runs inside the lane, a command runner with
 * TCG's patience, and the busybox image the engines run (imported from a
 * tarball: there is no registry to pull from).
 */
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { IS_ROOT, busyboxRootfs } from '../helpers/bundle.js';

const osRelease = fs.existsSync('/etc/os-release') ? fs.readFileSync('/etc/os-release', 'utf8') : '';
/** Root inside the lane (hostname tsrun-vm on Debian 13); anywhere else the lane's tests skip. */
export const inLane = IS_ROOT && os.hostname() === 'tsrun-vm' && /^VERSION_CODENAME=trixie$/m.test(osRelease);
export const laneTest = inLane ? test.serial : test.skip;

export interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; every process start is slow under TCG. */
export function run(cmd: string, args: string[], timeout = 180_000): Result {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout, stdio: ['ignore', 'pipe', 'pipe'] });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? String(r.error ?? '') };
}

/** `r`'s stdout, after asserting it exited 0 (the message has its output). */
export function ok(t: ExecutionContext, r: Result, what: string): string {
  t.is(r.status, 0, `${what} failed:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

export const IMAGE = 'localhost/tsrun-lane-busybox:latest';
let imported = false;
/** podman's busybox image (imported once per test process). */
export function busyboxImage(t: ExecutionContext): string {
  if (imported) return IMAGE;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-lane-image-'));
  try {
    busyboxRootfs(path.join(dir, 'rootfs'));
    ok(t, run('tar', ['-C', path.join(dir, 'rootfs'), '-cf', path.join(dir, 'rootfs.tar'), '.']), 'tar');
    ok(t, run('podman', ['import', path.join(dir, 'rootfs.tar'), IMAGE]), 'podman import');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  imported = true;
  return IMAGE;
}
