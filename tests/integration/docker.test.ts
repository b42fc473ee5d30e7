/**
 * A real engine drives tsrun: Docker 20.10 (Debian's docker.io: dockerd,
 * its managed containerd and containerd-shim-runc-v2, the CLI
 * /usr/bin/docker). Two PRIVATE daemons (tests/helpers/docker.ts), each
 * with an image imported from busybox-static, nothing from the network:
 *
 *   explicit  runtimes {"tsrun": …}, default runc: `docker run --runtime tsrun`
 *   default   "default-runtime": "tsrun", and a `runc` first on dockerd's PATH
 *             for the built-in BuildKit, which execs `runc` from PATH and
 *             ignores default-runtime
 *
 * Every runtime is a wrapper that records its arguments and execs the
 * runtime under test, so each test can tell that it really ran.
 * Skipped where dockerd or /usr/bin/docker is missing or not root
 * (scripts/setup.sh installs docker.io).
 * TSRUN_ENGINE_RUNTIME=/usr/sbin/runc runs the same tests against runc.
 */
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { IS_ROOT } from '../helpers/bundle.js';
import {
  type DockerResult,
  type Dockerd,
  HostLeftovers,
  haveDocker,
  importBusybox,
  recordingWrapper,
  startDockerd,
} from '../helpers/docker.js';
import { APPARMOR, ENGINE_RUNTIME, apparmorLabel, cgroupDir } from '../helpers/engine.js';
import { withoutTtyEcho } from '../helpers/tty.js';
import { waitFor } from '../helpers/wait.js';

const enabled = IS_ROOT && haveDocker();
const dockerTest = enabled ? test.serial : test.skip;

const IMAGE = 'tsrun-bb:latest';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-docker-test-'));
const host = new HostLeftovers();
/** What the runtime wrappers record, one line per call. */
const calls = {
  explicit: path.join(dir, 'explicit.calls'),
  default: path.join(dir, 'default.calls'),
  buildkit: path.join(dir, 'buildkit.calls'),
};
const LOOP = 'trap "exit 0" TERM; while true; do sleep 0.1; done';

let explicit: Dockerd | undefined;
let byDefault: Dockerd | undefined;

test.before(async () => {
  if (!enabled) return;
  recordingWrapper(path.join(dir, 'bin', 'tsrun-explicit'), ENGINE_RUNTIME, calls.explicit);
  recordingWrapper(path.join(dir, 'bin', 'tsrun-default'), ENGINE_RUNTIME, calls.default);
  recordingWrapper(path.join(dir, 'buildkit-path', 'runc'), ENGINE_RUNTIME, calls.buildkit);
  for (const f of Object.values(calls)) fs.writeFileSync(f, '');
  explicit = await startDockerd({ runtimes: { tsrun: path.join(dir, 'bin', 'tsrun-explicit') } }, path.join(dir, 'explicit'));
  importBusybox(explicit, IMAGE);
  byDefault = await startDockerd(
    {
      runtimes: { tsrun: path.join(dir, 'bin', 'tsrun-default') },
      defaultRuntime: 'tsrun',
      pathPrefix: path.join(dir, 'buildkit-path'),
    },
    path.join(dir, 'default'),
  );
  importBusybox(byDefault, IMAGE);
});

test.after.always(async () => {
  for (const d of [explicit, byDefault]) await d?.stop();
  if (enabled) host.remove();
  fs.rmSync(dir, { recursive: true, force: true });
});

const callsOf = (which: keyof typeof calls) => fs.readFileSync(calls[which], 'utf8').split('\n').filter(Boolean);
/** The runtime commands (create, start, exec, …) recorded for a container id. */
const commandsFor = (which: keyof typeof calls, id: string) =>
  callsOf(which)
    .filter((l) => l.split(' ').includes(id))
    .map((l) =>
      l
        .split(' ')
        .find((w) => ['create', 'start', 'run', 'exec', 'kill', 'delete', 'pause', 'resume', 'state', 'ps', 'update'].includes(w)),
    );

