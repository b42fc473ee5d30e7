/**
 * The Kubernetes path: containerd 1.6's CRI plugin drives the runtime under
 * test, as a kubelet would, through the CRI's gRPC RuntimeService
 * (tests/helpers/cri.ts). A PRIVATE containerd (tests/helpers/containerd.ts)
 * has a runtime handler `tsrun` (the runc shim v2 with BinaryName = the
 * runtime under test) which each pod selects with runtime_handler, as a
 * RuntimeClass does. The pause and workload images are built from
 * busybox-static and imported, so nothing is pulled; pods use the host
 * network, so no CNI is needed.
 * Skipped where containerd is not installed or not root.
 * TSRUN_ENGINE_RUNTIME=/usr/sbin/runc runs the same tests against runc.
 */
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { leftIn, processesMatching, RUNC } from '../helpers/bundle.js';
import { buildImages, type Containerd, containerdAvailable, CRI_NAMESPACE, startContainerd } from '../helpers/containerd.js';
import {
  type ContainerConfig,
  ContainerState,
  containerStateName,
  CriClient,
  CriError,
  MountPropagation,
  NamespaceMode,
  type PodSandboxConfig,
  PodSandboxState,
} from '../helpers/cri.js';
import { APPARMOR, ENGINE_RUNTIME, SYSTEMD_HOST, apparmorLabel, cgroupDir } from '../helpers/engine.js';
import { cgroupHierarchies } from '../helpers/leaks.js';
import { waitFor } from '../helpers/wait.js';

const enabled = containerdAvailable();
const criTest = enabled ? test.serial : test.skip;

const HANDLER = 'tsrun';
const PAUSE_IMAGE = 'localhost/tsrun-pause:latest';
const IMAGE = 'localhost/tsrun-bb:latest';
/** Tells this run's processes from anyone else's, in /proc/<pid>/cmdline. */
const MARK = `tsrun-cri-${process.pid}`;
/**
 * The pods' cgroup_parent, as a kubelet sends it. With the cgroupfs driver a
 * path: containerd puts each container at <parent>/<id>. With the systemd
 * driver (a systemd host: SystemdCgroup is on) the pod's slice, named as a
 * kubelet with cgroupDriver systemd names a BestEffort pod's
 * (kubepods-besteffort-pod<uid, dashes as underscores>.slice): containerd
 * gives the runtime `<slice>:cri-containerd:<id>`, a scope in that slice,
 * and systemd starts the slice and its parents (kubepods.slice,
 * kubepods-besteffort.slice) with the first one.
 */
const POD_SLICE = `kubepods-besteffort-pod${MARK.replace(/-/g, '_')}.slice`;
const CGROUP_PARENT = SYSTEMD_HOST ? POD_SLICE : `/${MARK}`;
/** The pods' cgroup, relative to the (each v1) hierarchy's root. */
const POD_CGROUP = SYSTEMD_HOST ? `kubepods.slice/kubepods-besteffort.slice/${POD_SLICE}` : MARK;
/** The cgroup of container `id`, relative to the hierarchy's root. */
const containerCgroup = (id: string) => `${POD_CGROUP}/${SYSTEMD_HOST ? `cri-containerd-${id}.scope` : id}`;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-cri-'));
/** Every runtime call the shim makes, one argv a line: the proof that the handler's binary is what runs. */
const argvLog = path.join(dir, 'runtime-argv.log');
const wrapper = path.join(dir, 'runtime');

let daemon: Containerd | undefined;
let cri: CriClient | undefined;
/** The runtime's --root for the CRI's containers: the handler's Root plus the namespace. */
const runtimeRoot = () => path.join(daemon!.cri!.runtimeRoot, CRI_NAMESPACE);

