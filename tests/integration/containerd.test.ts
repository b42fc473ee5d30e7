/**
 * A real engine drives tsrun: containerd 1.6 with its runc shim v2
 * (containerd-shim-runc-v2), through ctr. The test starts a PRIVATE
 * containerd (own config, root, state and socket; the CRI plugin off) and
 * imports an OCI image it builds itself from busybox-static, with no
 * network. Skipped where containerd or ctr is not installed or not root
 * (scripts/setup.sh installs the Debian package `containerd`).
 * TSRUN_ENGINE_RUNTIME=/usr/sbin/runc runs the same tests against runc.
 * The daemon and the image come from tests/helpers/containerd.ts, which
 * cri.test.ts shares.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { buildImages, type Containerd, containerdAvailable, CTR, CTR_TIMEOUT_MS, startContainerd } from '../helpers/containerd.js';
import { testCriu } from '../helpers/criu.js';
import { ENGINE_RUNTIME, SYSTEMD_HOST } from '../helpers/engine.js';
import { withoutTtyEcho } from '../helpers/tty.js';
import { holdsFor, waitFor } from '../helpers/wait.js';

const enabled = containerdAvailable();
const criu = enabled ? testCriu() : { skip: 'no containerd' };
const ctrTest = enabled ? test.serial : test.skip;

const NS = 'tsrun-test';
const IMAGE = 'localhost/tsrun-bb:latest';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-containerd-'));
const runcRoot = path.join(dir, 'runc'); // the shim passes --root <this>/<namespace>
const fifoDir = path.join(dir, 'fifo');

let daemon: Containerd | undefined;
const sock = () => daemon!.address;

const ctr = (args: string[], opts: { timeout?: number; input?: string } = {}) => daemon!.ctr(NS, args, opts);

/** `ctr task exec` with its own fifo dir (ctr's default is /run/containerd/fifo). */
function exec(id: string, execId: string, args: string[], opts: { flags?: string[]; input?: string } = {}) {
  return ctr(['task', 'exec', '--fifo-dir', fifoDir, '--exec-id', execId, ...(opts.flags ?? []), id, ...args], { input: opts.input });
}

/** ctr under a pty (`script`), as a user's terminal would run it; timeout --foreground keeps ctr in the pty's foreground. */
function ctrTty(args: string, input = '') {
  const secs = CTR_TIMEOUT_MS / 1000;
  return spawnSync('script', ['-qec', `timeout --foreground -s KILL ${secs} ${CTR} -a ${sock()} -n ${NS} ${args}`, '/dev/null'], {
    encoding: 'utf8',
    timeout: CTR_TIMEOUT_MS + 10_000,
    killSignal: 'SIGKILL',
    input,
  });
}

/** The failure message of a ctr call: its stderr, whether it was killed for hanging, the runtime's --log. */
function why(r: { stdout?: string; stderr: string; signal: NodeJS.Signals | null; status: number | null }, id: string): string {
  const hung = r.signal === 'SIGKILL' || r.status === 137 ? `ctr did not return within ${CTR_TIMEOUT_MS} ms (killed)\n` : '';
  return `${hung}${r.stderr}${runtimeLog(id)}`;
}

/** The flags that make `ctr run` use the runtime under test. */
/**
 * ctr run's flags for container `id`: the runtime under test, its root, and
 * on a systemd host containerd's SystemdCgroup (the runtime's
 * --systemd-cgroup, the container a scope in system.slice), as an operator
 * sets it there; elsewhere ctr's default cgroup, /<namespace>/<id>.
 */
const runtimeFlags = (id: string) => [
  '--runc-binary',
  ENGINE_RUNTIME,
  '--runc-root',
  runcRoot,
  '--fifo-dir',
  fifoDir,
  ...(SYSTEMD_HOST ? ['--runc-systemd-cgroup', '--cgroup', `system.slice:${NS}:${id}`] : []),
];

const LOOP = 'trap "exit 0" TERM; while true; do sleep 0.1; done';

