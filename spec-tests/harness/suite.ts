/**
 * Runs cases against one runtime: prepares the shared rootfs template, reads
 * the runtime's `features`, checks that the runtime can run a minimal
 * container at all, then runs each case with its own root dir, a deadline
 * and a cleanup that always happens.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CaseContext, type Features, type SuiteEnv } from './context.js';
import { describe, execFileTimed, type ExecResult } from './exec.js';
import { detectHost, describeHost, type HostInfo } from './host.js';
import { asUserPrefix, chownTree, userEnv, type RootlessUser } from './rootless.js';
import { findBusybox, findProbe, prepareTemplate } from './rootfs.js';
import { areaOf, FailSignal, SkipSignal, type Case, type CaseResult } from './types.js';
import { scaled, scaleFromSmoke, setTimeScale, timeScale } from './timing.js';
import { compareVersions } from './version.js';

export interface SuiteOptions {
  runtimePath: string;
  probePath?: string;
  busyboxPath?: string;
  cases: Case[];
  /** Per runtime command deadline. */
  cmdTimeoutMs?: number;
  /** Multiplies every deadline; derived from the smoke run when absent. */
  timeScale?: number;
  /** Keep temp dirs of failed cases for inspection. */
  keepFailed?: boolean;
  /** Grade rootless: every runtime command as this user, with `--rootless true`. */
  rootless?: RootlessUser;
  /** Grade the systemd cgroup driver: every runtime command with `--systemd-cgroup`. */
  systemd?: boolean;
  onResult?: (r: CaseResult, index: number, total: number) => void;
}

export interface SuiteRun {
  runtime: { path: string; version: string };
  /** The unprivileged user the runtime ran as, when graded rootless. */
  rootless?: { user: string; uid: number; gid: number };
  /** Graded with `--systemd-cgroup`. */
  systemd?: boolean;
  host: HostInfo & { description: string };
  /** False when the runtime could not run a minimal container: every case is
   * then Skipped with `ungradableReason`. */
  gradable: boolean;
  ungradableReason?: string;
  startedAt: string;
  durationMs: number;
  /** The deadline multiplier used (1 on a normal host). */
  timeScale: number;
  results: CaseResult[];
}

export async function runSuite(opts: SuiteOptions): Promise<SuiteRun> {
  const started = Date.now();
  const host = detectHost();
  const suiteDir = fs.mkdtempSync(path.join(os.tmpdir(), 'spec-tests-'));
  fs.chmodSync(suiteDir, 0o755);
  const runTag = (process.pid % 46656).toString(36) + Math.floor(Math.random() * 1296).toString(36);
  try {
    const template = prepareTemplate(path.join(suiteDir, 'template'), findBusybox(opts.busyboxPath), findProbe(opts.probePath));
    const env: SuiteEnv = {
      runtimePath: opts.runtimePath,
      template,
      hostProbe: path.join(template.dir, 'tsrun-probe'),
      host,
      features: null,
      featuresRaw: null,
      suiteDir,
      runTag,
      cmdTimeoutMs: opts.cmdTimeoutMs ?? 15000,
      timeScale: 1,
      ...(opts.systemd ? { systemd: true } : {}),
    };
    if (opts.rootless) {
      const u = opts.rootless;
      // bundles hard-link the template's binaries, so it is the user's too
      chownTree(template.dir, u.uid, u.gid);
      const xdg = path.join(suiteDir, 'xdg');
      fs.mkdirSync(xdg, { mode: 0o700 });
      fs.chownSync(xdg, u.uid, u.gid);
      env.rootless = { user: u, runAs: { prefix: asUserPrefix(u), env: userEnv(u, xdg), globalFlags: ['--rootless', 'true'] } };
    }
    const version = await runtimeVersion(opts.runtimePath, suiteDir);
    const feat = await execFileTimed(opts.runtimePath, ['features'], { timeoutMs: 10000, scratchDir: suiteDir });
    env.featuresRaw = feat;
    if (feat.code === 0) {
      try {
        env.features = JSON.parse(feat.stdout) as Features;
      } catch {
        env.features = null;
      }
    }
    const smokeStarted = Date.now();
    const smoke = await smokeTest(env);
    setTimeScale(opts.timeScale ?? scaleFromSmoke(Date.now() - smokeStarted));
    env.timeScale = timeScale();
    env.cmdTimeoutMs = scaled(opts.cmdTimeoutMs ?? 15000);
    const results: CaseResult[] = [];
    const total = opts.cases.length;
    for (const [i, c] of opts.cases.entries()) {
      const r = smoke
        ? {
            id: c.id,
            area: areaOf(c.id),
            status: 'skip' as const,
            reason: `runtime cannot run a minimal container on this host: ${smoke}`,
            clause: c.clause,
            durationMs: 0,
          }
        : await runCase(env, c, i, opts.keepFailed ?? false);
      results.push(r);
      opts.onResult?.(r, i, total);
    }
    return {
      runtime: { path: opts.runtimePath, version },
      ...(opts.rootless ? { rootless: { user: opts.rootless.name, uid: opts.rootless.uid, gid: opts.rootless.gid } } : {}),
      ...(opts.systemd ? { systemd: true } : {}),
      host: { ...host, description: describeHost(host) },
      gradable: !smoke,
      ...(smoke ? { ungradableReason: smoke } : {}),
      startedAt: new Date(started).toISOString(),
      durationMs: Date.now() - started,
      timeScale: timeScale(),
      results,
    };
  } finally {
    if (!opts.keepFailed || fs.readdirSync(suiteDir).length <= 1) {
      fs.rmSync(suiteDir, { recursive: true, force: true });
    }
  }
}

