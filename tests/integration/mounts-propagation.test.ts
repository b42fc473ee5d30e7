/**
 * Mount propagation between the host and a volume, in both directions, for
 * every linux.rootfsPropagation value and every propagation option on the
 * bind, compared with runc on the same bundle: a host directory that is a
 * shared mount (its own peer group) is bound into the container; the host
 * mounts a tmpfs below it and the container's mountinfo is read, then the
 * container mounts one below it (exec) and the host's mountinfo is read.
 * Kubernetes' `mountPropagation: Bidirectional` is containerd's config of
 * rootfsPropagation rshared with an rshared bind: both directions must work.
 */
import test, { type ExecutionContext } from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { IS_ROOT, RUNC, TSRUN, makeBundle, runtime, tempRoot, uniqueId } from '../helpers/bundle.js';

const rootTest = IS_ROOT ? test.serial : test.skip;

const ROOTFS_VALUES = [undefined, 'private', 'rprivate', 'slave', 'rslave', 'shared', 'rshared'] as const;
const BIND_VALUES = [undefined, 'private', 'rprivate', 'slave', 'rslave', 'shared', 'rshared'] as const;

/** Mount points listed in a mountinfo text. */
function mountPoints(mountinfo: string): Set<string> {
  const points = mountinfo
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ')[4]!.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
  return new Set(points);
}

/**
 * One container of `bin` with rootfsPropagation `rootfs`, one volume per bind
 * value at /v<i>: which of them passes a mount host → container and which
 * container → host, as `<bind> h2c=0|1 c2h=0|1` lines.
 */
function propagationSeen(t: ExecutionContext, bin: string, rootfs: string | undefined): string[] {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-prop-'));
  const hostDirs = BIND_VALUES.map((_, i) => path.join(base, `v${i}`));
  // each volume's source its own shared mount (the host's "/" here is private), as a kubelet's pod dir
  for (const dir of hostDirs) {
    fs.mkdirSync(dir);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tsrun-vol', dir]);
    execFileSync('mount', ['--make-shared', dir]);
    fs.mkdirSync(path.join(dir, 'h2c'));
    fs.mkdirSync(path.join(dir, 'c2h'));
  }
  t.teardown(() => {
    for (const dir of hostDirs) spawnSync('umount', ['-R', '-l', dir], { stdio: 'ignore' });
    fs.rmSync(base, { recursive: true, force: true });
  });
  const b = makeBundle((s) => {
    s.process!.args = ['sleep', '600'];
    // the container mounts below its volumes itself (exec): CAP_SYS_ADMIN, and no seccomp profile
    // that refuses mount(2) to a config without it
    const caps = [...(s.process!.capabilities!.bounding ?? []), 'CAP_SYS_ADMIN'];
    s.process!.capabilities = { bounding: caps, effective: caps, permitted: caps };
    delete s.linux!.seccomp;
    if (rootfs) s.linux!.rootfsPropagation = rootfs;
    BIND_VALUES.forEach((value, i) =>
      s.mounts!.push({ destination: `/v${i}`, type: 'bind', source: hostDirs[i]!, options: value ? ['rbind', value] : ['rbind'] }),
    );
  });
  t.teardown(() => b.cleanup());
  const root = tempRoot();
  const id = uniqueId('prop');
  t.teardown(() => runtime(bin, root, ['delete', '--force', id]));
  const run = runtime(bin, root, ['run', '-d', '-b', b.dir, id]);
  if (run.status !== 0) return [`run failed: ${run.stderr.trim()}`];
  const pid = (JSON.parse(runtime(bin, root, ['state', id]).stdout) as { pid: number }).pid;
  for (const dir of hostDirs) execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tsrun-h2c', path.join(dir, 'h2c')]);
  const inside = mountPoints(fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8'));
  const script = BIND_VALUES.map((_, i) => `mount -t tmpfs -o size=1m tsrun-c2h /v${i}/c2h`).join(' && ');
  const exec = runtime(bin, root, ['exec', id, 'sh', '-c', script]);
  if (exec.status !== 0) return [`exec failed: ${exec.stderr.trim()}`];
  const onHost = mountPoints(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
  runtime(bin, root, ['delete', '--force', id]);
  return BIND_VALUES.map((value, i) => {
    const h2c = inside.has(`/v${i}/h2c`) ? 1 : 0;
    const c2h = onHost.has(path.join(hostDirs[i]!, 'c2h')) ? 1 : 0;
    return `${value ?? '(none)'} h2c=${h2c} c2h=${c2h}`;
  });
}

/** What the propagation rules give on a host whose volume sources are shared mounts. */
const KNOWN: Partial<Record<string, Record<string, string>>> = {
  // Kubernetes' Bidirectional (containerd: rootfsPropagation rshared, an rshared bind), and HostToContainer
  rshared: { rshared: 'h2c=1 c2h=1', '(none)': 'h2c=1 c2h=1', rslave: 'h2c=1 c2h=0', rprivate: 'h2c=0 c2h=0' },
  // the default: "/" rslave, so a volume is a slave of the host's peer group, whatever the bind asks
  '(unset)': { rshared: 'h2c=1 c2h=0', '(none)': 'h2c=1 c2h=0', rprivate: 'h2c=0 c2h=0' },
  rprivate: { rshared: 'h2c=0 c2h=0', '(none)': 'h2c=0 c2h=0' },
};

for (const rootfs of ROOTFS_VALUES) {
  rootTest(`rootfsPropagation ${rootfs ?? '(unset)'}: each bind propagation passes mounts host → container and back as with runc`, (t) => {
    const ours = propagationSeen(t, TSRUN, rootfs);
    t.log(ours);
    for (const [bind, want] of Object.entries(KNOWN[rootfs ?? '(unset)'] ?? {}))
      t.true(ours.includes(`${bind} ${want}`), `bind ${bind}: want ${want}, got ${ours.join('; ')}`);
    if (RUNC) t.deepEqual(ours, propagationSeen(t, RUNC, rootfs), 'tsrun (left) and runc (right) on the same bundle');
  });
}
