/**
 * spec-tests matrix: run the suite against every runtime found on this host,
 * store the results under a host label, and render all stored labels into one
 * markdown table (docs/conformance.md).
 *
 *   node dist/spec-tests/matrix.js [--label host] [--results DIR] [--out FILE]
 *        [--runtime NAME=PATH]... [--rootless-runtime NAME=PATH]... [--systemd-runtime NAME=PATH]...
 *        [--no-rootless] [--user NAME]
 *        [--filter PATTERN]... [--merge FILE]... [--update] [--render-only]
 *
 * Besides grading each runtime as root, tsrun and runc are graded rootless
 * (`spec-tests --rootless`, columns `tsrun-rootless`, `runc-rootless`) when
 * the matrix runs as root. `--systemd-runtime NAME=PATH` grades a runtime
 * with `--systemd-cgroup` (a column of its own; on a host with systemd as
 * PID 1: the production lane). `--update` replaces only the runs graded now in
 * the label file and keeps its others.
 *
 * Two hosts combine by running the matrix on each with its own --label and the
 * same --results directory (or by --merge'ing the other host's label file).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { allCases } from './cases/index.js';
import { renderMarkdown, type LabelFile, type RuntimeRun } from './harness/markdown.js';
import { repoRoot } from './harness/rootfs.js';
import type { CaseResult } from './harness/types.js';
import type { SuiteRun } from './harness/suite.js';

/** One column to grade: a runtime, as root or rootless. */
interface Target {
  name: string;
  path: string;
  rootless: boolean;
  /** graded with --systemd-cgroup */
  systemd?: boolean;
}

interface MatrixOptions {
  label: string;
  results: string;
  out: string;
  runtimes: Target[];
  noRootless: boolean;
  user?: string;
  filters: string[];
  merge: string[];
  update: boolean;
  renderOnly: boolean;
}

function parse(argv: string[]): MatrixOptions {
  const o: MatrixOptions = {
    label: 'host',
    results: path.join(repoRoot(), 'spec-tests', 'results'),
    out: path.join(repoRoot(), 'docs', 'conformance.md'),
    runtimes: [],
    noRootless: false,
    filters: [],
    merge: [],
    update: false,
    renderOnly: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i] ?? '';
    const eq = raw.indexOf('=');
    const [flag, inline] = raw.startsWith('--') && eq > 0 ? [raw.slice(0, eq), raw.slice(eq + 1)] : [raw, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--label':
        o.label = value();
        break;
      case '--results':
        o.results = path.resolve(value());
        break;
      case '--out':
        o.out = path.resolve(value());
        break;
      case '--filter':
        o.filters.push(value());
        break;
      case '--merge':
        o.merge.push(path.resolve(value()));
        break;
      case '--render-only':
        o.renderOnly = true;
        break;
      case '--update':
        o.update = true;
        break;
      case '--no-rootless':
        o.noRootless = true;
        break;
      case '--user':
        o.user = value();
        break;
      case '--runtime':
      case '--systemd-runtime':
      case '--rootless-runtime': {
        const v = value();
        const j = v.indexOf('=');
        if (j <= 0) throw new Error(`${flag} wants NAME=PATH`);
        o.runtimes.push({
          name: v.slice(0, j),
          path: path.resolve(v.slice(j + 1)),
          rootless: flag === '--rootless-runtime',
          systemd: flag === '--systemd-runtime',
        });
        break;
      }
      default:
        throw new Error(`unknown argument ${raw}`);
    }
  }
  if (!/^[\w.-]+$/.test(o.label)) throw new Error(`label ${o.label} must be [A-Za-z0-9_.-]+`);
  return o;
}

/** tsrun from this checkout, then the distribution's runc and crun; then, as
 * root and unless `noRootless`, tsrun and runc again rootless (crun 1.8 also
 * refuses a hybrid-cgroup host rootless, so it gets no rootless column). */
function discover(noRootless: boolean): Target[] {
  const found: Target[] = [];
  const tsrun = path.join(repoRoot(), 'bin', 'tsrun');
  if (isExec(tsrun)) found.push({ name: 'tsrun', path: tsrun, rootless: false });
  for (const [name, candidates] of [
    ['runc', ['/usr/sbin/runc', '/usr/bin/runc', '/usr/local/sbin/runc', '/usr/local/bin/runc']],
    ['crun', ['/usr/bin/crun', '/usr/local/bin/crun']],
  ] as const) {
    const p = candidates.find(isExec);
    if (p) found.push({ name, path: p, rootless: false });
  }
  if (noRootless || process.getuid?.() !== 0) return found;
  return [...found, ...found.filter((t) => t.name !== 'crun').map((t) => ({ ...t, name: `${t.name}-rootless`, rootless: true }))];
}

