/**
 * A real engine drives tsrun: podman 4 + conmon, with private storage and
 * config, an image built from busybox-static by buildah. Skipped where
 * podman or buildah is not installed (scripts/setup.sh installs both).
 * TSRUN_ENGINE_RUNTIME=/usr/sbin/runc runs the same tests against runc.
 */
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { BUSYBOX, IS_ROOT, signalDisposition } from '../helpers/bundle.js';
import { APPARMOR, ENGINE_RUNTIME, apparmorLabel, cgroupDir, have } from '../helpers/engine.js';
import { containersStore, hostLeftovers } from '../helpers/podman.js';
import { withoutTtyEcho } from '../helpers/tty.js';
import { testCriu } from '../helpers/criu.js';
import { waitFor } from '../helpers/wait.js';

const enabled = IS_ROOT && have('podman') && have('buildah') && have('conmon');
const podmanTest = enabled ? test.serial : test.skip;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-podman-'));
const { env, store } = containersStore(dir, [ENGINE_RUNTIME]);
// podman's own default seccomp profile (containers-common seccomp.json) runs
// through tsrun: no --security-opt. Its default NOFILE/NPROC of 1048576
// needs CAP_SYS_RESOURCE, which hosts like this one lack for every runtime
// (default_ulimits = [] below).
const runFlags: string[] = [];
const leftovers = hostLeftovers();

