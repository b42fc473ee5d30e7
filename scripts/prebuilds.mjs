// prepack (npm pack, npm publish): the package ships what runs, prebuilt, so
// that `npm install tsrun` needs no cmake or compiler. prebuilds/linux-x64/
// gets this build's front, addon and init, and an engine file that runs the
// CLI bundle (dist/tsrun.mjs) on the Node that runs npm's `tsrun` (found in
// PATH by the front, native/front/main.c). The compiled Bun CLI is the
// release's (scripts/release.mjs), not the package's: an API user's install
// pulls in no Bun.
import { chmodSync, copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'prebuilds', `linux-${process.arch}`);
const parts = [
  [join(root, 'build', 'tsrun'), 'tsrun', 0o755],
  [join(root, 'build', 'Release', 'tsrun.node'), 'tsrun.node', 0o644],
  [join(root, 'build', 'Release', 'tsrun-init'), 'tsrun-init', 0o755],
];
for (const f of [...parts.map((p) => p[0]), join(root, 'dist', 'tsrun.mjs'), join(root, 'dist', 'lib', 'index.js')])
  if (!existsSync(f)) {
    console.error(`prebuilds: ${f} is missing: run npm run build first`);
    process.exit(1);
  }
rmSync(join(root, 'prebuilds'), { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
for (const [from, name, mode] of parts) {
  copyFileSync(from, join(dir, name));
  chmodSync(join(dir, name), mode);
}
writeFileSync(join(dir, 'tsrun-engine'), 'node\n../../dist/tsrun.mjs\n');
console.log(`prebuilds: ${dir}`);
