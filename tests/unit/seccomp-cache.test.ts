/**
 * Compiled seccomp filters are kept in the state root (<root>/.cache/seccomp)
 * and served again, never a wrong one, nor one from a place another user
 * could write.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { defaultSeccompProfile } from '../../lib/config/seccomp-profile.js';
import { entryMac, seccompCache } from '../../lib/container/seccomp-cache.js';
import { loadBinding, type NativeBinding } from '../../lib/native/binding.js';
import { compileSeccomp } from '../../lib/plan/seccomp.js';

/** The addon, counting the compiles that reach libseccomp. */
function counting(): { native: NativeBinding; compiles: () => number } {
  const real = loadBinding();
  let n = 0;
  const native = Object.create(real) as NativeBinding;
  native.seccompCompile = (...a: Parameters<NativeBinding['seccompCompile']>) => (n++, real.seccompCompile(...a));
  return { native, compiles: () => n };
}

/** A state root as claim makes it (0700), and its cache dir. */
function stateRoot(): { root: string; dir: string } {
  const root = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-cache-')), 'state');
  fs.mkdirSync(root, { mode: 0o700 });
  return { root, dir: path.join(root, '.cache', 'seccomp') };
}

const small = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] };

/** One compile fills the cache; the result, its entry file and the debug lines of the next compile through a fresh cache. */
function again(root: string, profile = small) {
  const { native, compiles } = counting();
  const said: string[] = [];
  const r = compileSeccomp(
    native,
    profile,
    undefined,
    seccompCache(root, (m) => said.push(m)),
  );
  return { bpf: Buffer.from(r.bpf), compiled: compiles() === 1, said };
}

test('a profile compiles once: the next compile (another process: a fresh cache object) reads the file', (t) => {
  const { root, dir } = stateRoot();
  const { native, compiles } = counting();
  const profile = defaultSeccompProfile();
  const first = compileSeccomp(native, profile, undefined, seccompCache(root));
  t.is(compiles(), 1);
  const files = fs.readdirSync(dir).sort();
  t.is(files.length, 2);
  t.is(files[1], 'key');
  for (const d of [path.dirname(dir), dir]) t.is(fs.statSync(d).mode & 0o777, 0o700);
  for (const f of files) t.is(fs.statSync(path.join(dir, f)).mode & 0o777, 0o600);
  t.is(fs.statSync(path.join(dir, 'key')).size, 32);
  t.deepEqual(fs.readdirSync(path.dirname(root)), ['state'], 'nothing beside the state root');

  const again = compileSeccomp(native, profile, undefined, seccompCache(root));
  t.is(compiles(), 1, 'served from the cache');
  t.deepEqual(Buffer.from(again.bpf), Buffer.from(first.bpf));

  // another profile is another key: compiled, and it is a different filter
  const other = compileSeccomp(native, { ...profile, defaultAction: 'SCMP_ACT_KILL' }, undefined, seccompCache(root));
  t.is(compiles(), 2);
  t.notDeepEqual(Buffer.from(other.bpf), Buffer.from(first.bpf));
});

/** The entry file another profile leaves in the same cache. */
function otherEntry(root: string, dir: string): string {
  const before = new Set(fs.readdirSync(dir));
  again(root, { ...small, defaultAction: 'SCMP_ACT_LOG' });
  const name = fs.readdirSync(dir).find((f) => !before.has(f))!;
  return fs.readFileSync(path.join(dir, name), 'utf8');
}

test('a damaged or forged entry is ignored and compiled again, and --debug says why', (t) => {
  const { root, dir } = stateRoot();
  const first = again(root);
  t.true(first.compiled);
  const name = fs.readdirSync(dir).find((f) => f.endsWith('.json'))!;
  const file = path.join(dir, name);
  const good = JSON.parse(fs.readFileSync(file, 'utf8')) as { bpf: string; skipped: string[]; mac: string };
  const allow = Buffer.from([6, 0, 0, 0, 0, 0, 0xff, 0x7f]).toString('base64');
  const key = name.replace(/\.json$/, '');
  const cases: [string, string, RegExp][] = [
    ['not json', 'not json', /JSON/],
    ['empty', '', /JSON/],
    ['no MAC (the format before)', JSON.stringify({ bpf: allow, skipped: [] }), /not a cache entry/],
    ['another filter, the old MAC', JSON.stringify({ ...good, bpf: allow }), /fails its MAC/],
    [
      'another filter under a key of its own',
      JSON.stringify({ bpf: allow, skipped: [], mac: entryMac(Buffer.alloc(32, 7), key, allow, []) }),
      /fails its MAC/,
    ],
    ['a MAC that is none', JSON.stringify({ ...good, mac: 'x'.repeat(64) }), /fails its MAC/],
    ['the entry of another profile, under this name', otherEntry(root, dir), /fails its MAC/],
  ];
  for (const [what, damage, reason] of cases) {
    fs.writeFileSync(file, damage, { mode: 0o600 });
    const r = again(root);
    t.true(r.compiled, what);
    t.deepEqual(r.bpf, first.bpf, what);
    t.regex(r.said.join('\n'), new RegExp(`seccomp cache: .*${reason.source}.*not used, compiling`), what);
  }
});

test('a cache another user could write, or reached through a symlink, is never read', (t) => {
  const { root, dir } = stateRoot();
  const first = again(root);
  const mode = (p: string, m: number, what: string) => {
    fs.chmodSync(p, m);
    const r = again(root);
    t.true(r.compiled, what);
    t.regex(r.said.join('\n'), /writable by other users.*not used, compiling/, what);
    fs.chmodSync(p, m & ~0o022);
  };
  mode(root, 0o777, 'the state root 0777');
  mode(path.dirname(dir), 0o770, '.cache 0770');
  mode(dir, 0o702, 'seccomp 0702');
  const name = fs.readdirSync(dir).find((f) => f.endsWith('.json'))!;
  mode(path.join(dir, name), 0o622, 'the entry 0622');
  mode(path.join(dir, 'key'), 0o620, 'the key 0620');

  // the key must not be readable by others either
  fs.chmodSync(path.join(dir, 'key'), 0o644);
  t.regex(again(root).said.join('\n'), /key is readable by other users/);
  fs.chmodSync(path.join(dir, 'key'), 0o600);
  t.false(again(root).compiled, 'served again once it is private');

  // .cache replaced by a symlink to a copy: not followed
  const elsewhere = path.join(path.dirname(root), 'elsewhere');
  fs.cpSync(path.dirname(dir), elsewhere, { recursive: true });
  fs.rmSync(path.dirname(dir), { recursive: true });
  fs.symlinkSync(elsewhere, path.dirname(dir));
  const r = again(root);
  t.true(r.compiled);
  t.regex(r.said.join('\n'), /\.cache is a symlink/);
  t.deepEqual(r.bpf, first.bpf);
});

test('a key that is not 32 bytes, or missing beside an entry, makes the cache unused', (t) => {
  const { root, dir } = stateRoot();
  again(root);
  fs.writeFileSync(path.join(dir, 'key'), 'short', { mode: 0o600 });
  t.regex(again(root).said.join('\n'), /is not a 32-byte key/);
  fs.rmSync(path.join(dir, 'key'));
  t.regex(again(root).said.join('\n'), /key is missing/);
});

test('no state root yet: nothing is kept, nothing is said, the filter compiles', (t) => {
  const root = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-cache-')), 'state');
  const r = again(root);
  t.true(r.compiled);
  t.deepEqual(r.said, []);
  t.false(fs.existsSync(root), 'the cache does not make the state root (claim does)');
});
