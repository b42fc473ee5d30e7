/**
 * Private containers/* configuration for podman and buildah (the engine
 * tests and the benchmark): vfs storage under `dir`, host network, file
 * events, no default ulimits (their NOFILE/NPROC of 1048576 needs
 * CAP_SYS_RESOURCE, which hosts like the test machines lack for every
 * runtime), and the runtimes whose --log-format json podman may read. The
 * cgroup manager is podman's default on a systemd host (systemd) and
 * cgroupfs elsewhere.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { SYSTEMD_HOST } from './engine.js';

/** containers.conf's [engine] line for podman's cgroup manager where it is not the host's default (systemd there). */
export const cgroupManager = (): string[] => (SYSTEMD_HOST ? [] : ['cgroup_manager = "cgroupfs"']);

export interface ContainersStore {
  /** The environment that points podman/buildah at the files below (CONTAINERS_CONF, CONTAINERS_STORAGE_CONF). */
  env: NodeJS.ProcessEnv;
  /** --root and --runroot under `dir`. */
  store: string[];
}

/** Writes `dir`/containers.conf and `dir`/storage.conf; `runtimes`: binaries podman may read JSON errors from. */
export function containersStore(dir: string, runtimes: string[]): ContainersStore {
  const env = {
    ...process.env,
    CONTAINERS_CONF: path.join(dir, 'containers.conf'),
    CONTAINERS_STORAGE_CONF: path.join(dir, 'storage.conf'),
  };
  const graph = path.join(dir, 'graph');
  const run = path.join(dir, 'run');
  const json = [...new Set(['tsrun', 'runc', ...runtimes.map((b) => path.basename(b))])];
  fs.writeFileSync(
    env.CONTAINERS_CONF,
    [
      '[containers]',
      'netns = "host"',
      'default_ulimits = []',
      '[engine]',
      ...cgroupManager(),
      'events_logger = "file"',
      `tmp_dir = "${path.join(dir, 'tmp')}"`,
      `runtime_supports_json = ${JSON.stringify(json)}`,
      '',
    ].join('\n'),
  );
  fs.writeFileSync(
    env.CONTAINERS_STORAGE_CONF,
    ['[storage]', 'driver = "vfs"', `runroot = "${run}"`, `graphroot = "${graph}"`, ''].join('\n'),
  );
  return { env, store: ['--root', graph, '--runroot', run] };
}

/**
 * What podman and buildah leave on the host whatever their private roots,
 * noted before the tests: containers/image's blob-info cache in
 * /var/lib/containers (for root), and the runtime's default root (neither
 * passes --root to start/kill/delete). remove() takes away what was not
 * there before (a root only once empty again).
 */
export function hostLeftovers(): { remove(): void } {
  const blobCache = '/var/lib/containers';
  const hadBlobCache = fs.existsSync(blobCache);
  const defaultRoots = ['/run/runc', '/run/tsrun'].filter((d) => !fs.existsSync(d));
  return {
    remove() {
      if (!hadBlobCache) fs.rmSync(blobCache, { recursive: true, force: true });
      for (const d of defaultRoots) {
        try {
          fs.rmdirSync(d);
        } catch {
          /* not made, or in use */
        }
      }
    },
  };
}
