/**
 * Semantic validation of a loaded config: every rule the runtime relies on,
 * checked before any process exists. Pure: host facts come in through
 * `ValidationHost`, so unit tests need no root.
 */
import * as path from 'node:path';

import { ConfigError, TsrunError, shown } from '../errors.js';
import { CAPABILITIES, RLIMITS } from '../plan/linux.js';
import { rlimitValue } from '../plan/process.js';
import type { Process, Spec } from './types.js';
import { validateNamespaceRules } from './validate-namespaces.js';
import { validateProcessAttrs, validateProcessFields, type ProcessHost } from './validate-process.js';
import { validateSeccomp } from './validate-seccomp.js';
import { validateCgroups } from './validate-cgroups.js';
import { validateMounts, type MountValidationHost } from './validate-mounts.js';

/** ociVersion 1.0.0 … 1.3.x, with an optional pre-release suffix (-dev, -rc.1). */
const OCI_VERSION = /^1\.[0-3]\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;
export const OCI_VERSION_MIN = '1.0.0';
export const OCI_VERSION_MAX = '1.3.0';

const NAMESPACE_TYPES = new Set(['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup', 'time']);
const PROPAGATIONS = new Set(['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave', 'unbindable', 'runbindable']);
const DEVICE_TYPES = new Set(['c', 'b', 'u', 'p']);
const HOOK_KINDS = new Set(['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop']);

export interface ValidationHost extends ProcessHost, MountValidationHost {
  /** 'dir', 'file', 'other', or null when the path does not exist. */
  kind(p: string): 'dir' | 'file' | 'other' | null;
  /** The path with every symlink resolved (realpath(3)), or null when it does not resolve. */
  realPath(p: string): string | null;
}

export interface ValidateOptions {
  /** The root filesystem's absolute host path. */
  rootfs: string;
  /** The bundle's path, where relative bind sources are (default: the rootfs's parent). */
  bundle?: string;
  /** create/run will detach, so a terminal needs a console socket. */
  detach: boolean;
  consoleSocket: boolean;
  /** Whose words an error about a flag uses: the CLI's (--console-socket, the default) or the API's (the consoleSocket option). */
  words?: 'cli' | 'api';
}

/** Throws on the first violation; returns warnings for what is ignored. */
export function validateSpec(spec: Spec, host: ValidationHost, opts: ValidateOptions): string[] {
  if (!OCI_VERSION.test(spec.ociVersion)) {
    throw new ConfigError(
      'ociVersion',
      `unsupported version ${JSON.stringify(spec.ociVersion)} (this runtime supports ${OCI_VERSION_MIN} to 1.3.x)`,
    );
  }
  const rootKind = host.kind(opts.rootfs);
  if (rootKind === null) throw new ConfigError('root.path', `rootfs ${opts.rootfs} does not exist`);
  if (rootKind !== 'dir') throw new ConfigError('root.path', `rootfs ${opts.rootfs} is not a directory`);
  // The rootfs is where the container's / goes: a symlink there (an image
  // unpacked with `rootfs -> /`) would make it whatever the link names. runc
  // refuses it too ("invalid rootfs: not an absolute path, or a symlink").
  const real = host.realPath(opts.rootfs);
  if (real !== opts.rootfs)
    throw new ConfigError(
      'root.path',
      `rootfs ${opts.rootfs} is a symlink or lies through one (it resolves to ${real ?? 'nothing'}): give the real path`,
    );

  const nsTypes = validateNamespaces(spec);
  if (spec.hostname !== undefined && spec.hostname !== '' && !nsTypes.has('uts'))
    throw new ConfigError('hostname', 'setting the hostname requires a new UTS namespace (linux.namespaces)');
  if (spec.domainname !== undefined && spec.domainname !== '' && !nsTypes.has('uts'))
    throw new ConfigError('domainname', 'setting the domainname requires a new UTS namespace (linux.namespaces)');

  validateProcess(spec.process!, opts);
  validateMounts(spec, host, opts.bundle ?? path.dirname(opts.rootfs));
  validateLinux(spec);
  validateProcessAttrs(spec, host);
  validateCgroups(spec);
  for (const [kind, list] of Object.entries(spec.hooks ?? {})) {
    if (!HOOK_KINDS.has(kind)) continue; // unknown hook kinds are ignored, as runc does
    (list as { path: string; timeout?: number }[]).forEach((h, i) => {
      if (!path.isAbsolute(h.path)) throw new ConfigError(`hooks.${kind}[${i}].path`, `must be an absolute path, got ${shown(h.path)}`);
      if (h.timeout !== undefined && h.timeout <= 0)
        throw new ConfigError(`hooks.${kind}[${i}].timeout`, `must be greater than zero, got ${h.timeout}`);
    });
  }
  return capabilityWarnings(spec.process!);
}

