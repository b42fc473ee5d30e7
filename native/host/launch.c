/* launch.c — the parent's half of starting a container process, once, for
 * both callers: the addon (every create and exec, lib/container/launch.ts
 * drives it) and the front (a cached exec, native/front/exec.c).
 *
 *   tsrun_launch_start  check the plan, spawn (spawn.c)
 *   tsrun_launch_next   the sync loop of tsrun_sync.h up to the next step
 *                       only the caller can take (IDMAP, PID, HOOKS,
 *                       SECCOMP) or to the end (READY; a tenant's execve)
 *   tsrun_launch_go     GO, after the caller's step
 *   tsrun_launch_abort  SIGKILL, reap, close: a failed launch leaves no
 *                       process, not even a zombie
 *
 * What it does itself, so no caller has its own copy: reaping the
 * intermediate of a fork into pid/time namespaces (within
 * INTERMEDIATE_EXIT_MS), reading the process's start time at PID, keeping
 * the pty master, waiting for a tenant's execve (EOF on the close-on-exec
 * socket) after READY, and turning a child that dies without a message into
 * an error. Blocking calls only: the addon runs them off the event loop. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../init/init.h"
#include "host.h"
#include "tsrun_plan.h"

ssize_t tsrun_sync_recv(int fd, struct tsrun_sync_msg *msg, int *passed_fd);
ssize_t tsrun_send_with_fd(int sock, const void *data, size_t len, int pass_fd);

#define INTERMEDIATE_EXIT_MS 5000

int tsrun_launch_start(struct tsrun_launch *L, const struct tsrun_launch_req *r, struct tsrun_err *e) {
  memset(L, 0, sizeof *L);
  L->pid = L->intermediate = -1;
  L->sync_fd = L->pty_master = -1;
  L->timeout_ms = r->timeout_ms;
  /* Checked here with the init's own loader (an aligned copy), so a bad plan
   * fails before any process exists; it also names the plan's fds. */
  void *copy = NULL;
  if (posix_memalign(&copy, 8, r->plan_len ? r->plan_len : 8) != 0)
    return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "spawn: out of memory");
  memcpy(copy, r->plan, r->plan_len);
  struct tsrun_plan plan;
  char err[256];
  if (tsrun_plan_load(copy, r->plan_len, &plan, err, sizeof err) < 0) {
    free(copy);
    return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "%s", err);
  }
  int keep[64 + 2];
  size_t nkeep = 0;
  const struct tsrun_ns_join *joins = tsrun_plan_vec(&plan, plan.h->ns_joins);
  const struct tsrun_idmap_mount *idm = tsrun_plan_vec(&plan, plan.h->idmap_mounts);
  if (plan.h->ns_joins.count + plan.h->idmap_mounts.count > 64) {
    tsrun_plan_free(&plan);
    free(copy);
    return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "spawn: too many fds for the init");
  }
  if (plan.h->console_socket_fd >= 0) keep[nkeep++] = plan.h->console_socket_fd;
  if (plan.h->pidfd_socket_fd >= 0) keep[nkeep++] = plan.h->pidfd_socket_fd;
  for (uint32_t i = 0; i < plan.h->ns_joins.count; i++) keep[nkeep++] = joins[i].fd;
  for (uint32_t i = 0; i < plan.h->idmap_mounts.count; i++) keep[nkeep++] = idm[i].fd;
  L->tenant = (plan.h->flags & TSRUN_PLAN_TENANT) != 0;

  struct tsrun_spawn_req req;
  memset(&req, 0, sizeof req);
  req.init_path = r->init_path;
  req.plan = copy;
  req.plan_len = r->plan_len;
  /* (CLONE_NEWCGROUP is never among the clone flags: the init unshares it
   * once it is in its cgroup, step "cgroupns", so that cgroup is its root.) */
  req.clone_flags = plan.h->clone_flags;
  req.cgroup_fd = r->cgroup_fd;
  memcpy(req.stdio, r->stdio, sizeof req.stdio);
  req.preserve_fds = plan.h->preserve_fds;
  req.keep = keep;
  req.nkeep = nkeep;
  req.env = r->env;
  req.nenv = r->nenv;
  int rc = tsrun_spawn(&req, &L->pid, &L->sync_fd, e);
  tsrun_plan_free(&plan);
  free(copy);
  return rc;
}

/* Waits up to ms for pid (our child) to exit and reaps it; 0, or -1 with errno (ETIMEDOUT). */
static int reap_within(pid_t pid, int ms) {
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pidfd >= 0) {
    struct pollfd p = {pidfd, POLLIN, 0};
    int rc;
    do rc = poll(&p, 1, ms);
    while (rc < 0 && errno == EINTR);
    close(pidfd);
    if (rc == 0) {
      errno = ETIMEDOUT;
      return -1;
    }
  }
  int status;
  while (waitpid(pid, &status, __WALL) < 0)
    if (errno != EINTR) return -1;
  return 0;
}

