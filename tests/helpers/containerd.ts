/**
 * A private containerd 1.6 for the engine tests and the benchmark: its own
 * config, root, state, sockets and opt dir under one temp dir, optionally
 * with the CRI plugin and a runtime handler for the runtime under test, and
 * OCI images built offline from busybox-static. No ava in here, so a
 * benchmark can import it too.
 *
 *   const d = await startContainerd({ cri: { handler: 'tsrun', runtime: '/path/to/tsrun' } });
 *   d.importImages('k8s.io', archive);
 *   ...
 *   await d.stop(); // the daemon, its shims, mounts, cgroups and dirs
 */
import { type ChildProcess, spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

import { busyboxRootfs, processesMatching } from './bundle.js';
import { SYSTEMD_HOST } from './engine.js';
import { cgroupHierarchies } from './leaks.js';
import { waitFor } from './wait.js';

export const CONTAINERD = '/usr/bin/containerd';
export const CTR = '/usr/bin/ctr';
export const SHIM = '/usr/bin/containerd-shim-runc-v2';

/** Whether a private containerd can run here: the binaries, and root. */
export const containerdAvailable = () =>
  process.getuid?.() === 0 && [CONTAINERD, CTR, SHIM].every((p) => fs.existsSync(p)) && fs.existsSync('/sys/fs/cgroup');

/** The CRI namespace: the CRI plugin keeps its images, pods and containers in it. */
export const CRI_NAMESPACE = 'k8s.io';

const sha256 = (b: Buffer) => 'sha256:' + crypto.createHash('sha256').update(b).digest('hex');

/** One image of an archive: a name and the parts of its OCI image config that matter here. */
export interface ImageSpec {
  name: string;
  entrypoint?: string[];
  cmd?: string[];
  stopSignal?: string;
}

/**
 * An OCI image archive (oci-layout, index.json, blobs/sha256/...) that
 * `ctr images import` reads, with one image per spec. They share one layer:
 * busybox-static and a symlink per applet.
 */
export function buildImages(out: string, images: ImageSpec[], workDir = path.dirname(out)) {
  const rootfs = fs.mkdtempSync(path.join(workDir, 'image-rootfs-'));
  const layout = fs.mkdtempSync(path.join(workDir, 'image-layout-'));
  try {
    busyboxRootfs(rootfs);

    const tar = spawnSync('tar', ['--numeric-owner', '--owner=0', '--group=0', '-cf', '-', '-C', rootfs, '.'], { maxBuffer: 256 << 20 });
    if (tar.status !== 0) throw new Error(`tar: ${tar.stderr}`);
    const layerTar = tar.stdout;
    const layer = zlib.gzipSync(layerTar);

    const arch = ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' } as Record<string, string>)[process.arch];
    const platform = { architecture: arch ?? process.arch, os: 'linux' };
    const blobs = path.join(layout, 'blobs', 'sha256');
    fs.mkdirSync(blobs, { recursive: true });
    const put = (b: Buffer) => fs.writeFileSync(path.join(blobs, sha256(b).slice('sha256:'.length)), b);
    put(layer);
    const manifests = images.map((img) => {
      const config = Buffer.from(
        JSON.stringify({
          ...platform,
          config: {
            Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
            ...(img.entrypoint && { Entrypoint: img.entrypoint }),
            Cmd: img.cmd ?? (img.entrypoint ? undefined : ['sh']),
            WorkingDir: '/',
            ...(img.stopSignal && { StopSignal: img.stopSignal }),
          },
          rootfs: { type: 'layers', diff_ids: [sha256(layerTar)] },
          history: [{ created_by: 'tests/helpers/containerd.ts' }],
        }),
      );
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
          layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: layer.length }],
        }),
      );
      put(config);
      put(manifest);
      return {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: sha256(manifest),
        size: manifest.length,
        platform,
        annotations: { 'io.containerd.image.name': img.name, 'org.opencontainers.image.ref.name': img.name.split(':').at(-1) },
      };
    });
    fs.writeFileSync(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    fs.writeFileSync(
      path.join(layout, 'index.json'),
      JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }),
    );
    const a = spawnSync(
      'tar',
      ['--numeric-owner', '--owner=0', '--group=0', '-cf', out, '-C', layout, 'oci-layout', 'index.json', 'blobs'],
      {
        encoding: 'utf8',
      },
    );
    if (a.status !== 0) throw new Error(`tar: ${a.stderr}`);
  } finally {
    fs.rmSync(rootfs, { recursive: true, force: true });
    fs.rmSync(layout, { recursive: true, force: true });
  }
}