/**
 * The rules of one process on its own: config.json's (within validateSpec)
 * or one to exec into a running container. `linux`: the container's.
 * Throws on the first violation; returns warnings for what is ignored.
 */
export function validateProcessSpec(
  p: Process,
  host: ValidationHost,
  opts: Omit<ValidateOptions, 'rootfs'>,
  linux?: Spec['linux'],
): string[] {
  validateProcess(p, opts);
  validateProcessFields(p, host, linux);
  return capabilityWarnings(p);
}

function validateNamespaces(spec: Spec): Set<string> {
  const types = new Set<string>();
  (spec.linux?.namespaces ?? []).forEach((ns, i) => {
    const at = `linux.namespaces[${i}]`;
    if (!NAMESPACE_TYPES.has(ns.type)) throw new ConfigError(`${at}.type`, `unknown namespace type ${JSON.stringify(ns.type)}`);
    if (types.has(ns.type)) throw new ConfigError(`${at}.type`, `duplicate namespace type ${JSON.stringify(ns.type)}`);
    types.add(ns.type);
  });
  validateNamespaceRules(spec); // paths, user ns mappings, time offsets, sysctl owners
  // Without a mount namespace the mounts land in the runtime's own (as with
  // runc): allowed, but nothing that would change the host's mounts.
  if (!types.has('mount')) {
    const l = spec.linux ?? {};
    if (l.maskedPaths?.length) throw new ConfigError('linux.maskedPaths', 'unable to restrict sys entries without a private MNT namespace');
    if (l.readonlyPaths?.length)
      throw new ConfigError('linux.readonlyPaths', 'unable to restrict sys entries without a private MNT namespace');
    if (spec.root?.readonly) throw new ConfigError('root.readonly', 'unable to make rootfs read-only without a private MNT namespace');
    if (l.rootfsPropagation)
      throw new ConfigError('linux.rootfsPropagation', "unable to set the root's propagation without a private MNT namespace");
  }
  return types;
}

/** Unknown capability names are ignored with a warning, as runc does and
 * config.md asks ("runtimes SHOULD NOT fail"). */
function capabilityWarnings(p: Process): string[] {
  const caps = p.capabilities;
  if (!caps) return [];
  const known = new Set<string>(CAPABILITIES);
  const unknown = new Set<string>();
  for (const set of ['bounding', 'effective', 'inheritable', 'permitted', 'ambient'] as const) {
    for (const name of caps[set] ?? []) if (!known.has(name)) unknown.add(name);
  }
  return unknown.size ? [`ignoring unknown or unavailable capabilities: [${[...unknown].join(' ')}]`] : [];
}