// conmon writes its "oom" marker into its cwd, which is podman's (podman 4.3
// passes conmon no --persist-dir): run podman in the temp dir, never the repo.
function podman(args: string[], opts: { timeout?: number; input?: string; cwd?: string } = {}) {
  return spawnSync('podman', ['--runtime', ENGINE_RUNTIME, ...store, ...args], {
    env,
    cwd: opts.cwd ?? dir,
    encoding: 'utf8',
    timeout: opts.timeout ?? 120_000,
    input: opts.input,
    stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
}

/** podman under a pty (`script`), as a user's terminal would run it. */
function podmanTty(args: string, input = '') {
  return spawnSync('script', ['-qec', `podman --runtime ${ENGINE_RUNTIME} ${store.join(' ')} ${args}`, '/dev/null'], {
    env,
    cwd: dir,
    encoding: 'utf8',
    timeout: 120_000,
    input,
  });
}

test.before(() => {
  if (!enabled) return;
  const ctx = path.join(dir, 'ctx');
  fs.mkdirSync(ctx);
  fs.copyFileSync(BUSYBOX, path.join(ctx, 'busybox'));
  fs.writeFileSync(
    path.join(ctx, 'Containerfile'),
    'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n',
  );
  const b = spawnSync('buildah', ['--storage-driver', 'vfs', ...store, 'bud', '--isolation', 'chroot', '-t', 'localhost/tsrun-bb', ctx], {
    env,
    encoding: 'utf8',
    timeout: 300_000,
  });
  if (b.status !== 0) throw new Error(`buildah: ${b.stderr}`);
});

test.after.always(() => {
  if (enabled) podman(['rm', '-af']);
  fs.rmSync(dir, { recursive: true, force: true });
  leftovers.remove();
});

podmanTest('podman run: output, exit codes, a missing program is 127', (t) => {
  const ok = podman(['run', '--rm', ...runFlags, 'localhost/tsrun-bb', 'sh', '-c', 'echo hello from podman; hostname']);
  t.is(ok.status, 0, ok.stderr);
  t.regex(ok.stdout, /^hello from podman\n/);
  const exit42 = podman(['run', '--rm', ...runFlags, 'localhost/tsrun-bb', 'sh', '-c', 'exit 42']);
  t.is(exit42.status, 42, exit42.stderr);
  const missing = podman(['run', '--rm', ...runFlags, 'localhost/tsrun-bb', 'no-such-program']);
  t.is(missing.status, 127);
  t.regex(missing.stderr, /executable file not found in \$PATH/);
});

podmanTest("podman run: the engine's default seccomp profile is applied", (t) => {
  const r = podman(['run', '--rm', ...runFlags, 'localhost/tsrun-bb', 'sh', '-c', 'grep ^Seccomp: /proc/self/status']);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /^Seccomp:\s+2\n/);
});

podmanTest('podman run -t: conmon gets the pty through --console-socket', (t) => {
  const r = podmanTty(`run --rm -t ${runFlags.join(' ')} localhost/tsrun-bb sh -c 'tty; exit 3'`);
  t.is(r.status, 3, r.stderr);
  t.regex(r.stdout, /\/dev\/pts\/0/);
});

podmanTest('podman run -d, ps, stop, rm', async (t) => {
  const d = podman([
    'run',
    '-d',
    '--name',
    'tsrun-d1',
    ...runFlags,
    'localhost/tsrun-bb',
    'sh',
    '-c',
    'trap "exit 0" TERM; while true; do sleep 0.1; done',
  ]);
  t.is(d.status, 0, d.stderr);
  t.regex(podman(['ps', '--format', '{{.Names}} {{.Status}}']).stdout, /tsrun-d1 Up/);
  // pid 1 drops a TERM it has no handler for: stop once the trap is set
  const pid = Number(inspect('tsrun-d1', '{{.State.Pid}}'));
  // where AppArmor is on, podman's default profile confines it, as podman asked the runtime
  if (APPARMOR) t.regex(apparmorLabel(pid), /^containers-default-[\d.]+ \(enforce\)$/);
  t.true(await waitFor(() => signalDisposition(pid, 15) === 'caught'), `the TERM trap: ${signalDisposition(pid, 15)}`);
  const stop = podman(['stop', '-t', '10', 'tsrun-d1']);
  t.is(stop.status, 0, stop.stderr);
  t.notRegex(stop.stderr, /resorting to SIGKILL/, 'SIGTERM reached the container');
  t.is(podman(['rm', 'tsrun-d1']).status, 0);
  t.is(podman(['ps', '-a', '-q']).stdout, '');
});

/** `podman run -d --name <name> [extra] <image> sh -c <script>`, removed when the test ends. */
function detached(t: ExecutionContext, name: string, script: string, extra: string[] = []) {
  t.teardown(() => {
    podman(['rm', '-f', '-t', '0', name]);
  });
  return podman(['run', '-d', '--name', name, ...extra, ...runFlags, 'localhost/tsrun-bb', 'sh', '-c', script]);
}

/**
 * A running container for `podman exec`, with FROMRUN=1 in its environment;
 * removed when the test ends. False (and a failed assertion) if it did not start.
 */
function running(t: ExecutionContext, name: string): boolean {
  const r = detached(t, name, 'trap "exit 0" TERM; while true; do sleep 0.1; done', ['--env', 'FROMRUN=1']);
  t.is(r.status, 0, r.stderr);
  return r.status === 0;
}

/** Prints what differs between the exec'd process and the container's init, then "checked". */
const SAME_AS_INIT = [
  'for n in pid mnt net uts ipc cgroup; do [ "$(readlink /proc/self/ns/$n)" = "$(readlink /proc/1/ns/$n)" ] || echo "ns $n differs"; done',
  '[ "$(cat /proc/self/cgroup)" = "$(cat /proc/1/cgroup)" ] || echo "cgroup differs"',
  'for f in CapInh CapPrm CapEff CapBnd CapAmb NoNewPrivs Seccomp; do a=$(grep "^$f:" /proc/self/status); b=$(grep "^$f:" /proc/1/status); [ "$a" = "$b" ] || echo "$a vs $b"; done',
  'echo checked',
].join('; ');

podmanTest('podman exec: output and the exit code are kept', (t) => {
  if (!running(t, 'tsrun-x1')) return;
  const out = podman(['exec', 'tsrun-x1', 'sh', '-c', 'echo to stdout; echo to stderr >&2']);
  t.is(out.status, 0, out.stderr);
  t.is(out.stdout, 'to stdout\n');
  t.regex(out.stderr, /to stderr/);
  const exit42 = podman(['exec', 'tsrun-x1', 'sh', '-c', 'exit 42']);
  t.is(exit42.status, 42, exit42.stderr);
  const killed = podman(['exec', 'tsrun-x1', 'sh', '-c', 'kill -9 $$']);
  t.is(killed.status, 128 + 9, killed.stderr);
  // the container is still running after its exec sessions ended
  t.regex(podman(['ps', '--format', '{{.Names}} {{.Status}}']).stdout, /tsrun-x1 Up/);
});

podmanTest("podman exec: joins the container's namespaces and cgroup, with its capabilities and seccomp", (t) => {
  if (!running(t, 'tsrun-x9')) return;
  const r = podman(['exec', 'tsrun-x9', 'sh', '-c', SAME_AS_INIT]);
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout, 'checked\n');
  t.regex(podman(['exec', 'tsrun-x9', 'grep', '^Seccomp:', '/proc/self/status']).stdout, /^Seccomp:\s+2\n/);
  // and it sees the container's processes, not the host's
  t.regex(podman(['exec', 'tsrun-x9', 'cat', '/proc/1/cmdline']).stdout, /^sh\0-c\0trap/);
});

