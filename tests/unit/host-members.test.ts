/**
 * Which processes are a container's (native/host/members.c), and what of its
 * cgroup delete removes (native/host/cgroup.c), over a state dir written
 * here: the cgroup is plain directories whose cgroup.procs lists real
 * processes of this test, so no root and no cgroupfs are needed. A cgroup
 * that existed before the container (not in state.json's cgroup.owned)
 * lists the container's init, its two children and an unrelated process.
 */
import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { loadBinding } from '../../lib/native/binding.js';
import { until } from '../helpers/wait.js';

const startTimeOf = (pid: number) => loadBinding().procStartTime(pid)?.startTime ?? 0;

function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** `sh -c script &`'s pid: a process that is not our child (its shell has exited). */
function orphan(t: ExecutionContext, script: string): number {
  const pid = Number(execFileSync('sh', ['-c', `sh -c '${script}' </dev/null >/dev/null 2>&1 & echo $!`], { encoding: 'utf8' }).trim());
  t.teardown(() => {
    for (const p of [pid, ...children(pid)])
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
  });
  return pid;
}

function children(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * A running container without a pid namespace whose cgroup existed before
 * it (`pre`, listing the init, its children and `other`), and, on a hybrid
 * host's unified tree, a directory its create made (`made`, empty).
 */
async function setup(t: ExecutionContext, owned: string[] | undefined) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-unit-members-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const init = orphan(t, 'sleep 600 & sleep 600 & wait');
  const other = orphan(t, 'exec sleep 600');
  await until('the init to fork twice', () => children(init).length === 2);
  const container = [init, ...children(init)].sort((a, b) => a - b);
  const pre = path.join(dir, 'pids', 'pre');
  const made = path.join(dir, 'unified', 'made');
  fs.mkdirSync(pre, { recursive: true });
  fs.mkdirSync(made, { recursive: true });
  fs.writeFileSync(path.join(pre, 'cgroup.procs'), [other, ...container].map((p) => `${p}\n`).join(''));
  const root = path.join(dir, 'root');
  const id = 'c';
  fs.mkdirSync(path.join(root, id), { recursive: true });
  const state = {
    ociVersion: '1.0.2',
    id,
    pid: init,
    pidStartTime: startTimeOf(init),
    bundle: dir,
    rootfs: dir,
    created: '2024-01-01T00:00:00Z',
    owner: 'root',
    pidNamespace: false,
    cgroup: { version: 1, paths: { pids: pre, '': made }, ...(owned ? { owned: owned.map((d) => path.join(dir, d)) } : {}) },
  };
  fs.writeFileSync(path.join(root, id, 'state.json'), JSON.stringify(state));
  return { root, id, init, other, container, pre, made };
}

test('a cgroup that existed before: ps lists the init and what descends from it, not the cgroup’s other process', async (t) => {
  const c = await setup(t, ['unified/made']);
  t.deepEqual(loadBinding().host('ps', c.root, c.id).pids, c.container);
});

test('delete --force kills the container’s tree only, leaves the cgroup that existed, removes the directory create made', async (t) => {
  const c = await setup(t, ['unified/made']);
  loadBinding().host('delete', c.root, c.id, 0, true);
  await until('the container’s processes to go', () => c.container.every((p) => !alive(p)));
  t.true(alive(c.other), 'the other process in the cgroup');
  t.true(fs.existsSync(path.join(c.pre, 'cgroup.procs')), 'the cgroup that existed');
  t.false(fs.existsSync(c.made), 'the directory create made');
  t.false(fs.existsSync(path.join(c.root, c.id)), 'the state dir');
});

test('kill --all signals the container’s tree only', async (t) => {
  const c = await setup(t, ['unified/made']);
  loadBinding().host('kill', c.root, c.id, 9, true);
  await until('the container’s processes to go', () => c.container.every((p) => !alive(p)));
  t.true(alive(c.other));
});

test('a record that lists no owned directory (an older tsrun’s) owns none: delete removes no cgroup directory', async (t) => {
  const c = await setup(t, undefined);
  loadBinding().host('delete', c.root, c.id, 0, true);
  await until('the container’s processes to go', () => c.container.every((p) => !alive(p)));
  t.true(alive(c.other));
  t.true(fs.existsSync(c.made));
  t.true(fs.existsSync(c.pre));
});