function why(r: DockerResult, d?: Dockerd): string {
  const hung = r.signal === 'SIGKILL' ? 'the docker CLI did not return in time (killed)\n' : '';
  return `${hung}status ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}${r.status === 0 || !d ? '' : `\ndockerd log:\n${d.log().slice(-3000)}`}`;
}

/** `docker run --runtime tsrun` on the explicit daemon. */
function run(args: string[], opts: { input?: string } = {}) {
  return explicit!.docker(['run', '--runtime', 'tsrun', ...args], opts);
}

/** A running container (`docker run -d`) on the explicit daemon, removed when the test ends; its full id. */
function running(t: ExecutionContext, name: string, flags: string[] = []): string | undefined {
  t.teardown(() => {
    explicit!.docker(['rm', '-f', name]);
  });
  const r = run(['-d', '--name', name, ...flags, IMAGE, 'sh', '-c', LOOP]);
  t.is(r.status, 0, why(r, explicit));
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** A hybrid or v1 host (this one) or a unified one (the production lane, where dockerd's driver is systemd's). */
const V1 = !fs.existsSync('/sys/fs/cgroup/cgroup.controllers');
/** A file of the cgroup container `id`'s init is in, wherever the daemon's cgroup driver put it. */
const cgroupFile = (hier: string, id: string, file: string) => path.join(cgroupDir(inspect(explicit!, id, '{{.State.Pid}}'), hier), file);
const freezerFile = (id: string) => cgroupFile('freezer', id, V1 ? 'freezer.state' : 'cgroup.freeze');

const inspect = (d: Dockerd, what: string, format: string) => d.docker(['inspect', '-f', format, what]).stdout.trim();

/** A fresh --cidfile path: docker writes the full id there, which --rm would otherwise lose. */
let cidCount = 0;
const cidFile = () => path.join(dir, `cid-${++cidCount}`);
const cid = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : '<no cidfile>');

dockerTest('docker run --runtime tsrun: the tsrun runtime runs the container, and runc without the flag', (t) => {
  const file = cidFile();
  const r = run(['--rm', '--cidfile', file, IMAGE, 'true']);
  t.is(r.status, 0, why(r, explicit));
  const id = cid(file);
  // dockerd deletes twice (delete, then delete --force)
  t.deepEqual(
    [...new Set(commandsFor('explicit', id))].filter((c) => c === 'create' || c === 'start' || c === 'delete'),
    ['create', 'start', 'delete'],
    callsOf('explicit').join('\n'),
  );
  const before = callsOf('explicit').length;
  const plain = explicit!.docker(['run', '--name', 'tsrun-plain', IMAGE, 'true']);
  t.teardown(() => {
    explicit!.docker(['rm', '-f', 'tsrun-plain']);
  });
  t.is(plain.status, 0, why(plain, explicit));
  t.is(inspect(explicit!, 'tsrun-plain', '{{.HostConfig.Runtime}}'), 'runc');
  t.is(callsOf('explicit').length, before, 'without --runtime the wrapper was not called');
});

dockerTest('docker run: stdout, stderr and the exit code', (t) => {
  const r = run(['--rm', IMAGE, 'sh', '-c', 'echo hello from docker; echo to stderr >&2; exit 42']);
  t.is(r.status, 42, why(r));
  t.is(r.stdout, 'hello from docker\n');
  t.regex(r.stderr, /to stderr/);
});

dockerTest('docker run: the image CMD and stdin (-i)', (t) => {
  const r = run(['--rm', '-i', IMAGE], { input: 'echo from stdin; exit 5\n' });
  t.is(r.status, 5, why(r));
  t.is(r.stdout, 'from stdin\n');
});

