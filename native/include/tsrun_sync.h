/*
 * tsrun_sync.h — the sync socket between the runtime (parent) and the
 * container's init (child): an AF_UNIX SOCK_SEQPACKET pair, one fixed-size
 * message per packet, so no framing and no partial reads.
 *
 *   parent (tsrun create)                      child (init, plain C)
 *   ─────────────────────                      ─────────────────────
 *   socketpair, clone ───────────────────────▶ reset signals, non-dumpable,
 *                                              pdeathsig; block in recv
 *   (user ns id maps, cgroups, oom_score_adj)
 *   TSRUN_SYNC_GO ───────────────────────────▶ walk the step table:
 *                                              mounts, devices, masked paths
 *                       ◀─── TSRUN_SYNC_HOOKS  (only with hooks: wait again)
 *   prestart, createRuntime hooks (host ns),
 *   createContainer (setns into the init's)
 *   TSRUN_SYNC_GO ───────────────────────────▶ pivot_root, hostname,
 *                                              rlimits, user, caps, cwd,
 *                                              resolve the executable
 *                       ◀─── TSRUN_SYNC_PTY    (terminal, no console socket:
 *                                              the pty master, SCM_RIGHTS)
 *                       ◀─── TSRUN_SYNC_SECCOMP (SCMP_ACT_NOTIFY: the listener
 *   connect listenerPath, send the state       fd, SCM_RIGHTS, right after the
 *   JSON + that fd, close ours                 filter loads; the child goes on)
 *                       ◀─── TSRUN_SYNC_READY  closes its end, opens
 *   write state.json, pid file, exit           exec.fifo for writing (blocks)
 *   ...
 *   tsrun start: startContainer hooks (setns),
 *   opens exec.fifo for reading ────────────▶ writes one byte, execve
 *   EOF on the fifo (its fd was CLOEXEC) = the program runs: poststart hooks
 *
 * Any failing step sends TSRUN_SYNC_ERROR {step, err, message} and _exit(1)s;
 * the parent kills what is left and reports
 *   "tsrun: create: <message>: <ERRNO> (<step>)".
 * A child that dies without a message shows up as EOF on the socket.
 */
#ifndef TSRUN_SYNC_H
#define TSRUN_SYNC_H

#include <stdint.h>

enum tsrun_sync_type {
  TSRUN_SYNC_GO = 1,      /* parent → child: host-side setup is done */
  TSRUN_SYNC_READY = 2,   /* child → parent: set up, waiting for start */
  TSRUN_SYNC_ERROR = 3,   /* child → parent: a step failed */
  TSRUN_SYNC_PTY = 4,     /* child → parent: pty master attached (SCM_RIGHTS) */
  TSRUN_SYNC_HOOKS = 5,   /* child → parent: mounts done, run the create hooks, then GO */
  TSRUN_SYNC_SECCOMP = 6, /* issue 4: child → parent: seccomp notify fd (SCM_RIGHTS) for listenerPath */
  /* issue 3: the namespace step (TSRUN_NS_STAGE plans only), before the first GO:
   *   child: joins, unshare(CLONE_NEWUSER)
   *                       ◀─── TSRUN_SYNC_IDMAP   (new user namespace only)
   *   write /proc/<pid>/uid_map, gid_map
   *   TSRUN_SYNC_GO ───────────────────────────▶ setresuid(0), unshare the rest,
   *                                              time offsets, fork (TSRUN_NS_FORK)
   *                       ◀─── TSRUN_SYNC_PID    pid = the init's pid as the parent
   *                                              sees it (0: unchanged, no fork); the
   *                                              intermediate exits, the parent reaps
   *                                              it and uses `pid` from then on. */
  TSRUN_SYNC_IDMAP = 7,
  TSRUN_SYNC_PID = 8,
};

#define TSRUN_SYNC_MSG_MAX 480

struct tsrun_sync_msg {
  uint32_t type;                    /* enum tsrun_sync_type */
  uint32_t step;                    /* enum tsrun_step: where it happened */
  int32_t err;                      /* errno, 0 if none */
  int32_t pid;                      /* READY: the init's pid as the parent sees it */
  char message[TSRUN_SYNC_MSG_MAX]; /* NUL-terminated */
};

#endif
