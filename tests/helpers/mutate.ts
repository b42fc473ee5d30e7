/**
 * A seeded config mutator for the fuzz tests: from a valid config.json, the
 * kinds of wrong a user (or an engine bug) writes — wrong types, missing and
 * extra fields, huge and negative numbers, 64 KiB strings, NUL bytes, paths
 * with ".." and through symlinks, 1,000 mounts, deep nesting, invalid
 * UTF-8, truncated files. Same seed, same configs.
 */

/** mulberry32: small, fast, good enough to spread mutations; reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Path = (string | number)[];

function parentOf(doc: Json, p: Path): { parent: Json[] | Record<string, Json>; key: string | number } {
  let cur = doc as Json[] | Record<string, Json>;
  for (const k of p.slice(0, -1)) cur = (cur as Record<string | number, Json>)[k] as Json[] | Record<string, Json>;
  return { parent: cur, key: p[p.length - 1]! };
}

const HUGE = [2 ** 53, 2 ** 64, 1e308, -1, -(2 ** 31), 2 ** 31, 2 ** 32, -0.5, 1.5, Number.MAX_SAFE_INTEGER + 2];
const STRINGS = [
  '',
  'x'.repeat(65536),
  'a\0b',
  '../../../../etc',
  '/../../etc/passwd',
  '/proc/self/fd/1',
  'relative/path',
  '/dev/../sys',
  '\u0000',
  '${HOME}',
  '-1',
  'SIGKILL',
  '/bin/sh -c',
  '\ud800', // a lone surrogate: invalid UTF-16, written as U+FFFD
  '%INVALID_UTF8%', // replaced by raw invalid bytes when serialised
];

/** What a mutation did, for the failure message. */
export interface Mutation {
  what: string;
  /** The bytes to write as config.json. */
  bytes: Buffer;
}

const INVALID_UTF8 = Buffer.from([0xff, 0xfe, 0xc3, 0x28]);

/** Deep nesting is spliced in as text: JSON.stringify itself overflows its stack on it. */
const NESTED = /"%NESTED_(\d+)%"/g;

function serialise(doc: Json): Buffer {
  const text = Buffer.from(JSON.stringify(doc).replace(NESTED, (_, d: string) => '['.repeat(Number(d)) + '1' + ']'.repeat(Number(d))));
  const marker = Buffer.from('%INVALID_UTF8%');
  const parts: Buffer[] = [];
  let from = 0;
  for (let i = text.indexOf(marker); i >= 0; i = text.indexOf(marker, from)) {
    parts.push(text.subarray(from, i), INVALID_UTF8);
    from = i + marker.length;
  }
  parts.push(text.subarray(from));
  return Buffer.concat(parts);
}

function nested(depth: number): Json {
  return `%NESTED_${depth}%`;
}

/**
 * One mutated config from `base` (a valid config object), chosen by `r`.
 * `guard` may put back what must not change (what keeps the host safe).
 */
export function mutate(base: object, r: () => number, guard?: (doc: Record<string, unknown>) => string | null): Mutation {
  const doc = structuredClone(base) as Json;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  // a walk down from the top, stopping at random: every field of every
  // level gets its share (a uniform pick among all paths would almost only
  // hit the hundreds of seccomp syscall names)
  const randomPath = (): Path => {
    const p: Path = [];
    let cur: Json = doc;
    for (;;) {
      const keys: (string | number)[] = Array.isArray(cur) ? cur.map((_, i) => i) : cur && typeof cur === 'object' ? Object.keys(cur) : [];
      if (!keys.length || (p.length > 0 && r() < 0.3)) return p;
      const k = pick(keys);
      p.push(k);
      cur = (cur as Record<string | number, Json>)[k]!;
    }
  };
  const n = 1 + Math.floor(r() * 3); // one to three mutations on top of each other
  const did: string[] = [];
  for (let i = 0; i < n; i++) {
    const p = randomPath();
    if (!p.length) continue;
    const { parent, key } = parentOf(doc, p);
    const name = p.join('.');
    const kind = Math.floor(r() * 12);
    const rec = parent as Record<string | number, Json>;
    if (rec === null || typeof rec !== 'object' || !(key in rec)) continue; // an earlier mutation removed it
    switch (kind) {
      case 0:
        if (Array.isArray(parent)) parent.splice(key as number, 1);
        else delete rec[key];
        did.push(`delete ${name}`);
        break;
      case 1:
        rec[key] = pick([null, true, 0, '', [], {}, 'str', 1]);
        did.push(`${name} = ${JSON.stringify(rec[key])}`);
        break;
      case 2:
        rec[key] = pick(HUGE);
        did.push(`${name} = ${rec[key]}`);
        break;
      case 3: {
        const s = pick(STRINGS);
        rec[key] = s;
        did.push(`${name} = ${JSON.stringify(s.slice(0, 24))}${s.length > 24 ? `…(${s.length})` : ''}`);
        break;
      }
      case 4:
        if (rec[key] && typeof rec[key] === 'object' && !Array.isArray(rec[key])) {
          (rec[key] as Record<string, Json>)[pick(['extra', 'x-unknown', '', 'type', 'path'])] = pick([1, 'x', null, [], {}]);
          did.push(`${name} + an extra field`);
        } else {
          rec[key] = [rec[key]!];
          did.push(`${name} wrapped in an array`);
        }
        break;
      case 5:
        if (Array.isArray(rec[key])) {
          const arr = rec[key] as Json[];
          const item = arr.length ? arr[Math.floor(r() * arr.length)]! : 'x';
          const times = pick([2, 100, 1000]);
          for (let j = 0; j < times; j++) arr.push(structuredClone(item));
          did.push(`${name} × ${times} more`);
        } else {
          rec[key] = nested(pick([64, 1000, 20000]));
          did.push(`${name} = deeply nested`);
        }
        break;
      case 6:
        if (typeof rec[key] === 'number') rec[key] = -(rec[key] as number) - 1;
        else rec[key] = -1;
        did.push(`${name} negated`);
        break;
      case 7:
        if (typeof rec[key] === 'string') rec[key] = `${rec[key] as string}/../..`;
        else rec[key] = '/..';
        did.push(`${name} + /../..`);
        break;
      case 8:
        // JSON for objects: String({}) would put "[object Object]" in the config, which the checks flag in messages
        rec[key] = rec[key] !== null && typeof rec[key] === 'object' ? JSON.stringify(rec[key]) : String(rec[key]);
        did.push(`${name} stringified`);
        break;
      default:
        // leave it: more of the runs then reach deeper checks with one change
        break;
    }
  }
  const d = doc as Record<string, Json>;
  if (r() < 0.05) {
    const mounts = Array.isArray(d.mounts) ? d.mounts : [];
    for (let j = 0; j < 1000; j++) mounts.push({ destination: `/m${j}`, type: 'tmpfs', source: 'tmpfs' });
    d.mounts = mounts;
    did.push('1000 more mounts');
  }
  const guarded = guard?.(d);
  if (guarded) did.push(guarded);
  let bytes = serialise(doc);
  const tail = r();
  if (tail < 0.03) {
    bytes = bytes.subarray(0, Math.floor(r() * bytes.length));
    did.push('truncated');
  } else if (tail < 0.06) {
    bytes = Buffer.from(bytes);
    bytes[Math.floor(r() * bytes.length)] = Math.floor(r() * 256);
    did.push('a byte flipped');
  }
  return { what: did.join('; ') || 'unchanged', bytes };
}
