/**
 * config.json as the suite writes it. Field names are the OCI ones verbatim.
 * Only what cases touch is typed; anything else may be added through the
 * index signatures (that is how the extensibility cases add unknown fields).
 */

export interface Mount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
  [k: string]: unknown;
}

export interface Hook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

export type HookName = 'prestart' | 'createRuntime' | 'createContainer' | 'startContainer' | 'poststart' | 'poststop';

export interface Process {
  terminal?: boolean;
  consoleSize?: { height: number; width: number };
  user: { uid: number; gid: number; umask?: number; additionalGids?: number[] };
  args: string[];
  env?: string[];
  cwd: string;
  capabilities?: Partial<Record<'bounding' | 'effective' | 'inheritable' | 'permitted' | 'ambient', string[]>>;
  rlimits?: { type: string; soft: number | string; hard: number | string }[];
  noNewPrivileges?: boolean;
  oomScoreAdj?: number;
  [k: string]: unknown;
}

export interface Namespace {
  type: string;
  path?: string;
}

export interface IdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

export interface Linux {
  namespaces?: Namespace[];
  uidMappings?: IdMapping[];
  gidMappings?: IdMapping[];
  devices?: { type: string; path: string; major?: number; minor?: number; fileMode?: number; uid?: number; gid?: number }[];
  cgroupsPath?: string;
  resources?: Record<string, unknown>;
  sysctl?: Record<string, string>;
  seccomp?: Record<string, unknown>;
  rootfsPropagation?: string;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  [k: string]: unknown;
}

export interface Config {
  ociVersion: string;
  process?: Process;
  root?: { path: string; readonly?: boolean };
  hostname?: string;
  domainname?: string;
  mounts?: Mount[];
  hooks?: Partial<Record<HookName, Hook[]>>;
  annotations?: Record<string, string>;
  linux?: Linux;
  [k: string]: unknown;
}

/** 1.0.2-dev is what runc 1.1 and crun 1.8 declare, so older runtimes accept it;
 * cases that need newer fields raise it themselves. */
export const DEFAULT_OCI_VERSION = '1.0.2-dev';

export const DEFAULT_CAPS = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** A minimal, conventional Linux config: new pid/net/ipc/uts/mount namespaces,
 * the default filesystems, root user, a few capabilities. */
export function defaultConfig(args: string[]): Config {
  return {
    ociVersion: DEFAULT_OCI_VERSION,
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args,
      env: [DEFAULT_PATH, 'TERM=xterm'],
      cwd: '/',
      capabilities: {
        bounding: [...DEFAULT_CAPS],
        effective: [...DEFAULT_CAPS],
        permitted: [...DEFAULT_CAPS],
      },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: false },
    hostname: 'spec-tests',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'],
      },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    ],
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
    },
  };
}

/** Marks a uint64 that JavaScript numbers cannot hold (e.g. RLIM_INFINITY);
 * `serialize` writes it as a bare JSON number. */
export function u64(decimal: string): string {
  return `__u64:${decimal}__`;
}

export function serialize(config: Config): string {
  return JSON.stringify(config, null, 2).replace(/"__u64:(\d+)__"/g, '$1');
}

export function setNamespace(config: Config, type: string, path?: string): void {
  const linux = (config.linux ??= {});
  const list = (linux.namespaces ??= []).filter((n) => n.type !== type);
  list.push(path ? { type, path } : { type });
  linux.namespaces = list;
}

export function removeNamespace(config: Config, type: string): void {
  const linux = (config.linux ??= {});
  linux.namespaces = (linux.namespaces ?? []).filter((n) => n.type !== type);
}

export function proc(config: Config): Process {
  if (!config.process) throw new Error('config has no process');
  return config.process;
}

export function linux(config: Config): Linux {
  return (config.linux ??= {});
}
