/**
 * linux.seccomp: every rule checked before any process exists, each error
 * naming its JSON path. Pure. What only the kernel can answer (is this flag
 * or action available here?) is checked when the filter is compiled
 * (lib/plan/seccomp.ts), still before clone.
 */
import { ConfigError, shown } from '../errors.js';
import { SECCOMP_ACTIONS, SECCOMP_ARCHS, SECCOMP_FLAGS, SECCOMP_OPS } from '../plan/seccomp.js';
import type { LinuxSeccomp } from './types.js';

const AT = 'linux.seccomp';
const MAX_ERRNO = 4095;
const U64_MAX = 2n ** 64n - 1n;
const WITH_RET = new Set(['SCMP_ACT_ERRNO', 'SCMP_ACT_TRACE']);
/** The init itself calls these after the filter is loaded (READY on the sync
 * socket, the exec fifo byte): a notifying rule on them would wait on a
 * listener that has not got its fd yet, or hand it the runtime's own calls. */
const NOTIFY_FORBIDDEN = new Set(['sendmsg', 'write']);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const quote = shown;

function stringArray(v: unknown, at: string): string[] {
  if (!Array.isArray(v)) throw new ConfigError(at, `must be an array of strings, got ${shown(v)}`);
  v.forEach((s, i) => {
    if (typeof s !== 'string') throw new ConfigError(`${at}[${i}]`, `must be a string, got ${shown(s)}`);
  });
  return v as string[];
}

function errnoValue(v: unknown, at: string): void {
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_ERRNO)
    throw new ConfigError(at, `must be an errno between 0 and ${MAX_ERRNO}, got ${shown(v)}`);
}

function u64(v: unknown, at: string): void {
  // 2 ** 64 is how JSON.parse reads 18446744073709551615 (the largest u64)
  const ok = (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 2 ** 64) || (typeof v === 'bigint' && v >= 0n && v <= U64_MAX);
  if (!ok) throw new ConfigError(at, `must be an unsigned 64-bit integer, got ${shown(typeof v === 'bigint' ? v.toString() : v)}`);
}

function action(v: unknown, at: string): string {
  if (v === undefined) throw new ConfigError(at, `is required (one of ${Object.keys(SECCOMP_ACTIONS).join(', ')})`);
  if (typeof v !== 'string' || !(v in SECCOMP_ACTIONS))
    throw new ConfigError(at, `unknown seccomp action ${quote(v)} (one of ${Object.keys(SECCOMP_ACTIONS).join(', ')})`);
  return v;
}

/** Throws on the first violation. */
export function validateSeccomp(raw: unknown): void {
  if (!isObject(raw)) throw new ConfigError(AT, 'must be an object');
  const s = raw as unknown as LinuxSeccomp;
  const def = action(s.defaultAction, `${AT}.defaultAction`);
  if (def === 'SCMP_ACT_NOTIFY') throw new ConfigError(`${AT}.defaultAction`, 'SCMP_ACT_NOTIFY cannot be the default action');
  if (s.defaultErrnoRet !== undefined) {
    errnoValue(s.defaultErrnoRet, `${AT}.defaultErrnoRet`);
    if (!WITH_RET.has(def)) throw new ConfigError(`${AT}.defaultErrnoRet`, `only applies to SCMP_ACT_ERRNO and SCMP_ACT_TRACE, not ${def}`);
  }
  if (s.architectures !== undefined) {
    stringArray(s.architectures, `${AT}.architectures`).forEach((a, i) => {
      if (!(a in SECCOMP_ARCHS)) throw new ConfigError(`${AT}.architectures[${i}]`, `unknown or unsupported architecture ${quote(a)}`);
    });
  }
  let notify = false;
  if (s.syscalls !== undefined) {
    if (!Array.isArray(s.syscalls)) throw new ConfigError(`${AT}.syscalls`, 'must be an array');
    s.syscalls.forEach((sc, i) => {
      const at = `${AT}.syscalls[${i}]`;
      if (!isObject(sc)) throw new ConfigError(at, 'must be an object');
      const names = stringArray(sc.names, `${at}.names`);
      if (names.length === 0) throw new ConfigError(`${at}.names`, 'must name at least one syscall');
      names.forEach((n, j) => {
        if (n === '') throw new ConfigError(`${at}.names[${j}]`, 'must not be empty');
      });
      const act = action(sc.action, `${at}.action`);
      if (sc.errnoRet !== undefined) {
        errnoValue(sc.errnoRet, `${at}.errnoRet`);
        if (!WITH_RET.has(act)) throw new ConfigError(`${at}.errnoRet`, `only applies to SCMP_ACT_ERRNO and SCMP_ACT_TRACE, not ${act}`);
      }
      if (act === 'SCMP_ACT_NOTIFY') {
        notify = true;
        names.forEach((n, j) => {
          if (NOTIFY_FORBIDDEN.has(n))
            throw new ConfigError(
              `${at}.names[${j}]`,
              `SCMP_ACT_NOTIFY cannot be used for ${quote(n)}: the runtime itself calls it after loading the filter`,
            );
        });
      }
      if (sc.args === undefined) return;
      if (!Array.isArray(sc.args)) throw new ConfigError(`${at}.args`, 'must be an array');
      sc.args.forEach((a, j) => {
        const aat = `${at}.args[${j}]`;
        if (!isObject(a)) throw new ConfigError(aat, 'must be an object');
        if (typeof a.index !== 'number' || !Number.isInteger(a.index) || a.index < 0 || a.index > 5)
          throw new ConfigError(`${aat}.index`, `must be an argument index from 0 to 5, got ${shown(a.index)}`);
        u64(a.value, `${aat}.value`);
        if (a.valueTwo !== undefined) u64(a.valueTwo, `${aat}.valueTwo`);
        if (typeof a.op !== 'string' || !(a.op in SECCOMP_OPS))
          throw new ConfigError(`${aat}.op`, `unknown seccomp operator ${quote(a.op)} (one of ${Object.keys(SECCOMP_OPS).join(', ')})`);
      });
    });
  }
  if (s.flags !== undefined) {
    stringArray(s.flags, `${AT}.flags`).forEach((f, i) => {
      if (!(f in SECCOMP_FLAGS))
        throw new ConfigError(`${AT}.flags[${i}]`, `unknown seccomp flag ${quote(f)} (one of ${Object.keys(SECCOMP_FLAGS).join(', ')})`);
      if (f === 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV' && !notify)
        throw new ConfigError(`${AT}.flags[${i}]`, `${f} needs a SCMP_ACT_NOTIFY rule (it applies to the listener)`);
    });
  }
  if (s.listenerPath !== undefined && typeof s.listenerPath !== 'string') throw new ConfigError(`${AT}.listenerPath`, 'must be a string');
  if (s.listenerMetadata !== undefined && typeof s.listenerMetadata !== 'string')
    throw new ConfigError(`${AT}.listenerMetadata`, 'must be a string');
  if (notify && !s.listenerPath) throw new ConfigError(`${AT}.listenerPath`, 'is required when a syscall uses SCMP_ACT_NOTIFY');
}