dockerTest("docker run: a missing program exits 127 with the runtime's error", (t) => {
  const r = run(['--rm', IMAGE, 'no-such-program']);
  t.is(r.status, 127, why(r));
  // dockerd passes on the last error of the runtime's --log json
  t.regex(r.stderr, /OCI runtime create failed: .*executable file not found in \$PATH/);
  const notExec = run(['--rm', IMAGE, '/etc']);
  t.is(notExec.status, 126, why(notExec));
});

dockerTest('docker run -t: the container gets a pty', (t) => {
  const r = explicit!.dockerTty(`run --rm -t --runtime tsrun ${IMAGE} sh -c 'tty; test -t 0 && echo stdin-is-a-tty; exit 3'`);
  t.is(r.status, 3, why(r));
  t.regex(withoutTtyEcho(r.stdout), /^\/dev\/pts\/\d+\nstdin-is-a-tty$/m, JSON.stringify(r.stdout));
});

dockerTest('docker run -it: typed input reaches the shell through the pty', (t) => {
  // $((6*7)) tells the shell's output from the pty's echo of the input
  const r = explicit!.dockerTty(`run --rm -it --runtime tsrun ${IMAGE} sh`, 'echo typed-$((6*7))\nexit 6\n');
  t.is(r.status, 6, why(r));
  t.regex(r.stdout, /typed-42/);
});

dockerTest('docker run -d: the container runs detached, docker logs has its output, docker stop ends it with SIGTERM', async (t) => {
  const name = 'tsrun-detached';
  t.teardown(() => {
    explicit!.docker(['rm', '-f', name]);
  });
  // started once its TERM trap is set: pid 1 drops a TERM it has no handler for
  const r = run(['-d', '--name', name, IMAGE, 'sh', '-c', 'trap "exit 0" TERM; echo started; while true; do sleep 0.1; done']);
  t.is(r.status, 0, why(r, explicit));
  t.is(inspect(explicit!, name, '{{.State.Status}} {{.HostConfig.Runtime}}'), 'running tsrun');
  t.true(await waitFor(() => explicit!.docker(['logs', name]).stdout === 'started\n'), explicit!.docker(['logs', name]).stdout);
  const stop = explicit!.docker(['stop', '-t', '10', name]);
  t.is(stop.status, 0, why(stop, explicit));
  t.is(inspect(explicit!, name, '{{.State.Status}} {{.State.ExitCode}}'), 'exited 0', 'the trap ran: SIGTERM reached the init');
  const again = explicit!.docker(['start', name]);
  t.is(again.status, 0, why(again, explicit));
  t.is(inspect(explicit!, name, '{{.State.Status}}'), 'running', 'a stopped container starts again');
  const kill = explicit!.docker(['kill', name]);
  t.is(kill.status, 0, why(kill, explicit));
  t.true(await waitFor(() => inspect(explicit!, name, '{{.State.Status}}') === 'exited'));
  t.is(inspect(explicit!, name, '{{.State.ExitCode}}'), String(128 + 9), 'docker kill sends SIGKILL');
});

dockerTest('docker exec: output, exit codes, stdin, --user and --workdir', (t) => {
  const id = running(t, 'tsrun-exec');
  if (!id) return;
  const out = explicit!.docker(['exec', 'tsrun-exec', 'sh', '-c', 'echo to stdout; echo to stderr >&2; exit 3']);
  t.is(out.status, 3, why(out));
  t.is(out.stdout, 'to stdout\n');
  t.regex(out.stderr, /to stderr/);
  const killed = explicit!.docker(['exec', 'tsrun-exec', 'sh', '-c', 'kill -9 $$']);
  t.is(killed.status, 128 + 9, why(killed));
  const cat = explicit!.docker(['exec', '-i', 'tsrun-exec', 'sh', '-c', 'cat; echo end'], { input: 'piped in\n' });
  t.is(cat.stdout, 'piped in\nend\n', why(cat));
  const user = explicit!.docker(['exec', '--user', '1000:1000', '--workdir', '/tmp', 'tsrun-exec', 'sh', '-c', 'id -u; id -g; pwd']);
  t.is(user.stdout, '1000\n1000\n/tmp\n', why(user));
  // dockerd 20.10 answers 126 for any exec that does not start, and writes the runtime's error to stdout
  const missing = explicit!.docker(['exec', 'tsrun-exec', 'no-such-program']);
  t.is(missing.status, 126, why(missing));
  t.regex(missing.stdout + missing.stderr, /OCI runtime exec failed: .*executable file not found in \$PATH/);
  const init = explicit!.docker(['exec', 'tsrun-exec', 'cat', '/proc/1/cmdline']);
  t.regex(init.stdout, /^sh\0-c\0trap/, "it sees the container's processes");
  t.true(commandsFor('explicit', id).includes('exec'), 'the runtime ran the execs');
  t.is(inspect(explicit!, 'tsrun-exec', '{{.State.Status}}'), 'running', 'the container outlives its execs');
});