podmanTest('podman exec: a missing program is 127', (t) => {
  if (!running(t, 'tsrun-x2')) return;
  const r = podman(['exec', 'tsrun-x2', 'no-such-program']);
  t.is(r.status, 127, r.stderr);
  t.regex(r.stderr, /executable file not found in \$PATH/);
});

podmanTest('podman exec -i: stdin reaches the process', (t) => {
  if (!running(t, 'tsrun-x3')) return;
  const r = podman(['exec', '-i', 'tsrun-x3', 'sh', '-c', 'cat; echo end'], { input: 'piped in\n' });
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout, 'piped in\nend\n');
});

podmanTest('podman exec -t: conmon gets the pty through --console-socket', (t) => {
  if (!running(t, 'tsrun-x4')) return;
  const r = podmanTty(`exec -t tsrun-x4 sh -c 'tty; test -t 0 && echo stdin-is-a-tty; exit 5'`);
  t.is(r.status, 5, r.stdout + r.stderr);
  t.regex(withoutTtyEcho(r.stdout), /^\/dev\/pts\/\d+\nstdin-is-a-tty$/m, JSON.stringify(r.stdout));
});

podmanTest('podman exec -it: typed input reaches the shell through the pty', (t) => {
  if (!running(t, 'tsrun-x10')) return;
  // $((6*7)) tells the shell's output from the pty's echo of the input
  const r = podmanTty('exec -it tsrun-x10 sh', 'echo typed-$((6*7))\nexit 6\n');
  t.is(r.status, 6, r.stdout + r.stderr);
  t.regex(r.stdout, /typed-42/);
});

podmanTest('podman exec --preserve-fds: fd 3 reaches the process', (t) => {
  if (!running(t, 'tsrun-x11')) return;
  const file = path.join(dir, 'preserved');
  fs.writeFileSync(file, 'from the host\n');
  const fd = fs.openSync(file, 'r');
  try {
    const r = spawnSync(
      'podman',
      ['--runtime', ENGINE_RUNTIME, ...store, 'exec', '--preserve-fds', '1', 'tsrun-x11', 'sh', '-c', 'cat <&3'],
      {
        env,
        encoding: 'utf8',
        timeout: 120_000,
        stdio: ['ignore', 'pipe', 'pipe', fd],
      },
    );
    t.is(r.status, 0, r.stderr);
    t.is(r.stdout, 'from the host\n');
  } finally {
    fs.closeSync(fd);
  }
});

podmanTest('podman exec --privileged: the full capability set', (t) => {
  if (!running(t, 'tsrun-x12')) return;
  const bnd = /^CapBnd:\s+(\w+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1];
  const plain = podman(['exec', 'tsrun-x12', 'grep', '^CapEff:', '/proc/self/status']);
  const priv = podman(['exec', '--privileged', 'tsrun-x12', 'grep', '^CapEff:', '/proc/self/status']);
  t.is(priv.status, 0, priv.stderr);
  t.is(priv.stdout, `CapEff:\t${bnd}\n`, "everything in the host's bounding set");
  t.not(plain.stdout, priv.stdout, 'more than without --privileged');
});

podmanTest('podman exec --user', (t) => {
  if (!running(t, 'tsrun-x5')) return;
  const u = podman(['exec', '--user', '1000', 'tsrun-x5', 'id', '-u']);
  t.is(u.status, 0, u.stderr);
  t.is(u.stdout, '1000\n');
  const ug = podman(['exec', '--user', '1000:2000', 'tsrun-x5', 'sh', '-c', 'id -u; id -g']);
  t.is(ug.status, 0, ug.stderr);
  t.is(ug.stdout, '1000\n2000\n');
  // and the container's own process is still root
  t.is(podman(['exec', 'tsrun-x5', 'id', '-u']).stdout, '0\n');
});

podmanTest('podman exec --env: added to the container environment', (t) => {
  if (!running(t, 'tsrun-x6')) return;
  const r = podman(['exec', '--env', 'FOO=bar baz', '-e', 'FROMEXEC=2', 'tsrun-x6', 'sh', '-c', 'echo "$FOO|$FROMEXEC|$FROMRUN"']);
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout, 'bar baz|2|1\n');
});

