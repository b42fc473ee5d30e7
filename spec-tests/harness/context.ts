/**
 * What a case works with: its own --root and temp dir, unique container ids,
 * bundles, container handles, and a cleanup list that always runs (delete
 * --force every id it used, undo host mounts, remove temp dirs).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultConfig, serialize, type Config } from './config.js';
import { describe, execFileTimed, sleep, type ExecOptions, type ExecResult } from './exec.js';
import type { HostInfo } from './host.js';
import { excerpt, Report } from './probe-output.js';
import { makeRootfs, PROBE_IN_CONTAINER, type RootfsTemplate } from './rootfs.js';
import { chownTree, finishRootless, toRootless, type RootlessUser } from './rootless.js';
import { RuntimeCli, type CreateOptions, type RunAs, type StateJson } from './runtime.js';
import { scaled } from './timing.js';
import { fail, skip } from './types.js';

export interface Features {
  ociVersionMin?: string;
  ociVersionMax?: string;
  hooks?: string[];
  mountOptions?: string[];
  linux?: {
    namespaces?: string[];
    capabilities?: string[];
    seccomp?: { enabled?: boolean; actions?: string[]; operators?: string[] };
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

/** Everything shared by the cases of one suite run. */
export interface SuiteEnv {
  runtimePath: string;
  template: RootfsTemplate;
  /** Host path of the probe (usable as a hook binary or socket receiver). */
  hostProbe: string;
  host: HostInfo;
  features: Features | null;
  featuresRaw: ExecResult | null;
  suiteDir: string;
  runTag: string;
  cmdTimeoutMs: number;
  timeScale: number;
  /** Set when grading rootless: the user every runtime command runs as, and how. */
  rootless?: { user: RootlessUser; runAs: RunAs };
  /** Grading the systemd cgroup driver: every runtime command gets `--systemd-cgroup`. */
  systemd?: boolean;
}

/** How every runtime command of a run is started: rootless's user and flags, and the systemd driver's flag. */
export function runAsOf(env: SuiteEnv): RunAs | undefined {
  const sd = env.systemd ? ['--systemd-cgroup'] : [];
  if (env.rootless) return { ...env.rootless.runAs, globalFlags: [...env.rootless.runAs.globalFlags, ...sd] };
  return env.systemd ? { prefix: [], env: process.env, globalFlags: sd } : undefined;
}

export class Bundle {
  constructor(
    readonly dir: string,
    readonly rootfs: string,
    public config: Config,
    /** Rootless grading: the bundle is finished for, and given to, this user. */
    private readonly owner?: RootlessUser,
  ) {}

  /** The case uses container ids other than 0 that the config does not name
   * (`chown 1 1`, `exec -u 1000`): rootless, the user's subordinate ids are
   * mapped from 1 (otherwise only ids named in the config trigger that). */
  otherIds = false;

  write(): void {
    if (this.owner) {
      const why = finishRootless(this.config, this.owner, this.otherIds);
      if (why) skip(why);
    }
    fs.writeFileSync(path.join(this.dir, 'config.json'), serialize(this.config));
    // as with a rootfs the user unpacked: container root (the user) owns it
    if (this.owner) chownTree(this.dir, this.owner.uid, this.owner.gid);
  }

  /** Host path of a path inside the rootfs. */
  inRootfs(p: string): string {
    return path.join(this.rootfs, p);
  }
}

export interface RunResult {
  exec: ExecResult;
  report: Report;
}

export class CaseContext {
  readonly rt: RuntimeCli;
  private readonly cleanups: (() => unknown)[] = [];
  private readonly usedIds = new Set<string>();
  private readonly inflight = new Set<Promise<unknown>>();
  private closed = false;
  private counter = 0;

