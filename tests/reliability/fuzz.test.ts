/**
 * Bad input: mutated configs (tests/helpers/mutate.ts, seeded) through
 * `tsrun create`, then `delete --force`. For each: exit 0 or 1, no signal
 * death; on 1, one error line, with no stack trace, no "undefined", no
 * "[object Object]"; and nothing left behind. Then bad command lines.
 *
 * TSRUN_FUZZ_CONFIGS sets how many (default 500; nightly: 10000),
 * TSRUN_FUZZ_SEED the seed (default 1; a failure names its seed and index).
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { IS_ROOT, TSRUN, leftIn, makeBundle, runtime, tempRoot } from '../helpers/bundle.js';
import { callerSnapshot, cgroupHierarchies, leftovers } from '../helpers/leaks.js';
import { mutate, rng } from '../helpers/mutate.js';

const rootTest = IS_ROOT ? test.serial : test.skip;
const CONFIGS = Number(process.env.TSRUN_FUZZ_CONFIGS) || 500;
const SEED = Number(process.env.TSRUN_FUZZ_SEED) || 1;
const PARENT = `tsrun-fuzz-${process.pid}`;

test.after.always(() => {
  for (const h of cgroupHierarchies()) {
    try {
      fs.rmdirSync(path.join(h, PARENT));
    } catch {
      /* not made, or busy (a leak its test reports) */
    }
  }
});

/** Why the stderr of a failed command is not one clear error line, or null. */
function unclear(stderr: string): string | null {
  const lines = stderr.split('\n').filter((l) => l.trim() && !l.startsWith('tsrun: warning:'));
  if (lines.length !== 1) return `${lines.length} error lines`;
  const line = lines[0]!;
  if (!/^tsrun: \w+: \S/.test(line)) return 'not "tsrun: <command>: <message>"';
  if (/\bundefined\b|\[object Object\]|\bNaN\b|^\s+at /.test(line)) return 'undefined, [object Object], NaN or a stack frame';
  if (line.length > 2000) return `a ${line.length}-character line`;
  return null;
}

