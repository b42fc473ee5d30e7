/**
 * A real engine drives tsrun: containerd 1.6 with its runc shim v2
 * (containerd-shim-runc-v2), through ctr. The test starts a PRIVATE
 * containerd (own config, root, state and socket; the CRI plugin off) and
 * imports an OCI image it builds itself from busybox-static, with no
 * network. Skipped where containerd or ctr is not installed or not root
 * (scripts/setup.sh installs the Debian package `containerd`).
 * TSRUN_ENGINE_RUNTIME=/usr/sbin/runc runs the same tests against runc.
 */
import test, { type ExecutionContext } from 'ava';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

import { BUSYBOX, IS_ROOT, processesMatching } from '../helpers/bundle.js';
import { ENGINE_RUNTIME, have } from '../helpers/engine.js';

const CONTAINERD = '/usr/bin/containerd';
const CTR = '/usr/bin/ctr';
const enabled = IS_ROOT && fs.existsSync(CONTAINERD) && fs.existsSync(CTR) && have('containerd-shim-runc-v2');
const ctrTest = enabled ? test.serial : test.skip;

const NS = 'tsrun-test';
const IMAGE = 'localhost/tsrun-bb:latest';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-containerd-'));
const sock = path.join(dir, 'containerd.sock');
const runcRoot = path.join(dir, 'runc'); // the shim passes --root <this>/<namespace>
const fifoDir = path.join(dir, 'fifo');
const stateDir = path.join(dir, 'state');
// The shim's socket lives in /run/containerd/s whatever the config says
// (containerd 1.6 hard-codes it): remove /run/containerd afterwards if we made it.
const hadRunContainerd = fs.existsSync('/run/containerd');
// ctr's cgroupsPath is /<namespace>/<id>: the runtime removes the leaf, the
// namespace's parent is left in every hierarchy.
const cgroupParents = fs.existsSync('/sys/fs/cgroup')
  ? fs
      .readdirSync('/sys/fs/cgroup')
      .map((h) => path.join('/sys/fs/cgroup', h, NS))
      .filter((p) => !fs.existsSync(p))
  : [];

let daemon: ChildProcess | undefined;
let daemonExited = false;

/**
 * A ctr that does not return in time is SIGKILLed (it forwards SIGTERM to
 * the task instead of exiting), so that a lost exit status fails the test
 * instead of hanging the file past ava's timeout, which skips after.always.
 */
const CTR_TIMEOUT_MS = 15_000;

