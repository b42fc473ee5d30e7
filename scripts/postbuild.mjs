// After tsc: record what the launcher and --version need at run time (the
// absolute node binary: engines call us with no PATH; the git commit), and
// bundle the CLI into one file, dist/tsrun.mjs: resolving ~100 ES modules
// at every start cost ~90 ms per command.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
mkdirSync(join(root, 'dist'), { recursive: true });
// the JavaScript engine the front (build/tsrun) hands the CLI to
writeFileSync(join(root, 'dist', 'engine'), `${process.execPath}\n`);
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
writeFileSync(join(root, 'dist', 'commit'), commit);
await build({
  entryPoints: [join(root, 'dist', 'lib', 'cli', 'main.js')],
  outfile: join(root, 'dist', 'tsrun.mjs'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
  // the bundle is ESM: give any bundled CommonJS a require
  banner: { js: "import { createRequire as __tsrunRequire } from 'node:module'; const require = __tsrunRequire(import.meta.url);" },
});
