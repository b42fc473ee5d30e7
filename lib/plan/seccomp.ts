/**
 * linux.seccomp → a filter description for the native compiler
 * (native/seccomp/, via the addon), then BPF bytes for the plan. The
 * description step is pure; compiling asks the kernel what it supports and
 * lets libseccomp emit the program, still in the parent before clone.
 */
import { constants as osConstants } from 'node:os';

import type { LinuxSeccomp } from '../config/types.js';
import { ConfigError } from '../errors.js';
import { SECCOMP } from '../native/constants.js';

/** Action codes: enum tsrun_seccomp_action (native/include/tsrun_seccomp.h), by the config's names. */
export const SECCOMP_ACTIONS = SECCOMP.actions;

/** libseccomp's enum scmp_compare (a stable ABI), by the config's names. */
export const SECCOMP_OPS = SECCOMP.operators;

/** OCI architecture → libseccomp's name (seccomp_arch_resolve_name). Only
 * the ones libseccomp 2.5 knows: others cannot be compiled. */
export const SECCOMP_ARCHS: Record<string, string> = {
  SCMP_ARCH_X86: 'x86',
  SCMP_ARCH_X86_64: 'x86_64',
  SCMP_ARCH_X32: 'x32',
  SCMP_ARCH_ARM: 'arm',
  SCMP_ARCH_AARCH64: 'aarch64',
  SCMP_ARCH_MIPS: 'mips',
  SCMP_ARCH_MIPS64: 'mips64',
  SCMP_ARCH_MIPS64N32: 'mips64n32',
  SCMP_ARCH_MIPSEL: 'mipsel',
  SCMP_ARCH_MIPSEL64: 'mipsel64',
  SCMP_ARCH_MIPSEL64N32: 'mipsel64n32',
  SCMP_ARCH_PPC: 'ppc',
  SCMP_ARCH_PPC64: 'ppc64',
  SCMP_ARCH_PPC64LE: 'ppc64le',
  SCMP_ARCH_S390: 's390',
  SCMP_ARCH_S390X: 's390x',
  SCMP_ARCH_PARISC: 'parisc',
  SCMP_ARCH_PARISC64: 'parisc64',
  SCMP_ARCH_RISCV64: 'riscv64',
};

const { SECCOMP_FILTER_FLAG_TSYNC, SECCOMP_FILTER_FLAG_LOG, SECCOMP_FILTER_FLAG_SPEC_ALLOW, SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV } =
  SECCOMP.filterFlags;
/** The SECCOMP_FILTER_FLAG_* bits (linux/seccomp.h) that config.json may ask for. */
export const SECCOMP_FLAGS = {
  SECCOMP_FILTER_FLAG_TSYNC,
  SECCOMP_FILTER_FLAG_LOG,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
} as const;
export const SECCOMP_FILTER_FLAG_NEW_LISTENER = SECCOMP.filterFlags.SECCOMP_FILTER_FLAG_NEW_LISTENER;

export type SeccompArgTuple = [index: number, op: number, value: bigint, valueTwo: bigint];
/** One syscall name, one action; args are ANDed. */
export type SeccompRuleTuple = [name: string, action: number, ret: number, args: SeccompArgTuple[]];

export interface SeccompFilterDesc {
  defaultAction: number;
  defaultRet: number;
  /** libseccomp arch names. */
  archs: string[];
  rules: SeccompRuleTuple[];
  /** SECCOMP_FILTER_FLAG_* for seccomp(2), NEW_LISTENER included when a rule notifies. */
  flags: number;
  /** linux.seccomp.listenerPath when some action is SCMP_ACT_NOTIFY. */
  listenerPath: string | null;
}

const { EPERM } = osConstants.errno;
const U64_MAX = 2n ** 64n - 1n;

/** JSON numbers are doubles: 18446744073709551615 parses as 2^64, so that
 * (and only that) is read as the largest u64, as rlimits do. */
export function seccompValue(v: number | bigint): bigint {
  if (typeof v === 'bigint') return v;
  return v >= 2 ** 64 ? U64_MAX : BigInt(v);
}

/**
 * The flags a filter is loaded with: the config's, or, when it has no
 * `flags` at all (absent or null; an empty list is a choice of none), runc's
 * default since 1.2 (libcontainer/specconv SetupSeccomp): SPEC_ALLOW where
 * the kernel takes it. Without it, loading a filter turns on the speculative
 * store bypass mitigation for the process (on kernels whose ssbd mode is
 * "seccomp"), a cost the profile never asked for; a kernel older than 4.17
 * lacks the flag, and the filter then loads without it, as runc's does.
 */
export function seccompFlagNames(s: LinuxSeccomp, specAllowSupported: boolean): string[] {
  if (s.flags != null) return s.flags;
  return specAllowSupported ? ['SECCOMP_FILTER_FLAG_SPEC_ALLOW'] : [];
}