function ctr(args: string[], opts: { timeout?: number; input?: string } = {}) {
  return spawnSync(CTR, ['-a', sock, '-n', NS, ...args], {
    encoding: 'utf8',
    timeout: opts.timeout ?? CTR_TIMEOUT_MS,
    killSignal: 'SIGKILL',
    input: opts.input,
    stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
}

/** `ctr task exec` with its own fifo dir (ctr's default is /run/containerd/fifo). */
function exec(id: string, execId: string, args: string[], opts: { flags?: string[]; input?: string } = {}) {
  return ctr(['task', 'exec', '--fifo-dir', fifoDir, '--exec-id', execId, ...(opts.flags ?? []), id, ...args], { input: opts.input });
}

/** ctr under a pty (`script`), as a user's terminal would run it; timeout --foreground keeps ctr in the pty's foreground. */
function ctrTty(args: string, input = '') {
  const secs = CTR_TIMEOUT_MS / 1000;
  return spawnSync('script', ['-qec', `timeout --foreground -s KILL ${secs} ${CTR} -a ${sock} -n ${NS} ${args}`, '/dev/null'], {
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
const runtimeFlags = ['--runc-binary', ENGINE_RUNTIME, '--runc-root', runcRoot, '--fifo-dir', fifoDir];
const runtimeFlagsText = runtimeFlags.join(' ');

const LOOP = 'trap "exit 0" TERM; while true; do sleep 0.1; done';

/** Where the shim keeps a task's bundle (config.json, log.json, init.pid). */
const bundleDir = (id: string) => path.join(stateDir, 'io.containerd.runtime.v2.task', NS, id);

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
  const r = ctr(['run', '-d', ...runtimeFlags, IMAGE, id, 'sh', '-c', LOOP]);
  t.is(r.status, 0, why(r, id));
  return r.status === 0;
}

function taskStatus(id: string): string | undefined {
  const line = ctr(['task', 'ls'])
    .stdout.split('\n')
    .find((l) => l.split(/\s+/)[0] === id);
  return line?.trim().split(/\s+/)[2];
}

async function waitFor(what: () => boolean, ms = 10_000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end;) {
    if (what()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return what();
}

const sha256 = (b: Buffer) => 'sha256:' + crypto.createHash('sha256').update(b).digest('hex');

/**
 * An OCI image archive (oci-layout, index.json, blobs/sha256/...) with one
 * layer: busybox-static and a symlink per applet. `ctr images import` reads it.
 */
function buildImage(out: string) {
  const rootfs = path.join(dir, 'image-rootfs');
  fs.mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
  fs.copyFileSync(BUSYBOX, path.join(rootfs, 'bin', 'busybox'));
  fs.chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
  const applets = spawnSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  for (const a of applets) if (a !== 'busybox') fs.symlinkSync('busybox', path.join(rootfs, 'bin', a));
  for (const d of ['proc', 'sys', 'dev', 'etc', 'tmp', 'root', 'run']) fs.mkdirSync(path.join(rootfs, d));
  fs.chmodSync(path.join(rootfs, 'tmp'), 0o1777);

  const tar = spawnSync('tar', ['--numeric-owner', '--owner=0', '--group=0', '-cf', '-', '-C', rootfs, '.'], {
    maxBuffer: 256 << 20,
  });
  if (tar.status !== 0) throw new Error(`tar: ${tar.stderr}`);
  const layerTar = tar.stdout;
  const layer = zlib.gzipSync(layerTar);

  const arch = ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' } as Record<string, string>)[process.arch];
  const platform = { architecture: arch ?? process.arch, os: 'linux' };
  const config = Buffer.from(
    JSON.stringify({
      ...platform,
      config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'], WorkingDir: '/' },
      rootfs: { type: 'layers', diff_ids: [sha256(layerTar)] },
      history: [{ created_by: 'tests/integration/containerd.test.ts' }],
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: layer.length }],
    }),
  );
  const layout = path.join(dir, 'image-layout');
  const blobs = path.join(layout, 'blobs', 'sha256');
  fs.mkdirSync(blobs, { recursive: true });
  for (const b of [layer, config, manifest]) fs.writeFileSync(path.join(blobs, sha256(b).slice('sha256:'.length)), b);
  fs.writeFileSync(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  fs.writeFileSync(
    path.join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: sha256(manifest),
          size: manifest.length,
          platform,
          annotations: { 'io.containerd.image.name': IMAGE, 'org.opencontainers.image.ref.name': 'latest' },
        },
      ],
    }),
  );
  const a = spawnSync('tar', ['--numeric-owner', '--owner=0', '--group=0', '-cf', out, '-C', layout, 'oci-layout', 'index.json', 'blobs'], {
    encoding: 'utf8',
  });
  if (a.status !== 0) throw new Error(`tar: ${a.stderr}`);
}

