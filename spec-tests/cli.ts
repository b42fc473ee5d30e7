/**
 * spec-tests: grade an OCI runtime through its runc-compatible CLI.
 *
 *   RUNTIME=/usr/sbin/runc node dist/spec-tests/cli.js [options]
 *
 * Prints TAP on stdout, ending with `spec-tests: N passed, N failed, N skipped`,
 * and writes a JSON result file. Exit status: 0 all good (or only baseline
 * failures), 1 a case failed that the baseline does not list, 2 usage error or
 * the runtime could not run even a minimal container.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { allCases } from './cases/index.js';
import { judge, loadBaseline, writeBaseline, type Baseline } from './harness/baseline.js';
import { selectCases } from './harness/filter.js';
import { setUpRootlessUser, type RootlessUser } from './harness/rootless.js';
import { repoRoot } from './harness/rootfs.js';
import { runSuite, type SuiteRun } from './harness/suite.js';
import { tapHeader, tapLine } from './harness/tap.js';
import { summarize } from './harness/types.js';

const USAGE = `usage: spec-tests [--runtime PATH] [--filter PATTERN]... [--json FILE]
                  [--baseline FILE] [--write-baseline FILE] [--list]
                  [--probe PATH] [--busybox PATH] [--timeout MS] [--time-scale N] [--keep-failed]
                  [--allow-ungradable] [--rootless [--user NAME]] [--systemd-cgroup]

  --runtime PATH        runtime binary (default: $RUNTIME, else ./bin/tsrun)
  --filter PATTERN      area::case glob or prefix; comma-separated; !PATTERN excludes
  --json FILE           result file (default: $TMPDIR/spec-tests-<runtime>.json)
  --baseline FILE       known failures; only unlisted failures make the exit status 1
  --write-baseline FILE write this run's failures as a baseline
  --list                list the cases and the clauses they check, run nothing
  --probe PATH          static tsrun-probe (default: $SPEC_TESTS_PROBE, then build/)
  --busybox PATH        static busybox (default: $SPEC_TESTS_BUSYBOX, then /bin/busybox)
  --timeout MS          deadline for each runtime command (default 15000)
  --time-scale N        multiply every deadline (default: from the smoke run)
  --keep-failed         keep the temp dirs of failed cases
  --allow-ungradable    exit 0 even if the runtime cannot run any container
  --rootless            grade rootless: every runtime command as an unprivileged user,
                        with --rootless true and runc's rootless config (needs root)
  --user NAME           that user (default tsrun-rootless, made when missing)
  --systemd-cgroup      grade the systemd cgroup driver: every runtime command with
                        --systemd-cgroup (a host with systemd as PID 1, cgroup v2)
`;

export interface CliOptions {
  runtime?: string;
  filters: string[];
  json?: string;
  baseline?: string;
  writeBaseline?: string;
  list: boolean;
  probe?: string;
  busybox?: string;
  timeoutMs?: number;
  timeScale?: number;
  keepFailed: boolean;
  allowUngradable: boolean;
  rootless: boolean;
  user?: string;
  systemd: boolean;
}

export function parseArgs(argv: string[]): CliOptions {
  const o: CliOptions = { filters: [], list: false, keepFailed: false, allowUngradable: false, rootless: false, systemd: false };
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i] ?? '';
    const [flag, inline] =
      raw.startsWith('--') && raw.includes('=') ? [raw.slice(0, raw.indexOf('=')), raw.slice(raw.indexOf('=') + 1)] : [raw, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--runtime':
        o.runtime = value();
        break;
      case '--filter':
        o.filters.push(value());
        break;
      case '--json':
        o.json = value();
        break;
      case '--baseline':
        o.baseline = value();
        break;
      case '--write-baseline':
        o.writeBaseline = value();
        break;
      case '--probe':
        o.probe = value();
        break;
      case '--busybox':
        o.busybox = value();
        break;
      case '--timeout':
        o.timeoutMs = Number(value());
        break;
      case '--time-scale':
        o.timeScale = Number(value());
        break;
      case '--list':
        o.list = true;
        break;
      case '--keep-failed':
        o.keepFailed = true;
        break;
      case '--systemd-cgroup':
        o.systemd = true;
        break;
      case '--rootless':
        o.rootless = true;
        break;
      case '--user':
        o.user = value();
        break;
      case '--allow-ungradable':
        o.allowUngradable = true;
        break;
      case '-h':
      case '--help':
        process.stdout.write(USAGE);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument ${raw}`);
    }
  }
  if (o.user !== undefined && !o.rootless) throw new Error('--user needs --rootless');
  return o;
}

async function main(): Promise<number> {
  let o: CliOptions;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`spec-tests: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const cases = selectCases(allCases(), o.filters);
  if (o.list) {
    for (const c of cases) {
      process.stdout.write(`${c.id}\t${c.clause.level}\t${c.clause.doc}${c.clause.anchor}\t${c.clause.text}\n`);
    }
    process.stdout.write(`# ${cases.length} cases\n`);
    return 0;
  }
  const runtime = path.resolve(o.runtime ?? process.env.RUNTIME ?? path.join(repoRoot(), 'bin', 'tsrun'));
  if (!fs.existsSync(runtime)) {
    process.stderr.write(`spec-tests: runtime ${runtime} does not exist (use --runtime or RUNTIME=)\n`);
    return 2;
  }
  if (cases.length === 0) {
    process.stderr.write('spec-tests: no case matches the filter\n');
    return 2;
  }
  let baseline: Baseline | undefined;
  if (o.baseline) {
    try {
      baseline = loadBaseline(o.baseline);
    } catch (e) {
      process.stderr.write(`spec-tests: cannot read baseline: ${(e as Error).message}\n`);
      return 2;
    }
  }
  const known = baseline?.knownFailures ?? {};
  let rootless: RootlessUser | undefined;
  if (o.rootless) {
    try {
      rootless = setUpRootlessUser(o.user);
    } catch (e) {
      process.stderr.write(`spec-tests: cannot grade rootless: ${(e as Error).message}\n`);
      return 2;
    }
  }
  const label = `${path.basename(runtime)}${rootless ? '-rootless' : ''}${o.systemd ? '-systemd' : ''}`;

  process.stdout.write(tapHeader(cases.length));
  process.stdout.write(
    `# runtime: ${runtime}${rootless ? ` (rootless, as ${rootless.name} uid ${rootless.uid})` : ''}${o.systemd ? ' (--systemd-cgroup)' : ''}\n`,
  );
  let run: SuiteRun;
  try {
    run = await runSuite({
      runtimePath: runtime,
      cases,
      ...(o.probe ? { probePath: o.probe } : {}),
      ...(o.busybox ? { busyboxPath: o.busybox } : {}),
      ...(o.timeoutMs ? { cmdTimeoutMs: o.timeoutMs } : {}),
      ...(o.timeScale ? { timeScale: o.timeScale } : {}),
      keepFailed: o.keepFailed,
      ...(rootless ? { rootless } : {}),
      ...(o.systemd ? { systemd: true } : {}),
      onResult: (r, i) => process.stdout.write(tapLine(r, i + 1, r.status === 'fail' ? known[r.id] : undefined)),
    });
  } catch (e) {
    process.stdout.write(`Bail out! ${(e as Error).message}\n`);
    return 2;
  }

  const verdict = judge(run.results, baseline);
  const counts = summarize(run.results);
  const jsonFile = o.json ?? path.join(os.tmpdir(), `spec-tests-${label}.json`);
  fs.mkdirSync(path.dirname(path.resolve(jsonFile)), { recursive: true });
  fs.writeFileSync(
    jsonFile,
    `${JSON.stringify({ schema: 1, ...run, summary: counts }, (_k, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v), 1)}\n`,
  );
  if (o.writeBaseline) writeBaseline(o.writeBaseline, label, run.results, baseline);

  process.stdout.write(`# host: ${run.host.description}\n`);
  process.stdout.write(`# runtime version: ${run.runtime.version}\n`);
  process.stdout.write(`# results: ${jsonFile} (${(run.durationMs / 1000).toFixed(1)} s, time scale ${run.timeScale})\n`);
  if (!run.gradable) process.stdout.write(`# UNGRADABLE: ${run.ungradableReason}\n`);
  for (const id of verdict.fixed) process.stdout.write(`# fixed, update baseline: ${id} now passes\n`);
  let failed = counts.failed;
  if (baseline) {
    process.stdout.write(`# baseline ${o.baseline}: ${verdict.known.length} known failures not counted as failed\n`);
    failed = verdict.regressions.length;
  }
  process.stdout.write(`spec-tests: ${counts.passed} passed, ${failed} failed, ${counts.skipped} skipped\n`);
  if (!run.gradable && !o.allowUngradable) return 2;
  return failed > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`spec-tests: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exitCode = 2;
  },
);