podmanTest('podman exec --workdir', (t) => {
  if (!running(t, 'tsrun-x7')) return;
  t.is(podman(['exec', 'tsrun-x7', 'pwd']).stdout, '/\n');
  t.is(podman(['exec', 'tsrun-x7', 'mkdir', '-p', '/work/dir']).status, 0);
  const r = podman(['exec', '--workdir', '/work/dir', 'tsrun-x7', 'pwd']);
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout, '/work/dir\n');
});

podmanTest('podman exec -d: detached, the process runs on after podman returns', async (t) => {
  if (!running(t, 'tsrun-x8')) return;
  // it cannot finish before the test lets it: podman returning proves it did not wait
  const d = podman(['exec', '-d', 'tsrun-x8', 'sh', '-c', 'while [ ! -e /go ]; do sleep 0.1; done; echo done > /exec-d']);
  t.is(d.status, 0, d.stderr);
  t.regex(d.stdout, /^[0-9a-f]{64}\n$/, 'prints the exec session id');
  const out = () => podman(['exec', 'tsrun-x8', 'cat', '/exec-d']).stdout;
  t.not(out(), 'done\n');
  t.is(podman(['exec', 'tsrun-x8', 'touch', '/go']).status, 0);
  t.true(await waitFor(() => out() === 'done\n'), 'the detached process ran on');
});

// podman puts runc's tmpcopyup on every tmpfs of --read-only, --tmpfs and
// --mount type=tmpfs: the image's files at the target show in the tmpfs.
podmanTest('podman run --read-only: / is read-only, /tmp and /run are tmpfs (tmpcopyup), writable', (t) => {
  const r = podman([
    'run',
    '--rm',
    '--read-only',
    ...runFlags,
    'localhost/tsrun-bb',
    'sh',
    '-c',
    'touch /x 2>/dev/null && echo root-writable || echo root-read-only; touch /tmp/y && echo tmp-writable; grep -E " /(tmp|run) " /proc/self/mounts | cut -d" " -f3 | sort -u',
  ]);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /root-read-only/);
  t.regex(r.stdout, /tmp-writable/);
  t.regex(r.stdout, /^tmpfs$/m);
});

podmanTest('podman run --tmpfs and --mount type=tmpfs: the image’s files are copied up into the tmpfs', (t) => {
  // /bin in the image holds busybox and its links: a tmpfs over it keeps them (tmpcopyup)
  for (const flag of [
    ['--tmpfs', '/bin'],
    ['--mount', 'type=tmpfs,destination=/bin'],
  ]) {
    const r = podman([
      'run',
      '--rm',
      ...flag,
      ...runFlags,
      'localhost/tsrun-bb',
      'sh',
      '-c',
      'grep " /bin " /proc/self/mounts | cut -d" " -f3; ls /bin | wc -l',
    ]);
    t.is(r.status, 0, `${flag.join(' ')}: ${r.stderr}`);
    const [fstype, count] = r.stdout.trim().split('\n');
    t.is(fstype, 'tmpfs', flag.join(' '));
    t.true(Number(count) > 50, `${flag.join(' ')}: busybox and its applet links are in the tmpfs (${count})`);
  }
});

/** Where the host keeps a running container's cgroup for `controller` (cgroup v1 hierarchy, or the v2 one). */
const hostCgroup = (name: string, controller: string) =>
  cgroupDir(podman(['inspect', '--format', '{{.State.Pid}}', name]).stdout.trim(), controller);

const readTrim = (file: string) => fs.readFileSync(file, 'utf8').trim();

const inspect = (name: string, format: string) => podman(['inspect', '--format', format, name]).stdout.trim();

podmanTest('podman run --memory: an OOM kill is exit 137 and OOMKilled in inspect', (t) => {
  const name = 'tsrun-oom';
  t.teardown(() => {
    podman(['rm', '-f', '-t', '0', name]);
  });
  // --memory-swap equal to --memory: no swap to spill into; the string doubles until the limit
  const c = podman([
    'create',
    '--name',
    name,
    '--memory',
    '16m',
    '--memory-swap',
    '16m',
    ...runFlags,
    'localhost/tsrun-bb',
    'sh',
    '-c',
    'x=0123456789abcdef; while :; do x=$x$x; done',
  ]);
  t.is(c.status, 0, c.stderr);
  // conmon (started by `start`) writes "oom" into its cwd and podman 4.3 looks in the bundle
  // (StaticDir): start it from there, or OOMKilled stays false with every runtime
  const r = podman(['start', '--attach', name], { cwd: inspect(name, '{{.StaticDir}}') });
  t.is(r.status, 137, r.stderr);
  t.is(inspect(name, '{{.State.OOMKilled}} {{.State.ExitCode}}'), 'true 137');
});