// The pause process is PID 1 of its own pid namespace, where an unhandled
// TERM is ignored: trap it. `wait` returns as soon as a trapped signal
// arrives, where a foreground sleep would delay the trap until it ends.
// containerd stops a sandbox with SIGKILL, which needs no handler.
const PAUSE = `: ${MARK}-pause; trap "exit 0" TERM INT; sleep 2147483647 & wait`;
// TERM makes the workload exit 42, so its status tells a TERM from the KILL after the grace period.
const WORKLOAD = `: ${MARK}-work; trap "exit 42" TERM; echo started; while true; do sleep 0.1; done`;

/** What a kubelet sends for a hostNetwork pod: the node's network, a pid namespace per container, the pod's IPC. */
const namespaceOptions = { network: NamespaceMode.NODE, pid: NamespaceMode.CONTAINER, ipc: NamespaceMode.POD };

const podConfig = (name: string): PodSandboxConfig => ({
  metadata: { name, uid: `${MARK}-${name}`, namespace: 'tsrun-test' },
  logDirectory: path.join(dir, 'pods', name),
  linux: { cgroupParent: CGROUP_PARENT, securityContext: { namespaceOptions } },
});

const containerConfig = (name: string, script: string): ContainerConfig => ({
  metadata: { name },
  image: IMAGE,
  command: ['sh', '-c', script],
  logPath: `${name}.log`,
  linux: { securityContext: { namespaceOptions } },
});

/** The pod every test after RunPodSandbox works in, and the long-running workload in it. */
const POD = podConfig('pod');
let podId: string | undefined;
let workId: string | undefined;