dockerTest('docker exec -t and -it: a pty, and typed input reaches the shell', (t) => {
  if (!running(t, 'tsrun-exec-t')) return;
  const tty = explicit!.dockerTty(`exec -t tsrun-exec-t sh -c 'tty; test -t 0 && echo stdin-is-a-tty; exit 4'`);
  t.is(tty.status, 4, why(tty));
  t.regex(withoutTtyEcho(tty.stdout), /^\/dev\/pts\/\d+\nstdin-is-a-tty$/m, JSON.stringify(tty.stdout));
  const it = explicit!.dockerTty('exec -it tsrun-exec-t sh', 'echo typed-$((6*7))\nexit 6\n');
  t.is(it.status, 6, why(it));
  t.regex(it.stdout, /typed-42/);
});

dockerTest('docker pause and unpause: the cgroup is frozen and thawed', (t) => {
  const id = running(t, 'tsrun-pause');
  if (!id) return;
  const pause = explicit!.docker(['pause', id]);
  t.is(pause.status, 0, why(pause, explicit));
  t.is(inspect(explicit!, id, '{{.State.Status}}'), 'paused');
  t.true(commandsFor('explicit', id).includes('pause'), 'the runtime paused it');
  t.is(fs.readFileSync(freezerFile(id), 'utf8').trim(), V1 ? 'FROZEN' : '1', 'the cgroup is frozen');
  const inPaused = explicit!.docker(['exec', id, 'true']);
  t.not(inPaused.status, 0);
  t.regex(inPaused.stderr, /paused/);
  const unpause = explicit!.docker(['unpause', id]);
  t.is(unpause.status, 0, why(unpause, explicit));
  t.is(inspect(explicit!, id, '{{.State.Status}}'), 'running');
  t.true(commandsFor('explicit', id).includes('resume'), 'the runtime resumed it');
  t.is(fs.readFileSync(freezerFile(id), 'utf8').trim(), V1 ? 'THAWED' : '0');
  const after = explicit!.docker(['exec', id, 'true']);
  t.is(after.status, 0, why(after));
});

dockerTest('docker rm -f of a running container: nothing is left', async (t) => {
  const id = running(t, 'tsrun-rm');
  if (!id) return;
  const pid = Number(inspect(explicit!, id, '{{.State.Pid}}'));
  t.true(pid > 0);
  const cgroup = cgroupDir(pid, 'memory');
  const rm = explicit!.docker(['rm', '-f', id]);
  t.is(rm.status, 0, why(rm, explicit));
  t.false(explicit!.docker(['ps', '-aq', '--no-trunc']).stdout.includes(id));
  t.true(await waitFor(() => !fs.existsSync(`/proc/${pid}`)), 'the init is gone');
  t.true(commandsFor('explicit', id).includes('delete'), 'the runtime deleted it');
  const create = callsOf('explicit')
    .find((l) => l.split(' ').includes(id) && l.split(' ').includes('create'))
    ?.split(' ');
  const root = create?.[create.indexOf('--root') + 1];
  t.truthy(root, 'the shim passed --root');
  const state = spawnSync(ENGINE_RUNTIME, ['--root', root!, 'state', id], { encoding: 'utf8' });
  t.not(state.status, 0, "the runtime's state is gone");
  t.regex(state.stderr, /does not exist/);
  t.true(await waitFor(() => !fs.existsSync(cgroup)), `the cgroup ${cgroup} is removed`);
});