/** Where the shim keeps a task's bundle (config.json, log.json, init.pid). */
const bundleDir = (id: string) => path.join(daemon!.state, 'io.containerd.runtime.v2.task', NS, id);

/** The runtime's --log (the shim's log.json in the bundle), for failure messages. */
function runtimeLog(id: string): string {
  try {
    return fs.readFileSync(path.join(bundleDir(id), 'log.json'), 'utf8');
  } catch {
    return '';
  }
}

/** Kills and deletes the task (if any) and deletes the container (if any). */
function remove(id: string) {
  ctr(['task', 'rm', '-f', id]);
  ctr(['container', 'rm', id]);
}

/** A running container (`ctr run -d`), removed when the test ends. */
function running(t: ExecutionContext, id: string): boolean {
  t.teardown(() => remove(id));
  const r = ctr(['run', '-d', ...runtimeFlags(id), IMAGE, id, 'sh', '-c', LOOP]);
  t.is(r.status, 0, why(r, id));
  return r.status === 0;
}

function taskStatus(id: string): string | undefined {
  const line = ctr(['task', 'ls'])
    .stdout.split('\n')
    .find((l) => l.split(/\s+/)[0] === id);
  return line?.trim().split(/\s+/)[2];
}

test.before(async () => {
  if (!enabled) return;
  // ctr's cgroupsPath is /<namespace>/<id>: the runtime removes the leaf, the namespace's parent is left
  // a CRIU that works on this kernel (tests/helpers/criu.ts) on the shims' PATH, for checkpoint and restore
  const bin = 'bin' in criu ? criu.bin : '';
  const env = bin ? { ...process.env, PATH: `${path.dirname(bin)}:${process.env.PATH}`, TSRUN_CRIU: bin } : process.env;
  daemon = await startContainerd({ dir, cgroupParents: SYSTEMD_HOST ? [] : [NS], env });
  const archive = path.join(dir, 'image.tar');
  buildImages(archive, [{ name: IMAGE }]);
  daemon.importImages(NS, archive);
  const ls = ctr(['images', 'ls', '-q']);
  if (!ls.stdout.split('\n').includes(IMAGE)) throw new Error(`image not imported: ${ls.stdout}${ls.stderr}`);
});

test.after.always(async () => {
  if (daemon) await daemon.stop();
  else fs.rmSync(dir, { recursive: true, force: true });
});

const shimsOf = () => daemon!.shims();

/** Prints what differs between the exec'd process and the container's init, then "checked". */
const SAME_AS_INIT = [
  'for n in pid mnt net uts ipc cgroup; do [ "$(readlink /proc/self/ns/$n)" = "$(readlink /proc/1/ns/$n)" ] || echo "ns $n differs"; done',
  '[ "$(cat /proc/self/cgroup)" = "$(cat /proc/1/cgroup)" ] || echo "cgroup differs"',
  'for f in CapInh CapPrm CapEff CapBnd CapAmb NoNewPrivs Seccomp; do a=$(grep "^$f:" /proc/self/status); b=$(grep "^$f:" /proc/1/status); [ "$a" = "$b" ] || echo "$a vs $b"; done',
  'echo checked',
].join('; ');

ctrTest('ctr run --rm: output and the exit code', (t) => {
  const id = 'tsrun-run-rm';
  t.teardown(() => remove(id));
  const r = ctr(['run', '--rm', ...runtimeFlags(id), IMAGE, id, 'sh', '-c', 'echo hello from ctr; echo to stderr >&2; exit 7']);
  t.is(r.status, 7, why(r, id));
  t.is(r.stdout, 'hello from ctr\n');
  t.regex(r.stderr, /to stderr/);
  t.false(ctr(['container', 'ls', '-q']).stdout.split('\n').includes(id), '--rm removed the container');
});

ctrTest('ctr run -t --rm: the shim gets the pty through --console-socket', (t) => {
  const id = 'tsrun-run-t';
  t.teardown(() => remove(id));
  const r = ctrTty(`run -t --rm ${runtimeFlags(id).join(' ')} ${IMAGE} ${id} sh -c 'tty; exit 3'`);
  t.is(r.status, 3, r.stdout + why(r, id));
  t.regex(r.stdout, /\/dev\/pts\/\d+/);
});

