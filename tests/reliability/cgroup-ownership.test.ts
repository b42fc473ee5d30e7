/**
 * A container whose linux.cgroupsPath names a cgroup that existed before it
 * (create only warns "not empty") must not take that cgroup down with it:
 * `delete --force` and `kill --all` leave the cgroup's other processes
 * alive and its child cgroups in place, `ps` lists only the container's
 * processes, and the directories create made itself are still removed.
 * The root cgroup is refused before anything exists.
 *
 * The attack: a cgroup made here, with an unrelated host `sleep` in it and
 * another in a child cgroup (plus an empty child), then a container in that
 * cgroup, with and without a pid namespace of its own. runc 1.1.5 runs the
 * same bundle; its result is logged, never asserted.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { subtreeDeepestFirst } from '../../lib/cgroups/fs.js';
import { hostCgroups } from '../../lib/cgroups/host.js';
import { IS_ROOT, RUNC, TSRUN, makeBundle, runtime, tempRoot, uniqueId } from '../helpers/bundle.js';
import { until } from '../helpers/wait.js';

const host = hostCgroups();
const cgTest = IS_ROOT && host.mode !== 'none' ? test.serial : test.skip;

/** Every hierarchy's mount point: the v1 ones and the unified tree (pure v2: only that). */
const allMounts = [...host.v1.map((h) => h.mountPoint), ...(host.v2Mount ? [host.v2Mount] : [])];
const v1Mount = (c: string) => host.v1.find((h) => h.controllers.includes(c))?.mountPoint;
/** "some": the pids and memory hierarchies and the unified tree; create makes the rest (on pure v2 that is all). */
const someMounts = [v1Mount('pids'), v1Mount('memory'), host.v2Mount].filter((m): m is string => !!m);

function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** pid and every process descended from it (through /proc/<pid>/task/<tid>/children). */
function tree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    let tids: string[] = [];
    try {
      tids = fs.readdirSync(`/proc/${out[i]}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        for (const c of fs.readFileSync(`/proc/${out[i]}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean)) out.push(Number(c));
      } catch {
        /* gone */
      }
    }
  }
  return [...new Set(out)].sort((a, b) => a - b);
}

/** mkdir /rel in each mount (cpuset gets the root's cpus and mems, or no task could join). */
function makeCgroup(mounts: string[], rel: string): void {
  for (const m of mounts) {
    fs.mkdirSync(path.join(m, rel), { recursive: true });
    if (m === v1Mount('cpuset'))
      for (const f of ['cpuset.cpus', 'cpuset.mems'])
        fs.writeFileSync(path.join(m, rel, f), fs.readFileSync(path.join(path.dirname(path.join(m, rel)), f), 'utf8').trim());
  }
}

/** rmdir /rel and what is below it in every hierarchy (the test's own cgroups); true when none is left. */
function removeEverywhere(rel: string): boolean {
  for (const m of allMounts) {
    for (const d of subtreeDeepestFirst(path.join(m, rel))) {
      try {
        fs.rmdirSync(d);
      } catch {
        /* busy (a killed process not yet reaped) or gone */
      }
    }
  }
  return allMounts.every((m) => !fs.existsSync(path.join(m, rel)));
}

/** The test's own cgroups go once the processes in them have been reaped (until then rmdir says EBUSY). */
async function removeWhenReaped(rel: string, procs: ChildProcess[]): Promise<void> {
  for (const p of procs) p.kill('SIGKILL');
  await Promise.all(procs.map((p) => (p.exitCode === null && p.signalCode === null ? once(p, 'exit') : Promise.resolve())));
  await until(`the test cgroups /${rel} to go`, () => removeEverywhere(rel));
}

function moveInto(mounts: string[], rel: string, pid: number): void {
  for (const m of mounts) fs.writeFileSync(path.join(m, rel, 'cgroup.procs'), String(pid));
}

async function hostSleep(procs: ChildProcess[]): Promise<ChildProcess> {
  const p = spawn('sleep', ['600'], { detached: true, stdio: 'ignore' });
  procs.push(p);
  await until('a host sleep to start', () => fs.existsSync(`/proc/${p.pid}/cgroup`));
  return p;
}

interface Scenario {
  name: string;
  /** The container has a pid namespace of its own. */
  pidns: boolean;
  /** Which hierarchies hold the pre-existing cgroup. */
  premade: 'all' | 'some';
  /** How the container is taken down. */
  end: 'delete --force' | 'kill --all';
}