podmanTest('podman run --memory, --pids-limit: the limits are in the cgroup, and forks past the pids limit fail', (t) => {
  const r = podman([
    'run',
    '--rm',
    '--memory',
    '32m',
    '--pids-limit',
    '20',
    ...runFlags,
    'localhost/tsrun-bb',
    'sh',
    '-c',
    'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max',
  ]);
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout, `${32 << 20}\n20\n`);
  const forks = podman([
    'run',
    '--rm',
    '--pids-limit',
    '5',
    ...runFlags,
    'localhost/tsrun-bb',
    'sh',
    '-c',
    'for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; wait',
  ]);
  t.not(forks.status, 0);
  t.regex(forks.stderr, /can't fork/);
});

podmanTest('podman run --user: the ids, and no effective capabilities', (t) => {
  const r = podman([
    'run',
    '--rm',
    '--user',
    '1000:1001',
    ...runFlags,
    'localhost/tsrun-bb',
    'sh',
    '-c',
    'id -u; id -g; grep ^CapEff: /proc/self/status',
  ]);
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout, '1000\n1001\nCapEff:\t0000000000000000\n');
});

podmanTest('podman run --cap-drop all: no capabilities at all, even as root', (t) => {
  const r = podman([
    'run',
    '--rm',
    '--cap-drop',
    'all',
    ...runFlags,
    'localhost/tsrun-bb',
    'sh',
    '-c',
    'id -u; grep -E "^Cap(Prm|Eff|Bnd):" /proc/self/status',
  ]);
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout, '0\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t0000000000000000\n');
});

// Without systemd as PID 1 podman 4.3 cannot make the transient timer that
// runs the check every interval (it logs "unable to get systemd connection"):
// --health-interval disable makes no timer, and `podman healthcheck run`
// runs the check once, as an exec through the runtime.
podmanTest('podman healthcheck run: healthy, then unhealthy when the check fails', (t) => {
  const name = 'tsrun-hc';
  const r = detached(t, name, 'touch /ok; trap "exit 0" TERM; while true; do sleep 0.1; done', [
    '--health-cmd',
    'test -e /ok',
    '--health-interval',
    'disable',
    '--health-retries',
    '1',
  ]);
  t.is(r.status, 0, r.stderr);
  t.notRegex(r.stderr, /systemd/);
  t.is(inspect(name, '{{.State.Health.Status}}'), 'starting');
  const healthy = podman(['healthcheck', 'run', name]);
  t.is(healthy.status, 0, healthy.stdout + healthy.stderr);
  t.is(inspect(name, '{{.State.Health.Status}}'), 'healthy');
  t.is(podman(['exec', name, 'rm', '/ok']).status, 0);
  const unhealthy = podman(['healthcheck', 'run', name]);
  t.is(unhealthy.status, 1, unhealthy.stderr);
  t.is(unhealthy.stdout, 'unhealthy\n');
  t.is(inspect(name, '{{.State.Health.Status}} {{.State.Health.FailingStreak}}'), 'unhealthy 1');
  t.regex(podman(['ps', '--format', '{{.Names}} {{.Status}}']).stdout, new RegExp(`${name} Up .*\\(unhealthy\\)`));
});

podmanTest("podman logs: the container's stdout and stderr, while it runs and after it exits", async (t) => {
  const name = 'tsrun-logs';
  // it says bye once the test has read its logs while it runs
  const r = detached(t, name, 'echo to-stdout; echo to-stderr >&2; while [ ! -e /go ]; do sleep 0.1; done; echo bye');
  t.is(r.status, 0, r.stderr);
  t.true(await waitFor(() => /to-stderr/.test(podman(['logs', name]).stderr)), podman(['logs', name]).stderr);
  const running = podman(['logs', name]);
  t.is(running.stdout, 'to-stdout\n');
  t.is(podman(['exec', name, 'touch', '/go']).status, 0);
  t.is(podman(['wait', name]).stdout, '0\n');
  const exited = podman(['logs', name]);
  t.is(exited.status, 0, exited.stderr);
  t.is(exited.stdout, 'to-stdout\nbye\n');
  t.is(exited.stderr, 'to-stderr\n');
});

