/**
 * launch: the one parent-side path from a complete plan to a live process,
 * for the container's init (create) and for tenants (exec):
 *
 *   encode → spawn (clone3 + execve of tsrun-init, native/host/spawn.c;
 *   born in the v2 cgroup when there is one) →
 *   the sync loop of native/include/tsrun_sync.h → READY (the init waits on
 *   its exec fifo) or, for a tenant, EOF (its execve closed the socket)
 *
 * and, on any failure on the way, SIGKILL, reap and close what it holds, so
 * the caller only undoes what it made itself (a state dir, a cgroup). What
 * differs between create and exec arrives as data (the plan, the cgroup to
 * join) and as answers to the two messages only create gets (HOOKS, and the
 * seccomp listener fd, which exec may get too).
 */
import * as fs from 'node:fs';

import { InitStepError, TsrunError } from '../errors.js';
import type { NativeBinding } from '../native/binding.js';
import { SyncType, stepName } from '../native/constants.js';
import { encodePlan } from '../native/plan-codec.js';
import { PlanFlag, type Plan } from '../plan/types.js';
import type { Timeline } from '../timeline.js';
import { closeAll, tryClose } from './fds.js';
import type { ProcessOps } from './host.js';

/** How long a process may take to report each setup step. */
export const SYNC_TIMEOUT_MS = 60_000;

/** The cgroup the new process joins. */
export interface LaunchCgroup {
  /** A v2 directory to be born in (CLONE_INTO_CGROUP), or null. */
  v2Dir: string | null;
  /** Moves the process in (every v1 hierarchy; on v2 a no-op after CLONE_INTO_CGROUP; systemd: the unit starts with it). */
  join(pid: number): void | Promise<void>;
}

export interface LaunchRequest {
  /** Complete: launch encodes it as it is. */
  plan: Plan;
  cgroup: LaunchCgroup | null;
  /** fds that exist for the child only (namespaces, idmapped trees, the console socket): closed once it has them, whatever happens. */
  childFds: readonly number[];
  /** The longest wait for one sync message; -1: none (exec into a paused container). */
  timeoutMs: number;
  /** HOOKS: the init stopped before pivot_root for the runtime's create hooks (prestart, createRuntime). */
  onHooks?: (pid: number) => Promise<void>;
  /** After the host steps: the process is in its cgroup, so `delete` would kill it too. */
  onJoined?: () => void;
  /** The process's pid and its start time are known (after PID, before the cgroup join). */
  onPid?: (pid: number, startTime: number) => void;
  /** SECCOMP: a notify fd for linux.seccomp.listenerPath; the callee closes it. */
  onSeccomp?: (fd: number, pid: number) => void;
  /** The process's fds 0-2 (-1: the runtime's own, inherited). */
  stdio?: readonly number[];
  timeline?: Timeline;
}

export interface Launched {
  /** The process's host pid (after the fork into its pid namespace). */
  pid: number;
  /** Its /proc/<pid>/stat start time, read once at PID: against pid reuse. */
  pidStartTime: number;
  /** The pty master when process.terminal is set and no console socket was given. */
  ptyMaster: number | null;
}

/** How long the intermediate of a fork into pid/time namespaces may take to exit. */
const INTERMEDIATE_EXIT_MS = 5000;