/** The CRI plugin's settings: one runtime handler for the runtime under test, and the pause image. */
export interface CriOptions {
  /** The handler name a pod selects with RunPodSandboxRequest.runtime_handler (a RuntimeClass's `handler`). */
  handler: string;
  /** The runc-compatible binary the handler's shim runs (options.BinaryName), an absolute path. */
  runtime: string;
  /**
   * options.SystemdCgroup of both handlers: the runtime runs with
   * --systemd-cgroup and each container is a scope in its pod's slice (what
   * a kubelet with cgroupDriver systemd needs; on by default on a systemd host).
   */
  systemdCgroup: boolean;
  /** The runtime's --root parent (options.Root); the shim adds /<namespace>. */
  runtimeRoot: string;
  /** The default handler's (runc's) --root parent. */
  runcRoot: string;
  sandboxImage: string;
  cniConfDir: string;
  cniBinDir: string;
  /**
   * Keeps every oom_score_adj at or above containerd's own: lowering it
   * needs CAP_SYS_RESOURCE, which a nested or confined host may not give
   * root, and the CRI asks -998 for each pause container.
   */
  restrictOomScoreAdj: boolean;
}

const CAP_SYS_RESOURCE = 24;

/** Whether this process may lower an oom_score_adj (CAP_SYS_RESOURCE in its effective set). */
export function canLowerOomScoreAdj(): boolean {
  const eff = /^CapEff:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1];
  return eff !== undefined && ((BigInt('0x' + eff) >> BigInt(CAP_SYS_RESOURCE)) & 1n) === 1n;
}

/**
 * The CRI plugin's section of config.toml (version 2 keys, containerd 1.6,
 * as `containerd config default` prints them). Pods on the host network
 * need no CNI, so the CNI dirs are private and empty; the images are
 * imported beforehand, so nothing is pulled.
 */
export function criConfigToml(o: CriOptions): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return [
    `[${cri}]`,
    `  sandbox_image = "${o.sandboxImage}"`,
    // the streaming server (Exec/Attach/PortForward URLs) on loopback only, any free port
    '  stream_server_address = "127.0.0.1"',
    '  stream_server_port = "0"',
    ...(o.restrictOomScoreAdj ? ['  restrict_oom_score_adj = true'] : []),
    `  [${cri}.cni]`,
    `    bin_dir = "${o.cniBinDir}"`,
    `    conf_dir = "${o.cniConfDir}"`,
    `  [${cri}.containerd]`,
    '    snapshotter = "overlayfs"',
    // A runtimes table replaces the default one, so runc, the default_runtime_name, is listed
    // again: pods without a runtime_handler (no RuntimeClass) stay on runc, with a root of ours.
    '    default_runtime_name = "runc"',
    `    [${cri}.containerd.runtimes.runc]`,
    '      runtime_type = "io.containerd.runc.v2"',
    `      [${cri}.containerd.runtimes.runc.options]`,
    `        Root = "${o.runcRoot}"`,
    `        SystemdCgroup = ${o.systemdCgroup}`,
    `    [${cri}.containerd.runtimes.${o.handler}]`,
    '      runtime_type = "io.containerd.runc.v2"',
    `      [${cri}.containerd.runtimes.${o.handler}.options]`,
    `        BinaryName = "${o.runtime}"`,
    `        Root = "${o.runtimeRoot}"`,
    `        SystemdCgroup = ${o.systemdCgroup}`,
    `  [${cri}.registry]`,
    '    config_path = ""',
  ].join('\n');
}