podmanTest("podman top and stats --no-stream: the container's processes and its cgroup's figures", (t) => {
  if (!running(t, 'tsrun-top')) return;
  const top = podman(['top', 'tsrun-top', 'pid', 'args']);
  t.is(top.status, 0, top.stderr);
  t.regex(top.stdout, /^1\s+sh -c trap/m, 'the init is pid 1 in its namespace');
  const stats = podman(['stats', '--no-stream', '--format', '{{.Name}}|{{.MemUsage}}|{{.PIDs}}', 'tsrun-top']);
  t.is(stats.status, 0, stats.stderr);
  const [name, mem, pids] = stats.stdout.trim().split('|');
  t.is(name, 'tsrun-top');
  t.regex(mem ?? '', /^[\d.]+[kMG]?B \/ [\d.]+[kMG]?B$/);
  t.true(Number(pids) >= 1, stats.stdout);
});

podmanTest('podman pause and unpause: the freezer cgroup, and the container runs on', (t) => {
  if (!running(t, 'tsrun-pause')) return;
  const freezer = hostCgroup('tsrun-pause', 'freezer');
  const state = () =>
    fs.existsSync(path.join(freezer, 'freezer.state'))
      ? readTrim(path.join(freezer, 'freezer.state'))
      : readTrim(path.join(freezer, 'cgroup.freeze'));
  const pause = podman(['pause', 'tsrun-pause']);
  t.is(pause.status, 0, pause.stderr);
  t.is(inspect('tsrun-pause', '{{.State.Status}}'), 'paused');
  t.regex(state(), /^(FROZEN|1)$/);
  const unpause = podman(['unpause', 'tsrun-pause']);
  t.is(unpause.status, 0, unpause.stderr);
  t.is(inspect('tsrun-pause', '{{.State.Status}}'), 'running');
  t.regex(state(), /^(THAWED|0)$/);
  t.is(podman(['exec', 'tsrun-pause', 'true']).status, 0, 'runs after unpause');
});

podmanTest("podman kill -s USR1: the container's trap sees it, and it keeps running", async (t) => {
  const name = 'tsrun-usr1';
  const r = detached(t, name, 'trap "echo got-usr1 >> /signals" USR1; trap "exit 0" TERM; touch /ready; while true; do sleep 0.1; done');
  t.is(r.status, 0, r.stderr);
  // a USR1 before the trap is set would be dropped (pid 1 has no default action)
  t.true(await waitFor(() => podman(['exec', name, 'test', '-e', '/ready']).status === 0));
  const kill = podman(['kill', '-s', 'USR1', name]);
  t.is(kill.status, 0, kill.stderr);
  t.true(await waitFor(() => podman(['exec', name, 'cat', '/signals']).stdout === 'got-usr1\n'));
  t.is(inspect(name, '{{.State.Status}}'), 'running');
});

podmanTest('podman stop: a container that ignores SIGTERM is killed after the timeout', (t) => {
  const name = 'tsrun-stop-kill';
  const r = detached(t, name, 'trap "" TERM; while true; do sleep 0.1; done');
  t.is(r.status, 0, r.stderr);
  const start = Date.now();
  const stop = podman(['stop', '-t', '2', name]);
  const took = Date.now() - start;
  t.is(stop.status, 0, stop.stderr);
  t.regex(stop.stderr, /resorting to SIGKILL/);
  t.true(took >= 2000, `waited the timeout (${took} ms)`);
  t.is(inspect(name, '{{.State.Status}} {{.State.ExitCode}}'), 'exited 137');
});

podmanTest('podman restart: a new init in the same container, its files kept', (t) => {
  const name = 'tsrun-restart';
  const r = detached(t, name, 'echo started >> /starts; trap "exit 0" TERM; while true; do sleep 0.1; done');
  t.is(r.status, 0, r.stderr);
  const before = inspect(name, '{{.State.Pid}}');
  const restart = podman(['restart', '-t', '5', name]);
  t.is(restart.status, 0, restart.stderr);
  t.is(inspect(name, '{{.State.Status}}'), 'running');
  t.not(inspect(name, '{{.State.Pid}}'), before, 'another init');
  t.is(podman(['exec', name, 'cat', '/starts']).stdout, 'started\nstarted\n');
});

