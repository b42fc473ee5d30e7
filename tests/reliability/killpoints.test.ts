/**
 * Nothing is left when tsrun is killed: `create`, `run`, `exec` and `delete`
 * are SIGKILLed at moments spread evenly over an undisturbed run of each,
 * then `delete --force` (for a killed delete: a second one) must leave no
 * state dir, no cgroup directory in any hierarchy, no mount, no process of
 * the container, and nothing open or unreaped in the caller.
 *
 * TSRUN_KILL_POINTS sets the points per command (default 50).
 * TSRUN_KILL_RUNTIME=/usr/sbin/runc grades another runtime the same way:
 * its leaks are logged (t.log), not failed, for comparison.
 * TSRUN_KILL_SYSTEMD=1 runs every command with --systemd-cgroup (a host
 * with systemd as PID 1: the production lane): each container is a unit,
 * and a unit still loaded after delete --force is a leak too.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { IS_ROOT, TSRUN, makeBundle, runtime, tempRoot, type Bundle } from '../helpers/bundle.js';
import { callerSnapshot, cgroupHierarchies, leftovers as leftoversOf } from '../helpers/leaks.js';
import { waitForSync } from '../helpers/wait.js';

const rootTest = IS_ROOT ? test.serial : test.skip;
const POINTS = Number(process.env.TSRUN_KILL_POINTS) || 50;
const BIN = process.env.TSRUN_KILL_RUNTIME || TSRUN;
const GRADING_OTHER = BIN !== TSRUN;
const SYSTEMD = process.env.TSRUN_KILL_SYSTEMD === '1';
/** The global flags every command gets. */
const FLAGS = SYSTEMD ? ['--systemd-cgroup'] : [];
const PARENT = `tsrun-kp-${process.pid}`;
const HIERARCHIES = cgroupHierarchies();

test.after.always(() => {
  for (const h of HIERARCHIES) {
    try {
      fs.rmdirSync(path.join(h, PARENT));
    } catch {
      /* not made, or (a leak, reported by its test) busy */
    }
  }
});

function bundleFor(args: string[]): Bundle {
  return makeBundle((s) => {
    s.process!.args = args;
    s.linux!.cgroupsPath = `/${PARENT}/kp`; // replaced per container id by withCgroup()
  });
}

/** The bundle's config with this id's own cgroupsPath (so a leak is attributable). */
function withCgroup(b: Bundle, id: string): void {
  b.spec.linux!.cgroupsPath = SYSTEMD ? `system.slice:${PARENT}:${id}` : `/${PARENT}/${id}`;
  b.write();
}

/** What is left of container `id`: leaks.ts's list, and with systemd its unit while still loaded. */
function leftovers(root: string, id: string, bundle: string): string[] {
  if (!SYSTEMD) return leftoversOf(root, id, bundle, `${PARENT}/${id}`);
  const unit = `${PARENT}-${id}.scope`;
  const out = leftoversOf(root, id, bundle, `system.slice/${unit}`);
  // systemd drops an emptied scope once it has seen the cgroup empty: a moment after delete
  const state = () => spawnSync('systemctl', ['show', unit, '--property=LoadState', '--value'], { encoding: 'utf8' }).stdout.trim();
  if (!waitForSync(() => state() === 'not-found')) out.push(`unit ${unit} (${state()})`);
  return out;
}

