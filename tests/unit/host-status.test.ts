/**
 * The status guards of native/host/status.c — the one place runc's rules and
 * words for start, kill, delete, pause, resume and exec live — through the
 * host commands, over state dirs written here: a container whose init is
 * gone (stopped), one whose init is a live process of this test (running),
 * the same with its exec fifo (created). No root, no cgroup.
 */
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { loadBinding } from '../../lib/native/binding.js';

const native = loadBinding();
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-status-'));
const children: ChildProcess[] = [];
test.after.always(() => {
  for (const c of children) c.kill('SIGKILL');
  fs.rmSync(root, { recursive: true, force: true });
});

function container(id: string, pid: number, opts: { fifo?: boolean } = {}): void {
  const dir = path.join(root, id);
  fs.mkdirSync(dir, { mode: 0o711 });
  const startTime = pid ? (native.procStartTime(pid)?.startTime ?? 0) : 0;
  const state = { ociVersion: '1.0.2', id, pid, pidStartTime: startTime, bundle: '/b', rootfs: '/b/rootfs', created: 'x', owner: 'root' };
  fs.writeFileSync(path.join(dir, 'state.json'), JSON.stringify(state), { mode: 0o600 });
  if (opts.fifo) native.mkfifo(path.join(dir, 'exec.fifo'), 0o622);
}

function live(): number {
  const c = spawn('sleep', ['600'], { stdio: 'ignore' });
  children.push(c);
  return c.pid!;
}

const op =
  (name: 'start' | 'kill' | 'delete' | 'status', id: string, signal = 0, flag = false) =>
  () =>
    native.host(name, root, id, signal, flag);

test('a stopped container: start and kill refuse with runc’s words, kill --all and delete do nothing wrong', (t) => {
  container('gone', 0);
  t.is(native.host('status', root, 'gone').status, 'stopped');
  t.throws(op('start', 'gone'), { message: 'cannot start a container that has stopped' });
  t.throws(op('kill', 'gone', 15), { message: 'container not running' });
  t.notThrows(op('kill', 'gone', 15, true), 'kill --all of a stopped container succeeds quietly');
  t.notThrows(op('delete', 'gone'));
  t.false(fs.existsSync(path.join(root, 'gone')));
});

test('a running container: start and delete refuse with runc’s words; exec, pause and resume follow runc', (t) => {
  container('up', live());
  t.is(native.host('status', root, 'up').status, 'running');
  t.throws(op('start', 'up'), { message: 'cannot start an already running container' });
  t.throws(op('delete', 'up'), { message: 'cannot delete container up that is not stopped: running' });
  t.notThrows(() => native.canExec('running', false));
  t.throws(() => native.canExec('paused', false), { message: 'cannot exec in a paused container (use --ignore-paused to override)' });
  t.notThrows(() => native.canExec('paused', true));
  t.throws(() => native.canExec('stopped', true), { message: 'cannot exec in a stopped container' });
  // resume of a running container: "container not paused" (pause needs a cgroup it does not have)
  t.throws(() => native.host('resume', root, 'up'), { message: /has no cgroup/ });
});

test('a created container (its exec fifo is there): exec is allowed, delete without --force too, as runc', (t) => {
  container('made', live(), { fifo: true });
  t.is(native.host('status', root, 'made').status, 'created');
  t.notThrows(() => native.canExec('created', false));
});

test('pid reuse: a live pid whose start time is not the recorded one is a stopped container', (t) => {
  const pid = live();
  container('reused', pid);
  const file = path.join(root, 'reused', 'state.json');
  const st = JSON.parse(fs.readFileSync(file, 'utf8')) as { pidStartTime: number };
  fs.writeFileSync(file, JSON.stringify({ ...st, pidStartTime: st.pidStartTime - 1 }));
  t.true(native.pidAlive(pid, st.pidStartTime));
  t.false(native.pidAlive(pid, st.pidStartTime - 1));
  t.is(native.host('status', root, 'reused').status, 'stopped');
});