interface Seen {
  /** The runtime could not run the container at all. */
  failed?: string;
  /** What ps printed (tsrun), and the container's processes found through /proc. */
  ps: number[] | null;
  container: number[];
  /** After the container was taken down. */
  hostAlive: boolean;
  childHostAlive: boolean;
  /** The hierarchies (mount points) that hold the cgroup, and those that hold its two child cgroups too. */
  premade: string[];
  parents: string[];
  /** Of those, where each is still there. */
  cgroupKept: string[];
  busyChildKept: string[];
  idleChildKept: string[];
  /** The cgroup directories the create made (in the hierarchies that had none): still there. */
  madeLeft: string[];
  containerLeft: number[];
  delete: string;
}

/**
 * The attack with one runtime: the cgroup with a host process and a child
 * cgroup holding another, the container in it, taken down as the scenario
 * says, then what survived.
 */
async function attack(t: ExecutionContext, bin: string, sc: Scenario): Promise<Seen> {
  const rel = `tsrun-test-${uniqueId('own')}`;
  const premade = sc.premade === 'all' ? allMounts : someMounts;
  const root = tempRoot();
  const id = uniqueId('own');
  const procs: ChildProcess[] = [];
  const b = makeBundle((s) => {
    s.linux!.cgroupsPath = `/${rel}`;
    if (!sc.pidns) s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'pid');
    s.process!.args = ['sh', '-c', 'sleep 1000 & sleep 1000 & wait'];
  });
  t.teardown(async () => {
    runtime(bin, root, ['delete', '--force', id]);
    b.cleanup();
    await removeWhenReaped(rel, procs);
  });
  // v1's devices cgroup takes no deny-all rule once it has children (EINVAL): no children there
  const parents = premade.filter((m) => m !== v1Mount('devices'));
  makeCgroup(premade, rel);
  makeCgroup(parents, `${rel}/busy`);
  makeCgroup(parents, `${rel}/idle`);
  const hostProc = await hostSleep(procs);
  const childHostProc = await hostSleep(procs);
  moveInto(premade, rel, hostProc.pid!);
  moveInto(parents, `${rel}/busy`, childHostProc.pid!);

  const run = (args: string[]) => runtime(bin, root, args);
  let r = run(['create', '--bundle', b.dir, id]);
  if (r.status === 0) r = run(['start', id]);
  if (r.status !== 0) {
    const failed = `create/start: exit ${r.status}: ${r.stderr.trim()}`;
    if (bin === TSRUN) t.fail(failed);
    return { failed } as Seen;
  }
  const init = Number(JSON.parse(run(['state', id]).stdout).pid);
  await until('the container to fork its two sleeps', () => tree(init).length >= 3);
  // an exec'd process is the container's too, though the init is not its parent (in a pid namespace)
  const execd: number[] = [];
  if (bin === TSRUN && sc.pidns) {
    const pidFile = path.join(root, `${id}.exec.pid`);
    const x = run(['exec', '--detach', '--pid-file', pidFile, id, 'sleep', '1000']);
    t.is(x.status, 0, `exec: ${x.stderr}`);
    execd.push(Number(fs.readFileSync(pidFile, 'utf8')));
  }
  const container = [...tree(init), ...execd].sort((x, y) => x - y);
  const ps = bin === TSRUN ? (JSON.parse(run(['ps', '--format', 'json', id]).stdout) as number[]) : null;

  let del = '';
  if (sc.end === 'kill --all') {
    const k = run(['kill', '--all', id, 'KILL']);
    t.is(k.status, 0, `kill --all: ${k.stderr}`);
    await until('the container to stop', () => JSON.parse(run(['state', id]).stdout).status === 'stopped');
  }
  const d = run(['delete', '--force', id]);
  del = d.status === 0 ? 'exit 0' : `exit ${d.status}: ${d.stderr.trim()}`;
  await until('the container’s processes to go', () => container.every((p) => !alive(p))).catch(() => undefined);

  const made = allMounts.filter((m) => !premade.includes(m)).map((m) => path.join(m, rel));
  const kept = (mounts: string[], sub: string) => mounts.filter((m) => fs.existsSync(path.join(m, rel, sub)));
  return {
    ps,
    container,
    hostAlive: alive(hostProc.pid!),
    childHostAlive: alive(childHostProc.pid!),
    premade,
    parents,
    cgroupKept: kept(premade, ''),
    busyChildKept: kept(parents, 'busy'),
    idleChildKept: kept(parents, 'idle'),
    madeLeft: made.filter((d) => fs.existsSync(d)),
    containerLeft: container.filter(alive),
    delete: del,
  };
}