dockerTest('docker run --memory and --pids-limit: the limits are set on the cgroup', (t) => {
  const name = 'tsrun-limits';
  t.teardown(() => {
    explicit!.docker(['rm', '-f', name]);
  });
  const r = run(['-d', '--name', name, '--memory', '64m', '--pids-limit', '50', IMAGE, 'sh', '-c', LOOP]);
  t.is(r.status, 0, why(r, explicit));
  const id = r.stdout.trim();
  const memFile = V1 ? 'memory.limit_in_bytes' : 'memory.max';
  t.is(fs.readFileSync(cgroupFile('memory', id, memFile), 'utf8').trim(), String(64 << 20), 'on the host');
  t.is(fs.readFileSync(cgroupFile('pids', id, 'pids.max'), 'utf8').trim(), '50');
  const inside = explicit!.docker(['exec', name, 'cat', V1 ? '/sys/fs/cgroup/memory/memory.limit_in_bytes' : '/sys/fs/cgroup/memory.max']);
  t.is(inside.stdout.trim(), String(64 << 20), `inside the container\n${why(inside)}`);
  t.is(inspect(explicit!, name, '{{.HostConfig.Memory}}'), String(64 << 20));
  // where AppArmor is on, dockerd's docker-default confines it
  if (APPARMOR) t.is(apparmorLabel(inspect(explicit!, name, '{{.State.Pid}}')), 'docker-default (enforce)');
});

dockerTest('docker top and docker update: the runtime lists the processes and changes the limits', (t) => {
  const id = running(t, 'tsrun-top-update', ['--memory', '64m']);
  if (!id) return;
  // the shim answers top with the runtime's `ps`, and update with its `update`
  const top = explicit!.docker(['top', id]);
  t.is(top.status, 0, why(top, explicit));
  t.regex(top.stdout, /sh -c trap/);
  t.true(commandsFor('explicit', id).includes('ps'), 'the runtime listed the processes');
  const update = explicit!.docker(['update', '--memory', '96m', '--memory-swap', '192m', '--pids-limit', '70', id]);
  t.is(update.status, 0, why(update, explicit));
  t.true(commandsFor('explicit', id).includes('update'), 'the runtime updated the limits');
  t.is(fs.readFileSync(cgroupFile('memory', id, V1 ? 'memory.limit_in_bytes' : 'memory.max'), 'utf8').trim(), String(96 << 20));
  t.is(fs.readFileSync(cgroupFile('pids', id, 'pids.max'), 'utf8').trim(), '70');
});

dockerTest('docker run --read-only: / is read-only, a --tmpfs is writable', (t) => {
  const r = run(['--rm', '--read-only', '--tmpfs', '/tmp', IMAGE, 'sh', '-c', 'touch /x; echo $?; touch /tmp/y && echo tmp-ok']);
  t.is(r.status, 0, why(r));
  t.is(r.stdout, '1\ntmp-ok\n');
  t.regex(r.stderr, /Read-only file system/);
});

const PING_LO = 'ping -c 1 -W 2 127.0.0.1 >/dev/null && echo lo-up';

dockerTest('docker run --network none: 127.0.0.1 answers (libnetwork made the namespace and set lo up)', (t) => {
  const r = run(['--rm', '--network', 'none', IMAGE, 'sh', '-c', PING_LO]);
  t.is(r.status, 0, why(r));
  t.is(r.stdout, 'lo-up\n');
});

