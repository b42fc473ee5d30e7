/**
 * The release and the npm package on old x86-64 CPUs, in the VM test bed:
 *  - `old-cpu` boots it with --cpu qemu64 (qemu's default model: no SSE4.2,
 *    POPCNT, AVX or AVX2). The compiled CLI's Bun dies there of SIGILL, so
 *    the release's front must pick its any-CPU engine (Node and the CLI
 *    bundle, native/front/main.c);
 *  - `old-cpu-nehalem` boots it with --cpu Nehalem (SSE4.2 and POPCNT, no
 *    AVX or AVX2; TSRUN_OLD_CPU=Nehalem): the compiled CLI itself must run.
 * Everything native (the front, the addon, tsrun-init) must run as built.
 * The artifacts are the install suite's (release/: npm run release, npm pack).
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { ROOT, busyboxRootfs } from '../helpers/bundle.js';
import { NPM_TARBALL, unpackNpm } from '../helpers/clean-root.js'; // the install suite fetched it (npmTarball)

const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
const TARBALL = path.join(ROOT, 'release', `tsrun-${version}-linux-amd64.tar.gz`);
const PACKED = path.join(ROOT, 'release', `tsrun-${version}.tgz`);
const flags = (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1] ?? '').trim().split(/\s+/);

/** A bundle that runs args, without a terminal. */
function bundle(args: string[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'old-cpu-'));
  fs.mkdirSync(path.join(dir, 'rootfs'));
  busyboxRootfs(path.join(dir, 'rootfs'));
  const spec = spawnSync(path.join(ROOT, 'bin', 'tsrun'), ['spec', '-b', dir], { encoding: 'utf8' });
  if (spec.status !== 0) throw new Error(`spec: ${spec.stderr}`);
  const file = path.join(dir, 'config.json');
  const config = JSON.parse(fs.readFileSync(file, 'utf8')) as { process: { terminal: boolean; args: string[] } };
  config.process.terminal = false;
  config.process.args = args;
  fs.writeFileSync(file, JSON.stringify(config));
  return dir;
}

/** cmd with exactly env (an engine's empty environment by default). */
const run = (cmd: string, args: string[], env: Record<string, string> = {}, cwd?: string) =>
  spawnSync(cmd, args, { encoding: 'utf8', env, cwd, timeout: 600_000 });

const MODEL = process.env.TSRUN_OLD_CPU ?? 'qemu64';
const BUN_RUNS = MODEL !== 'qemu64';

test(`the CPU is the model asked for (${MODEL}): no AVX or AVX2${BUN_RUNS ? '' : ', SSE4.2 or POPCNT'}`, (t) => {
  for (const f of ['avx', 'avx2', ...(BUN_RUNS ? [] : ['sse4_2', 'popcnt'])])
    t.false(flags.includes(f), `this CPU has ${f}: boot with --cpu ${MODEL}`);
  if (BUN_RUNS) for (const f of ['sse4_2', 'popcnt']) t.true(flags.includes(f), `this CPU lacks ${f}`);
});

test.serial(
  `the release: the front picks ${BUN_RUNS ? 'the compiled CLI' : 'its any-CPU engine'}; --version, run, exec and delete work`,
  (t) => {
    t.true(fs.existsSync(TARBALL), `${TARBALL}: run the install suite first (npm test -- install)`);
    const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'old-cpu-prefix-'));
    t.is(run('tar', ['-C', prefix, '-xzf', TARBALL], { PATH: '/usr/bin:/bin' }).status, 0);
    const tsrun = path.join(prefix, 'bin', 'tsrun');
    const v = run(tsrun, ['--version']);
    t.is(v.status, 0, v.stderr);
    if (BUN_RUNS) t.regex(v.stdout, /^tsrun version .*\n(.*\n)*bun: /, 'the compiled CLI ran');
    else t.regex(v.stdout, /^tsrun version .*\n(.*\n)*node: v24\./, 'the CLI ran on the release’s Node, not Bun');
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'old-cpu-root-'));
    const hello = run(tsrun, ['--root', root, 'run', '-b', bundle(['echo', 'hello from qemu64']), 'c1']);
    t.is(hello.status, 0, hello.stderr);
    t.is(hello.stdout, 'hello from qemu64\n');
    const b = bundle(['sleep', '600']);
    // detached: its output is not ours to wait for (the container keeps the fds it is given)
    t.is(spawnSync(tsrun, ['--root', root, 'run', '-d', '-b', b, 'c2'], { env: {}, stdio: 'ignore' }).status, 0);
    const ex = run(tsrun, ['--root', root, 'exec', 'c2', 'echo', 'from exec']);
    t.is(ex.status, 0, ex.stderr);
    t.is(ex.stdout, 'from exec\n');
    t.is(run(tsrun, ['--root', root, 'delete', '--force', 'c2']).status, 0);
    t.is(run(tsrun, ['--root', root, 'list', '-q']).stdout, '');
  },
);

test.serial('the npm package on Node 24: npm install, the API and npx tsrun run', (t) => {
  t.true(fs.existsSync(PACKED), `${PACKED}: run the install suite first (npm test -- install)`);
  t.true(fs.existsSync(NPM_TARBALL), `${NPM_TARBALL}: run the install suite first`);
  const app = fs.mkdtempSync(path.join(os.tmpdir(), 'old-cpu-app-'));
  unpackNpm(NPM_TARBALL, path.join(app, '.npm-cli'));
  const NPM = path.join(app, '.npm-cli', 'bin', 'npm-cli.js');
  const env = { PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin`, HOME: app };
  t.is(run(process.execPath, [NPM, 'init', '-y'], env, app).status, 0);
  const install = run(process.execPath, [NPM, 'install', '--offline', '--no-audit', '--no-fund', PACKED], env, app);
  t.is(install.status, 0, install.stderr);
  const b = bundle(['echo', 'from the API']);
  fs.writeFileSync(
    path.join(app, 'api.mjs'),
    `import { Runtime } from 'tsrun';\nconst out = await new Runtime({ root: ${JSON.stringify(path.join(app, 'r'))} }).output('a1', { bundle: ${JSON.stringify(b)} });\nprocess.stdout.write(out.stdout);\n`,
  );
  const api = run(process.execPath, ['api.mjs'], env, app);
  t.is(api.status, 0, api.stderr);
  t.is(api.stdout, 'from the API\n');
  const npx = run(
    process.execPath,
    [NPM.replace('npm-cli.js', 'npx-cli.js'), 'tsrun', '--root', path.join(app, 'r'), 'run', '-b', b, 'n1'],
    env,
    app,
  );
  t.is(npx.status, 0, npx.stderr);
  t.is(npx.stdout, 'from the API\n');
});