function describe(s: Seen): string {
  if (s.failed) return s.failed;
  const n = (kept: string[], of: string[]) => {
    const gone = of.filter((m) => !kept.includes(m)).map((m) => path.basename(m));
    return !gone.length ? 'kept' : kept.length ? `kept, but removed from ${gone.join(', ')}` : 'removed';
  };
  return [
    `host process in the cgroup ${s.hostAlive ? 'alive' : 'KILLED'}`,
    `host process in its child cgroup ${s.childHostAlive ? 'alive' : 'KILLED'}`,
    `cgroup ${n(s.cgroupKept, s.premade)}, busy child ${n(s.busyChildKept, s.parents)}, idle child ${n(s.idleChildKept, s.parents)}`,
    `dirs it made ${s.madeLeft.length ? `LEFT: ${s.madeLeft.join(' ')}` : 'removed'}`,
    `container processes ${s.containerLeft.length ? `LEFT: ${s.containerLeft.join(' ')}` : 'gone'}`,
    `delete ${s.delete}`,
  ].join('; ');
}

const scenarios: Scenario[] = [
  { name: 'own pid namespace, every hierarchy pre-existing', pidns: true, premade: 'all', end: 'delete --force' },
  { name: 'own pid namespace, pids/memory/unified pre-existing', pidns: true, premade: 'some', end: 'delete --force' },
  { name: 'no pid namespace, every hierarchy pre-existing', pidns: false, premade: 'all', end: 'delete --force' },
  { name: 'no pid namespace, pids/memory/unified pre-existing', pidns: false, premade: 'some', end: 'delete --force' },
  { name: 'own pid namespace, every hierarchy pre-existing', pidns: true, premade: 'all', end: 'kill --all' },
  { name: 'no pid namespace, every hierarchy pre-existing', pidns: false, premade: 'all', end: 'kill --all' },
];

for (const sc of scenarios) {
  cgTest(
    `${sc.end} of a container in a cgroup that existed before (${sc.name}) leaves the cgroup's other processes and child cgroups alone; ps lists only the container`,
    async (t) => {
      // runc first: an assertion that fails ends the test, and its result is logged either way
      if (RUNC) t.log(`runc 1.1.5: ${describe(await attack(t, RUNC, sc))}`);
      const ours = await attack(t, TSRUN, sc);
      t.log(`tsrun: ${describe(ours)}`);
      t.deepEqual(ours.ps, ours.container, 'ps: the container’s processes, not the cgroup’s');
      t.true(ours.hostAlive, 'the host process in the cgroup is alive');
      t.true(ours.childHostAlive, 'the host process in the child cgroup is alive');
      t.deepEqual(ours.cgroupKept, ours.premade, 'the cgroup is still there');
      t.deepEqual(ours.busyChildKept, ours.parents, 'its child cgroup with a process is still there');
      t.deepEqual(ours.idleChildKept, ours.parents, 'its empty child cgroup is still there');
      t.deepEqual(ours.madeLeft, [], 'the directories create made are removed');
      t.deepEqual(ours.containerLeft, [], 'the container’s own processes are gone');
      t.is(ours.delete, 'exit 0');
    },
  );
}

cgTest('the root cgroup as cgroupsPath is refused before anything exists, naming linux.cgroupsPath', (t) => {
  // A cgroup of our own below each root: a runtime that got as far as writing
  // the default device rules to a root that has children is refused by the
  // kernel (EINVAL) instead of denying every device on the host.
  const guard = `tsrun-test-${uniqueId('guard')}`;
  makeCgroup(allMounts, guard);
  t.teardown(() => removeWhenReaped(guard, []));
  // runc 1.1.5 is not run: it accepts "/", and its delete would remove every
  // empty cgroup on the host (RemovePath recurses into the root's children)
  for (const cgroupsPath of ['/', '//', '/./', '.', './']) {
    const b = makeBundle((s) => {
      s.linux!.cgroupsPath = cgroupsPath;
      s.process!.args = ['sleep', '600'];
    });
    t.teardown(() => b.cleanup());
    const root = tempRoot();
    const id = uniqueId('rootcg');
    const r = runtime(TSRUN, root, ['create', '--bundle', b.dir, id]);
    if (r.status === 0) {
      // never `delete` it: a runtime without the defence would kill the host
      try {
        process.kill(Number(JSON.parse(fs.readFileSync(path.join(root, id, 'state.json'), 'utf8')).pid), 'SIGKILL');
      } catch {
        /* gone */
      }
      fs.rmSync(path.join(root, id), { recursive: true, force: true });
      t.fail(`${JSON.stringify(cgroupsPath)}: create succeeded`);
      continue;
    }
    t.is(r.status, 1, `${JSON.stringify(cgroupsPath)}: ${r.stderr}`);
    t.regex(r.stderr, /linux\.cgroupsPath/, JSON.stringify(cgroupsPath));
    t.false(fs.existsSync(path.join(root, id)), `${JSON.stringify(cgroupsPath)}: no state dir`);
    t.is(runtime(TSRUN, root, ['delete', '--force', id]).status, 0, `${JSON.stringify(cgroupsPath)}: delete --force`);
  }
});
