/**
 * Load: many commands at once, on distinct ids and on the same id. Every
 * command returns within its timeout (no deadlock), exits 0 or 1 (no signal
 * death), says nothing beyond runc's wording for a lost race, never reads a
 * torn state.json, and nothing is left afterwards. Then containers that are
 * hard to remove: one that exits at once, one that forks 1,000 children,
 * one that ignores SIGTERM.
 *
 * TSRUN_LOAD_ROUNDS sets the same-id rounds (default 5).
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { IS_ROOT, TSRUN, makeBundle, runtime, signalDisposition, statusOf, tempRoot, type Bundle } from '../helpers/bundle.js';
import { callerSnapshot, cgroupHierarchies, leftovers } from '../helpers/leaks.js';
import { holdsFor, waitFor } from '../helpers/wait.js';

const rootTest = IS_ROOT ? test.serial : test.skip;
const ROUNDS = Number(process.env.TSRUN_LOAD_ROUNDS) || 5;
const PARENT = `tsrun-load-${process.pid}`;
const TIMEOUT_MS = 30_000;

test.after.always(() => {
  for (const h of cgroupHierarchies()) {
    try {
      fs.rmdirSync(`${h}/${PARENT}`);
    } catch {
      /* not made, or (a leak, reported by its test) busy */
    }
  }
});

