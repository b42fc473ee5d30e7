/**
 * Clean containers from a cached image (issue 26), against what the same
 * /bin/true costs elsewhere:
 *
 *   tsrun      Runtime.output() of a busybox-static image already unpacked in
 *              the cache: a writable layer made, create → start → wait →
 *              delete, the layer removed; sequential, and 50 at once
 *   runc run   a prepared bundle (the bench's busybox rootfs, shared: not clean)
 *   podman     `podman run --rm` of the same image in a private store,
 *              overlay and vfs drivers
 *   unpack     Images.load into an empty cache vs `podman load` of the same
 *              image (an oci-archive) into an empty store
 *
 * tsrun and runc alternate container by container, so load drifts hit both
 * alike. Everything is made under one temp dir and removed, with the mounts
 * podman's overlay driver leaves and what podman writes on the host.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Images, Runtime, type Image } from '../lib/index.js';
import { busyboxLayout } from '../tests/helpers/images.js';
import { containersStore, hostLeftovers } from '../tests/helpers/podman.js';

/** One command's cost as build/tsrun-measure reports it (wall: fork to wait4). */
export interface Measured {
  status: number;
  wall: number;
  stderr?: string;
}

export interface ImageBenchOptions {
  runc: string | undefined;
  crun: string | undefined;
  /** A bundle of /bin/true with a busybox rootfs (what `runc run` runs). */
  trueBundle: string;
  /** Runs a command through the meter. */
  measure(argv: string[]): Promise<Measured>;
  /** Sequential containers per runtime. */
  runs: number;
  log(message: string): void;
}

export interface PodmanRun {
  driver: string;
  runtime: string;
  ms: number[];
  note?: string;
}

export interface ImageRows {
  runs: number;
  tsrun: number[];
  runc: number[];
  concurrent: { n: number; wall: number; failed: number };
  podman: PodmanRun[];
  load: { tsrunLayout: number[]; tsrunArchive: number[]; podman: { driver: string; ms: number[]; note?: string }[] };
  imageBytes: number;
  leftovers: string[];
}

const CONCURRENT = 50;
const WARMUP = 3;
const LOADS = 5;
const IMAGE = 'localhost/bench-bb:latest';
const have = (bin: string) => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;

/** Mount points under `dir`, deepest first. */
function mountsUnder(dir: string): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort()
    .reverse();
}

/** Processes whose command line names a path under `dir` (conmon outlives `podman run --rm` by a moment). */
function processesUnder(dir: string): number[] {
  const pids: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(`${dir}/`)) pids.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return pids;
}

async function waitGone(dir: string): Promise<string[]> {
  for (let i = 0; i < 100 && processesUnder(dir).length; i++) await new Promise((r) => setTimeout(r, 50));
  return processesUnder(dir).map((p) => `process ${p}`);
}

