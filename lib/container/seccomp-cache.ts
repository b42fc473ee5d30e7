/**
 * Compiled seccomp filters, kept: libseccomp takes ~15 ms for the default
 * profile, and engines create container after container with the same one.
 * In memory for the process (API users), and on disk beside the state root
 * (<root>/../.tsrun-cache/seccomp/, 0700: the root holds containers only,
 * as runc's does) for the CLI's next process.
 *
 * The key is a SHA-256 of everything the compiler's output depends on: the
 * described filter (actions, architectures, rules), the addon build that
 * compiles it (libseccomp is linked into it) and the kernel. A file that
 * does not parse, or whose filter is not a whole number of instructions,
 * is ignored and compiled again.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { builtin } from '../builtin.js';
import { addonId } from '../native/binding.js';
import type { SeccompCache } from '../plan/seccomp.js';

const FORMAT = 1;

function sha256(text: string): string {
  const Hasher = (globalThis as { Bun?: { CryptoHasher: new (alg: string) => { update(s: string): { digest(enc: 'hex'): string } } } }).Bun
    ?.CryptoHasher;
  // node:crypto costs Bun ~13 ms to load; its own hasher is built in
  if (Hasher) return new Hasher('sha256').update(text).digest('hex');
  return builtin('node:crypto').createHash('sha256').update(text).digest('hex');
}

/** One per Lifecycle: what it compiled or read stays in memory too. */
export function seccompCache(root: string): SeccompCache {
  const memory = new Map<string, { bpf: Uint8Array; skipped: string[] }>();
  const dir = path.join(path.dirname(path.resolve(root)), '.tsrun-cache', 'seccomp');
  return {
    key(parts) {
      const id = addonId();
      if (!id) return null; // an injected addon: nothing to key on
      return sha256(JSON.stringify([FORMAT, id, os.release(), parts], (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)));
    },
    get(key) {
      const hit = memory.get(key);
      if (hit) return hit;
      try {
        const j = JSON.parse(fs.readFileSync(path.join(dir, `${key}.json`), 'utf8')) as { bpf: string; skipped: string[] };
        const bpf = Buffer.from(j.bpf, 'base64');
        if (bpf.length === 0 || bpf.length % 8 !== 0 || !Array.isArray(j.skipped)) return null;
        const v = { bpf, skipped: j.skipped };
        memory.set(key, v);
        return v;
      } catch {
        return null;
      }
    },
    set(key, v) {
      memory.set(key, v);
      try {
        fs.mkdirSync(path.dirname(dir), { recursive: true, mode: 0o700 });
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
        const file = path.join(dir, `${key}.json`);
        const tmp = `${file}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, JSON.stringify({ bpf: Buffer.from(v.bpf).toString('base64'), skipped: v.skipped }), { mode: 0o600 });
        fs.renameSync(tmp, file);
      } catch {
        /* a cache: the next create compiles again */
      }
    },
  };
}