async function runCase(env: SuiteEnv, c: Case, index: number, keepFailed: boolean): Promise<CaseResult> {
  const started = Date.now();
  const base = { id: c.id, area: areaOf(c.id), clause: c.clause };
  const gate =
    versionGate(env.features, c.since) ?? (env.rootless && c.rootless ? `rootless: ${c.rootless.slice('skip: '.length)}` : undefined);
  if (gate) return { ...base, status: 'skip', reason: gate, durationMs: 0 };
  const ctx = new CaseContext(env, c.id, path.join(env.suiteDir, `case-${index}`));
  let status: CaseResult['status'] = 'pass';
  let reason = '';
  const budget = scaled(c.timeoutMs ?? 30000);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      c.run(ctx),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new FailSignal(`case timed out after ${budget} ms`)), budget);
      }),
    ]);
  } catch (e) {
    if (e instanceof SkipSignal) {
      status = 'skip';
      reason = e.message;
    } else if (e instanceof FailSignal) {
      status = 'fail';
      reason = e.message;
    } else {
      status = 'fail';
      reason = `harness error: ${(e as Error)?.stack ?? String(e)}`;
    }
  } finally {
    clearTimeout(timer);
  }
  if (status === 'fail' && keepFailed) {
    reason += ` (kept ${ctx.dir})`;
  } else {
    const problems = await ctx.cleanup();
    if (problems.length && status === 'pass') {
      status = 'fail';
      reason = `cleanup: ${problems.join('; ')}`;
    } else if (problems.length) {
      reason += ` [cleanup: ${problems.join('; ')}]`;
    }
  }
  return { ...base, status, reason, durationMs: Date.now() - started };
}

function versionGate(features: Features | null, since: string | undefined): string | undefined {
  if (!since || !features?.ociVersionMax) return undefined;
  if (compareVersions(features.ociVersionMax, since) < 0) {
    return `needs spec ${since}; runtime's features declare ociVersionMax ${features.ociVersionMax}`;
  }
  return undefined;
}

/** Returns why the runtime cannot run the simplest container, or undefined. */
async function smokeTest(env: SuiteEnv): Promise<string | undefined> {
  const ctx = new CaseContext(env, 'smoke', path.join(env.suiteDir, 'smoke'));
  try {
    const b = ctx.bundle(['exit', '0']);
    b.write();
    const id = ctx.id('smoke');
    const r: ExecResult = await ctx.rt.run(id, b.dir);
    if (r.code === 0) return undefined;
    const msg = r.stderr.trim().split('\n').filter(Boolean).pop() ?? describe(r);
    return `${msg} (\`run\` exit ${r.code}${r.timedOut ? ', timed out' : ''})`;
  } finally {
    await ctx.cleanup();
  }
}

async function runtimeVersion(runtime: string, scratchDir: string): Promise<string> {
  const r = await execFileTimed(runtime, ['--version'], { timeoutMs: 10000, scratchDir });
  return (r.stdout.split('\n')[0] ?? '').trim() || `unknown (exit ${r.code})`;
}