function validateProcess(p: Process, opts: Omit<ValidateOptions, 'rootfs'>): void {
  if (!p.args || p.args.length === 0) throw new ConfigError('process.args', 'must name the program to run');
  if (p.args[0] === '') throw new ConfigError('process.args[0]', 'must not be empty');
  if (!path.isAbsolute(p.cwd)) throw new ConfigError('process.cwd', `must be an absolute path, got ${shown(p.cwd)}`);
  for (const [field, v] of [
    ['uid', p.user.uid],
    ['gid', p.user.gid],
  ] as const) {
    if (v < 0 || v > 0xfffffffe) throw new ConfigError(`process.user.${field}`, `out of range: ${v}`);
  }
  (p.user.additionalGids ?? []).forEach((g, i) => {
    if (g < 0 || g > 0xfffffffe) throw new ConfigError(`process.user.additionalGids[${i}]`, `out of range: ${g}`);
  });
  if (p.user.umask !== undefined && (p.user.umask < 0 || p.user.umask > 0o777))
    throw new ConfigError('process.user.umask', `out of range: ${p.user.umask}`);
  const seen = new Set<string>();
  (p.rlimits ?? []).forEach((r, i) => {
    const at = `process.rlimits[${i}]`;
    if (!(r.type in RLIMITS)) throw new ConfigError(`${at}.type`, `unknown rlimit ${JSON.stringify(r.type)}`);
    if (seen.has(r.type)) throw new ConfigError(`${at}.type`, `duplicate rlimit ${JSON.stringify(r.type)}`);
    seen.add(r.type);
    if (r.soft < 0 || r.hard < 0) throw new ConfigError(at, 'limits must not be negative');
    if (rlimitValue(r.soft) > rlimitValue(r.hard)) throw new ConfigError(at, `soft limit ${r.soft} exceeds hard limit ${r.hard}`);
  });
  const api = opts.words === 'api';
  if (p.terminal && opts.detach && !opts.consoleSocket)
    throw new ConfigError(
      'process.terminal',
      api
        ? 'true needs a consoleSocket option to hand the terminal to (or a foreground run() without stdio); set process.terminal to false for stdio pipes'
        : 'cannot allocate a tty when detaching without --console-socket',
    );
  if (!p.terminal && opts.consoleSocket)
    throw new TsrunError(
      'EUSAGE',
      api ? 'the consoleSocket option needs process.terminal true' : 'cannot use --console-socket when process.terminal is false',
    );
  if (
    p.consoleSize &&
    (p.consoleSize.width > 0xffff || p.consoleSize.height > 0xffff || p.consoleSize.width < 0 || p.consoleSize.height < 0)
  )
    throw new ConfigError('process.consoleSize', 'out of range');
  if (p.oomScoreAdj !== undefined && (p.oomScoreAdj < -1000 || p.oomScoreAdj > 1000))
    throw new ConfigError('process.oomScoreAdj', `must be between -1000 and 1000, got ${p.oomScoreAdj}`);
}

function validateLinux(spec: Spec): void {
  const l = spec.linux;
  if (!l) return;
  if (l.rootfsPropagation !== undefined && l.rootfsPropagation !== '' && !PROPAGATIONS.has(l.rootfsPropagation))
    throw new ConfigError('linux.rootfsPropagation', `unknown propagation ${JSON.stringify(l.rootfsPropagation)}`);
  (l.devices ?? []).forEach((d, i) => {
    const at = `linux.devices[${i}]`;
    if (!DEVICE_TYPES.has(d.type)) throw new ConfigError(`${at}.type`, `unknown device type ${JSON.stringify(d.type)}`);
    if (!path.isAbsolute(d.path)) throw new ConfigError(`${at}.path`, `must be an absolute path, got ${shown(d.path)}`);
    if (d.path.split('/').includes('..')) throw new ConfigError(`${at}.path`, 'must not contain ".."');
    if (d.type !== 'p' && (d.major === undefined || d.minor === undefined))
      throw new ConfigError(at, `major and minor are required for device type ${JSON.stringify(d.type)}`);
  });
  for (const field of ['maskedPaths', 'readonlyPaths'] as const) {
    (l[field] ?? []).forEach((p, i) => {
      if (!path.isAbsolute(p)) throw new ConfigError(`linux.${field}[${i}]`, `must be an absolute path, got ${shown(p)}`);
    });
  }
  if (l.seccomp !== undefined) validateSeccomp(l.seccomp);
}