ctrTest('ctr run -d + task exec: output and the exit code are kept', (t) => {
  const id = 'tsrun-exec';
  if (!running(t, id)) return;
  t.is(taskStatus(id), 'RUNNING');
  const exit3 = exec(id, 'e1', ['sh', '-c', 'exit 3']);
  t.is(exit3.status, 3, why(exit3, id));
  const killed = exec(id, 'k1', ['sh', '-c', 'kill -9 $$']);
  t.is(killed.status, 128 + 9, why(killed, id));
  const out = exec(id, 'e2', ['sh', '-c', 'echo to stdout; echo to stderr >&2']);
  t.is(out.status, 0, why(out, id));
  t.is(out.stdout, 'to stdout\n');
  t.regex(out.stderr, /to stderr/);
  // the exec ids can be used again once their processes are gone
  const again = exec(id, 'e1', ['true']);
  t.is(again.status, 0, why(again, id));
  t.is(taskStatus(id), 'RUNNING', 'the container outlives its execs');
});

ctrTest("ctr task exec: joins the container's namespaces and cgroup, with its capabilities", (t) => {
  const id = 'tsrun-exec-joins';
  if (!running(t, id)) return;
  const r = exec(id, 'j1', ['sh', '-c', SAME_AS_INIT]);
  t.is(r.status, 0, why(r, id));
  t.is(r.stdout, 'checked\n');
  const init = exec(id, 'j2', ['cat', '/proc/1/cmdline']);
  t.regex(init.stdout, /^sh\0-c\0trap/, "it sees the container's processes");
});

ctrTest('ctr task exec: stdin, --user and --cwd', (t) => {
  const id = 'tsrun-exec-opts';
  if (!running(t, id)) return;
  const cat = exec(id, 'in', ['sh', '-c', 'cat; echo end'], { input: 'piped in\n' });
  t.is(cat.status, 0, why(cat, id));
  t.is(cat.stdout, 'piped in\nend\n');
  const user = exec(id, 'user', ['id', '-u'], { flags: ['--user', '1000'] });
  t.is(user.status, 0, why(user, id));
  t.is(user.stdout, '1000\n');
  const cwd = exec(id, 'cwd', ['pwd'], { flags: ['--cwd', '/tmp'] });
  t.is(cwd.status, 0, why(cwd, id));
  t.is(cwd.stdout, '/tmp\n');
});

ctrTest('ctr task exec: a missing program fails with the runtime error', (t) => {
  const id = 'tsrun-exec-missing';
  if (!running(t, id)) return;
  const r = exec(id, 'nope', ['no-such-program']);
  t.not(r.status, 0);
  // containerd reads the last error from the runtime's --log json
  t.regex(r.stderr, /OCI runtime exec failed: .*executable file not found in \$PATH/);
  t.is(taskStatus(id), 'RUNNING');
});

/**
 * Once the process has started, ctr resizes its pty to ctr's own terminal
 * (HandleConsoleResize): a process as quick as these may have exited by
 * then, and the shim refuses. ctr logs it and exits with the process's
 * code all the same; under runc too.
 */
const RESIZE_RACE = /^[^\n]*resize pty[^\n]*cannot resize a stopped container[^\n]*\n/gm;

ctrTest('ctr task exec -t: the shim gets the pty through --console-socket', (t) => {
  const id = 'tsrun-exec-t';
  if (!running(t, id)) return;
  const r = ctrTty(`task exec -t --fifo-dir ${fifoDir} --exec-id t1 ${id} sh -c 'tty; test -t 0 && echo stdin-is-a-tty; exit 4'`);
  t.is(r.status, 4, r.stdout + why(r, id));
  // exactly the process's two lines, once the terminals' own echo is gone
  // and ctr's complaint that its resize lost the race with the exit
  t.regex(withoutTtyEcho(r.stdout).replace(RESIZE_RACE, ''), /^\/dev\/pts\/\d+\nstdin-is-a-tty\n$/, JSON.stringify(r.stdout));
});