function removeTree(dir: string): void {
  for (const m of mountsUnder(dir)) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Runs one create→start→wait→delete of /bin/true from `image`; its wall ms. */
async function cleanTrue(rt: Runtime, image: Image, id: string): Promise<number> {
  const t0 = performance.now();
  const out = await rt.output(id, { image, config: { process: { args: ['true'] } } });
  const ms = performance.now() - t0;
  if (out.status !== 0) throw new Error(`${id}: exit ${out.status}: ${out.stderr.toString()}`);
  return ms;
}

/** podman with a private store under `store`, of `driver`; `conf`: containersStore's environment. */
function podmanIn(conf: NodeJS.ProcessEnv, store: string, driver: string) {
  const flags = ['--root', path.join(store, 'graph'), '--runroot', path.join(store, 'run'), '--storage-driver', driver];
  const files = ['CONTAINERS_CONF', 'CONTAINERS_STORAGE_CONF'].map((k) => `${k}=${conf[k]}`);
  return {
    /** For the meter, which runs commands in its own environment (the bench's): through env(1). */
    argv: (...a: string[]) => ['env', ...files, 'podman', ...flags, ...a],
    sync: (...a: string[]) => spawnSync('podman', [...flags, ...a], { env: conf, encoding: 'utf8', timeout: 120_000 }),
  };
}

export async function imageRows(o: ImageBenchOptions): Promise<ImageRows> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-images-'));
  const host = hostLeftovers();
  const crunRootBefore = fs.existsSync('/run/crun');
  try {
    const layout = await busyboxLayout(dir);
    const imageBytes = Number(spawnSync('du', ['-sb', layout], { encoding: 'utf8' }).stdout.split('\t')[0]);

    // ---- the cached image: sequential, alternating with runc run, then 50 at once
    o.log('bench: images, clean containers');
    const rt = new Runtime({ root: path.join(dir, 'state'), images: { dir: path.join(dir, 'cache') } });
    const images = await rt.images();
    const image = await images.load(`oci:${layout}`);
    const runcRoot = path.join(dir, 'runc');
    const runcRun = async (id: string) => {
      const s = await o.measure([o.runc!, '--root', runcRoot, 'run', '-b', o.trueBundle, id]);
      if (s.status !== 0) throw new Error(`runc run: exit ${s.status}: ${s.stderr ?? ''}`);
      return s.wall;
    };
    for (let i = 0; i < WARMUP; i++) {
      await cleanTrue(rt, image, `w${i}`);
      if (o.runc) await runcRun(`w${i}`);
    }
    const tsrun: number[] = [];
    const runc: number[] = [];
    for (let i = 0; i < o.runs; i++) {
      tsrun.push(await cleanTrue(rt, image, `s${i}`));
      if (o.runc) runc.push(await runcRun(`s${i}`));
    }
    let failed = 0;
    const c0 = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENT }, (_, i) =>
        cleanTrue(rt, image, `p${i}`).catch((e: Error) => {
          failed++;
          o.log(`bench: images: p${i}: ${e.message.split('\n')[0]}`);
        }),
      ),
    );
    const concurrent = { n: CONCURRENT, wall: performance.now() - c0, failed };

    // ---- unpack: Images.load into an empty cache, from the layout and from an oci-archive
    o.log('bench: images, unpack');
    const archive = path.join(dir, 'bb.tar');
    const copy = have('skopeo')
      ? spawnSync('skopeo', ['copy', '-q', `oci:${layout}`, `oci-archive:${archive}:${IMAGE}`], { encoding: 'utf8' })
      : null;
    if (copy && copy.status !== 0) throw new Error(`skopeo copy: ${copy.stderr}`);
    const loadInto = async (source: string, i: number) => {
      const cache = path.join(dir, `load-${i}`);
      const t0 = performance.now();
      await new Images({ dir: cache }).load(source);
      const ms = performance.now() - t0;
      removeTree(cache);
      return ms;
    };
    await loadInto(`oci:${layout}`, -1); // the modules, the binding
    const tsrunLayout: number[] = [];
    const tsrunArchive: number[] = [];
    for (let i = 0; i < LOADS; i++) {
      tsrunLayout.push(await loadInto(`oci:${layout}`, i));
      if (copy) tsrunArchive.push(await loadInto(`oci-archive:${archive}`, i));
    }

    // ---- podman: load into an empty store, then run --rm, per storage driver
    const podman: PodmanRun[] = [];
    const podmanLoad: ImageRows['load']['podman'] = [];
    if (copy && have('podman') && have('conmon')) {
      const conf = containersStore(
        fs.mkdtempSync(path.join(dir, 'podman-')),
        [o.runc, o.crun].filter((b): b is string => !!b),
      ).env;
      for (const driver of ['overlay', 'vfs']) {
        o.log(`bench: images, podman (${driver})`);
        const ms: number[] = [];
        let note: string | undefined;
        for (let i = -1; i < LOADS && !note; i++) {
          // podman refuses a runroot of more than 50 characters: short names
          const store = fs.mkdtempSync(path.join(dir, 'l'));
          const s = await o.measure(podmanIn(conf, store, driver).argv('load', '-q', '-i', archive));
          if (s.status !== 0) note = `podman load failed: ${(s.stderr ?? '').split('\n')[0]}`;
          else if (i >= 0) ms.push(s.wall);
          removeTree(store);
        }
        podmanLoad.push({ driver, ms, note });
        if (note) continue;
        const store = fs.mkdtempSync(path.join(dir, 'r'));
        const p = podmanIn(conf, store, driver);
        try {
          const loaded = p.sync('load', '-q', '-i', archive);
          if (loaded.status !== 0) throw new Error(`podman load: ${loaded.stderr}`);
          for (const [name, bin] of [
            ['runc', o.runc],
            ['crun', o.crun],
          ] as const) {
            if (!bin) continue;
            const run = () => o.measure(p.argv('--runtime', bin, 'run', '--rm', IMAGE, 'true'));
            const first = await run(); // a warm-up, and whether this runtime works here at all
            if (first.status !== 0) {
              podman.push({ driver, runtime: name, ms: [], note: `fails here: ${(first.stderr ?? '').trim().split('\n')[0]}` });
              continue;
            }
            const xs: number[] = [];
            for (let i = 0; i < Math.min(o.runs, 20); i++) {
              const s = await run();
              if (s.status !== 0) throw new Error(`podman run --rm (${name}): exit ${s.status}: ${s.stderr ?? ''}`);
              xs.push(s.wall);
            }
            podman.push({ driver, runtime: name, ms: xs });
          }
        } finally {
          p.sync('rm', '-af');
          p.sync('rmi', '-af');
          removeTree(store);
        }
      }
    }

    const leftovers: string[] = [];
    for (const d of ['containers', 'tmp'])
      for (const e of fs.readdirSync(path.join(images.store.dir, d))) leftovers.push(`cache ${d}/${e}`);
    for (const e of fs.readdirSync(rt.root)) if (!e.startsWith('.')) leftovers.push(`state ${e}`);
    if (fs.existsSync(runcRoot)) for (const e of fs.readdirSync(runcRoot)) leftovers.push(`runc state ${e}`);
    for (const m of mountsUnder(dir)) leftovers.push(`mount ${m}`);
    leftovers.push(...(await waitGone(dir)));
    return {
      runs: o.runs,
      tsrun,
      runc,
      concurrent,
      podman,
      load: { tsrunLayout, tsrunArchive, podman: podmanLoad },
      imageBytes,
      leftovers,
    };
  } finally {
    removeTree(dir);
    host.remove();
    if (!crunRootBefore)
      try {
        fs.rmdirSync('/run/crun');
      } catch {
        /* not made, or in use */
      }
  }
}

