/**
 * Lifecycle latency, tsrun vs runc, on the same busybox bundle:
 *   run      `run` of /bin/true (create + start + wait + delete, one process)
 *   create   `create` alone; start; delete (engine-style, three processes)
 *   exec     `exec ID /bin/true` into a running container (health checks)
 * Writes a markdown table to bench/results.md (or --out) and stdout.
 *
 *   node dist/bench/lifecycle.js [--runs N] [--out FILE]
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const runs = Number(args[args.indexOf('--runs') + 1] || 0) || 30;
const out = args.includes('--out') ? args[args.indexOf('--out') + 1]! : path.join(ROOT, 'bench', 'results.md');

const runtimes: [string, string][] = [['tsrun', path.join(ROOT, 'bin', 'tsrun')]];
const runc = ['/usr/sbin/runc', '/usr/bin/runc'].find((p) => fs.existsSync(p));
if (runc) runtimes.push(['runc', runc]);

function bundle(args: string[] = ['true']): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-bench-'));
  fs.mkdirSync(path.join(dir, 'rootfs', 'bin'), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(dir, 'rootfs', 'bin', 'busybox'));
  fs.chmodSync(path.join(dir, 'rootfs', 'bin', 'busybox'), 0o755);
  for (const a of ['sh', 'true', 'sleep']) fs.symlinkSync('busybox', path.join(dir, 'rootfs', 'bin', a));
  const r = spawnSync(path.join(ROOT, 'bin', 'tsrun'), ['spec', '-b', dir]);
  if (r.status !== 0) throw new Error(`tsrun spec: ${r.stderr}`);
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  cfg.ociVersion = '1.0.2-dev';
  cfg.process.terminal = false;
  cfg.process.args = args;
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
  return dir;
}

function time(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function must(bin: string, argv: string[]): void {
  // no pipes: a created container inherits stdio and would hold them open
  const r = spawnSync(bin, argv, { stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`${bin} ${argv.join(' ')}: exit ${r.status}`);
}

interface Stats {
  mean: number;
  median: number;
  p95: number;
}

function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  return {
    mean: xs.reduce((a, b) => a + b, 0) / xs.length,
    median: s[Math.floor(s.length / 2)]!,
    p95: s[Math.min(s.length - 1, Math.floor(s.length * 0.95))]!,
  };
}

const dir = bundle();
const sleeper = bundle(['sleep', '100000']);
const rows: string[] = [];
const results = new Map<string, Map<string, Stats>>();
for (const [name, bin] of runtimes) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `bench-root-${name}-`));
  const g = ['--root', root];
  const byOp = new Map<string, number[]>([
    ['run', []],
    ['create', []],
    ['start', []],
    ['delete', []],
    ['exec', []],
  ]);
  must(bin, [...g, 'run', '-d', '-b', sleeper, 'box']);
  for (let i = -3; i < runs; i++) {
    // the first three are warm-up
    const runMs = time(() => must(bin, [...g, 'run', '-b', dir, `r${i}`]));
    const id = `c${i}`;
    const createMs = time(() => must(bin, [...g, 'create', '-b', dir, id]));
    const startMs = time(() => must(bin, [...g, 'start', id]));
    for (let j = 0; j < 200; j++) {
      const st = spawnSync(bin, [...g, 'state', id], { encoding: 'utf8' });
      if (st.stdout.includes('"stopped"')) break;
    }
    const deleteMs = time(() => must(bin, [...g, 'delete', id]));
    const execMs = time(() => must(bin, [...g, 'exec', 'box', 'true']));
    if (i < 0) continue;
    byOp.get('exec')!.push(execMs);
    byOp.get('run')!.push(runMs);
    byOp.get('create')!.push(createMs);
    byOp.get('start')!.push(startMs);
    byOp.get('delete')!.push(deleteMs);
  }
  must(bin, [...g, 'delete', '--force', 'box']);
  const m = new Map<string, Stats>();
  for (const [op, xs] of byOp) m.set(op, stats(xs));
  results.set(name, m);
  fs.rmSync(root, { recursive: true, force: true });
}
fs.rmSync(dir, { recursive: true, force: true });
fs.rmSync(sleeper, { recursive: true, force: true });

const names = [...results.keys()];
rows.push(`# Lifecycle latency (ms), ${runs} runs each after 3 warm-ups`);
rows.push('');
rows.push(
  `Host: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, kernel ${os.release()}, node ${process.version}, ${new Date().toISOString()}.`,
);
rows.push(
  '`run` = run of /bin/true from a busybox bundle (pid, net, ipc, uts, mount namespaces; runc spec mounts; the default seccomp profile, which both runtimes load).',
);
rows.push('');
rows.push(
  `| operation | ${names.map((n) => `${n} mean / median / p95`).join(' | ')} |${names.length > 1 ? ' tsrun ÷ runc (median) |' : ''}`,
);
rows.push(`| --- | ${names.map(() => '---:').join(' | ')} |${names.length > 1 ? ' ---: |' : ''}`);
for (const op of ['run', 'create', 'start', 'delete', 'exec']) {
  const cells = names.map((n) => {
    const s = results.get(n)!.get(op)!;
    return `${s.mean.toFixed(1)} / ${s.median.toFixed(1)} / ${s.p95.toFixed(1)}`;
  });
  const ratio = names.length > 1 ? ` ${(results.get('tsrun')!.get(op)!.median / results.get('runc')!.get(op)!.median).toFixed(2)} |` : '';
  rows.push(`| ${op} | ${cells.join(' | ')} |${ratio}`);
}
const text = `${rows.join('\n')}\n`;
fs.writeFileSync(out, text);
process.stdout.write(text);
