/**
 * A private Docker daemon (Debian's docker.io 20.10: /usr/sbin/dockerd and
 * the CLI /usr/bin/docker) for the engine test and the benchmark: its own
 * data root, exec root, socket, pidfile and daemon.json, no networking of
 * its own (no bridge, no iptables, no sysctls), the vfs storage driver, and
 * an image imported from busybox-static, so nothing comes from the network.
 * No ava here: bench/ imports it to time `docker run --rm`.
 *
 * dockerd starts its own containerd under the exec root; the shims that
 * containerd starts outlive both by design. stop() ends all of them by pid
 * and removes what they mounted. What dockerd writes outside its roots
 * (shared by every daemon on the host) is undone by HostLeftovers.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { busyboxRootfs, processesMatching } from './bundle.js';
import { cgroupHierarchies } from './leaks.js';
import { waitFor } from './wait.js';

export const DOCKERD = '/usr/sbin/dockerd';
/** Debian's 20.10 CLI; /usr/local/bin/docker is an unrelated newer one. */
export const DOCKER = '/usr/bin/docker';

export const haveDocker = () => fs.existsSync(DOCKERD) && fs.existsSync(DOCKER);

export interface DockerdOptions {
  /** OCI runtimes by name: `docker run --runtime NAME` execs PATH. */
  runtimes: Record<string, string>;
  /** dockerd's default-runtime (its own default is "runc", from PATH). */
  defaultRuntime?: string;
  /**
   * A directory put first on dockerd's PATH. The built-in BuildKit of 20.10
   * execs `runc` from PATH whatever default-runtime says, so a `runc` here
   * is what BuildKit's RUN steps use.
   */
  pathPrefix?: string;
  /** How long to wait for the API to answer (ms). */
  startTimeout?: number;
}

export interface DockerResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface DockerRunOptions {
  timeout?: number;
  input?: string;
  cwd?: string;
  env?: Record<string, string>;
}

export interface Dockerd {
  dir: string;
  sock: string;
  execRoot: string;
  dataRoot: string;
  /** The environment for the CLI: DOCKER_HOST and a private DOCKER_CONFIG. */
  env: NodeJS.ProcessEnv;
  /** The daemon.json it was started with. */
  config: Record<string, unknown>;
  /** The CLI against this daemon. A call that does not return in time is SIGKILLed. */
  docker(args: string[], opts?: DockerRunOptions): DockerResult;
  /** The CLI under a pty (`script`), as a user's terminal would run it; `args` is shell text. */
  dockerTty(args: string, input?: string, opts?: { timeout?: number }): DockerResult;
  /** dockerd's log, for failure messages. */
  log(): string;
  /** Removes every container, stops dockerd by pid, then its containerd and shims; unmounts and removes dir. */
  stop(): Promise<void>;
}

const DOCKER_TIMEOUT_MS = 60_000;

/** The daemon.json: every path private to `dir`, no host networking changes. */
export function daemonConfig(dir: string, opts: DockerdOptions): Record<string, unknown> {
  return {
    'data-root': path.join(dir, 'data'),
    'exec-root': path.join(dir, 'exec'),
    pidfile: path.join(dir, 'docker.pid'),
    hosts: [`unix://${path.join(dir, 'docker.sock')}`],
    'storage-driver': 'vfs',
    // no docker0, no iptables/ip6tables rules, no net.ipv4.ip_forward or
    // masquerading: containers get a network namespace with lo only
    bridge: 'none',
    iptables: false,
    ip6tables: false,
    'ip-forward': false,
    'ip-masq': false,
    runtimes: Object.fromEntries(Object.entries(opts.runtimes).map(([name, p]) => [name, { path: p }])),
    ...(opts.defaultRuntime ? { 'default-runtime': opts.defaultRuntime } : {}),
  };
}

