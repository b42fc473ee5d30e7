/** create → start → kill → delete, the way engines drive it. */
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { IS_ROOT, TSRUN, leftIn, makeBundle, runtime, signalDisposition, tempRoot, uniqueId, waitForStatus } from '../helpers/bundle.js';
import { waitForSync } from '../helpers/wait.js';

const rootTest = IS_ROOT ? test : test.skip;

interface State {
  ociVersion: string;
  id: string;
  pid: number;
  status: string;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  annotations?: Record<string, string>;
}

function state(root: string, id: string): State {
  const r = runtime(TSRUN, root, ['state', id]);
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as State;
}

function ppidOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

rootTest('create → created → start → running → kill → stopped → delete', (t) => {
  const root = tempRoot();
  const id = uniqueId('life');
  const b = makeBundle((s) => {
    s.process!.args = ['sleep', '60'];
    s.annotations = { 'org.example.key': 'value' };
  });
  const pidFile = path.join(b.dir, 'init.pid');
  const c = runtime(TSRUN, root, ['create', '--bundle', b.dir, '--pid-file', pidFile, id]);
  t.is(c.status, 0, c.stderr);
  t.is(c.stdout, '');

  const created = state(root, id);
  t.is(created.status, 'created');
  t.is(created.id, id);
  t.is(created.ociVersion, '1.0.2-dev');
  t.is(created.bundle, b.dir);
  t.is(created.rootfs, path.join(b.dir, 'rootfs'));
  t.is(created.owner, 'root');
  t.deepEqual(created.annotations, { 'org.example.key': 'value' });
  t.regex(created.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  // the pid file: the init's pid, no newline, written atomically
  t.is(fs.readFileSync(pidFile, 'utf8'), String(created.pid));
  t.false(fs.existsSync(path.join(b.dir, '.init.pid')));
  // every tsrun process is gone: the init was reparented away from tsrun
  const parent = fs.readFileSync(`/proc/${ppidOf(created.pid)}/cmdline`, 'utf8');
  t.false(parent.includes('tsrun'), parent);

  t.is(runtime(TSRUN, root, ['start', id]).status, 0);
  const running = state(root, id);
  t.is(running.status, 'running');
  t.is(running.pid, created.pid);
  t.is(fs.readFileSync(`/proc/${running.pid}/comm`, 'utf8'), 'sleep\n', "the pid-file pid is the one that exec'd");

  const k = runtime(TSRUN, root, ['kill', id, 'KILL']);
  t.is(k.status, 0, k.stderr);
  waitForStatus(TSRUN, root, id, 'stopped');
  const stopped = state(root, id);
  t.is(stopped.status, 'stopped');
  t.is(stopped.pid, 0);

  const d = runtime(TSRUN, root, ['delete', id]);
  t.is(d.status, 0, d.stderr);
  t.is(runtime(TSRUN, root, ['state', id]).stderr, 'tsrun: state: container does not exist\n');
  t.deepEqual(leftIn(root), []);
  b.cleanup();
});

rootTest('kill accepts 15, TERM and SIGTERM; default is TERM', (t) => {
  const root = tempRoot();
  for (const sig of [['15'], ['TERM'], ['SIGTERM'], []]) {
    const id = uniqueId('sig');
    const b = makeBundle((s) => {
      s.process!.args = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 0.05; done'];
    });
    t.is(runtime(TSRUN, root, ['run', '-d', '-b', b.dir, id]).status, 0);
    // pid 1 of its namespace drops a TERM it has no handler for: not before the trap
    const pid = state(root, id).pid;
    t.true(
      waitForSync(() => signalDisposition(pid, 15) === 'caught'),
      `the shell's TERM trap: ${signalDisposition(pid, 15)}`,
    );
    t.is(runtime(TSRUN, root, ['kill', id, ...sig]).status, 0, `kill ${sig.join(' ')}`);
    waitForStatus(TSRUN, root, id, 'stopped');
    t.is(state(root, id).status, 'stopped', `signal ${sig.join(' ') || '(default)'}`);
    t.is(runtime(TSRUN, root, ['delete', id]).status, 0);
    b.cleanup();
  }
});

rootTest('engine contract: kill of a stopped container, delete of running and missing ones', (t) => {
  const root = tempRoot();
  const id = uniqueId('ctr');
  const b = makeBundle((s) => {
    s.process!.args = ['sleep', '60'];
  });
  t.is(runtime(TSRUN, root, ['run', '-d', '-b', b.dir, id]).status, 0);
  const del = runtime(TSRUN, root, ['delete', id]);
  t.is(del.status, 1);
  t.is(del.stderr, `tsrun: delete: cannot delete container ${id} that is not stopped: running\n`);
  t.is(runtime(TSRUN, root, ['start', id]).status, 1);
  t.is(runtime(TSRUN, root, ['kill', id, '9']).status, 0);
  waitForStatus(TSRUN, root, id, 'stopped');
  const k = runtime(TSRUN, root, ['kill', id, '15']);
  t.is(k.status, 1);
  t.regex(k.stderr, /container not running/);
  t.is(runtime(TSRUN, root, ['kill', '--all', id, '9']).status, 0, 'kill --all of a stopped container succeeds');
  t.is(runtime(TSRUN, root, ['delete', id]).status, 0);
  t.is(runtime(TSRUN, root, ['delete', '--force', id]).status, 0, 'delete --force of a missing container exits 0');
  const missing = runtime(TSRUN, root, ['delete', id]);
  t.is(missing.status, 1);
  t.regex(missing.stderr, /container does not exist/);
  b.cleanup();
});

rootTest('delete --force kills a running container and all its processes', async (t) => {
  const root = tempRoot();
  const id = uniqueId('force');
  const b = makeBundle((s) => {
    s.process!.args = ['sh', '-c', 'sleep 60 & sleep 60'];
  });
  t.is(runtime(TSRUN, root, ['run', '-d', '-b', b.dir, id]).status, 0);
  const pid = state(root, id).pid;
  t.is(runtime(TSRUN, root, ['delete', '--force', id]).status, 0);
  t.false(fs.existsSync(path.join(root, id)));
  const alive = (() => {
    try {
      const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      return !/\) [ZX] /.test(st);
    } catch {
      return false;
    }
  })();
  t.false(alive);
  b.cleanup();
});

