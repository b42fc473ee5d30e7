#!/usr/bin/env node
// The C fuzz targets (native/fuzz/), bounded: builds the sanitized tree
// (npm run build:sanitize, build-san/), writes fresh seed corpora from the
// TypeScript encoders (scripts/fuzz-seeds.mjs), then for each target
//   1. replays its regression corpus, native/fuzz/regressions/<target>/
//      (inputs that once crashed it: each must now pass), and
//   2. fuzzes for its share of TSRUN_FUZZ_SECONDS (default 30, in total),
//      from build-san/fuzz/<target>/corpus (kept between runs, never
//      committed), the seeds and the regressions.
// A crash leaves its input in build-san/fuzz/<target>/: fix the code, then
// copy the input into the regression corpus under a name that says what it
// broke. Prints TAP (one line per replay and per fuzz run) for
// scripts/run-tests.mjs; skips, saying why, without clang or libFuzzer.
//   node scripts/fuzz.mjs [target...]      TSRUN_FUZZ_SECONDS=600 for a nightly run
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const san = join(root, 'build-san');
// share of the time: the plan decoder is what stands between TypeScript and the child
const TARGETS = { plan: 0.5, json: 0.25, state: 0.25 };
const chosen = process.argv.slice(2).filter((t) => t in TARGETS);
const targets = chosen.length ? chosen : Object.keys(TARGETS);
const seconds = Number(process.env.TSRUN_FUZZ_SECONDS ?? 30);

let n = 0;
const counts = { pass: 0, fail: 0, skip: 0 };
const tap = (ok, name, detail = '') => {
  n++;
  counts[ok === null ? 'skip' : ok ? 'pass' : 'fail']++;
  console.log(`${ok === false ? 'not ok' : 'ok'} ${n} - ${name}${ok === null ? ' # SKIP' : ''}${detail ? ` ${detail}` : ''}`);
};
const finish = () => {
  console.log(`1..${n}\n# pass ${counts.pass}\n# fail ${counts.fail}\n# skip ${counts.skip}`);
  process.exit(counts.fail ? 1 : 0);
};

// clang answers a bare name for a runtime it does not have
const runtime = (lib) =>
  spawnSync('clang', [`-print-file-name=${lib}`], { encoding: 'utf8' })
    .stdout?.trim()
    .startsWith('/');
const missing =
  spawnSync('clang', ['--version']).status !== 0
    ? 'clang'
    : !runtime('libclang_rt.asan-x86_64.so')
      ? "clang's sanitizer runtimes"
      : !runtime('libclang_rt.fuzzer-x86_64.a')
        ? 'libFuzzer'
        : null;
if (missing) {
  tap(null, `fuzz-c: ${missing} is not installed (apt-get install clang libclang-rt-14-dev libfuzzer-14-dev)`);
  finish();
}
const build = spawnSync('npm', ['run', '--silent', 'build:sanitize'], { cwd: root, encoding: 'utf8' });
if (build.status !== 0) {
  process.stdout.write(build.stdout + build.stderr);
  tap(false, 'fuzz-c: npm run build:sanitize');
  finish();
}
const fuzzer = (t) => join(san, `tsrun-fuzz-${t}`);
if (!targets.every((t) => existsSync(fuzzer(t)))) {
  tap(null, 'fuzz-c: libFuzzer is not installed, no fuzz targets built (apt-get install libfuzzer-14-dev)');
  finish();
}
const seeds = join(san, 'fuzz', 'seeds');
const gen = spawnSync(process.execPath, [join(root, 'scripts', 'fuzz-seeds.mjs'), seeds], { encoding: 'utf8' });
if (gen.status !== 0) {
  process.stdout.write(gen.stdout + gen.stderr);
  tap(false, 'fuzz-c: seed corpora (scripts/fuzz-seeds.mjs; npm run build first)');
  finish();
}

/** The last lines of a libFuzzer run that say what it found. */
const report = (out) =>
  out
    .split('\n')
    .filter((l) => /ERROR|SUMMARY|runtime error|Test unit written|^\s+#\d+ .* in /.test(l))
    .slice(0, 30)
    .map((l) => `#   ${l}`)
    .join('\n');

for (const t of targets) {
  const work = join(san, 'fuzz', t);
  const corpus = join(work, 'corpus');
  mkdirSync(corpus, { recursive: true });
  const regressions = join(root, 'native', 'fuzz', 'regressions', t);
  const known = existsSync(regressions) ? readdirSync(regressions).map((f) => join(regressions, f)) : [];
  // 1. the inputs that once crashed: run once each
  if (known.length) {
    const r = spawnSync(fuzzer(t), known, { encoding: 'utf8' });
    tap(r.status === 0, `${t}: replays ${known.length} regression input(s)`);
    if (r.status !== 0) console.log(report(r.stdout + r.stderr));
  }
  // 2. a bounded fuzz run
  const share = Math.max(1, Math.round(seconds * TARGETS[t]));
  const dirs = [corpus, join(seeds, t), ...(known.length ? [regressions] : [])];
  const args = [`-max_total_time=${share}`, '-timeout=10', '-rss_limit_mb=2048', '-print_final_stats=1', `-artifact_prefix=${work}/`];
  const r = spawnSync(fuzzer(t), [...args, ...dirs], { encoding: 'utf8', timeout: (share + 120) * 1000 });
  const out = r.stdout + r.stderr;
  const runs = /stat::number_of_executed_units:\s*(\d+)/.exec(out)?.[1] ?? '?';
  const rate = /stat::average_exec_per_sec:\s*(\d+)/.exec(out)?.[1] ?? '?';
  const cov = /DONE\s+cov: (\d+)/.exec(out)?.[1] ?? /cov: (\d+)/.exec(out)?.[1] ?? '?';
  tap(r.status === 0, `${t}: fuzzed ${share} s`, `(${runs} runs, ${rate}/s, cov ${cov})`);
  if (r.status !== 0) console.log(report(out));
}
finish();