test.before(async () => {
  if (!enabled) return;
  const config = path.join(dir, 'config.toml');
  fs.writeFileSync(
    config,
    [
      'version = 2',
      `root = "${path.join(dir, 'root')}"`,
      `state = "${stateDir}"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${sock}"`,
      '[ttrpc]',
      `  address = "${sock}.ttrpc"`,
      '[debug]',
      '  address = ""',
      '[metrics]',
      '  address = ""',
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = "${path.join(dir, 'opt')}"`,
      '',
    ].join('\n'),
  );
  const log = fs.openSync(path.join(dir, 'containerd.log'), 'a');
  daemon = spawn(CONTAINERD, ['--config', config], { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  daemon.on('exit', () => {
    daemonExited = true;
  });
  const up = await waitFor(() => !daemonExited && fs.existsSync(sock) && ctr(['version'], { timeout: 5_000 }).status === 0, 30_000);
  if (!up) throw new Error(`containerd did not start:\n${fs.readFileSync(path.join(dir, 'containerd.log'), 'utf8')}`);

  const archive = path.join(dir, 'image.tar');
  buildImage(archive);
  const imp = ctr(['images', 'import', '--all-platforms', archive], { timeout: 120_000 });
  if (imp.status !== 0) throw new Error(`ctr images import: ${imp.stdout}${imp.stderr}`);
  const ls = ctr(['images', 'ls', '-q']);
  if (!ls.stdout.split('\n').includes(IMAGE)) throw new Error(`image not imported: ${ls.stdout}${ls.stderr}`);
});

test.after.always(async () => {
  if (enabled && daemon && !daemonExited) {
    // whatever a failed test left behind
    for (const id of ctr(['container', 'ls', '-q']).stdout.split('\n').filter(Boolean)) remove(id);
    daemon.kill('SIGTERM');
    if (!(await waitFor(() => daemonExited, 15_000))) {
      daemon.kill('SIGKILL');
      await waitFor(() => daemonExited, 5_000);
    }
  }
  // shims outlive containerd by design: kill the ones ours started
  for (const pid of shimsOf(sock)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  // a snapshot or a rootfs left mounted under our dirs
  const mounts = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => !!m && m.startsWith(dir + '/'))
    .reverse();
  for (const m of mounts) spawnSync('umount', ['-l', m]);
  fs.rmSync(dir, { recursive: true, force: true });
  for (const p of cgroupParents) {
    try {
      fs.rmdirSync(p);
    } catch {
      /* not made, or busy */
    }
  }
  if (!hadRunContainerd) fs.rmSync('/run/containerd', { recursive: true, force: true });
});

/** containerd-shim-runc-v2 processes started by the containerd at `address`. */
function shimsOf(address: string): number[] {
  return processesMatching('containerd-shim').filter((pid) => {
    try {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const i = argv.indexOf('-address');
      return i >= 0 && argv[i + 1] === address;
    } catch {
      return false;
    }
  });
}

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
  const r = ctr(['run', '--rm', ...runtimeFlags, IMAGE, id, 'sh', '-c', 'echo hello from ctr; echo to stderr >&2; exit 7']);
  t.is(r.status, 7, why(r, id));
  t.is(r.stdout, 'hello from ctr\n');
  t.regex(r.stderr, /to stderr/);
  t.false(ctr(['container', 'ls', '-q']).stdout.split('\n').includes(id), '--rm removed the container');
});

ctrTest('ctr run -t --rm: the shim gets the pty through --console-socket', (t) => {
  const id = 'tsrun-run-t';
  t.teardown(() => remove(id));
  const r = ctrTty(`run -t --rm ${runtimeFlagsText} ${IMAGE} ${id} sh -c 'tty; exit 3'`);
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

ctrTest('ctr task exec -t: the shim gets the pty through --console-socket', (t) => {
  const id = 'tsrun-exec-t';
  if (!running(t, id)) return;
  const r = ctrTty(`task exec -t --fifo-dir ${fifoDir} --exec-id t1 ${id} sh -c 'tty; test -t 0 && echo stdin-is-a-tty; exit 4'`);
  t.is(r.status, 4, r.stdout + why(r, id));
  t.regex(r.stdout, /\/dev\/pts\/\d+\s+stdin-is-a-tty/);
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
  const child = spawn(CTR, ['-a', sock, '-n', NS, 'task', 'exec', '--fifo-dir', fifoDir, '--exec-id', 'long', id, 'sh', '-c', LOOP], {
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
  const d = exec(id, 'd1', ['sh', '-c', 'sleep 3; echo done > /exec-d'], { flags: ['-d'] });
  t.is(d.status, 0, why(d, id));
  const cat = (n: number) => exec(id, `cat${n}`, ['cat', '/exec-d']).stdout;
  t.not(cat(0), 'done\n', 'ctr did not wait for it');
  let n = 1;
  t.true(await waitFor(() => cat(n++) === 'done\n', 15_000));
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
  t.true(await waitFor(() => shimsOf(sock).length === 0, 5_000), 'the shim exited');
  t.false(ctr(['snapshots', 'ls']).stdout.includes(id), 'the snapshot is gone');
});