// podman 4.3's update has cpu, memory, blkio and device flags (no --pids-limit)
podmanTest('podman update: memory and cpu limits of a running container reach its cgroup', (t) => {
  if (!running(t, 'tsrun-update')) return;
  const memory = hostCgroup('tsrun-update', 'memory');
  const cpu = hostCgroup('tsrun-update', 'cpu');
  const u = podman(['update', '--memory', '64m', '--memory-swap', '96m', '--cpus', '0.5', '--cpu-shares', '512', 'tsrun-update']);
  t.is(u.status, 0, u.stderr);
  if (fs.existsSync(path.join(memory, 'memory.limit_in_bytes'))) {
    t.is(readTrim(path.join(memory, 'memory.limit_in_bytes')), String(64 << 20));
    t.is(readTrim(path.join(memory, 'memory.memsw.limit_in_bytes')), String(96 << 20));
    t.is(readTrim(path.join(cpu, 'cpu.cfs_quota_us')), '50000');
    t.is(readTrim(path.join(cpu, 'cpu.cfs_period_us')), '100000');
    t.is(readTrim(path.join(cpu, 'cpu.shares')), '512');
  } else {
    t.is(readTrim(path.join(memory, 'memory.max')), String(64 << 20));
    t.is(readTrim(path.join(memory, 'memory.swap.max')), String(32 << 20));
    t.is(readTrim(path.join(cpu, 'cpu.max')), '50000 100000');
  }
  t.is(inspect('tsrun-update', '{{.State.Status}}'), 'running');
});