export interface StartOptions {
  /** An empty dir of the caller's for everything (removed by stop()); a new temp dir otherwise. */
  dir?: string;
  /** Enables the CRI plugin with these settings (dirs default to ones under the daemon's dir); without it the plugin is disabled. */
  cri?: Partial<CriOptions> & Pick<CriOptions, 'handler' | 'runtime' | 'sandboxImage'>;
  /**
   * Cgroup paths (relative to each hierarchy) the tests make containers
   * under, or systemd slices (`….slice`) with the systemd driver: removed
   * (stopped) by stop() where they did not exist before.
   */
  cgroupParents?: string[];
  /** How long to wait for the daemon to answer. */
  startTimeoutMs?: number;
  /** The daemon's environment (its shims' and the runtime's): default ours. */
  env?: NodeJS.ProcessEnv;
}

export interface Containerd {
  dir: string;
  /** The grpc socket: ctr's -a, the CRI's endpoint. */
  address: string;
  root: string;
  state: string;
  log: string;
  /** The CRI settings in effect, when the plugin is on. */
  cri?: CriOptions;
  ctr(namespace: string, args: string[], opts?: { timeout?: number; input?: string }): SpawnSyncReturns<string>;
  /** `ctr images import` of an archive into a namespace; throws with ctr's output on failure. */
  importImages(namespace: string, archive: string): void;
  /** containerd-shim-runc-v2 processes this daemon started. */
  shims(): number[];
  /** Stops the daemon and removes what it and its shims left: containers, shims, mounts, cgroups, the dir. */
  stop(): Promise<void>;
}

/**
 * A ctr that does not return in time is SIGKILLed (it forwards SIGTERM to
 * the task instead of exiting), so a lost exit status fails the caller
 * instead of hanging it. A bound, not an expectation: `ctr run` takes a
 * second or two, more on a loaded machine; half of ava's 120 s timeout.
 */
export const CTR_TIMEOUT_MS = 60_000;

/** Whether systemd has `unit` active (a slice some other tenant of the host uses). */
const unitActive = (unit: string) => spawnSync('systemctl', ['is-active', '--quiet', unit], { timeout: 30_000 }).status === 0;