static int recv_within(struct tsrun_launch *L, struct tsrun_sync_msg *msg, int *passed, struct tsrun_err *e) {
  struct pollfd p = {L->sync_fd, POLLIN, 0};
  int rc;
  do rc = poll(&p, 1, L->timeout_ms);
  while (rc < 0 && errno == EINTR);
  if (rc < 0) return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "poll: %s", strerror(errno));
  if (rc == 0)
    return tsrun_err_set(e, TSRUN_CODE(ECHILD), "the container process did not report its next setup step within %d ms",
                         L->timeout_ms);
  memset(msg, 0, sizeof *msg);
  ssize_t n = tsrun_sync_recv(L->sync_fd, msg, passed);
  if (n < 0) return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "recvmsg: %s", strerror(errno));
  if (n == 0) msg->type = 0; /* EOF */
  return 0;
}

static int died_silently(struct tsrun_launch *L, struct tsrun_err *e) {
  int status = 0;
  const char *how = "exited";
  char text[48];
  if (L->pid > 0 && waitpid(L->pid, &status, WNOHANG | __WALL) == L->pid) {
    L->pid = -1; /* reaped: nothing left to kill */
    if (WIFSIGNALED(status)) {
      snprintf(text, sizeof text, "was killed by signal %d", WTERMSIG(status));
      how = text;
    }
  }
  return tsrun_err_set(e, TSRUN_CODE(ECHILD), "the container process %s during setup without reporting an error", how);
}

static void child_error(struct tsrun_launch_event *ev, const struct tsrun_sync_msg *msg) {
  ev->type = TSRUN_SYNC_ERROR;
  ev->step = msg->step;
  ev->err = msg->err;
  memcpy(ev->message, msg->message, sizeof ev->message);
}

int tsrun_launch_next(struct tsrun_launch *L, struct tsrun_launch_event *ev, struct tsrun_err *e) {
  memset(ev, 0, sizeof *ev);
  ev->fd = -1;
  for (;;) {
    struct tsrun_sync_msg msg;
    int passed = -1;
    if (recv_within(L, &msg, &passed, e) < 0) return -1;
    switch (msg.type) {
      case 0: return died_silently(L, e);
      case TSRUN_SYNC_IDMAP:
      case TSRUN_SYNC_HOOKS: ev->type = (int)msg.type; return 0;
      case TSRUN_SYNC_PID:
        /* From here on pid is the process's real pid; the intermediate of
         * the fork exits and is reaped before anyone waits for pid. */
        if (msg.pid > 0) {
          L->intermediate = L->pid;
          L->pid = msg.pid;
          if (reap_within(L->intermediate, INTERMEDIATE_EXIT_MS) < 0)
            return tsrun_err_set(e, TSRUN_CODE(ECHILD),
                                 "the intermediate process %d did not exit after reporting the pid: %s",
                                 L->intermediate, strerror(errno));
          L->intermediate = -1;
        }
        L->start_time = tsrun_proc_start_time(L->pid, NULL);
        ev->type = TSRUN_SYNC_PID;
        return 0;
      case TSRUN_SYNC_PTY:
        if (L->pty_master >= 0) close(L->pty_master);
        L->pty_master = passed;
        continue;
      case TSRUN_SYNC_SECCOMP:
        ev->type = TSRUN_SYNC_SECCOMP;
        ev->fd = passed;
        return 0;
      case TSRUN_SYNC_READY:
        ev->type = TSRUN_SYNC_READY;
        memcpy(ev->message, msg.message, sizeof ev->message); /* the init's step times */
        if (!L->tenant) return 0;
        /* A tenant keeps its end open, close-on-exec, past READY: EOF
         * means execve replaced it; an ERROR that execve failed. */
        if (recv_within(L, &msg, &passed, e) < 0) return -1;
        if (passed >= 0) close(passed);
        if (msg.type == 0) return 0;
        if (msg.type == TSRUN_SYNC_ERROR) {
          child_error(ev, &msg);
          return 0;
        }
        return tsrun_err_set(e, TSRUN_CODE(ECHILD), "unexpected sync message %u after READY", msg.type);
      case TSRUN_SYNC_ERROR:
        if (passed >= 0) close(passed);
        child_error(ev, &msg);
        return 0;
      default:
        if (passed >= 0) close(passed);
        return tsrun_err_set(e, TSRUN_CODE(ECHILD), "unexpected sync message %u", msg.type);
    }
  }
}

static const char *const STEP_NAMES[] = {
#define X(id, name) name,
    TSRUN_STEPS(X)
#undef X
};

int tsrun_launch_error(const struct tsrun_launch_event *ev, struct tsrun_err *e) {
  const char *step = ev->step < sizeof STEP_NAMES / sizeof *STEP_NAMES ? STEP_NAMES[ev->step] : "?";
  const char *code = ev->err ? strerrorname_np(ev->err) : NULL;
  /* an exec step's message is whole already (runc's words, which engines
   * match on: "executable file not found in $PATH") */
  if (!strcmp(step, "exec") || !code) return tsrun_err_set(e, TSRUN_CODE(ECHILD), "%s (%s)", ev->message, step);
  return tsrun_err_set(e, TSRUN_CODE(ECHILD), "%s: %s (%s)", ev->message, code, step);
}