  constructor(
    readonly env: SuiteEnv,
    readonly caseId: string,
    readonly dir: string,
  ) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    fs.chmodSync(dir, 0o755);
    const root = path.join(dir, 'root');
    fs.mkdirSync(root, { mode: 0o700 });
    // the runtime writes its state, pid files and hook logs here
    if (env.rootless) for (const d of [dir, root]) fs.chownSync(d, env.rootless.user.uid, env.rootless.user.gid);
    this.rt = new RuntimeCli(env.runtimePath, root, dir, env.cmdTimeoutMs, runAsOf(env));
  }

  /** The unprivileged user when grading rootless, else undefined. */
  get rootless(): RootlessUser | undefined {
    return this.env.rootless?.user;
  }

  /** Skips the case when grading rootless: `reason` says what needs root. */
  requireRoot(reason: string): void {
    if (this.env.rootless) skip(`rootless: ${reason}`);
  }

  get host(): HostInfo {
    return this.env.host;
  }

  get features(): Features | null {
    return this.env.features;
  }

  /** A container id unique to this run, case and call. */
  id(tag = 'c'): string {
    const id = `st-${this.env.runTag}-${tag}-${++this.counter}`;
    this.usedIds.add(id);
    return id;
  }

  /** Marks an id as used by this case so cleanup deletes it. */
  track(id: string): void {
    this.usedIds.add(id);
  }

  defer(fn: () => unknown): void {
    this.cleanups.push(fn);
  }

  /** A host path inside this case's temp dir (not created). */
  path(...parts: string[]): string {
    return path.join(this.dir, ...parts);
  }

  /** Tracks a runtime command so cleanup can wait for it: a case that timed out
   * may still have a `create` in flight, which would otherwise leak a container. */
  private guard<T>(p: Promise<T>): Promise<T> {
    if (this.closed) fail('the case already ended (timed out) before this runtime command');
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p)).catch(() => undefined);
    return p;
  }

  /** A fresh bundle with its own rootfs and the default config running `args`
   * (probe arguments by default: `['info']` → `/bin/tsrun-probe info`). */
  bundle(probeArgs: string[] = ['info'], name = `bundle${++this.counter}`): Bundle {
    const dir = this.path(name);
    fs.mkdirSync(dir, { mode: 0o755 });
    const rootfs = path.join(dir, 'rootfs');
    makeRootfs(this.env.template, rootfs);
    const config = defaultConfig([PROBE_IN_CONTAINER, ...probeArgs]);
    const user = this.rootless;
    if (user) toRootless(config, user);
    return new Bundle(dir, rootfs, config, user);
  }

  /** A host directory bind-mounted read-write at `dest` in the container. */
  shareDir(bundle: Bundle, dest = '/shared'): string {
    const host = this.path(`share${++this.counter}`);
    fs.mkdirSync(host, { mode: 0o777 });
    fs.chmodSync(host, 0o777);
    (bundle.config.mounts ??= []).push({ destination: dest, type: 'bind', source: host, options: ['rbind', 'rw'] });
    return host;
  }

  /** `run` the bundle in the foreground and parse the probe's report. Fails the
   * case when the runtime itself reports an error (unless allowFailure). */
  async run(bundle: Bundle, o: CreateOptions & { allowFailure?: boolean; id?: string } = {}): Promise<RunResult> {
    bundle.write();
    const id = o.id ?? this.id('run');
    this.track(id);
    const exec = await this.guard(this.rt.run(id, bundle.dir, o));
    if (exec.timedOut) fail(`runtime timed out: ${describe(exec)}`);
    const report = new Report(exec.stdout);
    if (!o.allowFailure && exec.code !== 0 && !report.has('pid') && report.map.size === 0) {
      fail(`runtime could not run the container: ${describe(exec)}`);
    }
    return { exec, report };
  }

  /** Like `run`, but for configs the runtime must reject: returns the result. */
  async runExpectingError(bundle: Bundle): Promise<ExecResult> {
    const { exec } = await this.run(bundle, { allowFailure: true });
    return exec;
  }

  /** `create` the bundle; fails the case if the runtime refuses. */
  async create(bundle: Bundle, o: CreateOptions & { id?: string } = {}): Promise<Container> {
    const c = await this.tryCreate(bundle, o);
    if (c.createResult.code !== 0) fail(`create failed: ${describe(c.createResult)}`);
    return c;
  }

  /** `create` the bundle and return the handle whatever the outcome. */
  async tryCreate(bundle: Bundle, o: CreateOptions & { id?: string } = {}): Promise<Container> {
    bundle.write();
    const id = o.id ?? this.id('ctr');
    this.track(id);
    const n = ++this.counter;
    const stdoutFile = o.stdoutFile ?? this.path(`${id}.${n}.stdout`);
    const stderrFile = o.stderrFile ?? this.path(`${id}.${n}.stderr`);
    const pidFile = o.pidFile ?? this.path(`${id}.${n}.pid`);
    const res = await this.guard(this.rt.create(id, bundle.dir, { ...o, stdoutFile, stderrFile, pidFile }));
    return new Container(this, id, bundle, res, stdoutFile, pidFile);
  }

  /** `exec [flags] ID COMMAND...` in container `id`, tracked like create so a
   * case that times out cannot leave a late exec behind. */
  execIn(id: string, command: string[], flags: string[] = [], opts: Partial<ExecOptions> = {}): Promise<ExecResult> {
    return this.guard(this.rt.execProcess(id, command, flags, opts));
  }

  /** Runs the probe on the host (outside any container); rootless, as the
   * user, so that the runtime may connect to the sockets it listens on. */
  hostProbe(args: string[], timeoutMs = scaled(10000)): Promise<ExecResult> {
    const as = this.env.rootless?.runAs;
    const [file = this.env.hostProbe, ...rest] = [...(as?.prefix ?? []), this.env.hostProbe, ...args];
    return execFileTimed(file, rest, { timeoutMs, scratchDir: this.dir, ...(as ? { env: as.env } : {}) });
  }

  requireNamespace(type: string): void {
    const kernelName = { network: 'net', mount: 'mnt' }[type] ?? type;
    if (!this.host.namespaces.includes(kernelName)) skip(`kernel has no ${type} namespace`);
    const listed = this.features?.linux?.namespaces;
    if (listed && !listed.includes(type)) skip(`runtime's features document does not list the ${type} namespace`);
  }

  requireCgroupV2(...controllers: string[]): void {
    if (this.host.cgroupMode !== 'unified') skip(`host cgroups are ${this.host.cgroupMode}, not unified v2`);
    for (const c of controllers) {
      if (!this.host.v2Controllers.includes(c)) skip(`cgroup v2 controller ${c} not available`);
    }
  }

  /** Undoes everything the case created; never throws. */
  async cleanup(): Promise<string[]> {
    this.closed = true;
    await Promise.allSettled([...this.inflight]);
    const problems: string[] = [];
    for (const id of this.usedIds) {
      const r = await this.rt.delete(id, true);
      const st = await this.rt.state(id);
      if (st.code === 0) {
        const pid = Number(st.json?.pid ?? 0);
        if (pid > 0) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* already gone */
          }
          // until the kernel has let it die (a zombie, or reaped)
          for (const end = Date.now() + scaled(5000); Date.now() < end && running(pid);) await sleep(20);
        }
        const again = await this.rt.delete(id, true);
        if ((await this.rt.state(id)).code === 0) {
          problems.push(`container ${id} survives delete --force: ${describe(again)} (first: ${describe(r)})`);
        }
      }
    }
    for (const fn of this.cleanups.reverse()) {
      try {
        await fn();
      } catch (e) {
        problems.push(`cleanup step failed: ${(e as Error).message}`);
      }
    }
    const stillMounted = mountsUnder(this.dir);
    for (const m of stillMounted.reverse()) {
      try {
        execFileSync('umount', ['-l', m], { stdio: 'ignore' });
      } catch {
        /* reported below */
      }
    }
    if (mountsUnder(this.dir).length) {
      problems.push(`mounts left under ${this.dir}; not removing it`);
    } else {
      fs.rmSync(this.dir, { recursive: true, force: true });
    }
    return problems;
  }
}

