/**
 * The engine test files (tests/integration: podman, rootless podman, docker,
 * containerd through ctr, the CRI, buildah) in the production lane, where
 * every engine is on that host's defaults (the systemd cgroup driver, pod
 * slices; tests/helpers/engine.ts): graded against runc on the same lane.
 * Run inside the lane, as root:
 *
 *   node dist/tests/vm/engines.js            the files with tsrun; a case that fails is a failure
 *                                            unless it fails with runc too (tests/vm/engines-runc.json)
 *   node dist/tests/vm/engines.js --runc     the files with runc first, then with tsrun: prints the
 *                                            cases that fail with runc, the list's content
 *
 * Prints TAP (every case once, with its verdict) and ava's closing counts,
 * which scripts/run-tests.mjs reads; exits 1 on a failure.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const FILES = ['podman', 'podman-rootless', 'docker', 'containerd', 'cri', 'buildah'].map((f) =>
  path.join('dist', 'tests', 'integration', `${f}.test.js`),
);
const BASELINE = path.join(ROOT, 'tests', 'vm', 'engines-runc.json');

interface Case {
  title: string;
  ok: boolean;
  skipped: boolean;
  /** The YAML block ava prints under a failure. */
  detail: string;
}

/** A verdict line of ava's TAP: `ok N - file › title`, `not ok N - …`, with `# SKIP` or `# TODO`. */
const VERDICT = /^(not ok|ok) \d+ - (.*?)(?: # (SKIP|TODO)\b.*)?$/;

/** ava's TAP: the verdicts, a failure's `---`…`...` block with it. */
function parseTap(out: string): Case[] {
  const cases: Case[] = [];
  const lines = out.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = VERDICT.exec(lines[i]!);
    if (!m) continue;
    let detail = '';
    if (lines[i + 1]?.trim() === '---') {
      const end = lines.findIndex((l, j) => j > i && l.trim() === '...');
      detail = lines.slice(i + 1, end + 1).join('\n');
    }
    cases.push({ title: m[2]!, ok: m[1] === 'ok', skipped: !!m[3], detail });
  }
  return cases;
}

/**
 * One pass of ava over the files with `runtime` (the engines' TSRUN_ENGINE_RUNTIME); each TAP line
 * goes to `line` as ava prints it, so a long pass shows its progress. Its cases and how long it took.
 */
async function pass(
  runtime: string | undefined,
  line: (l: string) => void = () => {},
): Promise<{ cases: Case[]; seconds: number; out: string }> {
  const env = { ...process.env };
  if (runtime) env.TSRUN_ENGINE_RUNTIME = runtime;
  else delete env.TSRUN_ENGINE_RUNTIME;
  const t0 = Date.now();
  const child = spawn(
    process.execPath,
    [path.join('node_modules', 'ava', 'entrypoints', 'cli.mjs'), '--tap', '--serial', '--concurrency=1', '--timeout=10m', ...FILES],
    { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  for await (const l of readline.createInterface({ input: child.stdout! })) {
    out += `${l}\n`;
    line(l);
  }
  await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('close', resolve)));
  return { cases: parseTap(out), seconds: Math.round((Date.now() - t0) / 1000), out };
}

const withRunc = process.argv.includes('--runc');
const knownRunc: Record<string, string> = fs.existsSync(BASELINE)
  ? (JSON.parse(fs.readFileSync(BASELINE, 'utf8')) as { failsWithRunc: Record<string, string> }).failsWithRunc
  : {};
let runcFails = new Map<string, string>(Object.entries(knownRunc));
if (withRunc) {
  const runc = ['/usr/sbin/runc', '/usr/bin/runc'].find((p) => fs.existsSync(p));
  if (!runc) throw new Error('runc is not installed');
  const r = await pass(runc, (l) => /^(not )?ok /.test(l) && process.stdout.write(`# runc: ${l}\n`));
  runcFails = new Map(r.cases.filter((c) => !c.ok).map((c) => [c.title, knownRunc[c.title] ?? 'fails with runc in the lane']));
  process.stdout.write(
    `# runc: ${r.cases.filter((c) => c.ok && !c.skipped).length} passed, ${runcFails.size} failed, ${r.cases.filter((c) => c.skipped).length} skipped in ${r.seconds} s\n`,
  );
  process.stdout.write(`# the cases that fail with runc (${path.relative(ROOT, BASELINE)}):\n`);
  for (const [title, why] of runcFails) process.stdout.write(`#   ${JSON.stringify(title)}: ${JSON.stringify(why)}\n`);
}

// The tsrun pass: each verdict printed as ava gives it (a failure's YAML block follows it)
process.stdout.write('TAP version 13\n');
let n = 0;
let passed = 0;
let failed = 0;
let skipped = 0;
let inBlock = false;
const ts = await pass(undefined, (l) => {
  const m = VERDICT.exec(l);
  if (!m) {
    if (inBlock) process.stdout.write(`${l}\n`);
    if (l.trim() === '...') inBlock = false;
    return;
  }
  n++;
  inBlock = false;
  const title = m[2]!;
  if (m[3]) {
    skipped++;
    process.stdout.write(`ok ${n} - ${title} # SKIP\n`);
  } else if (m[1] === 'ok') {
    passed++;
    process.stdout.write(`ok ${n} - ${title}${runcFails.has(title) ? ' (fails with runc)' : ''}\n`);
  } else if (runcFails.has(title)) {
    skipped++;
    process.stdout.write(`ok ${n} - ${title} # SKIP fails with runc too: ${runcFails.get(title)}\n`);
  } else {
    failed++;
    inBlock = true;
    process.stdout.write(`not ok ${n} - ${title}\n`);
  }
});
// a pass that died before reporting its cases (no TAP plan) fails the run
if (!/^1\.\.\d+$/m.test(ts.out)) {
  failed++;
  n++;
  process.stdout.write(`not ok ${n} - the tsrun pass did not finish\n`);
}
process.stdout.write(`1..${n}\n# tsrun pass: ${ts.seconds} s\n# pass ${passed}\n# skip ${skipped}\n# fail ${failed}\n`);
process.exitCode = failed ? 1 : 0;
