/**
 * What seccomp costs: compiling the default profile in the parent (in
 * process, through the addon), its size, and `run` of /bin/true with and
 * without the profile, tsrun vs runc on the same bundle.
 *
 *   node dist/bench/seccomp.js [--runs N]
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import { defaultSeccompProfile } from '../lib/config/seccomp-profile.js';
import { loadBinding } from '../lib/native/binding.js';
import { compileSeccomp } from '../lib/plan/seccomp.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const runs = Number(args[args.indexOf('--runs') + 1] || 0) || 20;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
function time(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const native = loadBinding();
const profile = defaultSeccompProfile();
const compileMs: number[] = [];
let insns = 0;
for (let i = 0; i < runs + 3; i++) {
  const ms = time(() => (insns = compileSeccomp(native, profile).bpf.length / 8));
  if (i >= 3) compileMs.push(ms);
}

function bundle(withSeccomp: boolean): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-bench-sc-'));
  fs.mkdirSync(path.join(dir, 'rootfs', 'bin'), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(dir, 'rootfs', 'bin', 'busybox'));
  fs.chmodSync(path.join(dir, 'rootfs', 'bin', 'busybox'), 0o755);
  fs.symlinkSync('busybox', path.join(dir, 'rootfs', 'bin', 'true'));
  spawnSync(path.join(ROOT, 'bin', 'tsrun'), ['spec', '-b', dir]);
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  cfg.ociVersion = '1.0.2-dev';
  cfg.process.terminal = false;
  cfg.process.args = ['true'];
  if (!withSeccomp) delete cfg.linux.seccomp;
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
  return dir;
}

const runtimes: [string, string][] = [['tsrun', path.join(ROOT, 'bin', 'tsrun')]];
const runc = ['/usr/sbin/runc', '/usr/bin/runc'].find((p) => fs.existsSync(p));
if (runc) runtimes.push(['runc', runc]);
const rows = [`# seccomp cost, ${runs} runs after 3 warm-ups (${new Date().toISOString()}, kernel ${os.release()})`, ''];
rows.push(
  `Compiling the default profile (libseccomp, in process): median ${median(compileMs).toFixed(2)} ms, ${insns} BPF instructions.`,
  '',
);
rows.push('| runtime | run, no seccomp (median ms) | run, default profile (median ms) | difference |', '| --- | ---: | ---: | ---: |');
for (const [name, bin] of runtimes) {
  const med: number[] = [];
  for (const withSc of [false, true]) {
    const dir = bundle(withSc);
    const root = fs.mkdtempSync(path.join(os.tmpdir(), `bench-sc-${name}-`));
    const xs: number[] = [];
    for (let i = -3; i < runs; i++) {
      const ms = time(() => {
        const r = spawnSync(bin, ['--root', root, 'run', '-b', dir, `b${i}`], { stdio: 'ignore' });
        if (r.status !== 0) throw new Error(`${name} run: exit ${r.status}`);
      });
      if (i >= 0) xs.push(ms);
    }
    med.push(median(xs));
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(root, { recursive: true, force: true });
  }
  rows.push(`| ${name} | ${med[0]!.toFixed(1)} | ${med[1]!.toFixed(1)} | ${(med[1]! - med[0]!).toFixed(1)} |`);
}
process.stdout.write(`${rows.join('\n')}\n`);
