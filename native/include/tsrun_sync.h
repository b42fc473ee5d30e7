/*
 * tsrun_sync.h — the sync socket between the runtime (parent) and the
 * process it launches (child): an AF_UNIX SOCK_SEQPACKET pair, one
 * fixed-size message per packet, so no framing and no partial reads. The
 * parent's half is one loop, native/host/launch.c (driven by
 * lib/container/launch.ts, and by the front's cached exec), for both kinds
 * of plan: a container's init (create) and a tenant (exec).
 *
 *   parent (launch)                            child (plain C)
 *   ───────────────                            ───────────────
 *   socketpair, clone3 ──────────────────────▶ reset signals, non-dumpable,
 *   (v2: CLONE_INTO_CGROUP)                    pdeathsig; the namespace step:
 *                                              joins (user first), then
 *                       ◀─── IDMAP             (a new user namespace only)
 *   write /proc/<pid>/uid_map, gid_map
 *   GO ──────────────────────────────────────▶ unshare the rest, time offsets,
 *                                              fork into pid/time namespaces
 *                                              (CLONE_PARENT: still our child)
 *                       ◀─── PID               the pid the parent must use (0:
 *   reap the intermediate, then the host       no fork); the intermediate exits
 *   steps: cgroup.procs (v1; a no-op after
 *   CLONE_INTO_CGROUP), oom_score_adj,
 *   netDevices
 *   GO ──────────────────────────────────────▶ init: mounts, devices, masked
 *                                              paths (tenant: none of these)
 *                       ◀─── HOOKS             (init with create hooks only)
 *   prestart, createRuntime hooks (host ns),
 *   createContainer (setns into the init's)
 *   GO ──────────────────────────────────────▶ pivot_root, hostname, rlimits,
 *                                              terminal, user, caps, cwd,
 *                                              resolve the executable
 *                       ◀─── PTY               (terminal, no console socket:
 *                                              the pty master, SCM_RIGHTS)
 *                       ◀─── SECCOMP           (SCMP_ACT_NOTIFY: the listener
 *   connect listenerPath, send the state       fd, right after the filter
 *   JSON + that fd, close ours                 loads; the child goes on)
 *                       ◀─── READY
 *   init: write state.json, pid file, exit     init: close the socket, open
 *                                              exec.fifo for writing (blocks)
 *   tenant: wait for EOF (or ERROR)            tenant: execve; the socket is
 *                                              close-on-exec, so EOF = exec'd
 *   ...
 *   tsrun start: startContainer hooks (setns),
 *   opens exec.fifo for reading ────────────▶ writes one byte, execve
 *   EOF on the fifo (its fd was CLOEXEC) = the program runs: poststart hooks
 *
 * Any failing step sends ERROR {step, err, message} and _exit(1)s; the
 * parent kills what is left and reports
 *   "tsrun: create: <message>: <ERRNO> (<step>)".
 * A child that dies without a message shows up as EOF on the socket.
 */
#ifndef TSRUN_SYNC_H
#define TSRUN_SYNC_H

#include <stdint.h>

/* X(name, value): every message type, generated into TypeScript (native/host/constants.c). */
#define TSRUN_SYNC_TYPES(X)                                                             \
  X(GO, 1)      /* parent → child: host-side setup is done */                         \
  X(READY, 2)   /* child → parent: set up (init: waiting for start; tenant: about to  \
                   execve, the socket closes on exec) */                                \
  X(ERROR, 3)   /* child → parent: a step failed */                                   \
  X(PTY, 4)     /* child → parent: pty master attached (SCM_RIGHTS) */                \
  X(HOOKS, 5)   /* child → parent: mounts done, run the create hooks, then GO */      \
  X(SECCOMP, 6) /* child → parent: seccomp notify fd (SCM_RIGHTS) for listenerPath */ \
  X(IDMAP, 7)   /* child → parent: write my uid_map/gid_map, then GO */               \
  X(PID, 8)     /* child → parent: the process's pid (0: unchanged), then wait for GO */

enum tsrun_sync_type {
#define X(name, v) TSRUN_SYNC_##name = (v),
  TSRUN_SYNC_TYPES(X)
#undef X
};

#define TSRUN_SYNC_MSG_MAX 480

struct tsrun_sync_msg {
  uint32_t type;                    /* enum tsrun_sync_type */
  uint32_t step;                    /* enum tsrun_step: where it happened */
  int32_t err;                      /* errno, 0 if none */
  int32_t pid;                      /* PID: the pid as the parent sees it (0: unchanged) */
  char message[TSRUN_SYNC_MSG_MAX]; /* NUL-terminated */
};

#endif
