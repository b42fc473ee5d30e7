// The package ships its native parts prebuilt (prebuilds/, scripts/prebuilds.mjs)
// and runs no install script. To build them from the shipped native/ sources
// instead, in an installed package:
//   npm install cmake-js node-addon-api
//   npm explore tsrun -- node scripts/build-from-source.mjs
// which writes build/, preferred from then on (lib/native/binding.ts
// runtimeFile). That needs cmake, a C and C++ compiler and libseccomp-dev.
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
let cli;
try {
  cli = createRequire(join(root, 'package.json')).resolve('cmake-js/bin/cmake-js');
} catch {
  console.error('tsrun: a build from source needs the cmake-js and node-addon-api packages: npm install cmake-js node-addon-api');
  process.exit(1);
}
execFileSync(process.execPath, [cli, 'compile', '--out', 'build', '--CDCMAKE_BUILD_TYPE=Release'], { cwd: root, stdio: 'inherit' });