function mountsUnder(dir: string): string[] {
  let text = '';
  try {
    text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((mp) => mp === dir || mp.startsWith(`${dir}/`));
}

export class Container {
  constructor(
    readonly ctx: CaseContext,
    readonly id: string,
    readonly bundle: Bundle,
    readonly createResult: ExecResult,
    readonly stdoutFile: string,
    readonly pidFile: string,
  ) {}

  get created(): boolean {
    return this.createResult.code === 0;
  }

  state(): Promise<ExecResult & { json?: StateJson }> {
    return this.ctx.rt.state(this.id);
  }

  /** The status reported by `state`, or undefined if `state` fails. */
  async status(): Promise<string | undefined> {
    const s = await this.state();
    return typeof s.json?.status === 'string' ? s.json.status : undefined;
  }

  /** The pid from `state`; fails the case when there is none. */
  async pid(): Promise<number> {
    const s = await this.state();
    const pid = s.json?.pid;
    if (typeof pid !== 'number' || pid <= 0) fail(`state has no usable pid: ${excerpt(s.stdout || s.stderr)}`);
    return pid;
  }

  start(): Promise<ExecResult> {
    return this.ctx.rt.start(this.id);
  }

  async startOk(): Promise<void> {
    const r = await this.start();
    if (r.code !== 0) fail(`start failed: ${describe(r)}`);
  }

  kill(signal?: string, all = false): Promise<ExecResult> {
    return this.ctx.rt.kill(this.id, signal, all);
  }

  delete(force = false): Promise<ExecResult> {
    return this.ctx.rt.delete(this.id, force);
  }

  /** `exec [flags] ID COMMAND...` into this container. */
  exec(command: string[], flags: string[] = [], opts: Partial<ExecOptions> = {}): Promise<ExecResult> {
    return this.ctx.execIn(this.id, command, flags, opts);
  }

  /** Polls `state` until the status is `want`; returns the last status seen. */
  async waitStatus(want: string, timeoutMs = scaled(15000)): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs;
    let last: string | undefined;
    for (;;) {
      last = await this.status();
      if (last === want || Date.now() > deadline) return last;
      await sleep(20);
    }
  }

  async waitStopped(timeoutMs = scaled(15000)): Promise<void> {
    const s = await this.waitStatus('stopped', timeoutMs);
    if (s !== 'stopped') fail(`container did not reach "stopped" within ${timeoutMs} ms (status ${s ?? 'unknown'})`);
  }

  /** Everything written to the container's stdout so far. */
  output(): string {
    try {
      return fs.readFileSync(this.stdoutFile, 'utf8');
    } catch {
      return '';
    }
  }

  report(): Report {
    return new Report(this.output());
  }

  /** Waits until the probe has printed `key` (e.g. `ready`). */
  async waitFor(key: string, timeoutMs = scaled(15000)): Promise<Report> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = this.report();
      if (r.has(key) || Date.now() > deadline) return r;
      await sleep(20);
    }
  }
}

/** pid exists and is not a zombie (/proc/<pid>/stat state). */
function running(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}