export async function launch(native: NativeBinding, ops: ProcessOps, req: LaunchRequest): Promise<Launched> {
  const { plan, timeline: t } = req;
  const tenant = (plan.init.flags & PlanFlag.TENANT) !== 0;
  const buffer = encodePlan(plan.init);
  // execCPUAffinity.initial applies before the move into the cgroup: such a
  // process is not born there but moved at PID, like a v1 one
  const bornIn = req.cgroup?.v2Dir && plan.init.cpuAffinity.initial.length === 0 ? req.cgroup.v2Dir : null;
  let spawned: { pid: number; syncFd: number };
  try {
    spawned = spawnInto(native, buffer, bornIn, req.stdio);
  } finally {
    closeAll(req.childFds); // the child has its copies (or there is no child)
  }
  let pid = spawned.pid;
  let pidStartTime = 0;
  let intermediate = 0;
  let ptyMaster: number | null = null;
  const syncFd = spawned.syncFd;
  try {
    for (;;) {
      const msg = await native.syncRecvAsync(syncFd, req.timeoutMs);
      switch (msg.type) {
        case SyncType.IDMAP:
          if (!plan.host.idMaps) throw new TsrunError('ECHILD', 'the init asked for id maps it was not planned to have');
          await ops.writeIdMaps(pid, plan.host.idMaps);
          // Now, not at PID: the init is dumpable only while its maps are
          // written, and an unprivileged runtime cannot open the
          // oom_score_adj of a non-dumpable process (root's); the process
          // forked later inherits the value.
          if (plan.host.oomScoreAdj !== null) ops.writeOomScoreAdj(pid, plan.host.oomScoreAdj);
          native.syncSend(syncFd, SyncType.GO);
          break;
        case SyncType.PID:
          // From here on `pid` is the process's real pid; the intermediate
          // of the fork exits and is reaped before anyone waits for pid.
          if (msg.pid > 0) {
            intermediate = pid;
            pid = msg.pid;
            await reapIntermediate(native, intermediate);
            intermediate = 0;
          }
          t?.mark('clone');
          pidStartTime = native.procStartTime(pid)?.startTime ?? 0;
          req.onPid?.(pid, pidStartTime);
          // Host-side steps while it waits for GO: it runs nothing of the
          // container's before it is in its cgroup.
          await req.cgroup?.join(pid);
          if (req.cgroup) t?.mark('join');
          if (plan.host.rdt) ops.joinRdt(pid, plan.host.rdt);
          if (plan.host.oomScoreAdj !== null && !plan.host.idMaps) ops.writeOomScoreAdj(pid, plan.host.oomScoreAdj);
          if (plan.host.rlimits.length) ops.setRlimits(pid, plan.host.rlimits);
          ops.moveNetDevices(pid, plan.host.netDevices);
          req.onJoined?.();
          // with its pid as we see it: the state its own hooks read
          native.syncSend(syncFd, SyncType.GO, pid);
          break;
        case SyncType.HOOKS:
          if (!req.onHooks) throw new TsrunError('ECHILD', 'the process stopped for create hooks it does not have');
          await req.onHooks(pid);
          t?.mark('hooks');
          native.syncSend(syncFd, SyncType.GO, pid);
          break;
        case SyncType.PTY:
          ptyMaster = msg.fd;
          break;
        case SyncType.SECCOMP:
          if (!req.onSeccomp) {
            tryClose(msg.fd);
            throw new TsrunError('ECHILD', 'the process sent a seccomp notify fd nobody listens for');
          }
          req.onSeccomp(msg.fd, pid);
          t?.mark('seccomp');
          break;
        case SyncType.READY:
          if (t) initSteps(native, t, msg.message);
          t?.mark('init');
          if (tenant) await awaitExec(native, syncFd, req.timeoutMs);
          return { pid, pidStartTime, ptyMaster };
        case SyncType.ERROR:
          throw new InitStepError(stepName(msg.step), msg.errno, msg.code, msg.message);
        case SyncType.EOF:
          throw diedSilently(native, pid);
        default:
          throw new TsrunError('ECHILD', `unexpected sync message ${msg.type}`);
      }
    }
  } catch (e) {
    // gone before we say so: what failed leaves no process behind (runc's
    // exec, too, returns only once its process is reaped)
    await Promise.all([killAndReap(native, ops, intermediate), killAndReap(native, ops, pid)]);
    if (ptyMaster !== null) tryClose(ptyMaster);
    throw e;
  } finally {
    tryClose(syncFd);
  }
}

/** The init's own step times (READY's message: "<t0 ns> <step>:<end µs> …") as `init.<step>` spans. */
function initSteps(native: NativeBinding, t: Timeline, times: string): void {
  const [t0, ...steps] = times.split(' ');
  if (!t0 || !steps.length) return;
  // the init's clock is CLOCK_MONOTONIC; the timeline's performance.now()
  const toPerf = performance.now() - native.monotonicMs();
  let start = Number(t0) / 1e6 + toPerf;
  for (const s of steps) {
    const [id, us] = s.split(':');
    const end = Number(t0) / 1e6 + Number(us) / 1e3 + toPerf;
    if (end - start >= 0.05) t.markSpan(`init.${stepName(Number(id))}`, start, end);
    start = end;
  }
}

/**
 * A tenant keeps its end of the socket open, close-on-exec, past READY:
 * EOF means execve replaced it; an ERROR that execve failed.
 */
async function awaitExec(native: NativeBinding, syncFd: number, timeoutMs: number): Promise<void> {
  const msg = await native.syncRecvAsync(syncFd, timeoutMs);
  if (msg.type === SyncType.EOF) return;
  if (msg.type === SyncType.ERROR) throw new InitStepError(stepName(msg.step), msg.errno, msg.code, msg.message);
  throw new TsrunError('ECHILD', `unexpected sync message ${msg.type} after READY`);
}

function spawnInto(
  native: NativeBinding,
  buffer: Uint8Array,
  cgroupDir: string | null,
  stdio: readonly number[] = [-1, -1, -1],
): { pid: number; syncFd: number } {
  if (!cgroupDir) return native.spawn(buffer, -1, stdio);
  const fd = fs.openSync(cgroupDir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    return native.spawn(buffer, fd, stdio);
  } finally {
    fs.closeSync(fd);
  }
}

/** The intermediate exits right after it reports the pid: reaped off the event loop (it is our child). */
async function reapIntermediate(native: NativeBinding, pid: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), INTERMEDIATE_EXIT_MS)));
  try {
    if ((await Promise.race([native.waitPid(pid), late])) === 'late')
      throw new TsrunError('ECHILD', `the intermediate process ${pid} did not exit after reporting the pid`);
  } finally {
    clearTimeout(timer);
  }
}

function diedSilently(native: NativeBinding, pid: number): TsrunError {
  let status = null;
  try {
    status = native.reap(pid);
  } catch {
    /* not ours to reap */
  }
  const how = status?.signal ? `was killed by signal ${status.signal}` : 'exited';
  return new TsrunError('ECHILD', `the container process ${how} during setup without reporting an error`);
}

/** SIGKILL, then reaped off the event loop: a failed launch leaves no process, not even a zombie. */
async function killAndReap(native: NativeBinding, ops: ProcessOps, pid: number): Promise<void> {
  if (pid <= 0) return;
  ops.kill(pid, 9);
  await native.waitPid(pid).catch(() => undefined);
}
