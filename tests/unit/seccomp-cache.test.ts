/** Compiled seccomp filters are kept beside the state root and served again, never a wrong one. */
import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { defaultSeccompProfile } from '../../lib/config/seccomp-profile.js';
import { seccompCache } from '../../lib/container/seccomp-cache.js';
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

test('a profile compiles once: the next compile (another process: a fresh cache object) reads the file', (t) => {
  const root = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-cache-')), 'state');
  const { native, compiles } = counting();
  const profile = defaultSeccompProfile();
  const first = compileSeccomp(native, profile, undefined, seccompCache(root));
  t.is(compiles(), 1);
  const dir = path.join(path.dirname(root), '.tsrun-cache', 'seccomp');
  const files = fs.readdirSync(dir);
  t.is(files.length, 1);
  t.is(fs.statSync(dir).mode & 0o777, 0o700);
  t.is(fs.statSync(path.join(dir, files[0]!)).mode & 0o777, 0o600);
  t.false(fs.existsSync(root), 'the state root holds containers only');

  const again = compileSeccomp(native, profile, undefined, seccompCache(root));
  t.is(compiles(), 1, 'served from the cache');
  t.deepEqual(Buffer.from(again.bpf), Buffer.from(first.bpf));

  // another profile is another key: compiled, and it is a different filter
  const other = compileSeccomp(native, { ...profile, defaultAction: 'SCMP_ACT_KILL' }, undefined, seccompCache(root));
  t.is(compiles(), 2);
  t.notDeepEqual(Buffer.from(other.bpf), Buffer.from(first.bpf));
});

test('a damaged cache file is ignored and compiled again', (t) => {
  const root = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-cache-')), 'state');
  const { native, compiles } = counting();
  const profile = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] };
  const first = compileSeccomp(native, profile, undefined, seccompCache(root));
  const dir = path.join(path.dirname(root), '.tsrun-cache', 'seccomp');
  const file = path.join(dir, fs.readdirSync(dir)[0]!);
  for (const damage of ['{"bpf":"AAAA","skipped":[]}', 'not json', '']) {
    fs.writeFileSync(file, damage);
    const r = compileSeccomp(native, profile, undefined, seccompCache(root));
    t.deepEqual(Buffer.from(r.bpf), Buffer.from(first.bpf), JSON.stringify(damage));
  }
  t.is(compiles(), 1 + 3);
});