ctrTest('ctr task exec -t: typed input reaches the shell through the pty', (t) => {
  const id = 'tsrun-exec-it';
  if (!running(t, id)) return;
  // $((6*7)) tells the shell's output from the pty's echo of the input
  const r = ctrTty(`task exec -t --fifo-dir ${fifoDir} --exec-id i1 ${id} sh`, 'echo typed-$((6*7))\nexit 6\n');
  t.is(r.status, 6, r.stdout + why(r, id));
  t.regex(r.stdout, /typed-42/);
});

ctrTest('ctr task kill --exec-id: signals the exec, not the container', async (t) => {
  const id = 'tsrun-exec-kill';
  if (!running(t, id)) return;
  const child = spawn(CTR, ['-a', sock(), '-n', NS, 'task', 'exec', '--fifo-dir', fifoDir, '--exec-id', 'long', id, 'sh', '-c', LOOP], {
    stdio: 'ignore',
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  // ps lists the init and the exec
  t.true(await waitFor(() => ctr(['task', 'ps', id]).stdout.trim().split('\n').length >= 3), ctr(['task', 'ps', id]).stdout);
  const kill = ctr(['task', 'kill', '-s', 'SIGKILL', '--exec-id', 'long', id]);
  t.is(kill.status, 0, why(kill, id));
  t.is(await exited, 128 + 9);
  t.is(taskStatus(id), 'RUNNING');
});

ctrTest('ctr task exec -d: detached, the process runs on after ctr returns', async (t) => {
  const id = 'tsrun-exec-d';
  if (!running(t, id)) return;
  // it cannot finish before the test lets it: ctr returning proves it did not wait
  const d = exec(id, 'd1', ['sh', '-c', 'while [ ! -e /go ]; do sleep 0.1; done; echo done > /exec-d'], { flags: ['-d'] });
  t.is(d.status, 0, why(d, id));
  let n = 0;
  const cat = () => exec(id, `cat${n++}`, ['cat', '/exec-d']).stdout;
  t.not(cat(), 'done\n');
  t.is(exec(id, 'go', ['touch', '/go']).status, 0);
  t.true(await waitFor(() => cat() === 'done\n'), 'the detached process ran on');
});

ctrTest('ctr task ps, pause and resume', async (t) => {
  const id = 'tsrun-ps';
  if (!running(t, id)) return;
  const ps = ctr(['task', 'ps', id]);
  t.is(ps.status, 0, why(ps, id));
  const pid = Number(fs.readFileSync(path.join(bundleDir(id), 'init.pid'), 'utf8'));
  t.regex(ps.stdout, new RegExp(`^${pid}\\s`, 'm'), 'the init pid is listed');
  const pause = ctr(['task', 'pause', id]);
  t.is(pause.status, 0, why(pause, id));
  t.is(taskStatus(id), 'PAUSED');
  const inPaused = exec(id, 'paused', ['true']);
  t.not(inPaused.status, 0, 'no exec in a paused container');
  t.regex(inPaused.stderr, /paused/);
  const resume = ctr(['task', 'resume', id]);
  t.is(resume.status, 0, why(resume, id));
  t.is(taskStatus(id), 'RUNNING');
  t.is(exec(id, 'after', ['true']).status, 0, 'runs after resume');
});

ctrTest('ctr task kill, task rm, container rm: nothing is left', async (t) => {
  const id = 'tsrun-kill';
  if (!running(t, id)) return;
  const pid = Number(fs.readFileSync(path.join(bundleDir(id), 'init.pid'), 'utf8'));
  t.true(pid > 0);
  const kill = ctr(['task', 'kill', id]); // SIGTERM
  t.is(kill.status, 0, why(kill, id));
  t.true(await waitFor(() => taskStatus(id) === 'STOPPED'), `task is ${taskStatus(id)}`);
  const rmTask = ctr(['task', 'rm', id]);
  t.is(rmTask.status, 0, why(rmTask, id));
  t.is(taskStatus(id), undefined);
  const rmContainer = ctr(['container', 'rm', id]);
  t.is(rmContainer.status, 0, rmContainer.stderr);
  t.false(ctr(['container', 'ls', '-q']).stdout.split('\n').includes(id));
  t.false(fs.existsSync(`/proc/${pid}`), 'the init is gone');
  t.false(fs.existsSync(bundleDir(id)), 'the shim removed the bundle');
  const state = spawnSync(ENGINE_RUNTIME, ['--root', path.join(runcRoot, NS), 'state', id], { encoding: 'utf8' });
  t.not(state.status, 0, "the runtime's state is gone");
  t.regex(state.stderr, /does not exist/);
  t.true(await waitFor(() => shimsOf().length === 0), 'the shim exited');
  t.false(ctr(['snapshots', 'ls']).stdout.includes(id), 'the snapshot is gone');
});

/**
 * `ctr run` in the foreground, left running: its exit code (the task's) and
 * output once it exits. Killed when the test ends.
 */
function runInForeground(t: ExecutionContext, id: string, script: string) {
  t.teardown(() => remove(id));
  const child = spawn(CTR, ['-a', sock(), '-n', NS, 'run', '--rm', ...runtimeFlags(id), IMAGE, id, 'sh', '-c', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('exit', (status) => resolve({ status, stdout, stderr })),
  );
  return { exited, output: () => stdout };
}

/** A `ctr task exec` left running; resolves to its exit code. Killed when the test ends. */
function execInBackground(t: ExecutionContext, id: string, execId: string, script: string): Promise<number | null> {
  const child = spawn(CTR, ['-a', sock(), '-n', NS, 'task', 'exec', '--fifo-dir', fifoDir, '--exec-id', execId, id, 'sh', '-c', script], {
    stdio: 'ignore',
  });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
}

ctrTest('ctr task kill -a: the signal reaches every process, the exec’d ones too', async (t) => {
  const id = 'tsrun-kill-all';
  t.teardown(() => remove(id));
  // the init and an exec each note a USR1 in the same file: USR1 does not end them
  // once its trap is set, each says so in /ready: a USR1 before that would end the exec
  const note = (who: string) => `trap "echo ${who} >> /usr1" USR1; echo ${who} >> /ready; while true; do sleep 0.1; done`;
  const r = ctr(['run', '-d', ...runtimeFlags(id), IMAGE, id, 'sh', '-c', note('init')]);
  t.is(r.status, 0, why(r, id));
  const execExit = execInBackground(t, id, 'noted', note('exec'));
  const sorted = (file: string) => exec(id, `cat${Date.now()}`, ['sh', '-c', `sort ${file} 2>/dev/null`]).stdout;
  t.true(await waitFor(() => sorted('/ready') === 'exec\ninit\n'), sorted('/ready'));
  const usr1 = ctr(['task', 'kill', '-a', '-s', 'SIGUSR1', id]);
  t.is(usr1.status, 0, why(usr1, id));
  t.true(await waitFor(() => sorted('/usr1') === 'exec\ninit\n'), sorted('/usr1'));
  t.is(taskStatus(id), 'RUNNING');
  const kill = ctr(['task', 'kill', '-a', '-s', 'SIGKILL', id]);
  t.is(kill.status, 0, why(kill, id));
  t.is(await execExit, 128 + 9, 'the exec was killed');
  t.true(await waitFor(() => taskStatus(id) === 'STOPPED'), `task is ${taskStatus(id)}`);
});

ctrTest("ctr task kill (TERM): the container's trap runs and the task exits with its code", async (t) => {
  const id = 'tsrun-term-trap';
  const run = runInForeground(t, id, 'trap "echo got-term; exit 3" TERM; echo ready; while true; do sleep 0.1; done');
  t.true(await waitFor(() => run.output().includes('ready') && taskStatus(id) === 'RUNNING'), `task is ${taskStatus(id)}`);
  const kill = ctr(['task', 'kill', id]);
  t.is(kill.status, 0, why(kill, id));
  const r = await run.exited;
  t.is(r.status, 3, r.stderr + runtimeLog(id));
  t.is(r.stdout, 'ready\ngot-term\n');
});

ctrTest('ctr task kill -s SIGKILL: a container that ignores TERM exits 137', async (t) => {
  const id = 'tsrun-sigkill';
  const run = runInForeground(t, id, 'trap "" TERM; echo ready; while true; do sleep 0.1; done');
  t.true(await waitFor(() => run.output().includes('ready') && taskStatus(id) === 'RUNNING'), `task is ${taskStatus(id)}`);
  const term = ctr(['task', 'kill', id]);
  t.is(term.status, 0, why(term, id));
  t.true(await holdsFor(() => taskStatus(id) === 'RUNNING', 500), `TERM was ignored: the task is ${taskStatus(id)}`);
  const kill = ctr(['task', 'kill', '-s', 'SIGKILL', id]);
  t.is(kill.status, 0, why(kill, id));
  const r = await run.exited;
  t.is(r.status, 128 + 9, r.stderr + runtimeLog(id));
});

// the shim reads the figures from the cgroup the runtime made, so the limit given to ctr run shows in them
ctrTest("ctr task metrics: the task's memory and pids figures, and the memory limit the runtime set", (t) => {
  const id = 'tsrun-metrics';
  t.teardown(() => remove(id));
  const limit = 48 << 20;
  const r = ctr(['run', '-d', '--memory-limit', String(limit), ...runtimeFlags(id), IMAGE, id, 'sh', '-c', LOOP]);
  t.is(r.status, 0, why(r, id));
  const table = ctr(['task', 'metrics', id]);
  t.is(table.status, 0, why(table, id));
  const figures = new Map(table.stdout.split('\n').map((l) => l.trim().split(/\s+/) as [string, string]));
  t.true(Number(figures.get('memory.usage_in_bytes') ?? figures.get('memory.usage')) > 0, table.stdout);
  t.true(Number(figures.get('pids.current')) >= 1, table.stdout);
  const json = ctr(['task', 'metrics', '--format', 'json', id]);
  t.is(json.status, 0, why(json, id));
  // cgroup v1 metrics name the limit memory.usage.limit, v2 metrics memory.usage_limit
  const m = JSON.parse(json.stdout) as { memory?: { usage?: { limit?: number }; usage_limit?: number }; pids?: { current?: number } };
  t.is(m.memory?.usage?.limit ?? m.memory?.usage_limit, limit, json.stdout);
  t.true((m.pids?.current ?? 0) >= 1, json.stdout);
});

/** `ctr run --rm <flags> <image> <id> sh -c <script>`: its stdout, after asserting it exited 0. */
function runScript(t: ExecutionContext, id: string, flags: string[], script: string): string {
  t.teardown(() => remove(id));
  const r = ctr(['run', '--rm', ...runtimeFlags(id), ...flags, IMAGE, id, 'sh', '-c', script]);
  t.is(r.status, 0, `${flags.join(' ')}: ${why(r, id)}`);
  return r.stdout;
}

ctrTest('ctr run: --read-only, --mount, --privileged, --net-host, --cap-add and --seccomp reach the container', (t) => {
  t.is(runScript(t, 'tsrun-ro', ['--read-only'], 'touch /x 2>/dev/null || echo read-only'), 'read-only\n');
  const host = path.join(dir, 'from-host');
  fs.mkdirSync(host, { recursive: true });
  fs.writeFileSync(path.join(host, 'file'), 'from the host\n');
  t.is(
    runScript(
      t,
      'tsrun-mount',
      ['--mount', `type=bind,src=${host},dst=/host,options=rbind:ro`],
      'cat /host/file; touch /host/x 2>/dev/null || echo read-only',
    ),
    'from the host\nread-only\n',
  );
  const bnd = /^CapBnd:\s+(\w+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1];
  t.is(runScript(t, 'tsrun-priv', ['--privileged'], 'grep ^CapEff: /proc/self/status'), `CapEff:\t${bnd}\n`);
  t.is(runScript(t, 'tsrun-net-host', ['--net-host'], 'readlink /proc/self/ns/net'), `${fs.readlinkSync('/proc/self/ns/net')}\n`);
  const SYS_ADMIN = 1n << 21n;
  const caps = (id: string, flags: string[]) =>
    BigInt('0x' + runScript(t, id, flags, 'grep ^CapEff: /proc/self/status').split('\t')[1]!.trim());
  const plain = caps('tsrun-caps', []);
  t.is(plain & SYS_ADMIN, 0n);
  t.is(caps('tsrun-cap-add', ['--cap-add', 'CAP_SYS_ADMIN']), plain | SYS_ADMIN);
  t.is(runScript(t, 'tsrun-no-seccomp', [], 'grep ^Seccomp: /proc/self/status'), 'Seccomp:\t0\n', 'ctr sets no profile unless asked');
  t.is(runScript(t, 'tsrun-seccomp', ['--seccomp'], 'grep ^Seccomp: /proc/self/status'), 'Seccomp:\t2\n');
});

ctrTest('ctr run --memory-limit: an OOM kill is exit 137', (t) => {
  // ctr sets no swap limit: with swap on the host the allocation would spill into it instead
  if (/^SwapTotal:\s+[1-9]/m.test(fs.readFileSync('/proc/meminfo', 'utf8'))) return t.pass('the host has swap');
  const id = 'tsrun-oom';
  t.teardown(() => remove(id));
  const r = ctr([
    'run',
    '--rm',
    ...runtimeFlags(id),
    '--memory-limit',
    String(16 << 20),
    IMAGE,
    id,
    'sh',
    '-c',
    'x=0123456789abcdef; while :; do x=$x$x; done',
  ]);
  t.is(r.status, 128 + 9, why(r, id));
});

ctrTest('ctr task kill -s SIGKILL of a paused task: it dies', async (t) => {
  const id = 'tsrun-kill-paused';
  if (!running(t, id)) return;
  t.is(ctr(['task', 'pause', id]).status, 0);
  const kill = ctr(['task', 'kill', '-s', 'SIGKILL', id]);
  t.is(kill.status, 0, why(kill, id));
  t.true(await waitFor(() => taskStatus(id) === 'STOPPED'), `task is ${taskStatus(id)}`);
});

const criuTest = 'bin' in criu ? ctrTest : test.skip;
const countOf = (id: string, execId: string) => Number(ctr(['task', 'exec', '--exec-id', execId, id, 'cat', '/count']).stdout.trim() || -1);

criuTest('ctr container checkpoint --task and restore --live through tsrun: the restored task counts on', async (t) => {
  const id = 'tsrun-ckpt';
  const copy = 'tsrun-ckpt-restored';
  t.teardown(() => {
    remove(id);
    remove(copy);
    ctr(['images', 'rm', 'localhost/tsrun-ckpt:latest']);
  });
  const r = ctr([
    'run',
    '-d',
    ...runtimeFlags(id),
    IMAGE,
    id,
    'sh',
    '-c',
    'i=0; while true; do echo $i > /count; i=$((i+1)); sleep 0.1; done',
  ]);
  t.is(r.status, 0, why(r, id));
  let n = 0;
  t.true(await waitFor(() => countOf(id, `c${n++}`) >= 5), 'counting');
  const ck = ctr(['container', 'checkpoint', '--task', '--rw', id, 'localhost/tsrun-ckpt:latest']);
  t.is(ck.status, 0, why(ck, id));
  const at = countOf(id, 'at');
  remove(id);
  const rs = ctr(['container', 'restore', '--live', '--rw', copy, 'localhost/tsrun-ckpt:latest']);
  t.is(rs.status, 0, why(rs, copy));
  t.is(taskStatus(copy), 'RUNNING');
  const first = countOf(copy, 'r0');
  t.true(first >= 5 && first <= at + 200, `the restored counter starts where the checkpoint was (${first}, checkpointed near ${at})`);
  t.true(await waitFor(() => countOf(copy, `r${n++}`) > first), 'counting on');
});