// ---- the report --------------------------------------------------------------

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: number[]) => sorted(xs)[Math.floor(xs.length / 2)] ?? NaN;
const p95 = (xs: number[]) => sorted(xs)[Math.min(xs.length - 1, Math.ceil(xs.length * 0.95) - 1)] ?? NaN;
const f1 = (x: number) => x.toFixed(1);
const f2 = (x: number) => x.toFixed(2);

/** The section of results.md: rows, then the ratios with their goal. */
export function imageTable(r: ImageRows, runcVersion: string): string[] {
  const md: string[] = [];
  const t = median(r.tsrun);
  md.push('## Clean containers from a cached image');
  md.push('');
  md.push(
    `/bin/true from a busybox-static image (${f1(r.imageBytes / 1024)} KiB OCI layout, one layer). tsrun: \`Runtime.output()\` in this process, the image already unpacked in its cache: a writable layer (overlayfs) made, create → start → wait → delete, the layer removed. runc ${runcVersion}: \`runc run\` of a prepared bundle whose rootfs every run shares (not clean); the two alternate, after ${WARMUP} warm-ups each. podman: private store, host network, cgroupfs, one warm-up. Unpack: into an empty cache or store, median of ${LOADS}.`,
  );
  md.push('');
  md.push('| what | median ms | p95 ms | runs |');
  md.push('| --- | ---: | ---: | ---: |');
  md.push(`| tsrun clean container, sequential, per container | ${f2(t)} | ${f2(p95(r.tsrun))} | ${r.tsrun.length} |`);
  md.push(
    `| tsrun clean containers, ${r.concurrent.n} at once: wall (per container) | ${f1(r.concurrent.wall)} (${f2(r.concurrent.wall / r.concurrent.n)}) | | ${r.concurrent.n}${r.concurrent.failed ? `, **${r.concurrent.failed} failed**` : ''} |`,
  );
  if (r.runc.length)
    md.push(`| \`runc run\` of a prepared bundle (shared rootfs) | ${f2(median(r.runc))} | ${f2(p95(r.runc))} | ${r.runc.length} |`);
  for (const p of r.podman)
    md.push(
      p.ms.length
        ? `| \`podman run --rm\`, ${p.driver}, --runtime ${p.runtime} | ${f1(median(p.ms))} | ${f1(p95(p.ms))} | ${p.ms.length} |`
        : `| \`podman run --rm\`, ${p.driver}, --runtime ${p.runtime} | — | — | ${p.note ?? ''} |`,
    );
  md.push(
    `| unpack: tsrun Images.load of the OCI layout | ${f1(median(r.load.tsrunLayout))} | ${f1(p95(r.load.tsrunLayout))} | ${r.load.tsrunLayout.length} |`,
  );
  if (r.load.tsrunArchive.length)
    md.push(
      `| unpack: tsrun Images.load of the oci-archive | ${f1(median(r.load.tsrunArchive))} | ${f1(p95(r.load.tsrunArchive))} | ${r.load.tsrunArchive.length} |`,
    );
  for (const p of r.load.podman)
    md.push(
      p.ms.length
        ? `| unpack: \`podman load\` of the oci-archive, ${p.driver} | ${f1(median(p.ms))} | ${f1(p95(p.ms))} | ${p.ms.length} |`
        : `| unpack: \`podman load\`, ${p.driver} | — | — | ${p.note ?? ''} |`,
    );
  md.push('');
  md.push('| ratio | value | goal |');
  md.push('| --- | ---: | --- |');
  if (r.runc.length) {
    const x = t / median(r.runc);
    md.push(
      `| tsrun clean container ÷ \`runc run\` (not clean), sequential medians | ${f2(x)} | < 1.0: ${x < 1 ? 'met' : '**not met**'} |`,
    );
    md.push(
      `| tsrun clean, ${r.concurrent.n} at once, per container ÷ \`runc run\` median | ${f2(r.concurrent.wall / r.concurrent.n / median(r.runc))} | |`,
    );
  }
  for (const p of r.podman)
    if (p.ms.length) md.push(`| tsrun clean container ÷ \`podman run --rm\` (${p.driver}, ${p.runtime}) | ${f2(t / median(p.ms))} | |`);
  const archive = r.load.tsrunArchive.length ? r.load.tsrunArchive : r.load.tsrunLayout;
  for (const p of r.load.podman)
    if (p.ms.length) md.push(`| unpack: tsrun Images.load ÷ \`podman load\` (${p.driver}) | ${f2(median(archive) / median(p.ms))} | |`);
  md.push('');
  md.push(`Left behind after the run: ${r.leftovers.length ? r.leftovers.join(', ') : 'nothing'}.`);
  md.push('');
  return md;
}