function isExec(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

async function runOne(t: Target, filters: string[], user: string | undefined): Promise<RuntimeRun> {
  const { name, path: runtime } = t;
  const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), 'cli.js');
  const json = path.join(os.tmpdir(), `spec-tests-matrix-${process.pid}-${name}.json`);
  const log = path.join(os.tmpdir(), `spec-tests-matrix-${process.pid}-${name}.tap`);
  const args = [
    cli,
    '--runtime',
    runtime,
    '--json',
    json,
    '--allow-ungradable',
    ...(t.rootless ? ['--rootless', ...(user ? ['--user', user] : [])] : []),
    ...(t.systemd ? ['--systemd-cgroup'] : []),
    ...filters.flatMap((f) => ['--filter', f]),
  ];
  process.stderr.write(
    `matrix: grading ${name} (${runtime}${t.rootless ? ', rootless' : ''}${t.systemd ? ', --systemd-cgroup' : ''}); TAP in ${log}\n`,
  );
  const out = fs.openSync(log, 'w');
  const code = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', out, 'inherit'] });
    child.on('exit', (c) => resolve(c ?? 1));
    child.on('error', () => resolve(1));
  });
  fs.closeSync(out);
  const tap = fs.readFileSync(log, 'utf8');
  const summary =
    tap
      .split('\n')
      .filter((l) => l.startsWith('spec-tests:'))
      .pop() ?? `spec-tests exited ${code}`;
  process.stderr.write(`matrix: ${name}: ${summary}\n`);
  if (!fs.existsSync(json)) {
    return {
      name,
      path: runtime,
      version: 'unknown',
      gradable: false,
      ungradableReason: `the suite did not produce results (exit ${code}); see ${log}`,
      results: [],
    };
  }
  const run = JSON.parse(fs.readFileSync(json, 'utf8')) as SuiteRun;
  fs.rmSync(json, { force: true });
  fs.rmSync(log, { force: true });
  return {
    name,
    path: runtime,
    version: run.runtime.version,
    ...(run.rootless ? { rootless: run.rootless.user } : {}),
    gradable: run.gradable,
    ...(run.ungradableReason ? { ungradableReason: run.ungradableReason } : {}),
    results: run.results.map((r: CaseResult) => ({ id: r.id, status: r.status, reason: r.reason })),
    host: run.host.description,
  };
}

async function main(): Promise<number> {
  const o = parse(process.argv.slice(2));
  fs.mkdirSync(o.results, { recursive: true });
  for (const m of o.merge) {
    const data = JSON.parse(fs.readFileSync(m, 'utf8')) as LabelFile;
    fs.writeFileSync(path.join(o.results, `${data.label}.json`), `${JSON.stringify(data, null, 1)}\n`);
  }
  if (!o.renderOnly) {
    const runtimes = o.runtimes.length ? o.runtimes : discover(o.noRootless);
    if (runtimes.length === 0) {
      process.stderr.write('matrix: no runtime found (tsrun, runc, crun); use --runtime NAME=PATH\n');
      return 2;
    }
    const runs: RuntimeRun[] = [];
    for (const t of runtimes) runs.push(await runOne(t, o.filters, o.user));
    const labelPath = path.join(o.results, `${o.label}.json`);
    if (o.update && fs.existsSync(labelPath)) {
      const old = JSON.parse(fs.readFileSync(labelPath, 'utf8')) as LabelFile;
      const fresh = new Map(runs.map((r) => [r.name, r]));
      const merged = old.runs.map((r) => fresh.get(r.name) ?? r);
      runs.splice(0, runs.length, ...merged, ...runs.filter((r) => !old.runs.some((x) => x.name === r.name)));
    }
    const file: LabelFile = {
      schema: 1,
      label: o.label,
      generatedAt: new Date().toISOString(),
      host: runs.find((r) => r.host)?.host ?? os.release(),
      runs,
    };
    fs.writeFileSync(path.join(o.results, `${o.label}.json`), `${JSON.stringify(file, null, 1)}\n`);
  }
  const labels = fs
    .readdirSync(o.results)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(fs.readFileSync(path.join(o.results, f), 'utf8')) as LabelFile);
  fs.mkdirSync(path.dirname(o.out), { recursive: true });
  fs.writeFileSync(o.out, renderMarkdown(labels, allCases()));
  process.stderr.write(`matrix: wrote ${o.out} from ${labels.map((l) => l.label).join(', ')}\n`);
  return 0;
}

main().then(
  (c) => {
    process.exitCode = c;
  },
  (e: unknown) => {
    process.stderr.write(`matrix: ${(e as Error)?.message ?? String(e)}\n`);
    process.exitCode = 2;
  },
);
