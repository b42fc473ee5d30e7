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

import { IS_ROOT, busyboxRootfs, runtime, tempRoot, uniqueId, type Bundle } from '../helpers/bundle.js';
import { waitForSync } from '../helpers/wait.js';

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

/**
 * A file over the LSM exec attribute, the one way left once `mounts` may not
 * cover /proc (runc's checkProcMount, tsrun's validation): the container's
 * own program mounts a tmpfs over its /proc holding an empty file at every
 * path of the attribute (self and thread-self, attr/exec and
 * attr/apparmor/exec), before anything is exec'd into it. A runtime that
 * wrote an exec'd process's label through the container's /proc would write
 * one of them (CVE-2019-16884, CVE-2025-52881). `b` is made able to mount
 * (CAP_SYS_ADMIN, no seccomp profile, a writable rootfs) and started
 * detached with `bin`; the caller deletes it (`root`, `id`).
 */
export function fakeProcContainer(
  t: ExecutionContext,
  bin: string,
  b: Bundle,
): { root: string; id: string; started: Result; written: () => string } {
  const ready = path.join(b.rootfs, 'fake-proc-ready');
  const attrs = ['self', 'thread-self'].flatMap((d) => [`${d}/attr/exec`, `${d}/attr/apparmor/exec`]);
  b.spec.process!.args = [
    'sh',
    '-c',
    'mount -t tmpfs fakeproc /proc && for d in self thread-self; do busybox mkdir -p /proc/$d/attr/apparmor; done && ' +
      `touch ${attrs.map((a) => `/proc/${a}`).join(' ')} && touch /fake-proc-ready && exec sleep 600`,
  ];
  const caps = [...new Set([...(b.spec.process!.capabilities?.bounding ?? []), 'CAP_SYS_ADMIN'])];
  b.spec.process!.capabilities = { bounding: caps, effective: caps, permitted: caps };
  delete b.spec.linux!.seccomp;
  b.spec.root!.readonly = false;
  b.write();
  fs.rmSync(ready, { force: true });
  const root = tempRoot();
  const id = uniqueId('fakeproc');
  const started = runtime(bin, root, ['run', '-d', '-b', b.dir, id]);
  t.teardown(() => runtime(bin, root, ['delete', '--force', id]));
  if (started.status === 0 && !waitForSync(() => fs.existsSync(ready)))
    return { root, id, started: { ...started, status: -1, stderr: 'the container never mounted its fake /proc' }, written: () => '' };
  const pid = () => (JSON.parse(runtime(bin, root, ['state', id]).stdout || '{}') as { pid?: number }).pid ?? 0;
  // read through the container's root from the host: its mount namespace, so its tmpfs
  const written = () => attrs.map((a) => fs.readFileSync(`/proc/${pid()}/root/proc/${a}`, 'utf8')).join('');
  return { root, id, started, written };
}
