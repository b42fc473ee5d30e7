/**
 * Rootless podman drives tsrun: podman run by the unprivileged test user
 * (tests/helpers/rootless.ts), which runs its OCI runtime as root of a user
 * namespace of its own (the /etc/subuid ranges through newuidmap), with vfs
 * storage, no network (no slirp4netns or pasta needed), and the cgroup
 * manager podman picks on the host: cgroupfs here, the user's own systemd
 * manager (lingering, through its session bus) on a systemd host such as the
 * production lane. Each case runs with tsrun and with runc, and compares.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { BUSYBOX, RUNC } from '../helpers/bundle.js';
import { ENGINE_RUNTIME, SYSTEMD_HOST, have } from '../helpers/engine.js';
import { cgroupManager } from '../helpers/podman.js';
import { USER, as, chownTree, setUp, userManager } from '../helpers/rootless.js';

const { who, skip: why } = setUp();
const skip = why ?? (have('podman') && have('conmon') ? null : 'podman or conmon is not installed');
const podmanTest = skip ? test.skip : test.serial;
if (skip) test('rootless podman suite', (t) => t.pass(`skipped: ${skip}`));

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-podman-rootless-'));
const conf = path.join(dir, 'containers.conf');
const IMAGE = 'localhost/tsrun-rootless-bb:latest';
/** The user's manager and bus on a systemd host (podman's systemd cgroup manager uses them), set up in before(). */
let session: string[] = [];

/** podman as the user, with private storage and config, on `runtime`. */
function podman(runtime: string, args: string[]) {
  return as(who!, 'env', [
    ...session,
    `CONTAINERS_CONF=${conf}`,
    'podman',
    '--runtime',
    runtime,
    '--storage-driver',
    'vfs',
    '--root',
    path.join(dir, 'graph'),
    '--runroot',
    path.join(dir, 'run'),
    ...args,
  ]);
}

test.before(() => {
  if (skip) return;
  if (SYSTEMD_HOST) session = Object.entries(userManager(USER, who!.uid)).map(([k, v]) => `${k}=${v}`);
  fs.writeFileSync(
    conf,
    [
      '[engine]',
      ...cgroupManager(),
      'events_logger = "file"',
      '[containers]',
      'netns = "none"',
      // podman's default NOFILE/NPROC of 1048576 needs CAP_SYS_RESOURCE
      'default_ulimits = []',
      '',
    ].join('\n'),
  );
  const img = path.join(dir, 'img');
  fs.mkdirSync(path.join(img, 'bin'), { recursive: true });
  fs.copyFileSync(BUSYBOX, path.join(img, 'bin', 'busybox'));
  fs.chmodSync(path.join(img, 'bin', 'busybox'), 0o755);
  for (const a of ['sh', 'id', 'cat', 'sleep', 'echo', 'ls']) fs.symlinkSync('busybox', path.join(img, 'bin', a));
  fs.chmodSync(dir, 0o755);
  chownTree(dir, who!.uid, who!.gid);
  const tar = path.join(dir, 'img.tar');
  const made = as(who!, 'tar', ['-C', img, '-cf', tar, '.']);
  if (made.status !== 0) throw new Error(`tar: ${made.stderr}`);
  const imported = podman(ENGINE_RUNTIME, ['import', tar, IMAGE]);
  if (imported.status !== 0) throw new Error(`podman import: ${imported.stderr}`);
});

test.after.always(() => {
  if (!skip) podman(ENGINE_RUNTIME, ['rm', '--all', '--force']);
  fs.rmSync(dir, { recursive: true, force: true });
});

const runtimes = () => [ENGINE_RUNTIME, RUNC!] as const;

podmanTest('rootless podman run: the ids and maps its runtime gives the container, as with runc', (t) => {
  const out: string[] = [];
  for (const rt of runtimes()) {
    const r = podman(rt, ['run', '--rm', IMAGE, 'sh', '-c', 'id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; echo done']);
    t.is(r.status, 0, `${rt}: ${r.stderr}`);
    out.push(r.stdout);
  }
  t.is(out[0], out[1]);
  t.regex(out[0]!, new RegExp(`^0\\n0\\n\\s*0\\s+${who!.uid}\\s+1\\n\\s*1\\s+${who!.subuid}\\s`));
});

podmanTest('rootless podman run -d, exec, ps, stop, rm through the runtime, as with runc', (t) => {
  const seen: string[] = [];
  for (const rt of runtimes()) {
    const name = `tsrun-rl-${path.basename(rt)}-${process.pid}`;
    const run = podman(rt, ['run', '-d', '--name', name, IMAGE, 'sleep', '600']);
    t.is(run.status, 0, `${rt} run -d: ${run.stderr}`);
    const ex = podman(rt, ['exec', name, 'sh', '-c', 'id -u; echo exec-ok']);
    t.is(ex.status, 0, `${rt} exec: ${ex.stderr}`);
    seen.push(ex.stdout);
    t.regex(podman(rt, ['ps', '--format', '{{.Names}} {{.Status}}']).stdout, new RegExp(`${name} Up`));
    t.is(podman(rt, ['stop', '-t', '1', name]).status, 0, rt);
    t.is(podman(rt, ['rm', name]).status, 0, rt);
  }
  t.is(seen[0], seen[1]);
  t.is(seen[0], '0\nexec-ok\n');
});