/** Starts a private containerd and waits until it answers. */
export async function startContainerd(opts: StartOptions = {}): Promise<Containerd> {
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-containerd-'));
  const address = path.join(dir, 'containerd.sock');
  const root = path.join(dir, 'root');
  const state = path.join(dir, 'state');
  const log = path.join(dir, 'containerd.log');
  // The shim's socket lives in /run/containerd/s whatever the config says
  // (containerd 1.6 hard-codes it): remove /run/containerd afterwards if we made it.
  const hadRunContainerd = fs.existsSync('/run/containerd');
  // The runtime removes a container's leaf cgroup; the parents the tests name are left in every hierarchy
  // (the unified one alone on cgroup v2), and the slices a systemd driver started, as loaded units.
  const hierarchies = cgroupHierarchies();
  const parents = opts.cgroupParents ?? [];
  const cgroupDirs = parents
    .filter((p) => !p.endsWith('.slice'))
    .flatMap((p) => hierarchies.map((h) => path.join(h, p)))
    .filter((p) => !fs.existsSync(p));
  const slices = parents.filter((p) => p.endsWith('.slice') && !unitActive(p));

  let cri: CriOptions | undefined;
  if (opts.cri) {
    cri = {
      runtimeRoot: path.join(dir, 'runtime-root'),
      runcRoot: path.join(dir, 'runc-root'),
      restrictOomScoreAdj: !canLowerOomScoreAdj(),
      systemdCgroup: SYSTEMD_HOST,
      cniConfDir: path.join(dir, 'cni', 'net.d'),
      cniBinDir: path.join(dir, 'cni', 'bin'),
      ...opts.cri,
    };
    fs.mkdirSync(cri.cniConfDir, { recursive: true });
    fs.mkdirSync(cri.cniBinDir, { recursive: true });
  }
  const config = path.join(dir, 'config.toml');
  fs.writeFileSync(
    config,
    [
      'version = 2',
      `root = "${root}"`,
      `state = "${state}"`,
      ...(cri ? [] : ['disabled_plugins = ["io.containerd.grpc.v1.cri"]']),
      '[grpc]',
      `  address = "${address}"`,
      '[ttrpc]',
      `  address = "${address}.ttrpc"`,
      '[debug]',
      '  address = ""',
      '[metrics]',
      '  address = ""',
      '[plugins]',
      '  [plugins."io.containerd.internal.v1.opt"]',
      `    path = "${path.join(dir, 'opt')}"`,
      ...(cri ? [criConfigToml(cri)] : []),
      '',
    ].join('\n'),
  );

  const logFd = fs.openSync(log, 'a');
  const daemon: ChildProcess = spawn(CONTAINERD, ['--config', config], { stdio: ['ignore', logFd, logFd], env: opts.env ?? process.env });
  fs.closeSync(logFd);
  let exited = false;
  daemon.on('exit', () => {
    exited = true;
  });

  const ctr: Containerd['ctr'] = (namespace, args, o = {}) =>
    spawnSync(CTR, ['-a', address, '-n', namespace, ...args], {
      encoding: 'utf8',
      timeout: o.timeout ?? CTR_TIMEOUT_MS,
      killSignal: 'SIGKILL',
      input: o.input,
      stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });

  const shims = () =>
    processesMatching('containerd-shim').filter((pid) => {
      try {
        const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        const i = argv.indexOf('-address');
        return i >= 0 && argv[i + 1] === address;
      } catch {
        return false;
      }
    });

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (!exited) {
      // whatever a failed test left behind, in every namespace
      for (const ns of ctr('default', ['namespaces', 'ls', '-q']).stdout.split('\n').filter(Boolean)) {
        for (const id of ctr(ns, ['container', 'ls', '-q']).stdout.split('\n').filter(Boolean)) {
          ctr(ns, ['task', 'rm', '-f', id]);
          ctr(ns, ['container', 'rm', id]);
        }
      }
      daemon.kill('SIGTERM');
      if (!(await waitFor(() => exited, 15_000))) {
        daemon.kill('SIGKILL');
        await waitFor(() => exited, 5_000);
      }
    }
    // shims outlive containerd by design: kill the ones ours started
    for (const pid of shims()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    // a snapshot, a rootfs or a pod's /dev/shm left mounted under our dir, innermost first
    const mounts = fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4])
      .filter((m): m is string => !!m && m.startsWith(dir + '/'))
      .reverse();
    for (const m of mounts) spawnSync('umount', ['-l', m]);
    fs.rmSync(dir, { recursive: true, force: true });
    // deepest first: a parent cannot go while a child is there
    for (const p of [...cgroupDirs].sort((a, b) => b.length - a.length)) {
      try {
        fs.rmdirSync(p);
      } catch {
        /* not made, or busy */
      }
    }
    if (slices.length) spawnSync('systemctl', ['stop', ...slices], { timeout: 60_000 });
    if (!hadRunContainerd) fs.rmSync('/run/containerd', { recursive: true, force: true });
  };

  const d: Containerd = {
    dir,
    address,
    root,
    state,
    log,
    ...(cri && { cri }),
    ctr,
    importImages(namespace, archive) {
      const imp = ctr(namespace, ['images', 'import', '--all-platforms', archive], { timeout: 120_000 });
      if (imp.status !== 0) throw new Error(`ctr images import: ${imp.stdout}${imp.stderr}`);
    },
    shims,
    stop,
  };
  const up = await waitFor(
    () => !exited && fs.existsSync(address) && ctr('default', ['version'], { timeout: 5_000 }).status === 0,
    opts.startTimeoutMs ?? 60_000,
  );
  if (!up) {
    const text = fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '';
    await stop();
    throw new Error(`containerd did not start:\n${text}`);
  }
  return d;
}