function runtimeArgv(): string[] {
  try {
    return fs.readFileSync(argvLog, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

/** `<runtime> state <id>` in the handler's root, as the runtime itself answers it. */
function runtimeState(id: string): { status: number | null; state?: { status: string; pid: number }; stderr: string } {
  const r = spawnSync(ENGINE_RUNTIME, ['--root', runtimeRoot(), 'state', id], { encoding: 'utf8', timeout: 15_000 });
  let state;
  try {
    state = r.status === 0 ? JSON.parse(r.stdout) : undefined;
  } catch {
    /* left undefined: the caller reports stdout */
  }
  return { status: r.status, state, stderr: r.stderr + r.stdout };
}

/** The shim's bundle of a CRI container, where the runtime's --log is. */
const runtimeLog = (id: string) => {
  try {
    return fs.readFileSync(path.join(daemon!.state, 'io.containerd.runtime.v2.task', CRI_NAMESPACE, id, 'log.json'), 'utf8');
  } catch {
    return '';
  }
};

/** What to show when a CRI call fails: its error and the daemon's last log lines. */
function why(e: unknown, id?: string): string {
  const log = fs.existsSync(daemon?.log ?? '') ? fs.readFileSync(daemon!.log, 'utf8').split('\n').slice(-15).join('\n') : '';
  return `${e instanceof Error ? e.message : String(e)}\n${id ? runtimeLog(id) : ''}\n--- containerd.log (tail)\n${log}`;
}

/** Runs a CRI call, failing the test with its error rather than throwing past the assertions. */
async function ok<T>(t: ExecutionContext, what: Promise<T>, id?: string): Promise<T | undefined> {
  try {
    return await what;
  } catch (e) {
    t.fail(why(e, id));
    return undefined;
  }
}

/** RunPodSandbox (through `handler`, or the default runtime), the pod stopped and removed at teardown; undefined: it failed the test. */
async function runPod(t: ExecutionContext, config: PodSandboxConfig, handler?: string): Promise<string | undefined> {
  fs.mkdirSync(config.logDirectory!, { recursive: true });
  const pod = await ok(t, cri!.runPodSandbox(config, handler));
  if (pod)
    t.teardown(async () => {
      await cri!.stopPodSandbox(pod).catch(() => {});
      await cri!.removePodSandbox(pod).catch(() => {});
    });
  return pod;
}

const nsOf = (pid: number | string, ns: string) => fs.readlinkSync(`/proc/${pid}/ns/${ns}`);

/** Child cgroups left under the pods' parent, in every hierarchy (the unified one alone on cgroup v2). */
function leftoverCgroups(): string[] {
  return cgroupHierarchies().flatMap((h) => {
    const p = path.join(h, POD_CGROUP);
    try {
      return fs
        .readdirSync(p, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => path.join(p, e.name));
    } catch {
      return [];
    }
  });
}

test.before(async () => {
  if (!enabled) return;
  // The handler's binary: records its argv, then runs the runtime under test.
  fs.writeFileSync(wrapper, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${argvLog}'\nexec '${ENGINE_RUNTIME}' "$@"\n`, { mode: 0o755 });
  daemon = await startContainerd({
    cri: { handler: HANDLER, runtime: wrapper, sandboxImage: PAUSE_IMAGE },
    cgroupParents: SYSTEMD_HOST ? ['kubepods.slice', 'kubepods-besteffort.slice', POD_SLICE] : [MARK],
  });
  const archive = path.join(dir, 'images.tar');
  buildImages(archive, [{ name: PAUSE_IMAGE, entrypoint: ['/bin/sh', '-c', PAUSE] }, { name: IMAGE }]);
  daemon.importImages(CRI_NAMESPACE, archive);
  cri = new CriClient(daemon.address);
  // containerd boots without a plugin whose config it rejects: say so here, with its reason, rather than in every test
  await cri.version().catch((e: unknown) => {
    throw new Error(`the CRI plugin does not answer: ${why(e)}`);
  });
  // the CRI plugin fills its image cache from containerd's image events, so wait until both names are in it
  const ls = () => daemon!.ctr(CRI_NAMESPACE, ['images', 'ls', '-q']).stdout.split('\n');
  if (!(await waitFor(() => ls().includes(PAUSE_IMAGE) && ls().includes(IMAGE)))) throw new Error(`images not imported: ${ls().join(' ')}`);
});

test.after.always(async () => {
  if (cri) {
    // whatever a failed test left behind, the way a kubelet would remove it
    for (const p of await cri.listPodSandbox().catch(() => [])) {
      await cri.stopPodSandbox(p.id).catch(() => {});
      await cri.removePodSandbox(p.id).catch(() => {});
    }
    cri.close();
  }
  if (daemon) await daemon.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

criTest('Version: containerd answers the CRI v1 RuntimeService', async (t) => {
  const v = await ok(t, cri!.version());
  t.is(v?.runtimeName, 'containerd');
  t.is(v?.runtimeApiVersion, 'v1');
  t.truthy(v?.runtimeVersion);
});

criTest('RunPodSandbox with runtime_handler "tsrun": the pause container runs through the handler\'s runtime', async (t) => {
  fs.mkdirSync(POD.logDirectory!, { recursive: true });
  podId = await ok(t, cri!.runPodSandbox(POD, HANDLER));
  if (!podId) return;
  const status = await ok(t, cri!.podSandboxStatus(podId), podId);
  t.is(status?.state, PodSandboxState.SANDBOX_READY);
  t.is(status?.runtimeHandler, HANDLER);

  // the shim ran the handler's binary: create, then start, of the sandbox's container
  const argv = runtimeArgv();
  t.true(
    argv.some((l) => /(^| )create /.test(l) && l.endsWith(` ${podId}`)),
    argv.join('\n'),
  );
  t.true(
    argv.some((l) => /(^| )start /.test(l) && l.endsWith(` ${podId}`)),
    argv.join('\n'),
  );
  // and the runtime itself knows the pause container, under the handler's Root
  const st = runtimeState(podId);
  t.is(st.status, 0, st.stderr);
  t.is(st.state?.status, 'running');
  if (st.state) {
    // runc's start returns once the fifo is read, a moment before its init has exec'd the program
    const cmdline = () => fs.readFileSync(`/proc/${st.state!.pid}/cmdline`, 'utf8');
    await waitFor(() => new RegExp(`${MARK}-pause`).test(cmdline()));
    t.regex(cmdline(), new RegExp(`${MARK}-pause`));
  }
  t.true(daemon!.ctr(CRI_NAMESPACE, ['containers', 'ls', '-q']).stdout.split('\n').includes(podId));
});

criTest("CreateContainer + StartContainer: the workload runs in the pod's namespaces, through the runtime", async (t) => {
  if (!podId) return t.fail('no pod');
  workId = await ok(t, cri!.createContainer(podId, containerConfig('work', WORKLOAD), POD));
  if (!workId) return;
  const created = await ok(t, cri!.containerStatus(workId), workId);
  t.is(containerStateName(created?.state ?? -1), 'CONTAINER_CREATED');
  // the CRI creates the task, so the runtime's container, only in StartContainer
  t.regex(runtimeState(workId).stderr, /does not exist/);

  await ok(t, cri!.startContainer(workId), workId);
  const running = await ok(t, cri!.containerStatus(workId), workId);
  t.is(containerStateName(running?.state ?? -1), 'CONTAINER_RUNNING', why('', workId));
  t.true((running?.startedAt ?? 0n) > 0n);
  const st = runtimeState(workId);
  t.is(st.state?.status, 'running', st.stderr);
  // its stdout reaches the CRI log file, in the CRI log format (time stream tag text)
  const logFile = path.join(POD.logDirectory!, 'work.log');
  t.true(await waitFor(() => fs.existsSync(logFile) && / stdout F started$/m.test(fs.readFileSync(logFile, 'utf8'))), logFile);

  // the pod's IPC namespace (the pause container's), the node's network, a pid namespace of its own
  const pause = runtimeState(podId).state;
  if (!st.state || !pause) return t.fail('no pids');
  t.is(nsOf(st.state.pid, 'ipc'), nsOf(pause.pid, 'ipc'), 'joins the pod IPC namespace');
  t.is(nsOf(st.state.pid, 'net'), nsOf('self', 'net'), 'host network');
  t.not(nsOf(st.state.pid, 'pid'), nsOf(pause.pid, 'pid'), 'pid namespace per container');
  t.not(nsOf(st.state.pid, 'pid'), nsOf('self', 'pid'));
  // where AppArmor is on, containerd's default profile for a pod that asks for none
  if (APPARMOR) t.is(apparmorLabel(st.state.pid), 'cri-containerd.apparmor.d (enforce)');
  // in its cgroup under the pod's parent (its scope in the pod's slice, with the systemd driver)
  t.regex(fs.readFileSync(`/proc/${st.state.pid}/cgroup`, 'utf8'), new RegExp(`:/${containerCgroup(workId)}$`, 'm'));
});

criTest('ExecSync: stdout, stderr and exit codes, in the container', async (t) => {
  if (!workId) return t.fail('no container');
  const out = await ok(t, cri!.execSync(workId, ['sh', '-c', 'echo to stdout; echo to stderr >&2']), workId);
  t.deepEqual(out, { stdout: 'to stdout\n', stderr: 'to stderr\n', exitCode: 0 });
  const exit3 = await ok(t, cri!.execSync(workId, ['sh', '-c', 'echo partial; exit 3']), workId);
  t.deepEqual(exit3, { stdout: 'partial\n', stderr: '', exitCode: 3 });
  const killed = await ok(t, cri!.execSync(workId, ['sh', '-c', 'kill -9 $$']), workId);
  t.is(killed?.exitCode, 128 + 9);
  // it sees the container's own processes: its init is the workload
  const init = await ok(t, cri!.execSync(workId, ['cat', '/proc/1/cmdline']), workId);
  t.regex(init?.stdout ?? '', new RegExp(`^sh\0-c\0: ${MARK}-work`));
  // a program that is not there is an error of the call, with the runtime's message, as kubelet's probes see it
  const missing = await cri!.execSync(workId, ['no-such-program']).then(
    (r) => r,
    (e: unknown) => e,
  );
  t.true(missing instanceof CriError, `resolved with ${JSON.stringify(missing)}`);
  t.regex(String((missing as Error).message), /executable file not found in \$PATH/);
  const st = await ok(t, cri!.containerStatus(workId), workId);
  t.is(containerStateName(st?.state ?? -1), 'CONTAINER_RUNNING', 'the container outlives its execs');
});

criTest('ExecSync past its timeout: an error, the process is killed, the container runs on', async (t) => {
  if (!workId) return t.fail('no container');
  const id = workId;
  const began = Date.now();
  const r = await cri!.execSync(id, ['sleep', '37'], 1).then(
    (x) => x,
    (e: unknown) => e,
  );
  t.true(Date.now() - began < 20_000, `returned after ${Date.now() - began} ms, not when sleep 37 ended`);
  // what a kubelet's exec probe with timeoutSeconds sees
  t.true(r instanceof CriError, `resolved with ${JSON.stringify(r)}`);
  t.regex(String((r as Error).message), /timeout 1s exceeded/);
  t.true(
    await waitFor(async () => !(await cri!.execSync(id, ['ps', '-o', 'args'])).stdout.includes('sleep 37')),
    'the timed-out process is gone',
  );
  const st = await ok(t, cri!.containerStatus(id), id);
  t.is(containerStateName(st?.state ?? -1), 'CONTAINER_RUNNING');
});

criTest('ContainerStatus: a container that exits is EXITED with its exit code; RemoveContainer removes it', async (t) => {
  if (!podId) return t.fail('no pod');
  const id = await ok(t, cri!.createContainer(podId, containerConfig('quits', 'echo bye; exit 7'), POD));
  if (!id) return;
  await ok(t, cri!.startContainer(id), id);
  t.true(await waitFor(async () => (await cri!.containerStatus(id)).state === ContainerState.CONTAINER_EXITED), why('', id));
  const st = await ok(t, cri!.containerStatus(id), id);
  t.is(st?.exitCode, 7);
  t.is(st?.reason, 'Error');
  // both set; not ordered: the CRI stamps startedAt when the start call returns, which a quick exit can precede
  t.true((st?.startedAt ?? 0n) > 0n && (st?.finishedAt ?? 0n) > 0n, `startedAt ${st?.startedAt}, finishedAt ${st?.finishedAt}`);
  t.regex(fs.readFileSync(path.join(POD.logDirectory!, 'quits.log'), 'utf8'), / stdout F bye$/m);

  await ok(t, cri!.removeContainer(id), id);
  const gone = await cri!.containerStatus(id).catch((e: unknown) => e);
  t.true(gone instanceof CriError && gone.code === 5 /* NOT_FOUND */, String(gone));
  t.regex(runtimeState(id).stderr, /does not exist/, "the runtime's state is gone");
  t.true(
    runtimeArgv().some((l) => /(^| )delete /.test(l) && l.endsWith(` ${id}`)),
    runtimeArgv().join('\n'),
  );
});

criTest('StopContainer: SIGTERM within the grace period, EXITED with the code of its trap; RemoveContainer', async (t) => {
  if (!workId) return t.fail('no container');
  const id = workId;
  const pid = runtimeState(id).state?.pid;
  const began = Date.now();
  await ok(t, cri!.stopContainer(id, 20), id);
  t.true(Date.now() - began < 15_000, 'it went on TERM, not on the KILL after the grace period');
  const st = await ok(t, cri!.containerStatus(id), id);
  t.is(containerStateName(st?.state ?? -1), 'CONTAINER_EXITED');
  t.is(st?.exitCode, 42);
  if (pid) t.false(fs.existsSync(`/proc/${pid}`), 'the process is gone');

  await ok(t, cri!.removeContainer(id), id);
  const gone = await cri!.containerStatus(id).catch((e: unknown) => e);
  t.true(gone instanceof CriError && gone.code === 5 /* NOT_FOUND */, String(gone));
  t.regex(runtimeState(id).stderr, /does not exist/);
  workId = undefined;
});

criTest('StopContainer past the grace period: a container that ignores TERM is killed, exit 137', async (t) => {
  if (!podId) return t.fail('no pod');
  const id = await ok(
    t,
    cri!.createContainer(podId, containerConfig('stubborn', `: ${MARK}-stubborn; trap "" TERM; while true; do sleep 0.1; done`), POD),
  );
  if (!id) return;
  t.teardown(() => cri!.removeContainer(id).catch(() => {}));
  await ok(t, cri!.startContainer(id), id);
  const began = Date.now();
  await ok(t, cri!.stopContainer(id, 1), id);
  const took = Date.now() - began;
  t.true(took >= 1000 && took < 10_000, `stopped after ${took} ms`);
  const st = await ok(t, cri!.containerStatus(id), id);
  t.is(containerStateName(st?.state ?? -1), 'CONTAINER_EXITED');
  t.is(st?.exitCode, 128 + 9);
  t.true(
    runtimeArgv().some((l) => /(^| )kill /.test(l) && l.endsWith(` ${id} 9`)),
    runtimeArgv().join('\n'),
  );
  await ok(t, cri!.removeContainer(id), id);
});

criTest('A container over its memory limit: OOMKilled, exit 137', async (t) => {
  if (!podId) return t.fail('no pod');
  const config = containerConfig('oom', 'x=0123456789abcdef; while :; do x=$x$x; done');
  // no swap to spill into here (the test host has none; memory_swap_limit_in_bytes is left unset)
  config.linux = { ...config.linux, resources: { memoryLimitInBytes: 16 * 1024 * 1024 } };
  const id = await ok(t, cri!.createContainer(podId, config, POD));
  if (!id) return;
  t.teardown(() => cri!.removeContainer(id).catch(() => {}));
  await ok(t, cri!.startContainer(id), id);
  t.true(await waitFor(async () => (await cri!.containerStatus(id)).state === ContainerState.CONTAINER_EXITED, 30_000), why('', id));
  const st = await ok(t, cri!.containerStatus(id), id);
  t.is(st?.exitCode, 128 + 9);
  // the shim watches the container's memory cgroup for OOM events: the runtime put it there
  t.is(st?.reason, 'OOMKilled');
  await ok(t, cri!.removeContainer(id), id);
});

/** A controller's file of the cgroup a process is in (v1: the controller's hierarchy; v2: the unified one). */
const cgroupFile = (pid: number, controller: string, file: string) =>
  fs.readFileSync(path.join(cgroupDir(pid, controller), file), 'utf8').trim();

criTest(
  'A kubelet-shaped pod: a shared pid namespace, limits, a user and a read-only rootfs; UpdateContainerResources resizes',
  async (t) => {
    // shareProcessNamespace: every container joins the pause container's pid namespace
    const shared = { network: NamespaceMode.NODE, pid: NamespaceMode.POD, ipc: NamespaceMode.POD };
    const config: PodSandboxConfig = {
      ...podConfig('shaped'),
      linux: { cgroupParent: CGROUP_PARENT, securityContext: { namespaceOptions: shared } },
    };
    const pod = await runPod(t, config, HANDLER);
    if (!pod) return;
    const MiB = 1024 * 1024;
    const id = await ok(
      t,
      cri!.createContainer(
        pod,
        {
          ...containerConfig('shaped', WORKLOAD),
          linux: {
            resources: { cpuPeriod: 100_000, cpuQuota: 50_000, cpuShares: 512, memoryLimitInBytes: 64 * MiB },
            securityContext: { namespaceOptions: shared, runAsUser: 1000, readonlyRootfs: true },
          },
        },
        config,
      ),
      pod,
    );
    if (!id) return;
    await ok(t, cri!.startContainer(id), id);
    const st = runtimeState(id);
    t.is(st.state?.status, 'running', st.stderr + runtimeLog(id));
    if (!st.state) return;

    const ps = await ok(t, cri!.execSync(id, ['sh', '-c', 'cat /proc/1/cmdline; echo; id -u']), id);
    t.regex(
      ps?.stdout ?? '',
      new RegExp(`^/bin/sh\0-c\0: ${MARK}-pause.*\n1000\n$`),
      "PID 1 is the pod's pause; the exec runs as the container's user",
    );
    const ro = await ok(t, cri!.execSync(id, ['touch', '/file']), id);
    t.not(ro?.exitCode, 0);
    t.regex(ro?.stderr ?? '', /Read-only file system/);
    // the files the CRI mounts in are there on a read-only rootfs
    const etc = await ok(
      t,
      cri!.execSync(id, ['sh', '-c', 'test -f /etc/hosts && test -f /etc/resolv.conf && test -d /dev/shm && echo ok']),
      id,
    );
    t.is(etc?.stdout, 'ok\n', etc?.stderr);

    const v2 = fs.existsSync('/sys/fs/cgroup/cgroup.controllers');
    const limits = () =>
      v2
        ? [cgroupFile(st.state!.pid, 'memory', 'memory.max'), cgroupFile(st.state!.pid, 'cpu', 'cpu.max')]
        : [cgroupFile(st.state!.pid, 'memory', 'memory.limit_in_bytes'), cgroupFile(st.state!.pid, 'cpu', 'cpu.cfs_quota_us')];
    t.deepEqual(limits(), v2 ? [`${64 * MiB}`, '50000 100000'] : [`${64 * MiB}`, '50000']);
    if (!v2) t.is(cgroupFile(st.state.pid, 'cpu', 'cpu.shares'), '512');

    await ok(
      t,
      cri!.updateContainerResources(id, { cpuPeriod: 100_000, cpuQuota: 20_000, cpuShares: 512, memoryLimitInBytes: 128 * MiB }),
      id,
    );
    t.deepEqual(limits(), v2 ? [`${128 * MiB}`, '20000 100000'] : [`${128 * MiB}`, '20000']);
    t.true(
      runtimeArgv().some((l) => /(^| )update /.test(l) && l.endsWith(` ${id}`)),
      runtimeArgv().join('\n'),
    );

    // RemovePodSandbox stops and removes the pod's containers too
    await ok(t, cri!.stopPodSandbox(pod), pod);
    t.false(fs.existsSync(`/proc/${st.state.pid}`), 'the workload went with the pod');
    await ok(t, cri!.removePodSandbox(pod), pod);
    t.regex(runtimeState(id).stderr, /does not exist/);
    t.regex(runtimeState(pod).stderr, /does not exist/);
  },
);

(RUNC ? criTest : test.skip)("RunPodSandbox without a runtime_handler: the default runtime runs it, not the handler's", async (t) => {
  // what routes a pod to tsrun is the handler alone, as a RuntimeClass would: a pod without one stays on runc
  const config = podConfig('default');
  const id = await runPod(t, config);
  if (!id) return;
  const status = await ok(t, cri!.podSandboxStatus(id), id);
  t.is(status?.state, PodSandboxState.SANDBOX_READY);
  t.is(status?.runtimeHandler, '');
  t.false(
    runtimeArgv().some((l) => l.includes(id)),
    "the handler's binary was not run for it",
  );
  const runc = spawnSync(RUNC!, ['--root', path.join(daemon!.cri!.runcRoot, CRI_NAMESPACE), 'state', id], { encoding: 'utf8' });
  t.is(runc.status, 0, runc.stderr);
  await ok(t, cri!.stopPodSandbox(id), id);
  await ok(t, cri!.removePodSandbox(id), id);
});

criTest(
  "volumes' mountPropagation: Bidirectional passes mounts node → container and back, HostToContainer only into the container",
  async (t) => {
    // A kubelet allows Bidirectional to privileged containers only; containerd wants the host path on a shared
    // mount, binds it rshared and sets rootfsPropagation rshared (HostToContainer: an rslave bind). So the node's
    // side is a tmpfs made shared here, as a kubelet's pod volume dir is on a shared mount.
    const vols = ['bidi', 'h2c'].map((n) => path.join(dir, `vol-${n}`));
    for (const v of vols) {
      fs.mkdirSync(v);
      t.is(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tsrun-vol', v]).status, 0);
      t.is(spawnSync('mount', ['--make-shared', v]).status, 0);
      for (const sub of ['h2c', 'c2h']) fs.mkdirSync(path.join(v, sub));
    }
    t.teardown(() => {
      for (const v of vols) spawnSync('umount', ['-R', '-l', v]);
    });
    const securityContext = { namespaceOptions, privileged: true };
    const config: PodSandboxConfig = { ...podConfig('volumes'), linux: { cgroupParent: CGROUP_PARENT, securityContext } };
    const pod = await runPod(t, config, HANDLER);
    if (!pod) return;
    const id = await ok(
      t,
      cri!.createContainer(
        pod,
        {
          ...containerConfig('volumes', WORKLOAD),
          mounts: [
            { containerPath: '/bidi', hostPath: vols[0]!, propagation: MountPropagation.PROPAGATION_BIDIRECTIONAL },
            { containerPath: '/h2c', hostPath: vols[1]!, propagation: MountPropagation.PROPAGATION_HOST_TO_CONTAINER },
          ],
          linux: { securityContext },
        },
        config,
      ),
    );
    if (!id) return;
    await ok(t, cri!.startContainer(id), id);
    for (const v of vols) t.is(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tsrun-h2c', path.join(v, 'h2c')]).status, 0);
    const r = await ok(
      t,
      cri!.execSync(id, [
        'sh',
        '-c',
        'mount -t tmpfs -o size=1m tsrun-c2h /bidi/c2h && mount -t tmpfs -o size=1m tsrun-c2h /h2c/c2h && ' +
          'grep -E " /(bidi|h2c)/h2c " /proc/self/mountinfo | cut -d" " -f5',
      ]),
      id,
    );
    t.is(r?.exitCode, 0, r?.stderr);
    t.is(r?.stdout, '/bidi/h2c\n/h2c/h2c\n', "the node's mounts, in the container");
    const onNode = fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4]);
    t.true(onNode.includes(path.join(vols[0]!, 'c2h')), "Bidirectional: the container's mount, on the node");
    t.false(onNode.includes(path.join(vols[1]!, 'c2h')), "HostToContainer: the container's mount stays in the container");
  },
);

criTest('StopPodSandbox + RemovePodSandbox: no container, runtime state, process, shim or cgroup is left', async (t) => {
  if (!podId) return t.fail('no pod');
  const id = podId;
  const pid = runtimeState(id).state?.pid;
  await ok(t, cri!.stopPodSandbox(id), id);
  const stopped = await ok(t, cri!.podSandboxStatus(id), id);
  t.is(stopped?.state, PodSandboxState.SANDBOX_NOTREADY);
  if (pid) t.false(fs.existsSync(`/proc/${pid}`), 'the pause process is gone');
  await ok(t, cri!.removePodSandbox(id), id);
  podId = undefined;

  t.deepEqual(await ok(t, cri!.listPodSandbox()), []);
  t.deepEqual(await ok(t, cri!.listContainers()), []);
  t.deepEqual(daemon!.ctr(CRI_NAMESPACE, ['containers', 'ls', '-q']).stdout.split('\n').filter(Boolean), []);
  t.deepEqual(daemon!.ctr(CRI_NAMESPACE, ['tasks', 'ls', '-q']).stdout.split('\n').filter(Boolean), []);
  t.regex(runtimeState(id).stderr, /does not exist/);
  t.deepEqual(leftIn(runtimeRoot()), [], 'nothing in the runtime root');
  t.deepEqual(processesMatching(MARK), [], 'no pause or workload process');
  t.true(await waitFor(() => daemon!.shims().length === 0), `shims left: ${daemon!.shims().join(' ')}`);
  t.deepEqual(leftoverCgroups(), []);
  t.true(
    runtimeArgv().some((l) => /(^| )delete /.test(l) && l.endsWith(` ${id}`)),
    runtimeArgv().join('\n'),
  );
});
