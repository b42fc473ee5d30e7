/**
 * Loading config.json: read, parse, and check the shape of every field the
 * runtime uses. Every error names the JSON path at fault.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { ConfigError, TsrunError } from '../errors.js';
import type { Spec } from './types.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Kind = 'string' | 'number' | 'integer' | 'boolean' | 'object' | 'array';

/** A tiny shape checker: fields are optional unless listed as required. */
export interface Shape {
  kind: Kind;
  required?: string[];
  fields?: Record<string, Shape>;
  items?: Shape;
  values?: Shape; // for maps (object with arbitrary keys)
}

const str: Shape = { kind: 'string' };
const int: Shape = { kind: 'integer' };
const bool: Shape = { kind: 'boolean' };
const strs: Shape = { kind: 'array', items: str };
const strMap: Shape = { kind: 'object', values: str };
const idMapping: Shape = {
  kind: 'object',
  required: ['containerID', 'hostID', 'size'],
  fields: { containerID: int, hostID: int, size: int },
};
const hook: Shape = { kind: 'object', required: ['path'], fields: { path: str, args: strs, env: strs, timeout: int } };
const hooks: Shape = { kind: 'array', items: hook };

const ints = (...names: string[]): Record<string, Shape> => Object.fromEntries(names.map((n) => [n, int]));
const objects = (fields: Record<string, Shape>): Shape => ({ kind: 'array', items: { kind: 'object', fields } });
/** linux.resources: every field's type (the rules for values are validate-cgroups.ts's). */
const resources: Shape = {
  kind: 'object',
  fields: {
    devices: objects({ allow: bool, type: str, major: int, minor: int, access: str }),
    memory: {
      kind: 'object',
      fields: {
        ...ints('limit', 'reservation', 'swap', 'kernel', 'kernelTCP', 'swappiness'),
        disableOOMKiller: bool,
        useHierarchy: bool,
        checkBeforeUpdate: bool,
      },
    },
    cpu: {
      kind: 'object',
      fields: { ...ints('shares', 'quota', 'burst', 'period', 'realtimeRuntime', 'realtimePeriod', 'idle'), cpus: str, mems: str },
    },
    pids: { kind: 'object', fields: { limit: int } },
    blockIO: {
      kind: 'object',
      fields: {
        ...ints('weight', 'leafWeight'),
        weightDevice: objects(ints('major', 'minor', 'weight', 'leafWeight')),
        throttleReadBpsDevice: objects(ints('major', 'minor', 'rate')),
        throttleWriteBpsDevice: objects(ints('major', 'minor', 'rate')),
        throttleReadIOPSDevice: objects(ints('major', 'minor', 'rate')),
        throttleWriteIOPSDevice: objects(ints('major', 'minor', 'rate')),
      },
    },
    hugepageLimits: objects({ pageSize: str, limit: int }),
    network: { kind: 'object', fields: { classID: int, priorities: objects({ name: str, priority: int }) } },
    rdma: { kind: 'object', values: { kind: 'object', fields: ints('hcaHandles', 'hcaObjects') } },
    unified: strMap,
  },
};

export const specShape: Shape = {
  kind: 'object',
  required: ['ociVersion'],
  fields: {
    ociVersion: str,
    root: { kind: 'object', required: ['path'], fields: { path: str, readonly: bool } },
    mounts: {
      kind: 'array',
      items: {
        kind: 'object',
        required: ['destination'],
        fields: {
          destination: str,
          type: str,
          source: str,
          options: strs,
          uidMappings: { kind: 'array', items: idMapping },
          gidMappings: { kind: 'array', items: idMapping },
        },
      },
    },
    process: {
      kind: 'object',
      required: ['cwd', 'user'],
      fields: {
        terminal: bool,
        consoleSize: { kind: 'object', required: ['height', 'width'], fields: { height: int, width: int } },
        user: {
          kind: 'object',
          required: ['uid', 'gid'],
          fields: { uid: int, gid: int, umask: int, additionalGids: { kind: 'array', items: int }, username: str },
        },
        args: strs,
        commandLine: str,
        env: strs,
        cwd: str,
        capabilities: {
          kind: 'object',
          fields: { bounding: strs, effective: strs, inheritable: strs, permitted: strs, ambient: strs },
        },
        rlimits: {
          kind: 'array',
          items: { kind: 'object', required: ['type', 'soft', 'hard'], fields: { type: str, soft: int, hard: int } },
        },
        noNewPrivileges: bool,
        apparmorProfile: str,
        oomScoreAdj: int,
        selinuxLabel: str,
        scheduler: { kind: 'object' },
        ioPriority: { kind: 'object', required: ['class'], fields: { class: str, priority: int } },
        execCPUAffinity: { kind: 'object', fields: { initial: str, final: str } },
      },
    },
    hostname: str,
    domainname: str,
    hooks: {
      kind: 'object',
      fields: {
        prestart: hooks,
        createRuntime: hooks,
        createContainer: hooks,
        startContainer: hooks,
        poststart: hooks,
        poststop: hooks,
      },
    },
    annotations: strMap,
    linux: {
      kind: 'object',
      fields: {
        namespaces: {
          kind: 'array',
          items: { kind: 'object', required: ['type'], fields: { type: str, path: str } },
        },
        uidMappings: { kind: 'array', items: idMapping },
        gidMappings: { kind: 'array', items: idMapping },
        timeOffsets: { kind: 'object', values: { kind: 'object', fields: { secs: int, nanosecs: int } } },
        devices: {
          kind: 'array',
          items: {
            kind: 'object',
            required: ['type', 'path'],
            fields: { type: str, path: str, major: int, minor: int, fileMode: int, uid: int, gid: int },
          },
        },
        cgroupsPath: str,
        resources,
        rootfsPropagation: str,
        seccomp: { kind: 'object' },
        sysctl: strMap,
        maskedPaths: strs,
        readonlyPaths: strs,
        mountLabel: str,
        personality: { kind: 'object', required: ['domain'], fields: { domain: str, flags: strs } },
        intelRdt: { kind: 'object' },
        memoryPolicy: { kind: 'object' },
        netDevices: { kind: 'object', values: { kind: 'object', fields: { name: str } } },
      },
    },
  },
};

