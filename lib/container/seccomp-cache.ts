/**
 * Compiled seccomp filters, kept: libseccomp takes ~15 ms for the default
 * profile, and engines create container after container with the same one.
 * In memory for the process (API users), and on disk in the state root
 * (<root>/.cache/seccomp/, docs/seccomp.md) for the CLI's next process.
 *
 * A filter read back is loaded into containers as it is, so the cache is
 * trusted only as far as it is the runtime's user's alone: the root, .cache
 * and seccomp are each checked on the fd they are opened as (owned by our
 * euid, no group or other write, no symlink: safe-files.ts), and every
 * entry carries an HMAC-SHA-256 under a random key kept 0600 beside them.
 * Anything that fails a check is not used (the profile is compiled again)
 * and --debug says why; a cache beside the root, where another user could
 * make the directory first, is what this replaced.
 *
 * The key is a SHA-256 of everything the compiler's output depends on: the
 * described filter (actions, architectures, rules), the addon build that
 * compiles it (libseccomp is linked into it) and the kernel.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import * as fs from 'node:fs';

import { builtin } from '../builtin.js';
import { addonId } from '../native/binding.js';
import type { SeccompCache } from '../plan/seccomp.js';
import { NotPrivateError, at, createFileAt, openPrivateDir, readPrivateFile, replaceFileAt, unpredictable } from './safe-files.js';

const FORMAT = 2;
/** Where, below the state root (`list` skips names that start with '.'; no container id can). */
export const CACHE_DIRS = ['.cache', 'seccomp'] as const;
const KEY_FILE = 'key';
const KEY_BYTES = 32;
/** A filter is at most 65535 instructions of 8 bytes (base64), with the skipped names. */
const ENTRY_MAX = 1 << 20;

type Hasher = new (alg: string, key?: Uint8Array) => { update(s: string): { digest(enc: 'hex'): string } };
/** Bun's own hasher: node:crypto costs Bun ~13 ms to load. */
const BunHasher = (globalThis as { Bun?: { CryptoHasher: Hasher } }).Bun?.CryptoHasher;

function sha256(text: string): string {
  if (BunHasher) return new BunHasher('sha256').update(text).digest('hex');
  return builtin('node:crypto').createHash('sha256').update(text).digest('hex');
}

function hmac(key: Uint8Array, text: string): string {
  if (BunHasher) return new BunHasher('sha256', key).update(text).digest('hex');
  return builtin('node:crypto').createHmac('sha256', key).update(text).digest('hex');
}

/** What an entry's MAC covers: its name too, so an entry cannot be served under another key. */
export function entryMac(macKey: Uint8Array, key: string, bpf: string, skipped: readonly string[]): string {
  return hmac(macKey, JSON.stringify([key, bpf, skipped]));
}

function sameText(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length && i < b.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** The MAC key: read, or (`create`) made once — written whole under a private name, then linked into place (link fails if another process won). */
function macKey(dir: number, shownDir: string, create: boolean): Uint8Array | null {
  let key = readPrivateFile(dir, shownDir, KEY_FILE, KEY_BYTES, true);
  if (!key && create) {
    const tmp = unpredictable('.key.');
    createFileAt(dir, tmp, globalThis.crypto.getRandomValues(new Uint8Array(KEY_BYTES)), 0o600);
    try {
      fs.linkSync(at(dir, tmp), at(dir, KEY_FILE));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    } finally {
      fs.rmSync(at(dir, tmp), { force: true });
    }
    key = readPrivateFile(dir, shownDir, KEY_FILE, KEY_BYTES, true);
  }
  if (key && key.length !== KEY_BYTES) throw new NotPrivateError(`${path.join(shownDir, KEY_FILE)} is not a ${KEY_BYTES}-byte key`);
  return key;
}

/** Why a cache operation gave up, for --debug; null when it is no news (nothing cached yet). */
function why(e: unknown): string | null {
  if (e instanceof NotPrivateError || e instanceof SyntaxError) return e.message;
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOENT' ? null : ((e as Error).message ?? String(e));
}

/** One per Lifecycle: what it compiled or read stays in memory too. `debug` hears why the disk was not used. */
export function seccompCache(root: string, debug?: (message: string) => void): SeccompCache {
  const memory = new Map<string, { bpf: Uint8Array; skipped: string[] }>();
  const shownDir = path.join(path.resolve(root), ...CACHE_DIRS);
  const withDir = <T>(create: boolean, use: (fd: number) => T, onError: (reason: string) => void): T | null => {
    let fd = -1;
    try {
      fd = openPrivateDir(path.resolve(root), CACHE_DIRS, { create });
      return use(fd);
    } catch (e) {
      const reason = why(e);
      if (reason) onError(reason);
      return null;
    } finally {
      if (fd >= 0) fs.closeSync(fd);
    }
  };
  return {
    key(parts) {
      const id = addonId();
      if (!id) return null; // an injected addon: nothing to key on
      return sha256(JSON.stringify([FORMAT, id, os.release(), parts], (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)));
    },
    get(key) {
      const hit = memory.get(key);
      if (hit) return hit;
      return withDir(
        false,
        (dir) => {
          const text = readPrivateFile(dir, shownDir, `${key}.json`, ENTRY_MAX);
          if (!text) return null;
          const mk = macKey(dir, shownDir, false);
          if (!mk) throw new NotPrivateError(`${path.join(shownDir, KEY_FILE)} is missing`);
          const j = JSON.parse(text.toString('utf8')) as { bpf?: unknown; skipped?: unknown; mac?: unknown };
          const shown = path.join(shownDir, `${key}.json`);
          if (
            typeof j.bpf !== 'string' ||
            !Array.isArray(j.skipped) ||
            !j.skipped.every((s) => typeof s === 'string') ||
            typeof j.mac !== 'string'
          )
            throw new NotPrivateError(`${shown} is not a cache entry`);
          if (!sameText(j.mac, entryMac(mk, key, j.bpf, j.skipped as string[]))) throw new NotPrivateError(`${shown} fails its MAC`);
          const bpf = Buffer.from(j.bpf, 'base64');
          if (bpf.length === 0 || bpf.length % 8 !== 0) throw new NotPrivateError(`${shown} holds no whole filter`);
          const v = { bpf, skipped: j.skipped as string[] };
          memory.set(key, v);
          return v;
        },
        (reason) => debug?.(`seccomp cache: ${reason}: not used, compiling`),
      );
    },
    set(key, v) {
      memory.set(key, v);
      withDir(
        true,
        (dir) => {
          const mk = macKey(dir, shownDir, true)!;
          const bpf = Buffer.from(v.bpf).toString('base64');
          const entry = { bpf, skipped: v.skipped, mac: entryMac(mk, key, bpf, v.skipped) };
          replaceFileAt(dir, `${key}.json`, JSON.stringify(entry), 0o600);
        },
        (reason) => debug?.(`seccomp cache: ${reason}: the compiled filter is not kept`),
      );
    },
  };
}