export async function startDockerd(opts: DockerdOptions, dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-docker-'))): Promise<Dockerd> {
  fs.mkdirSync(dir, { recursive: true });
  const config = daemonConfig(dir, opts);
  const configFile = path.join(dir, 'daemon.json');
  fs.writeFileSync(configFile, JSON.stringify(config, null, 2));
  const sock = path.join(dir, 'docker.sock');
  const execRoot = path.join(dir, 'exec');
  const dataRoot = path.join(dir, 'data');
  const logFile = path.join(dir, 'dockerd.log');
  const cliConfig = path.join(dir, 'cli');
  fs.mkdirSync(cliConfig, { recursive: true });
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: `unix://${sock}`, DOCKER_CONFIG: cliConfig };
  delete env.DOCKER_CONTEXT;
  delete env.DOCKER_TLS_VERIFY;
  delete env.DOCKER_CERT_PATH;
  delete env.DOCKER_BUILDKIT;

  const daemonEnv = {
    ...process.env,
    PATH: [opts.pathPrefix, process.env.PATH || '/usr/sbin:/usr/bin:/sbin:/bin'].filter(Boolean).join(':'),
  };
  const log = fs.openSync(logFile, 'a');
  const daemon: ChildProcess = spawn(DOCKERD, ['--config-file', configFile], { stdio: ['ignore', log, log], env: daemonEnv });
  fs.closeSync(log);
  let exited = false;
  daemon.on('exit', () => {
    exited = true;
  });
  const readLog = () => {
    try {
      return fs.readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };

  const docker = (args: string[], o: DockerRunOptions = {}): DockerResult => {
    const r = spawnSync(DOCKER, args, {
      env: { ...env, ...o.env },
      cwd: o.cwd,
      encoding: 'utf8',
      timeout: o.timeout ?? DOCKER_TIMEOUT_MS,
      killSignal: 'SIGKILL',
      input: o.input,
      stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      maxBuffer: 64 << 20,
    });
    return {
      status: r.status,
      signal: r.signal,
      stdout: r.stdout ?? '',
      stderr: (r.stderr ?? '') + (r.error ? `\n${r.error.message}` : ''),
    };
  };

  // timeout --foreground keeps the CLI in the pty's foreground and kills it if it hangs
  const dockerTty = (args: string, input = '', o: { timeout?: number } = {}): DockerResult => {
    const secs = Math.ceil((o.timeout ?? DOCKER_TIMEOUT_MS) / 1000);
    const r = spawnSync('script', ['-qec', `timeout --foreground -s KILL ${secs} ${DOCKER} ${args}`, '/dev/null'], {
      env,
      encoding: 'utf8',
      timeout: (secs + 10) * 1000,
      killSignal: 'SIGKILL',
      input,
    });
    return { status: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  };

  const stop = async () => {
    if (!exited) {
      const ids = docker(['ps', '-aq'], { timeout: 15_000 }).stdout.split('\n').filter(Boolean);
      if (ids.length) docker(['rm', '-f', ...ids], { timeout: 30_000 });
      daemon.kill('SIGTERM');
      if (!(await waitFor(() => exited, 20_000))) {
        daemon.kill('SIGKILL');
        await waitFor(() => exited, 5_000);
      }
    }
    // dockerd stops its containerd on the way out, unless it was killed; the
    // shims outlive containerd by design. Both are told our exec root.
    const containerdSock = path.join(execRoot, 'containerd', 'containerd.sock');
    for (const pid of processesMatching(execRoot)) {
      if (pid === process.pid) continue;
      try {
        const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        const a = argv.indexOf('-address');
        const c = argv.indexOf('--config');
        const ours = (a >= 0 && argv[a + 1] === containerdSock) || (c >= 0 && argv[c + 1]?.startsWith(execRoot + '/'));
        if (ours) process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    // dockerd bind-mounts its roots onto themselves, and each container's
    // /dev/shm and network namespace file live under them
    const mounts = fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4])
      .filter((m): m is string => !!m && (m === dir || m.startsWith(dir + '/')))
      .reverse();
    for (const m of mounts) spawnSync('umount', ['-l', m]);
    fs.rmSync(dir, { recursive: true, force: true });
  };

  const d: Dockerd = { dir, sock, execRoot, dataRoot, env, config, docker, dockerTty, log: readLog, stop };
  const up = await waitFor(
    () => !exited && fs.existsSync(sock) && docker(['version'], { timeout: 5_000 }).status === 0,
    opts.startTimeout ?? 60_000,
  );
  if (!up) {
    const text = readLog();
    await stop();
    throw new Error(`dockerd did not start:\n${text.slice(-4000)}`);
  }
  return d;
}

/**
 * A rootfs tarball of busybox-static (/bin/busybox and a symlink per
 * applet), for `docker import`.
 */
export function busyboxTarball(out: string): void {
  const rootfs = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-docker-rootfs-'));
  try {
    busyboxRootfs(rootfs);
    const tar = spawnSync('tar', ['--numeric-owner', '--owner=0', '--group=0', '-cf', out, '-C', rootfs, '.'], { encoding: 'utf8' });
    if (tar.status !== 0) throw new Error(`tar: ${tar.stderr}`);
  } finally {
    fs.rmSync(rootfs, { recursive: true, force: true });
  }
}

/** `docker import` of the busybox tarball as `name`, with CMD ["sh"]. */
export function importBusybox(d: Dockerd, name: string): void {
  const tarball = path.join(d.dir, 'busybox.tar');
  busyboxTarball(tarball);
  const r = d.docker(
    ['import', '-c', 'CMD ["sh"]', '-c', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', tarball, name],
    {
      timeout: 120_000,
    },
  );
  fs.rmSync(tarball, { force: true });
  if (r.status !== 0) throw new Error(`docker import: ${r.stdout}${r.stderr}`);
}

/**
 * An executable at `file` that appends its arguments to `record` and execs
 * `target`: proof that an engine ran the runtime, and with what.
 */
export function recordingWrapper(file: string, target: string, record: string): void {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `#!/bin/sh\nprintf '%s\\n' "$*" >> ${q(record)}\nexec ${q(target)} "$@"\n`, { mode: 0o755 });
}

/**
 * What dockerd leaves outside its own roots, shared by every daemon on the
 * host: the shim sockets' /run/containerd (containerd 1.6 hard-codes it),
 * /run/docker/plugins, the libtrust key /etc/docker/key.json, and the
 * cgroup parent `docker` (with BuildKit's `docker/buildkit`) in every
 * hierarchy, and the runtime's default state root (/run/runc, /run/tsrun):
 * BuildKit's `runc run` passes no --root. Note what exists now; remove() takes away only what did not,
 * and directories only when empty: another engine on the host may have
 * made them since and be using them.
 */
export class HostLeftovers {
  private readonly files = ['/etc/docker/key.json'].filter((p) => !fs.existsSync(p));
  private readonly dirs = [
    '/run/containerd/s',
    '/run/containerd',
    '/run/docker/plugins',
    '/run/docker',
    '/etc/docker',
    '/run/runc',
    '/run/tsrun',
  ].filter((p) => !fs.existsSync(p));
  private readonly cgroups = cgroupHierarchies()
    .flatMap((hier) => [path.join(hier, 'docker', 'buildkit'), path.join(hier, 'docker')])
    .filter((p) => !fs.existsSync(p));

  remove(): void {
    for (const f of this.files) fs.rmSync(f, { force: true });
    // children first; rmdir fails (and leaves it) where a directory is not
    // empty or a cgroup is still busy
    for (const p of [...this.dirs, ...this.cgroups]) {
      try {
        fs.rmdirSync(p);
      } catch {
        /* not made, or busy */
      }
    }
  }
}
