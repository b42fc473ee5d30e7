// After tsc: record what --version needs at run time (the git commit),
// bundle the CLI into one file, dist/tsrun.mjs (resolving ~100 ES modules at
// every start cost ~90 ms per command), and choose the JavaScript engine the
// front (build/tsrun) hands the CLI to, written to dist/engine as the argv
// prefix, one element per line (relative to dist/ where it starts with ./):
//   - Bun from node_modules (@oven/bun-linux-x64), the CLI compiled into one
//     executable with its bytecode, dist/tsrun-cli: the fastest start
//     measured (docs/performance.md);
//   - else, or with TSRUN_CLI_ENGINE=node, the Node that runs this build
//     with dist/tsrun.mjs.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
mkdirSync(dist, { recursive: true });
let commit = 'unknown';
try {
  commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  }).trim();
} catch {
  /* not a git checkout */
}
writeFileSync(join(dist, 'commit'), commit);
await build({
  entryPoints: [join(dist, 'lib', 'cli', 'bin.js')],
  outfile: join(dist, 'tsrun.mjs'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  logLevel: 'warning',
  // the bundle is ESM: give any bundled CommonJS a require
  banner: { js: "import { createRequire as __tsrunRequire } from 'node:module'; const require = __tsrunRequire(import.meta.url);" },
});

const bun = join(root, 'node_modules', '@oven', 'bun-linux-x64', 'bin', 'bun');
const cli = join(dist, 'tsrun-cli');
rmSync(cli, { force: true });
// relative entries ("./x") are the engine file's neighbours (native/front/main.c): no
// absolute path of this checkout ends up in what a copy of dist/ runs
let engine = [process.execPath, './tsrun.mjs'];
if (process.env.TSRUN_CLI_ENGINE !== 'node' && existsSync(bun)) {
  execFileSync(
    bun,
    ['build', join(dist, 'lib', 'cli', 'bin.js'), '--compile', '--bytecode', '--format=cjs', '--target=bun', '--outfile', cli],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  engine = ['./tsrun-cli'];
}
writeFileSync(join(dist, 'engine'), engine.map((a) => `${a}\n`).join(''));
// what the front runs instead on an x86-64 the compiled CLI's Bun cannot run on (no SSE4.2/POPCNT)
const anyCpu = join(dist, 'engine-any-cpu');
if (engine[0] === './tsrun-cli') writeFileSync(anyCpu, `${process.execPath}\n./tsrun.mjs\n`);
else rmSync(anyCpu, { force: true });
