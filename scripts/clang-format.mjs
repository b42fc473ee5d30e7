#!/usr/bin/env node
// clang-format over every C and C++ file of the project: `--check` fails on
// any file that is not formatted (npm run lint), no flag rewrites them
// (npm run format).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dirs = ['native', 'spec-tests/probe', 'tests/fixtures', 'bench'];
const files = [];
const walk = (dir) => {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (/\.(c|cc|h)$/.test(e.name)) files.push(relative(root, p));
  }
};
for (const d of dirs) walk(join(root, d));
const check = process.argv.includes('--check');
const args = check ? ['--dry-run', '--Werror', ...files] : ['-i', ...files];
const r = spawnSync('clang-format', args, { cwd: root, stdio: 'inherit' });
if (r.error) {
  console.error(`clang-format: ${r.error.message} (apt-get install clang-format)`);
  process.exit(1);
}
process.exit(r.status ?? 1);
