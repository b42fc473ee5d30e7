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

import { IS_ROOT, RUNC, TSRUN, busyboxRootfs, leftIn, runtime, tempRoot, uniqueId, type Bundle } from '../helpers/bundle.js';
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

/**
 * CVE-2025-52881 / CVE-2019-16884 against an LSM's label write, as both LSM lanes run it. The defence is
 * layered: (1) the config's form, a bundle file bound over each of `destinations` (the init's own
 * attribute files), is refused before anything exists (nothing below /proc but lxcfs's files, runc's
 * checkProcMount); (2) the form left is the container's own: its program mounts a tmpfs over its /proc
 * with a file at every path of the attribute (`container`: one that may mount), and the runtime then
 * execs into it with `execFlags`.
 * tsrun opens the attribute beneath its own procfs, taken before it joins the container
 * (native/init/lsm.c): nothing is written into the fake, and the exec'd process's label is `want`.
 * runc's results are logged.
 */
export function labelWriteAttack(
  t: ExecutionContext,
  o: { bundle: () => Bundle; container: () => Bundle; destinations: string[]; execFlags: string[]; want: string; prefix: string },
): void {
  const b = o.bundle();
  t.teardown(() => b.cleanup());
  const fake = path.join(b.dir, 'fake-exec');
  fs.writeFileSync(fake, '');
  for (const destination of o.destinations) b.spec.mounts!.push({ destination, type: 'bind', source: fake, options: ['bind'] });
  b.write();
  const root = tempRoot();
  const refused = runtime(TSRUN, root, ['run', '-b', b.dir, uniqueId(`${o.prefix}-cve`)]);
  t.is(refused.status, 1, refused.stdout);
  const first = o.destinations[0]!.replace(/[/.]/g, '\\$&');
  t.regex(refused.stderr, new RegExp(`mounts\\[\\d+\\]\\.destination: "${first}" cannot be mounted because it is inside /proc`));
  t.deepEqual(leftIn(root), [], 'no state dir');
  t.is(fs.readFileSync(fake, 'utf8'), '', 'nothing written to the bound file');
  const theirs = runtime(RUNC!, tempRoot(), ['run', '-b', b.dir, uniqueId(`${o.prefix}-cve-runc`)]);
  t.log(
    `runc ${run(RUNC!, ['--version']).stdout.split('\n')[0]}, the config's form: exit ${theirs.status}, ${JSON.stringify(theirs.stderr)}`,
  );

  for (const [name, bin] of [
    ['tsrun', TSRUN],
    ['runc', RUNC!],
  ] as const) {
    const c = o.container();
    t.teardown(() => c.cleanup());
    const f = fakeProcContainer(t, bin, c);
    const pidFile = path.join(c.dir, 'exec.pid');
    const e =
      f.started.status === 0
        ? runtime(bin, f.root, ['exec', '-d', '--pid-file', pidFile, ...o.execFlags, f.id, 'sleep', '600'])
        : f.started;
    const pid = fs.existsSync(pidFile) ? fs.readFileSync(pidFile, 'utf8').trim() : '';
    // SELinux's label ends in a NUL
    const current = pid ? fs.readFileSync(`/proc/${pid}/attr/current`, 'utf8').replace(/\0/g, '').trim() : '';
    const written = f.started.status === 0 ? f.written() : '';
    if (name === 'runc') {
      t.log(
        `runc, a fake /proc of the container's: exit ${e.status} ${JSON.stringify(e.stderr)}; exec'd process ${JSON.stringify(current)}; fake attribute files hold ${JSON.stringify(written)}`,
      );
      continue;
    }
    t.is(f.started.status, 0, f.started.stderr);
    t.is(e.status, 0, e.stderr);
    t.is(current, o.want, "the exec'd process has exec's label");
    t.is(written, '', 'nothing written into the fake /proc');
  }
}