/** `podman run --rm <flags> <image> sh -c <script>`: its stdout, after asserting it exited 0. */
function runScript(t: ExecutionContext, flags: string[], script: string): string {
  const r = podman(['run', '--rm', ...flags, ...runFlags, 'localhost/tsrun-bb', 'sh', '-c', script]);
  t.is(r.status, 0, `${flags.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

podmanTest('podman run: --hostname, --oom-score-adj, no-new-privileges, --group-add, --cap-add/--cap-drop reach the process', (t) => {
  t.is(runScript(t, ['--hostname', 'tsrun-host'], 'hostname; echo "$(cat /etc/hostname)"'), 'tsrun-host\ntsrun-host\n');
  t.is(runScript(t, ['--oom-score-adj', '500'], 'cat /proc/self/oom_score_adj'), '500\n');
  t.is(runScript(t, ['--security-opt', 'no-new-privileges'], 'grep ^NoNewPrivs: /proc/self/status'), 'NoNewPrivs:\t1\n');
  t.is(runScript(t, ['--user', '1000:1000', '--group-add', '27'], 'id -G'), '1000 27\n');
  const caps = (flags: string[]) => BigInt('0x' + runScript(t, flags, 'grep ^CapEff: /proc/self/status').split('\t')[1]!.trim());
  const CHOWN = 1n << 0n;
  const SYS_ADMIN = 1n << 21n;
  const plain = caps([]);
  t.is(plain & SYS_ADMIN, 0n, 'no CAP_SYS_ADMIN by default');
  t.is(caps(['--cap-add', 'SYS_ADMIN', '--cap-drop', 'CHOWN']), (plain | SYS_ADMIN) & ~CHOWN);
});

podmanTest('podman run: --pid host, --cgroupns private, --uidmap, -v :ro, --shm-size, --device, --sysctl', (t) => {
  t.is(runScript(t, ['--pid', 'host'], 'cat /proc/1/comm'), fs.readFileSync('/proc/1/comm', 'utf8'));
  t.regex(
    runScript(t, ['--cgroupns', 'private'], 'cat /proc/self/cgroup'),
    /^(\d+:[^:]*:\/\n)+$/,
    'every hierarchy is rooted at the container',
  );
  t.is(
    runScript(t, ['--uidmap', '0:100000:65536', '--gidmap', '0:100000:65536'], 'cat /proc/self/uid_map | tr -s " "; id -u'),
    ' 0 100000 65536\n0\n',
  );
  const ro = path.join(dir, 'ro');
  fs.mkdirSync(ro, { recursive: true });
  fs.writeFileSync(path.join(ro, 'file'), 'from the host\n');
  t.is(runScript(t, ['-v', `${ro}:/mnt:ro`], 'cat /mnt/file; touch /mnt/x 2>/dev/null || echo read-only'), 'from the host\nread-only\n');
  t.regex(runScript(t, ['--shm-size', '10m'], 'df -k /dev/shm | tail -1'), /^\S+\s+10240\s/);
  if (fs.existsSync('/dev/fuse')) t.regex(runScript(t, ['--device', '/dev/fuse'], 'ls -l /dev/fuse'), /^c.* 10, 229 /);
  t.is(runScript(t, ['--network', 'none', '--sysctl', 'net.ipv4.ip_forward=1'], 'cat /proc/sys/net/ipv4/ip_forward'), '1\n');
});

podmanTest('podman start --attach of an exited container: the runtime creates it again, its files kept', (t) => {
  const name = 'tsrun-start-again';
  t.teardown(() => {
    podman(['rm', '-f', '-t', '0', name]);
  });
  const script = 'echo run >> /runs; wc -l < /runs; exit 4';
  const first = podman(['run', '--name', name, ...runFlags, 'localhost/tsrun-bb', 'sh', '-c', script]);
  t.is(first.status, 4, first.stderr);
  t.is(first.stdout, '1\n');
  const again = podman(['start', '--attach', name]);
  t.is(again.status, 4, again.stderr);
  t.is(again.stdout, '2\n');
});

// conmon's exit command (podman container cleanup) restarts it: the runtime's delete, create and start again
podmanTest('podman run --restart on-failure:2: restarted twice, then left exited with its code', async (t) => {
  const name = 'tsrun-restart-policy';
  const r = detached(t, name, 'sleep 0.2; exit 1', ['--restart', 'on-failure:2']);
  t.is(r.status, 0, r.stderr);
  const state = () => inspect(name, '{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}');
  t.true(await waitFor(() => state() === '2 exited 1'), state());
});

podmanTest('podman run --init: podman-init is pid 1, the command is not', (t) => {
  if (!fs.existsSync('/usr/libexec/podman/catatonit') && !have('catatonit')) return t.pass('no catatonit here');
  const out = runScript(t, ['--init'], 'cat /proc/1/cmdline | tr "\\0" " "; echo; echo $$');
  t.regex(out, /^\/run\/podman-init -- sh -c /);
  t.not(out.split('\n')[1], '1', 'the command is not pid 1');
});

podmanTest('podman kill of a paused container: it dies with 137', (t) => {
  if (!running(t, 'tsrun-kill-paused')) return;
  t.is(podman(['pause', 'tsrun-kill-paused']).status, 0);
  const kill = podman(['kill', 'tsrun-kill-paused']);
  t.is(kill.status, 0, kill.stderr);
  t.is(inspect('tsrun-kill-paused', '{{.State.Status}} {{.State.ExitCode}}'), 'exited 137');
});

// podman container checkpoint/restore through the runtime, with a CRIU that works on this kernel (tests/helpers/criu.ts)
const criu = enabled ? testCriu() : { skip: 'podman missing' };
const criuTest = 'bin' in criu ? podmanTest : test.skip;
function podmanCriu(args: string[]) {
  const bin = 'bin' in criu ? criu.bin : '';
  return spawnSync('podman', ['--runtime', ENGINE_RUNTIME, ...store, ...args], {
    env: { ...env, PATH: `${path.dirname(bin)}:${env.PATH}`, TSRUN_CRIU: bin },
    cwd: dir,
    encoding: 'utf8',
    timeout: 120_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}
const counted = (name: string) => Number(podman(['exec', name, 'cat', '/count']).stdout.trim() || -1);

criuTest('podman container checkpoint and restore (and --export, --import): the counter goes on', async (t) => {
  const name = 'tsrun-ckpt';
  const r = detached(t, name, 'i=0; while true; do echo $i > /count; i=$((i+1)); sleep 0.1; done');
  t.is(r.status, 0, r.stderr);
  t.true(await waitFor(() => counted(name) >= 5), 'counting');
  const ck = podmanCriu(['container', 'checkpoint', name]);
  t.is(ck.status, 0, ck.stderr);
  t.is(inspect(name, '{{.State.Status}}'), 'exited');
  const at = counted(name);
  const rs = podmanCriu(['container', 'restore', name]);
  t.is(rs.status, 0, rs.stderr);
  t.true(await waitFor(() => counted(name) > Math.max(at, 5)), `counting on (${counted(name)})`);
  // to a file, the container removed, back from the file: a new rootfs, the engine's mountpoints made again
  const file = path.join(dir, 'ckpt.tar.gz');
  t.is(podmanCriu(['container', 'checkpoint', '--export', file, name]).status, 0);
  const before = counted(name);
  t.is(podman(['rm', '-f', name]).status, 0);
  const imp = podmanCriu(['container', 'restore', '--import', file]);
  t.is(imp.status, 0, imp.stderr);
  t.true(await waitFor(() => counted(name) > before), `counting on after --import (${counted(name)}, was ${before})`);
});