function kindOf(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function fieldPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  return parent ? `${parent}.${key}` : key;
}

/** Checks `value` against `shape`; throws ConfigError naming the path. */
export function checkShape(value: Json, shape: Shape, at: string): void {
  const got = kindOf(value);
  const ok = shape.kind === 'integer' ? typeof value === 'number' && Number.isInteger(value) : shape.kind === got;
  if (!ok) {
    const want =
      shape.kind === 'integer' ? 'an integer' : shape.kind === 'array' || shape.kind === 'object' ? `an ${shape.kind}` : `a ${shape.kind}`;
    throw new ConfigError(at || '(root)', `must be ${want}, got ${got === 'number' ? JSON.stringify(value) : got}`);
  }
  if (shape.kind === 'array' && shape.items) {
    (value as Json[]).forEach((item, i) => checkShape(item, shape.items as Shape, fieldPath(at, i)));
  }
  if (shape.kind === 'object') {
    const obj = value as Record<string, Json>;
    for (const key of shape.required ?? []) {
      if (!(key in obj) || obj[key] === undefined) throw new ConfigError(fieldPath(at, key), 'is required');
    }
    for (const [key, v] of Object.entries(obj)) {
      const sub = shape.fields?.[key] ?? shape.values;
      // null for an optional field means "absent", as Go's decoder treats it
      if (sub && v !== null) checkShape(v, sub, fieldPath(at, key));
    }
  }
}

export interface LoadedBundle {
  /** The bundle directory's real path. */
  bundle: string;
  spec: Spec;
  /** Absolute root filesystem path (root.path resolved against the bundle's real path). */
  rootfs: string;
}

/**
 * Reads and shape-checks `<bundle>/config.json`. The bundle is taken by its
 * real path (the caller may name it through a symlink; runc records the
 * real one too): root.path is then resolved from it, and validation refuses
 * a rootfs that is itself a symlink or lies through one.
 */
export function loadBundle(bundleDir: string): LoadedBundle {
  let bundle = path.resolve(bundleDir);
  let st: fs.Stats;
  try {
    st = fs.statSync(bundle);
    bundle = fs.realpathSync.native(bundle);
  } catch (e) {
    throw new TsrunError('EBUNDLE', `bundle ${bundle}: ${describeFsError(e)}`, { cause: e });
  }
  if (!st.isDirectory()) throw new TsrunError('EBUNDLE', `bundle ${bundle}: not a directory`);
  const file = path.join(bundle, 'config.json');
  let text: string;
  let fd = -1;
  try {
    // non-blocking: a fifo in its place must not hang us until a writer comes
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const f = fs.fstatSync(fd);
    if (!f.isFile())
      throw new TsrunError(
        'EBUNDLE',
        `${file}: not a regular file (${f.isDirectory() ? 'a directory' : f.isFIFO() ? 'a fifo' : 'a special file'})`,
      );
    text = fs.readFileSync(fd, 'utf8');
  } catch (e) {
    if (e instanceof TsrunError) throw e;
    throw new TsrunError('EBUNDLE', `${file}: ${describeFsError(e)}`, { cause: e });
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
  let json: Json;
  try {
    json = JSON.parse(text) as Json;
  } catch (e) {
    throw new TsrunError('ECONFIG', `${file}: invalid JSON: ${(e as Error).message}`, { cause: e });
  }
  checkShape(json, specShape, '');
  const spec = json as unknown as Spec;
  if (!spec.root) throw new ConfigError('root', 'is required on Linux');
  if (!spec.process) throw new ConfigError('process', 'is required to create a container');
  const rootfs = path.resolve(bundle, spec.root.path);
  return { bundle, spec, rootfs };
}

export function describeFsError(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EACCES') return 'permission denied';
  if (code === 'ENOTDIR') return 'not a directory';
  return (e as Error).message;
}
