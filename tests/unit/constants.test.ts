/**
 * The generated constants (lib/native/constants.gen.ts) are what the C
 * compiler says: the same document build/tsrun-constants prints now and the
 * addon carries, and a layout that is whole (every byte of every struct
 * named, each field as wide as its type says).
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { GENERATED } from '../../lib/native/constants.gen.js';
import { LAYOUT, PLAN_VERSION } from '../../lib/native/constants.js';
import { CAPABILITIES } from '../../lib/plan/linux.js';
import { ROOT } from '../helpers/bundle.js';

const TOOL = path.join(ROOT, 'build', 'tsrun-constants');
const ADDON = path.join(ROOT, 'build', 'Release', 'tsrun.node');
const toolTest = fs.existsSync(TOOL) ? test : test.skip;
const addonTest = fs.existsSync(ADDON) ? test : test.skip;

/** The generated module as plain JSON (what it was written from). */
const generated = JSON.parse(JSON.stringify(GENERATED)) as unknown;

toolTest('the generated module is what build/tsrun-constants prints now (rebuild if the headers changed)', (t) => {
  const r = spawnSync(TOOL, { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  t.deepEqual(generated, JSON.parse(r.stdout));
});

addonTest('the addon was built from the same headers: its constants are the generated ones', async (t) => {
  const { loadBinding } = await import('../../lib/native/binding.js');
  const native = loadBinding();
  t.is(native.planVersion, PLAN_VERSION);
  t.deepEqual(generated, JSON.parse(native.constantsJson()));
});

test('an addon of another plan version is refused when it loads', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-addon-'));
  const fake = path.join(dir, 'tsrun.cjs');
  fs.writeFileSync(fake, `module.exports = { planVersion: ${PLAN_VERSION + 1} };\n`);
  const binding = path.join(ROOT, 'dist', 'lib', 'native', 'binding.js');
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `(await import(${JSON.stringify(binding)})).loadBinding()`], {
    env: { ...process.env, TSRUN_ADDON: fake },
    encoding: 'utf8',
  });
  fs.rmSync(dir, { recursive: true, force: true });
  t.not(r.status, 0);
  t.regex(r.stderr, new RegExp(`speaks plan version ${PLAN_VERSION + 1}, this tsrun ${PLAN_VERSION}: rebuild it`));
});

interface Field {
  off: number;
  size: number;
  type: string;
  count?: number;
  elem?: string;
  elemSize?: number;
}
const WIDTH: Record<string, number> = { u32: 4, i32: 4, u64: 8, i64: 8 };
const records = LAYOUT as unknown as Record<string, { bytes: number; fields: Record<string, Field> }>;

test('the layout names every byte of each struct once, each field as wide as its C type', (t) => {
  for (const [name, rec] of Object.entries(records)) {
    const fields = Object.entries(rec.fields).sort(([, a], [, b]) => a.off - b.off);
    let end = 0;
    for (const [key, f] of fields) {
      const at = `${name}.${key}`;
      t.is(f.off, end, `${at} starts where the field before it ends`);
      end = f.off + f.size;
      if (f.type === 'vec') {
        t.is(f.size, records.vec!.bytes, at);
        const elem = f.elem!;
        t.is(f.elemSize, WIDTH[elem] ?? records[elem]?.bytes, `${at}: an element of ${elem} is ${f.elemSize} bytes`);
      } else if (f.type in WIDTH) {
        t.is(f.size, WIDTH[f.type]! * (f.count ?? 1), at);
      } else if (f.type !== 'pad') {
        t.is(f.size, records[f.type]?.bytes ?? -1, `${at} is a whole ${f.type}`);
      }
    }
    // (sock_filter's instructions are copied as bytes: no fields)
    if (fields.length) t.is(end, rec.bytes, `${name}: its fields fill it`);
  }
});

test('capabilities are numbered 0..n-1 without a hole (CAPABILITIES is indexed by number)', (t) => {
  const numbers = Object.values(GENERATED.kernel.capabilities as Record<string, number>).sort((a, b) => a - b);
  t.deepEqual(
    numbers,
    numbers.map((_, i) => i),
  );
  t.is(CAPABILITIES[24], 'CAP_SYS_RESOURCE');
  t.is(CAPABILITIES.length, numbers.length);
});