/** Pure: a validated linux.seccomp → what the compiler takes; `flags` are seccompFlagNames' (the config's by default). */
export function describeSeccomp(s: LinuxSeccomp, flagNames: readonly string[] = s.flags ?? []): SeccompFilterDesc {
  const action = (name: string) => SECCOMP_ACTIONS[name as keyof typeof SECCOMP_ACTIONS];
  const rules: SeccompRuleTuple[] = [];
  let notify = false;
  for (const sc of s.syscalls ?? []) {
    const act = action(sc.action);
    if (act === SECCOMP_ACTIONS.SCMP_ACT_NOTIFY) notify = true;
    const args = (sc.args ?? []).map((a): SeccompArgTuple => [
      a.index,
      SECCOMP_OPS[a.op as keyof typeof SECCOMP_OPS],
      seccompValue(a.value),
      seccompValue(a.valueTwo ?? 0),
    ]);
    // As runc: conditions on distinct arguments are ANDed in one rule; if an
    // argument index repeats, each condition becomes a rule of its own (ORed),
    // since libseccomp cannot AND two conditions on one argument.
    const indices = new Set(args.map((a) => a[0]));
    const groups = indices.size === args.length ? [args] : args.map((a) => [a]);
    for (const name of sc.names) for (const g of groups) rules.push([name, act, sc.errnoRet ?? EPERM, g]);
  }
  let flags = 0;
  for (const f of flagNames) flags |= SECCOMP_FLAGS[f as keyof typeof SECCOMP_FLAGS];
  if (notify) {
    flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
    // TSYNC and a listener exclude each other (EINVAL); the init is single
    // threaded when it loads the filter, so TSYNC has nothing to sync anyway.
    flags &= ~SECCOMP_FLAGS.SECCOMP_FILTER_FLAG_TSYNC;
  }
  return {
    defaultAction: action(s.defaultAction),
    defaultRet: s.defaultErrnoRet ?? EPERM,
    archs: (s.architectures ?? []).map((a) => SECCOMP_ARCHS[a]!),
    rules,
    flags,
    listenerPath: notify ? s.listenerPath! : null,
  };
}

/** The part of the addon the compiler needs (NativeBinding has it). */
export interface SeccompNative {
  seccompCompile(defaultAction: number, defaultRet: number, archs: string[], rules: SeccompRuleTuple[]): { bpf: Buffer; skipped: string[] };
  seccompFlagSupported(flag: number): boolean;
  seccompActionAvailable(action: number): boolean;
}

/** The plan's seccomp block (see InitPlan.seccomp). */
export interface PlanSeccomp {
  /** struct sock_filter[], 8 bytes each. */
  bpf: Uint8Array;
  flags: number;
}

/** Whether the kernel takes this config flag (WAIT_KILLABLE_RECV only comes with a listener). */
export function flagSupported(native: SeccompNative, bit: number): boolean {
  const probe = bit === SECCOMP_FLAGS.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV ? bit | SECCOMP_FILTER_FLAG_NEW_LISTENER : bit;
  return native.seccompFlagSupported(probe);
}

/** Compiled filters by a key that names everything the compiler's output depends on (lib/container/seccomp-cache.ts). */
export interface SeccompCache {
  key(parts: unknown[]): string | null;
  get(key: string): { bpf: Uint8Array; skipped: string[] } | null;
  set(key: string, compiled: { bpf: Uint8Array; skipped: string[] }): void;
}

/**
 * Compiles linux.seccomp to BPF in this (the parent) process. What the kernel
 * cannot do fails here, before clone, naming the field. Unknown syscall
 * names are skipped, as runc does; `debug` hears which.
 */
export function compileSeccomp(
  native: SeccompNative,
  s: LinuxSeccomp,
  debug?: (m: string) => void,
  cache?: SeccompCache,
): PlanSeccomp & { listenerPath: string | null } {
  (s.flags ?? []).forEach((f, i) => {
    if (!flagSupported(native, SECCOMP_FLAGS[f as keyof typeof SECCOMP_FLAGS]))
      throw new ConfigError(`linux.seccomp.flags[${i}]`, `${f} is not supported by this kernel`);
  });
  const used = [
    { at: 'linux.seccomp.defaultAction', name: s.defaultAction },
    ...(s.syscalls ?? []).map((c, i) => ({ at: `linux.seccomp.syscalls[${i}].action`, name: c.action })),
  ];
  const checked = new Map<string, boolean>();
  for (const { at, name } of used) {
    const code = SECCOMP_ACTIONS[name as keyof typeof SECCOMP_ACTIONS];
    if (!checked.has(name)) checked.set(name, native.seccompActionAvailable(code));
    if (!checked.get(name)) throw new ConfigError(at, `${name} is not supported by this kernel`);
  }
  const d = describeSeccomp(s, seccompFlagNames(s, flagSupported(native, SECCOMP_FLAGS.SECCOMP_FILTER_FLAG_SPEC_ALLOW)));
  // libseccomp takes ~15 ms for the default profile: a profile compiles once
  const key = cache?.key([d.defaultAction, d.defaultRet, d.archs, d.rules]) ?? null;
  let out = key !== null ? cache!.get(key) : null;
  if (!out) {
    try {
      out = native.seccompCompile(d.defaultAction, d.defaultRet, d.archs, d.rules);
    } catch (e) {
      throw new ConfigError('linux.seccomp', (e as Error).message);
    }
    if (key !== null) cache!.set(key, out);
  }
  const skipped = [...new Set(out.skipped)];
  if (skipped.length) debug?.(`seccomp: ignoring syscalls unknown to libseccomp: ${skipped.join(' ')}`);
  return { bpf: out.bpf, flags: d.flags, listenerPath: d.listenerPath };
}

/** linux.seccomp of `tsrun features` (features.md): what config.json may
 * say, and which flags this kernel takes. */
export function seccompFeatures(native: SeccompNative): Record<string, unknown> {
  const knownFlags = Object.keys(SECCOMP_FLAGS);
  return {
    enabled: true,
    actions: Object.keys(SECCOMP_ACTIONS).filter((a) => native.seccompActionAvailable(SECCOMP_ACTIONS[a as keyof typeof SECCOMP_ACTIONS])),
    operators: Object.keys(SECCOMP_OPS),
    archs: Object.keys(SECCOMP_ARCHS),
    knownFlags,
    supportedFlags: knownFlags.filter((f) => flagSupported(native, SECCOMP_FLAGS[f as keyof typeof SECCOMP_FLAGS])),
  };
}