rootTest('list shows containers as a table and as JSON', (t) => {
  const root = tempRoot();
  const id = uniqueId('list');
  const b = makeBundle((s) => {
    s.process!.args = ['sleep', '60'];
  });
  t.is(runtime(TSRUN, root, ['create', '-b', b.dir, id]).status, 0);
  const table = runtime(TSRUN, root, ['list']).stdout.split('\n');
  t.regex(table[0]!, /^ID\s+PID\s+STATUS\s+BUNDLE\s+CREATED\s+OWNER$/);
  t.regex(table[1]!, new RegExp(`^${id}\\s+\\d+\\s+created\\s+`));
  const json = JSON.parse(runtime(TSRUN, root, ['list', '--format', 'json']).stdout) as State[];
  t.is(json.length, 1);
  t.is(json[0]!.id, id);
  t.is(runtime(TSRUN, root, ['delete', '--force', id]).status, 0);
  t.deepEqual(JSON.parse(runtime(TSRUN, root, ['list', '--format', 'json']).stdout), []);
  b.cleanup();
});

rootTest('concurrent creates of one id: exactly one wins', async (t) => {
  const root = tempRoot();
  const id = uniqueId('race');
  const b = makeBundle((s) => {
    s.process!.args = ['sleep', '60'];
  });
  const { spawn } = await import('node:child_process');
  // stderr to a file: a pipe would stay open in the winner's container
  const runOne = (n: number) =>
    new Promise<{ code: number | null; err: string }>((resolve) => {
      const errFile = path.join(b.dir, `err${n}`);
      const fd = fs.openSync(errFile, 'w+');
      const p = spawn(TSRUN, ['--root', root, 'create', '-b', b.dir, id], { stdio: ['ignore', 'ignore', fd] });
      p.on('exit', (code) => {
        fs.closeSync(fd);
        resolve({ code, err: fs.readFileSync(errFile, 'utf8') });
      });
    });
  const results = await Promise.all([runOne(1), runOne(2), runOne(3)]);
  t.is(results.filter((r) => r.code === 0).length, 1);
  for (const r of results.filter((x) => x.code !== 0)) t.regex(r.err, /container with id exists/);
  t.is(runtime(TSRUN, root, ['delete', '--force', id]).status, 0);
  b.cleanup();
});

rootTest('start succeeds for a program that exits at once (and is reaped before start returns)', (t) => {
  // conmon reaps the init the moment it exits; start must still report
  // success: the program was released (found through podman under load).
  const root = tempRoot();
  const b = makeBundle((s) => {
    s.process!.args = ['true'];
  });
  for (let i = 0; i < 10; i++) {
    const id = uniqueId('fast');
    t.is(runtime(TSRUN, root, ['create', '-b', b.dir, id]).status, 0);
    const r = runtime(TSRUN, root, ['start', id]);
    t.is(r.status, 0, r.stderr);
    t.is(runtime(TSRUN, root, ['delete', '--force', id]).status, 0);
  }
  b.cleanup();
});