interface Outcome {
  args: string[];
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * One runtime command, asynchronously (so many run at once), killed if it
 * outlives TIMEOUT_MS. Output goes to files: a container created by it
 * inherits its stdio, and would hold a pipe open.
 */
function command(root: string, args: string[]): Promise<Outcome> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-load-io-'));
    const out = fs.openSync(path.join(dir, 'out'), 'w+');
    const err = fs.openSync(path.join(dir, 'err'), 'w+');
    const child = spawn(TSRUN, ['--root', root, ...args], { stdio: ['ignore', out, err] });
    fs.closeSync(out);
    fs.closeSync(err);
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    child.on('exit', (status, signal) => {
      clearTimeout(timer);
      const stdout = fs.readFileSync(path.join(dir, 'out'), 'utf8');
      const stderr = fs.readFileSync(path.join(dir, 'err'), 'utf8');
      fs.rmSync(dir, { recursive: true, force: true });
      resolve({ args, status, signal, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

/** Why an outcome is not one a lost race may give, or null. */
function problem(o: Outcome): string | null {
  const what = `${o.args.join(' ')}: `;
  if (o.signal) return `${what}killed by ${o.signal} after ${o.ms.toFixed(0)} ms (a deadlock?)`;
  if (o.status !== 0 && o.status !== 1) return `${what}exit ${o.status}: ${o.stderr}`;
  if (o.status === 1 && !RACE_LOST.some((r) => r.test(o.stderr.trim()))) return `${what}unexpected error: ${o.stderr.trim()}`;
  if (o.status === 0 && o.args[0] === 'state') {
    try {
      const s = JSON.parse(o.stdout) as { id?: string; status?: string };
      if (!s.id || !s.status) return `${what}state without id/status: ${o.stdout}`;
    } catch {
      return `${what}torn state JSON: ${o.stdout}`;
    }
  }
  return null;
}

/** runc's wording for the races these commands lose (the id taken, gone, not yet there, or in the wrong state). */
const RACE_LOST = [
  /^tsrun: \w+: container does not exist$/,
  /^tsrun: create: container with id exists: \S+$/,
  /^tsrun: kill: container not running$/,
  /^tsrun: start: cannot start a container that has stopped$/,
  /^tsrun: start: cannot start an already running container$/,
  /^tsrun: start: cannot start a container in the paused state \(\S+\)$/,
  /^tsrun: delete: cannot delete container \S+ that is not stopped: \w+$/,
];

const rel = (id: string) => `${PARENT}/${id}`;
function bundleFor(args: string[]): Bundle {
  return makeBundle((s) => {
    s.process!.args = args;
  });
}
/** A config.json per id (its own cgroupsPath, so a leak is attributable), in one bundle dir each. */
function bundleWithCgroup(args: string[], id: string): Bundle {
  const b = bundleFor(args);
  b.spec.linux!.cgroupsPath = `/${rel(id)}`;
  b.write();
  return b;
}

rootTest('50 concurrent create/start/kill/delete cycles of distinct ids: no failure, nothing left', async (t) => {
  const root = tempRoot();
  const before = callerSnapshot();
  const ids = Array.from({ length: 50 }, (_, i) => `load-${process.pid}-${i}`);
  const bundles = ids.map((id) => bundleWithCgroup(['sleep', '1000'], id));
  const outcomes = await Promise.all(
    ids.map(async (id, i) => {
      const steps: Outcome[] = [];
      for (const args of [
        ['create', '-b', bundles[i]!.dir, id],
        ['start', id],
        ['kill', id, 'KILL'],
        ['delete', '--force', id],
      ]) {
        steps.push(await command(root, args));
      }
      return steps;
    }),
  );
  const failed = outcomes.flat().filter((o) => o.status !== 0);
  t.deepEqual(
    failed.map((o) => `${o.args.join(' ')}: ${o.status ?? o.signal} ${o.stderr.trim()}`),
    [],
  );
  t.deepEqual(
    ids.flatMap((id, i) => leftovers(root, id, bundles[i]!.dir, rel(id))),
    [],
  );
  const after = callerSnapshot();
  t.is(after.fds, before.fds);
  t.is(after.children, before.children);
  t.log(`slowest command ${Math.max(...outcomes.flat().map((o) => o.ms)).toFixed(0)} ms`);
  for (const b of bundles) b.cleanup();
});

rootTest(
  `20 concurrent commands on the same id, ${ROUNDS} rounds: only lost races, no deadlock, no torn state, nothing left`,
  async (t) => {
    const root = tempRoot();
    const id = `same-${process.pid}`;
    const b = bundleWithCgroup(['sleep', '1000'], id);
    const kinds = new Map<string, number>();
    let maxMs = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const mix: string[][] = [
        ['create', '-b', b.dir, id],
        ['create', '-b', b.dir, id],
        ['start', id],
        ['start', id],
        ['kill', id, 'KILL'],
        ['kill', id],
        ['delete', id],
        ['delete', '--force', id],
        ['delete', '--force', id],
        ...Array.from({ length: 8 }, () => ['state', id]),
        ['list', '--format', 'json'],
        ['ps', '--format', 'json', id],
        ['pause', id],
      ];
      // spread over a create's duration, differently each round, so that each
      // command meets the others at different moments
      const outs = await Promise.all(
        mix.map((args, i) => new Promise((r) => setTimeout(r, ((i * 37 + round * 11) % 20) * 4)).then(() => command(root, args))),
      );
      for (const o of outs) {
        const p = o.args[0] === 'pause' ? (o.signal ? `pause killed by ${o.signal}` : null) : problem(o);
        t.is(p, null);
        maxMs = Math.max(maxMs, o.ms);
        const key = `${o.args[0]} ${o.status}`;
        kinds.set(key, (kinds.get(key) ?? 0) + 1);
      }
      // what the round left, removed as an engine would
      runtime(TSRUN, root, ['resume', id]);
      const d = runtime(TSRUN, root, ['delete', '--force', id]);
      t.is(d.status, 0, d.stderr);
      t.deepEqual(leftovers(root, id, b.dir, rel(id)), [], `round ${round}`);
    }
    t.log(`outcomes: ${[...kinds].map(([k, n]) => `${k}×${n}`).join(', ')}; slowest ${maxMs.toFixed(0)} ms`);
    b.cleanup();
  },
);

rootTest('a program that exits at once, one that forks 1,000 children, one that ignores SIGTERM: delete removes all of it', async (t) => {
  const root = tempRoot();
  const cases: [string, string[]][] = [
    [`at-once-${process.pid}`, ['true']],
    [`forks-${process.pid}`, ['sh', '-c', 'i=0; while [ $i -lt 1000 ]; do sleep 1000 & i=$((i+1)); done; echo forked > /dev/null; wait']],
    [`no-term-${process.pid}`, ['sh', '-c', 'trap "" TERM; while :; do sleep 1; done']],
  ];
  for (const [id, args] of cases) {
    const b = bundleWithCgroup(args, id);
    const r = runtime(TSRUN, root, ['run', '-d', '-b', b.dir, id]);
    t.is(r.status, 0, r.stderr);
    const ps = () => (JSON.parse(runtime(TSRUN, root, ['ps', '--format', 'json', id]).stdout || '[]') as number[]).length;
    if (id.startsWith('forks')) t.true(await waitFor(() => ps() >= 1001, 60_000, 200), `children forked: ${ps() - 1}`);
    if (id.startsWith('at-once')) t.true(await waitFor(() => statusOf(TSRUN, root, id) === 'stopped'), 'it exited');
    if (id.startsWith('no-term')) {
      // ignored once its trap is set (before, pid 1 would drop it all the same)
      const pid = (JSON.parse(runtime(TSRUN, root, ['state', id]).stdout) as { pid: number }).pid;
      t.true(await waitFor(() => signalDisposition(pid, 15) === 'ignored'), `TERM: ${signalDisposition(pid, 15)}`);
      t.is(runtime(TSRUN, root, ['kill', id, 'TERM']).status, 0);
      t.true(await holdsFor(() => statusOf(TSRUN, root, id) === 'running', 200), 'TERM ignored');
    }
    const d = runtime(TSRUN, root, id.startsWith('at-once') ? ['delete', id] : ['delete', '--force', id], { timeout: 30_000 });
    t.is(d.status, 0, `${id}: ${d.stderr}`);
    t.deepEqual(leftovers(root, id, b.dir, rel(id)), [], id);
    b.cleanup();
  }
});