int tsrun_launch_go(struct tsrun_launch *L, pid_t pid, struct tsrun_err *e) {
  struct tsrun_sync_msg msg;
  memset(&msg, 0, sizeof msg);
  msg.type = TSRUN_SYNC_GO;
  msg.pid = pid;
  if (tsrun_send_with_fd(L->sync_fd, &msg, sizeof msg, -1) != (ssize_t)sizeof msg)
    return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "sendmsg: %s", strerror(errno));
  return 0;
}

void tsrun_launch_abort(struct tsrun_launch *L) {
  int saved = errno;
  pid_t pids[2] = {L->intermediate, L->pid};
  for (int i = 0; i < 2; i++)
    if (pids[i] > 0) kill(pids[i], SIGKILL);
  for (int i = 0; i < 2; i++)
    if (pids[i] > 0) {
      int status;
      while (waitpid(pids[i], &status, __WALL) < 0 && errno == EINTR) {
      }
    }
  L->pid = L->intermediate = -1;
  if (L->pty_master >= 0) close(L->pty_master);
  L->pty_master = -1;
  tsrun_launch_close(L);
  errno = saved;
}

void tsrun_launch_close(struct tsrun_launch *L) {
  if (L->sync_fd >= 0) close(L->sync_fd);
  L->sync_fd = -1;
}

/* ---- host steps at PID, for a caller without its own (the front) ---------- */

int tsrun_cgroup_join(const struct tsrun_cgroup *cg, pid_t pid, struct tsrun_err *e) {
  char text[24];
  int len = snprintf(text, sizeof text, "%d", pid);
  for (size_t i = 0; i < cg->count; i++) {
    char file[4200];
    snprintf(file, sizeof file, "%s/cgroup.procs", cg->paths[i]);
    int fd = open(file, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    int ok = fd >= 0 && write(fd, text, (size_t)len) == len;
    int saved = errno;
    if (fd >= 0) close(fd);
    /* the hybrid's unified tree is for tracking only */
    if (!ok && !(cg->version == 1 && !*cg->keys[i]))
      return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "cannot move the process into %s: %s", cg->paths[i],
                           strerrorname_np(saved) ? strerrorname_np(saved) : strerror(saved));
  }
  return 0;
}

int tsrun_write_oom_score_adj(pid_t pid, int value, struct tsrun_err *e) {
  char file[64], text[24];
  snprintf(file, sizeof file, "/proc/%d/oom_score_adj", pid);
  int len = snprintf(text, sizeof text, "%d", value);
  int fd = open(file, O_WRONLY | O_CLOEXEC);
  int ok = fd >= 0 && write(fd, text, (size_t)len) == len;
  int saved = errno;
  if (fd >= 0) close(fd);
  if (!ok)
    return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "process.oomScoreAdj: cannot set %d: %s", value, strerror(saved));
  return 0;
}

/* ---- the v1 grace period, started early ------------------------------------
 * Moving a process into a cgroup v1 hierarchy (cgroup.procs) takes the
 * kernel's cgroup_threadgroup_rwsem for writing, whose first writer waits for
 * an RCU grace period: 10-30 ms here, the largest single step of a create on
 * a hybrid or v1 host (runc pays it too). Writers that come while one waits
 * share its grace period. So the runtime writes its own pid into its own v1
 * cgroup (a move to where it already is) on a thread of its own as soon as a
 * create or exec begins, and the container's join a few ms later finds the
 * grace period under way or over. Nothing moves; errors are ignored (no v1
 * hierarchy: nothing to wait for). */
static void *warm(void *arg) {
  (void)arg;
  char line[4096];
  FILE *f = fopen("/proc/self/cgroup", "re");
  if (!f) return NULL;
  while (fgets(line, sizeof line, f)) {
    char *ctrl = strchr(line, ':');
    char *rel = ctrl ? strchr(ctrl + 1, ':') : NULL;
    if (!rel || rel == ctrl + 1) continue; /* "0::/..." is v2 */
    *rel++ = 0;
    rel[strcspn(rel, "\n")] = 0;
    const char *name = ctrl + 1;
    if (!strncmp(name, "name=", 5)) name += 5;
    char file[4200], text[24];
    snprintf(file, sizeof file, "/sys/fs/cgroup/%s%s/cgroup.procs", name, rel);
    int fd = open(file, O_WRONLY | O_CLOEXEC);
    if (fd < 0) continue;
    int len = snprintf(text, sizeof text, "%d", getpid());
    ssize_t ignored = write(fd, text, (size_t)len);
    (void)ignored;
    close(fd);
    break;
  }
  fclose(f);
  return NULL;
}

void tsrun_cgroup_warm(void) {
  pthread_t t;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old); /* no signal of the caller's lands on it */
  pthread_create(&t, &attr, warm, NULL);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
}
