/**
 * launch: the one parent-side path from a complete plan to a live process,
 * for the container's init (create) and for tenants (exec). Its mechanics —
 * spawn, the sync loop, the intermediate's reaping, kill-reap-cleanup —
 * are native/host/launch.c's (the front's cached exec uses them too); what
 * is decided here is each step's host-side work:
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
import type { LaunchHandle, NativeBinding } from '../native/binding.js';
import { fromHost } from '../native/host.js';
import { SyncType, stepName } from '../native/constants.js';
import { encodePlan } from '../native/plan-codec.js';
import type { Plan } from '../plan/types.js';
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

export async function launch(native: NativeBinding, ops: ProcessOps, req: LaunchRequest): Promise<Launched> {
  const { plan, timeline: t } = req;
  // execCPUAffinity.initial applies before the move into the cgroup: such a
  // process is not born there but moved at PID, like a v1 one
  const bornIn = req.cgroup?.v2Dir && plan.init.cpuAffinity.initial.length === 0 ? req.cgroup.v2Dir : null;
  let started: { handle: LaunchHandle; pid: number };
  try {
    started = startIn(native, encodePlan(plan.init), bornIn, req.stdio, req.timeoutMs);
  } finally {
    closeAll(req.childFds); // the child has its copies (or there is no child)
  }
  const { handle } = started;
  let pid = started.pid;
  let pidStartTime = 0;
  let ptyMaster = -1;
  try {
    for (;;) {
      const ev = await native.launchNext(handle);
      ptyMaster = ev.ptyMaster;
      switch (ev.type) {
        case SyncType.IDMAP:
          if (!plan.host.idMaps) throw new TsrunError('ECHILD', 'the init asked for id maps it was not planned to have');
          await ops.writeIdMaps(pid, plan.host.idMaps);
          // Now, not at PID: the init is dumpable only while its maps are
          // written, and an unprivileged runtime cannot open the
          // oom_score_adj of a non-dumpable process (root's); the process
          // forked later inherits the value.
          if (plan.host.oomScoreAdj !== null) ops.writeOomScoreAdj(pid, plan.host.oomScoreAdj);
          native.launchGo(handle);
          break;
        case SyncType.PID:
          // the real pid (launch.c reaped the intermediate of the fork)
          pid = ev.pid;
          pidStartTime = ev.startTime;
          t?.mark('clone');
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
          native.launchGo(handle, pid);
          break;
        case SyncType.HOOKS:
          if (!req.onHooks) throw new TsrunError('ECHILD', 'the process stopped for create hooks it does not have');
          await req.onHooks(pid);
          t?.mark('hooks');
          native.launchGo(handle, pid);
          break;
        case SyncType.SECCOMP:
          if (!req.onSeccomp) {
            tryClose(ev.fd);
            throw new TsrunError('ECHILD', 'the process sent a seccomp notify fd nobody listens for');
          }
          req.onSeccomp(ev.fd, pid);
          t?.mark('seccomp');
          break;
        case SyncType.READY:
          // (a tenant: launch.c has seen its execve too)
          if (t) initSteps(native, t, ev.message);
          t?.mark('init');
          native.launchClose(handle);
          return { pid, pidStartTime, ptyMaster: ptyMaster >= 0 ? ptyMaster : null };
        case SyncType.ERROR:
          throw new InitStepError(stepName(ev.step), ev.errno, ev.code, ev.message, ev.text!);
        default:
          throw new TsrunError('ECHILD', `unexpected launch event ${ev.type}`);
      }
    }
  } catch (e) {
    // gone before we say so: what failed leaves no process behind (runc's
    // exec, too, returns only once its process is reaped); launch.c closes
    // the pty master too
    await native.launchAbort(handle);
    throw e instanceof TsrunError ? e : fromHost(e);
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

function startIn(
  native: NativeBinding,
  buffer: Uint8Array,
  cgroupDir: string | null,
  stdio: readonly number[] = [-1, -1, -1],
  timeoutMs: number,
): { handle: LaunchHandle; pid: number } {
  const call = (fd: number) => {
    try {
      return native.launchStart(buffer, fd, stdio, timeoutMs);
    } catch (e) {
      throw fromHost(e);
    }
  };
  if (!cgroupDir) return call(-1);
  const fd = fs.openSync(cgroupDir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    return call(fd);
  } finally {
    fs.closeSync(fd);
  }
}