rootTest(`${CONFIGS} mutated configs (seed ${SEED}): exit 0 or 1, one clear error line, nothing left`, async (t) => {
  t.timeout(Math.max(120_000, CONFIGS * 400));
  const root = tempRoot();
  const b = makeBundle((s) => {
    s.process!.args = ['true'];
  });
  // what keeps the host safe whatever else is wrong: the init mounts in a
  // mount namespace of its own, the root is the bundle's, and a cgroup we
  // can find (each id its own)
  const base = JSON.parse(fs.readFileSync(path.join(b.dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  let cgroupRel = '';
  const guard = (doc: Record<string, unknown>): string | null => {
    const linux = (doc.linux && typeof doc.linux === 'object' ? doc.linux : (doc.linux = {})) as Record<string, unknown>;
    linux.cgroupsPath = `/${cgroupRel}`;
    const ns = Array.isArray(linux.namespaces) ? (linux.namespaces as unknown[]) : (linux.namespaces = []);
    if (!(ns as { type?: unknown }[]).some((n) => n && typeof n === 'object' && n.type === 'mount')) ns.push({ type: 'mount' });
    const root = doc.root as Record<string, unknown> | undefined;
    if (root && typeof root === 'object' && typeof root.path === 'string') {
      const resolved = path.resolve(b.dir, root.path);
      if (!resolved.startsWith(b.dir + '/') && fs.existsSync(resolved)) {
        root.path = 'rootfs';
        return 'root.path kept in the bundle';
      }
    }
    return null;
  };
  const r = rng(SEED);
  const before = callerSnapshot();
  const counts = { ok: 0, refused: 0 };
  const problems: string[] = [];
  const messages = new Map<string, number>();
  for (let i = 0; i < CONFIGS; i++) {
    const id = `fz-${process.pid}-${i}`;
    cgroupRel = `${PARENT}/${id}`;
    const m = mutate(base, r, guard);
    fs.writeFileSync(path.join(b.dir, 'config.json'), m.bytes);
    const c = runtime(TSRUN, root, ['create', '-b', b.dir, id], { timeout: 20_000 });
    const where = `seed ${SEED} #${i} (${m.what})`;
    if (c.signal) problems.push(`${where}: create killed by ${c.signal}`);
    else if (c.status === 0) counts.ok++;
    else if (c.status === 1) {
      counts.refused++;
      const why = unclear(c.stderr);
      if (why) problems.push(`${where}: ${why}: ${c.stderr.slice(0, 300)}`);
      const msg = c.stderr
        .trim()
        .replace(/\d+/g, 'N')
        .replace(/"[^"]*"/g, '"…"')
        .slice(0, 90);
      messages.set(msg, (messages.get(msg) ?? 0) + 1);
    } else problems.push(`${where}: create exited ${c.status}: ${c.stderr.slice(0, 300)}`);
    const d = runtime(TSRUN, root, ['delete', '--force', id], { timeout: 20_000 });
    if (d.status !== 0) problems.push(`${where}: delete --force exited ${d.status ?? d.signal}: ${d.stderr.trim()}`);
    const left = leftovers(root, id, b.dir, cgroupRel);
    if (left.length) problems.push(`${where}: left ${left.join('; ')}`);
    if (problems.length >= 20) break;
  }
  const after = callerSnapshot();
  t.log(`${CONFIGS} configs: ${counts.ok} created, ${counts.refused} refused; ${messages.size} distinct errors, most common:`);
  for (const [msg, n] of [...messages].sort((x, y) => y[1] - x[1]).slice(0, 8)) t.log(`  ${n}× ${msg}`);
  t.deepEqual(problems, []);
  t.is(after.fds, before.fds);
  b.cleanup();
});

rootTest('bad command lines: a clear error, exit 1, nothing created', (t) => {
  const root = tempRoot();
  const b = makeBundle();
  const dirBundle = makeBundle();
  fs.rmSync(path.join(dirBundle.dir, 'config.json'));
  fs.mkdirSync(path.join(dirBundle.dir, 'config.json'));
  const fifoBundle = makeBundle();
  fs.rmSync(path.join(fifoBundle.dir, 'config.json'));
  spawnSync('mkfifo', [path.join(fifoBundle.dir, 'config.json')]);
  const bigBundle = makeBundle();
  const big = fs.openSync(path.join(bigBundle.dir, 'config.json'), 'w');
  fs.ftruncateSync(big, 100 << 20); // 100 MiB of NULs
  fs.closeSync(big);
  const missing = path.join(os.tmpdir(), `tsrun-no-such-bundle-${process.pid}`);
  const hadX = fs.existsSync(path.join(root, '..', 'x'));
  const cases: [string, string[]][] = [
    ['an unknown flag', ['create', '--no-such-flag', '-b', b.dir, 'x1']],
    ['an unknown command (exit 3, as runc)', ['no-such-command']],
    ['an id with /', ['create', '-b', b.dir, 'a/b']],
    ['an id ..', ['create', '-b', b.dir, '..']],
    ['an id with ..', ['create', '-b', b.dir, '../x']],
    ['a 10 KiB id', ['create', '-b', b.dir, 'x'.repeat(10240)]],
    ['a missing bundle', ['create', '-b', missing, 'x2']],
    ['config.json a directory', ['create', '-b', dirBundle.dir, 'x3']],
    ['config.json a fifo', ['create', '-b', fifoBundle.dir, 'x4']],
    ['config.json of 100 MiB', ['create', '-b', bigBundle.dir, 'x5']],
    ['state of an id with /', ['state', 'a/b']],
    ['delete of an id with ..', ['delete', '../x']],
    ['kill with a bad signal', ['kill', 'x6', 'SIGNOPE']],
  ];
  for (const [what, args] of cases) {
    const r = runtime(TSRUN, root, args, { timeout: 20_000 });
    t.is(r.status, what.includes('exit 3') ? 3 : 1, `${what}: exit ${r.status ?? r.signal}: ${r.stderr}`);
    if (!what.includes('exit 3')) t.is(unclear(r.stderr), null, `${what}: ${r.stderr}`);
    t.log(`${what}: ${r.stderr.trim().slice(0, 120)}`);
  }
  t.deepEqual(leftIn(root), [], 'nothing in the root');
  if (!hadX) t.false(fs.existsSync(path.join(root, '..', 'x')), 'no ../x made');
  for (const x of [b, dirBundle, fifoBundle, bigBundle]) x.cleanup();
});