dockerTest('docker run on a daemon without a bridge: 127.0.0.1 answers (the runtime made the namespace and set lo up)', (t) => {
  // With --bridge=none the default network has no sandbox: the spec asks for
  // a new network namespace without a path, and runc sets lo up in every
  // such namespace (libcontainer's "loopback" network) so 127.0.0.1 works.
  const r = run(['--rm', IMAGE, 'sh', '-c', PING_LO]);
  t.is(r.status, 0, why(r));
  t.is(r.stdout, 'lo-up\n');
});

dockerTest('default-runtime tsrun: docker run without --runtime uses tsrun', (t) => {
  const name = 'tsrun-by-default';
  t.teardown(() => {
    byDefault!.docker(['rm', '-f', name]);
  });
  const r = byDefault!.docker(['run', '--name', name, IMAGE, 'sh', '-c', 'echo by default; exit 42']);
  t.is(r.status, 42, why(r, byDefault));
  t.is(r.stdout, 'by default\n');
  t.is(inspect(byDefault!, name, '{{.HostConfig.Runtime}}'), 'tsrun');
  const id = inspect(byDefault!, name, '{{.Id}}');
  t.deepEqual(
    commandsFor('default', id).filter((c) => c === 'create' || c === 'start'),
    ['create', 'start'],
    callsOf('default').join('\n'),
  );
});

const DOCKERFILE = [
  `FROM ${IMAGE}`,
  'RUN echo built > /built && id -u > /uid',
  'RUN cat /built /uid > /twice && mkdir -p /data && echo layered > /data/file',
  'CMD ["sh", "-c", "cat /twice /data/file"]',
  '',
].join('\n');

function buildContext(name: string): string {
  const ctx = path.join(dir, name);
  fs.mkdirSync(ctx, { recursive: true });
  fs.writeFileSync(path.join(ctx, 'Dockerfile'), DOCKERFILE);
  return ctx;
}

dockerTest("docker build (classic builder): the RUN steps go through dockerd's default-runtime, tsrun", (t) => {
  const before = callsOf('default').filter((l) => l.split(' ').includes('create')).length;
  const build = byDefault!.docker(['build', '-t', 'tsrun-classic', buildContext('ctx-classic')], {
    env: { DOCKER_BUILDKIT: '0' },
    timeout: 180_000,
  });
  t.is(build.status, 0, why(build, byDefault));
  t.regex(build.stdout, /Successfully tagged tsrun-classic:latest/);
  // one container per RUN step and one for CMD (the classic builder commits each)
  const creates = callsOf('default').filter((l) => l.split(' ').includes('create')).length - before;
  t.true(creates >= 2, `${creates} creates through the tsrun wrapper during the build`);
  const r = byDefault!.docker(['run', '--rm', 'tsrun-classic']);
  t.is(r.status, 0, why(r, byDefault));
  t.is(r.stdout, 'built\n0\nlayered\n');
});

dockerTest('docker build (BuildKit): the RUN steps go through the `runc` first on PATH, tsrun', (t) => {
  const before = callsOf('buildkit').length;
  // BuildKit's RUN steps join the daemon's default bridge, which --bridge=none
  // leaves out: --network none gives each step a network namespace of its own
  const build = byDefault!.docker(
    ['build', '--network', 'none', '--progress', 'plain', '-t', 'tsrun-buildkit', buildContext('ctx-buildkit')],
    {
      env: { DOCKER_BUILDKIT: '1' },
      timeout: 180_000,
    },
  );
  t.is(build.status, 0, why(build, byDefault));
  const runs = callsOf('buildkit')
    .slice(before)
    .filter((l) => l.split(' ').includes('run'));
  t.true(runs.length >= 2, `BuildKit's runc calls:\n${callsOf('buildkit').slice(before).join('\n')}`);
  const r = byDefault!.docker(['run', '--rm', 'tsrun-buildkit']);
  t.is(r.status, 0, why(r, byDefault));
  t.is(r.stdout, 'built\n0\nlayered\n');
});
