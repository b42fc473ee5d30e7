/**
 * What an engine pays per container with tsrun and with runc, on private
 * daemons and storage (the engine tests' harnesses): `podman run --rm`,
 * `ctr run --rm`, `docker run --rm` of /bin/true, and a CRI pod sandbox +
 * container start (RunPodSandbox, CreateContainer, StartContainer). The
 * two runtimes alternate run by run, so load drifts hit both alike.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { buildImages, containerdAvailable, CRI_NAMESPACE, startContainerd } from '../tests/helpers/containerd.js';
import { CriClient, NamespaceMode } from '../tests/helpers/cri.js';
import { busyboxTarball, haveDocker, HostLeftovers, importBusybox, startDockerd } from '../tests/helpers/docker.js';
import { containersStore } from '../tests/helpers/podman.js';

export interface EngineRow {
  what: string;
  /** Wall ms of each run, per runtime name. */
  ms: Record<string, number[]>;
  note?: string;
}

type Runtimes = Record<string, string>;
const have = (bin: string) => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;

function timeSync(run: () => { status: number | null; stderr: string | Buffer }, what: string): number {
  const t0 = performance.now();
  const r = run();
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${what}: exit ${r.status}: ${String(r.stderr).slice(0, 400)}`);
  return ms;
}

/** Alternates the runtimes `runs` times after one warm-up each. */
async function alternate(runtimes: Runtimes, runs: number, once: (name: string, bin: string) => Promise<number> | number) {
  const ms: Record<string, number[]> = Object.fromEntries(Object.keys(runtimes).map((n) => [n, []]));
  for (const [n, b] of Object.entries(runtimes)) await once(n, b);
  for (let i = 0; i < runs; i++) for (const [n, b] of Object.entries(runtimes)) ms[n]!.push(await once(n, b));
  return ms;
}

async function podmanRow(runtimes: Runtimes, runs: number): Promise<EngineRow | null> {
  if (!have('podman') || !have('conmon')) return null;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-podman-'));
  const { env, store } = containersStore(dir, Object.values(runtimes));
  const podman = (args: string[]) => spawnSync('podman', [...store, ...args], { env, cwd: dir, encoding: 'utf8', timeout: 120_000 });
  try {
    const tar = path.join(dir, 'bb.tar');
    busyboxTarball(tar);
    const imp = podman(['import', tar, 'localhost/bench-bb']);
    if (imp.status !== 0) throw new Error(`podman import: ${imp.stderr}`);
    const ms = await alternate(runtimes, runs, (_n, bin) =>
      timeSync(() => podman(['--runtime', bin, 'run', '--rm', 'localhost/bench-bb', 'true']), 'podman run --rm'),
    );
    return { what: 'podman run --rm (conmon, vfs, host network)', ms };
  } finally {
    podman(['rm', '-af']);
    spawnSync('sh', ['-c', `grep -o " ${dir}/[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l`]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function ctrRow(runtimes: Runtimes, runs: number): Promise<EngineRow | null> {
  if (!containerdAvailable()) return null;
  const ns = 'bench';
  const d = await startContainerd({ cgroupParents: [ns] });
  try {
    const archive = path.join(d.dir, 'images.tar');
    buildImages(archive, [{ name: 'localhost/bench-bb:latest' }]);
    d.importImages(ns, archive);
    let n = 0;
    const ms = await alternate(runtimes, runs, (_name, bin) =>
      timeSync(
        () =>
          d.ctr(ns, [
            'run',
            '--rm',
            '--runc-binary',
            bin,
            '--runc-root',
            path.join(d.dir, 'rt'),
            '--fifo-dir',
            path.join(d.dir, 'fifo'),
            'localhost/bench-bb:latest',
            `b${n++}`,
            'true',
          ]),
        'ctr run --rm',
      ),
    );
    return { what: 'ctr run --rm (containerd 1.6, shim v2)', ms };
  } finally {
    await d.stop();
  }
}

async function dockerRow(runtimes: Runtimes, runs: number): Promise<EngineRow | null> {
  if (!haveDocker()) return null;
  const host = new HostLeftovers();
  const named = Object.fromEntries(Object.entries(runtimes).map(([n, b]) => [`bench-${n}`, b]));
  const d = await startDockerd({ runtimes: named });
  try {
    importBusybox(d, 'bench-bb');
    const ms = await alternate(runtimes, runs, (n) =>
      timeSync(() => d.docker(['run', '--rm', '--runtime', `bench-${n}`, 'bench-bb', 'true']), 'docker run --rm'),
    );
    return { what: 'docker run --rm (dockerd 20.10, vfs, no bridge)', ms };
  } finally {
    await d.stop();
    host.remove();
  }
}

async function criRow(runtimes: Runtimes, runs: number): Promise<EngineRow | null> {
  if (!containerdAvailable()) return null;
  const ms: Record<string, number[]> = {};
  const nsOpts = { network: NamespaceMode.NODE, pid: NamespaceMode.CONTAINER, ipc: NamespaceMode.POD };
  // one daemon per runtime (a handler is the runtime): not alternated run by run
  for (const [name, bin] of Object.entries(runtimes)) {
    const d = await startContainerd({
      cri: { handler: 'bench', runtime: bin, sandboxImage: 'localhost/bench-pause:latest' },
      cgroupParents: ['tsrun-cri-bench'],
    });
    const cri = new CriClient(d.address);
    try {
      const archive = path.join(d.dir, 'images.tar');
      buildImages(archive, [
        { name: 'localhost/bench-pause:latest', entrypoint: ['/bin/sh', '-c', 'trap "exit 0" TERM INT; sleep 2147483647 & wait'] },
        { name: 'localhost/bench-bb:latest' },
      ]);
      d.importImages(CRI_NAMESPACE, archive);
      ms[name] = [];
      for (let i = 0; i <= runs; i++) {
        const pod = {
          metadata: { name: `p${i}`, uid: `u${i}`, namespace: 'bench' },
          linux: { cgroupParent: '/tsrun-cri-bench', securityContext: { namespaceOptions: nsOpts } },
        };
        const t0 = performance.now();
        const sandbox = await cri.runPodSandbox(pod, 'bench');
        const cid = await cri.createContainer(
          sandbox,
          {
            metadata: { name: 'c' },
            image: 'localhost/bench-bb:latest',
            command: ['sleep', '3600'],
            linux: { securityContext: { namespaceOptions: nsOpts } },
          },
          pod,
        );
        await cri.startContainer(cid);
        if (i > 0) ms[name].push(performance.now() - t0); // the first warms up
        await cri.stopPodSandbox(sandbox);
        await cri.removePodSandbox(sandbox);
      }
    } finally {
      cri.close();
      await d.stop();
    }
  }
  return { what: 'CRI RunPodSandbox + CreateContainer + StartContainer (containerd 1.6)', ms, note: 'one daemon per runtime, in turn' };
}

/** Every engine row that can run here; an engine that fails is reported, not fatal. */
export async function engineOverheads(runtimes: Runtimes, runs: number, log: (m: string) => void): Promise<EngineRow[]> {
  const rows: EngineRow[] = [];
  for (const [name, row] of [
    ['podman', podmanRow],
    ['ctr', ctrRow],
    ['docker', dockerRow],
    ['cri', criRow],
  ] as const) {
    log(`bench: engines, ${name}`);
    try {
      const r = await row(runtimes, runs);
      if (r) rows.push(r);
    } catch (e) {
      rows.push({ what: name, ms: {}, note: `failed: ${(e as Error).message.split('\n')[0]}` });
    }
  }
  return rows;
}