/** Spawns the runtime, SIGKILLs it after `delayMs` (if still running); resolves when it has exited. */
function killAfter(args: string[], delayMs: number): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn(BIN, [...FLAGS, ...args], { stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
    child.on('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Median wall time of a spawned command, ms. */
async function duration(run: () => Promise<void>, n = 5): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await run();
    xs.push(performance.now() - t0);
  }
  return xs.sort((a, b) => a - b)[n >> 1]!;
}

const spawnWait = (args: string[]) =>
  new Promise<void>((resolve) => spawn(BIN, [...FLAGS, ...args], { stdio: 'ignore' }).on('exit', () => resolve()));

interface Tally {
  clean: number;
  leaks: string[];
}

/** Kills `command` at POINTS moments over `total` ms; `after` cleans up and returns what was left. */
async function campaign(
  t: ExecutionContext,
  name: string,
  total: number,
  attempt: (i: number, delayMs: number) => Promise<string[]>,
): Promise<Tally> {
  const before = callerSnapshot();
  const tally: Tally = { clean: 0, leaks: [] };
  for (let i = 0; i < POINTS; i++) {
    const delay = (total * (i + 0.5)) / POINTS;
    const left = await attempt(i, delay);
    if (left.length) tally.leaks.push(`point ${i} (${delay.toFixed(1)} ms): ${left.join('; ')}`);
    else tally.clean++;
  }
  const after = callerSnapshot();
  t.log(`${name}: ${tally.clean}/${POINTS} kill points clean over ${total.toFixed(1)} ms (${path.basename(BIN)})`);
  if (GRADING_OTHER) {
    for (const l of tally.leaks.slice(0, 10)) t.log(l);
    t.pass();
    return tally;
  }
  t.deepEqual(tally.leaks, [], `${name}: leaks`);
  t.is(after.fds, before.fds, 'fds of the caller');
  t.is(after.children, before.children, 'unreaped children of the caller');
  return tally;
}

/** delete --force, and (for the record) its status. */
function forceDelete(root: string, id: string): string[] {
  const r = runtime(BIN, root, [...FLAGS, 'delete', '--force', id]);
  return r.status === 0 ? [] : [`delete --force exited ${r.status}: ${r.stderr.trim()}`];
}

rootTest('create SIGKILLed at spread-out moments, then delete --force: nothing is left', async (t) => {
  const root = tempRoot();
  const b = bundleFor(['sleep', '1000']);
  let n = 0;
  const total = await duration(async () => {
    const id = `kpc-m${n++}`;
    withCgroup(b, id);
    await spawnWait(['--root', root, 'create', '-b', b.dir, id]);
    forceDelete(root, id);
  });
  await campaign(t, 'create', total, async (i, delay) => {
    const id = `kpc-${i}`;
    withCgroup(b, id);
    await killAfter(['--root', root, 'create', '-b', b.dir, id], delay);
    return [...forceDelete(root, id), ...leftovers(root, id, b.dir)];
  });
  b.cleanup();
});

rootTest('run SIGKILLed at spread-out moments, then delete --force: nothing is left', async (t) => {
  const root = tempRoot();
  const b = bundleFor(['true']);
  let n = 0;
  const total = await duration(async () => {
    const id = `kpr-m${n++}`;
    withCgroup(b, id);
    await spawnWait(['--root', root, 'run', '-b', b.dir, id]);
  });
  await campaign(t, 'run', total, async (i, delay) => {
    const id = `kpr-${i}`;
    withCgroup(b, id);
    await killAfter(['--root', root, 'run', '-b', b.dir, id], delay);
    return [...forceDelete(root, id), ...leftovers(root, id, b.dir)];
  });
  b.cleanup();
});

rootTest('exec SIGKILLed at spread-out moments: the container stays usable, then delete --force leaves nothing', async (t) => {
  const root = tempRoot();
  const b = bundleFor(['sleep', '1000']);
  const id = 'kpe';
  withCgroup(b, id);
  const r = runtime(BIN, root, [...FLAGS, 'run', '-d', '-b', b.dir, id]);
  t.is(r.status, 0, r.stderr);
  const total = await duration(() => spawnWait(['--root', root, 'exec', id, 'true']));
  await campaign(t, 'exec', total, async (_i, delay) => {
    await killAfter(['--root', root, 'exec', id, 'true'], delay);
    // no stale lock, no half-joined process in the way: the next exec works
    const again = runtime(BIN, root, [...FLAGS, 'exec', id, 'true']);
    return again.status === 0 ? [] : [`exec after a killed exec: ${again.status} ${again.stderr.trim()}`];
  });
  t.deepEqual([...forceDelete(root, id), ...leftovers(root, id, b.dir)], []);
  b.cleanup();
});

rootTest('delete --force SIGKILLed at spread-out moments, then a second one: nothing is left', async (t) => {
  const root = tempRoot();
  const b = bundleFor(['sleep', '1000']);
  const running = (id: string) => {
    withCgroup(b, id);
    return runtime(BIN, root, [...FLAGS, 'run', '-d', '-b', b.dir, id]).status === 0;
  };
  let n = 0;
  const total = await duration(async () => {
    const id = `kpd-m${n++}`;
    running(id);
    await spawnWait(['--root', root, 'delete', '--force', id]);
  });
  await campaign(t, 'delete', total, async (i, delay) => {
    const id = `kpd-${i}`;
    if (!running(id)) return ['run -d failed'];
    await killAfter(['--root', root, 'delete', '--force', id], delay);
    return [...forceDelete(root, id), ...leftovers(root, id, b.dir)];
  });
  b.cleanup();
});
