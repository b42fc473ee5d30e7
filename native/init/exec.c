/* exec.c — the end of the init: find the program, wait for `start` on the
 * exec fifo, leave nothing of the runtime open. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

const char *tsrun_errno_text(int err) {
  switch (err) {
    case ENOENT: return "no such file or directory";
    case EACCES: return "permission denied";
    case ENOTDIR: return "not a directory";
    case ELOOP: return "too many levels of symbolic links";
    case ENAMETOOLONG: return "file name too long";
    default: return "cannot access";
  }
}

/* Go's exec.LookPath rules, which runc's wording and engines rely on: a
 * regular file with some execute bit. */
static int executable(const char *path) {
  struct stat st;
  if (stat(path, &st) < 0) return -1;
  if (S_ISDIR(st.st_mode) || !(st.st_mode & 0111)) {
    errno = EACCES;
    return -1;
  }
  return 0;
}

static const char *env_path(const struct tsrun_plan *p) {
  for (char **e = p->envp; *e; e++)
    if (strncmp(*e, "PATH=", 5) == 0) return *e + 5;
  return "";
}

int tsrun_step_lookup(struct tsrun_init *ctx) {
  const char *name = ctx->plan->argv[0];
  if (strchr(name, '/')) {
    if (executable(name) < 0) {
      int err = errno;
      if (err == EACCES) return tsrun_fail(ctx, err, "exec: \"", name, "\": permission denied", NULL);
      return tsrun_fail(ctx, err, "exec: \"", name, "\": stat ", name, ": ", tsrun_errno_text(err), NULL);
    }
    tsrun_strlcpy(ctx->exec_path, name, sizeof ctx->exec_path);
    return 0;
  }
  const char *dirs = env_path(ctx->plan);
  while (1) {
    const char *end = strchr(dirs, ':');
    size_t n = end ? (size_t)(end - dirs) : strlen(dirs);
    char candidate[4096];
    if (n == 0) {
      tsrun_strlcpy(candidate, ".", sizeof candidate);
    } else {
      if (n >= sizeof candidate) n = sizeof candidate - 1;
      memcpy(candidate, dirs, n);
      candidate[n] = 0;
    }
    tsrun_strlcat(candidate, "/", sizeof candidate);
    if (tsrun_strlcat(candidate, name, sizeof candidate) < sizeof candidate && executable(candidate) == 0) {
      tsrun_strlcpy(ctx->exec_path, candidate, sizeof ctx->exec_path);
      return 0;
    }
    if (!end) break;
    dirs = end + 1;
  }
  return tsrun_fail(ctx, ENOENT, "exec: \"", name, "\": executable file not found in $PATH", NULL);
}

int tsrun_step_fifo_open(struct tsrun_init *ctx) {
  /* Rootless, the runtime must open our /proc/<pid>/ns links while we wait
   * (exec before start, startContainer hooks, a container that joins our
   * namespaces), and the kernel lets a runtime without CAP_SYS_PTRACE do
   * that only for a dumpable process: we have not exec'd, so our mm is
   * still the host's. runc's init waits dumpable too. So we wait dumpable,
   * holding nothing of the host's that a process allowed to ptrace us could
   * use: the fifo as an O_PATH fd (reopened through /proc/self/fd, it opens
   * nothing but itself) instead of the state dir, and no fd of the root.
   * (We hold nothing of the runtime's memory or environment either: we are
   * a fresh exec of tsrun-init, whose exe is a sealed copy.) Without a
   * procfs at /proc in the container we cannot reopen it: we stay
   * non-dumpable, and those joins are refused. */
  if (!(ctx->plan->h->flags & TSRUN_PLAN_WAIT_DUMPABLE)) return 0;
  int fifo = openat(ctx->state_dir_fd, "exec.fifo", O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fifo < 0) return tsrun_fail(ctx, errno, "open exec fifo", NULL);
  struct stat st;
  int proc = tsrun_procfs();
  if (proc >= 0) close(proc);
  if (proc < 0 || fstat(fifo, &st) < 0 || !S_ISFIFO(st.st_mode)) {
    close(fifo);
    return 0;
  }
  close(ctx->state_dir_fd);
  ctx->state_dir_fd = -1;
  if (ctx->root_fd >= 0) close(ctx->root_fd);
  ctx->root_fd = -1;
  ctx->fifo_fd = fifo;
  if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0) return tsrun_fail(ctx, errno, "set dumpable to wait for start", NULL);
  return 0;
}

int tsrun_step_fifo(struct tsrun_init *ctx) {
  /* Blocks until `tsrun start` opens the fifo for reading. The fd of the
   * host state dir was taken before pivot_root (or the fifo's own, see
   * above); the fifo is 0622 so any container user can open it. */
  /* (The fifo's own fd is reopened through a checked procfs and must come
   * out as the same fifo: an image's /proc/self/fd/N, a fifo a process
   * exec'd into the container could read, must not release us.) */
  int fd;
  if (ctx->fifo_fd >= 0) {
    fd = tsrun_reopen_fd(ctx->fifo_fd, O_WRONLY);
  } else {
    do fd = openat(ctx->state_dir_fd, "exec.fifo", O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
  }
  if (fd < 0) return tsrun_fail(ctx, errno, "open exec fifo", NULL);
  ssize_t n = write(fd, "0", 1);
  if (n != 1) {
    int saved = errno;
    close(fd);
    return tsrun_fail(ctx, saved, "write exec fifo", NULL);
  }
  /* fd stays open: it is close-on-exec, so `start` sees EOF exactly when
   * execve has replaced us (or we died) and can then run poststart; an
   * error before that (a startContainer hook, the execve) is written into
   * it for `start` to report. */
  ctx->fifo_out_fd = fd;
  if (ctx->state_dir_fd >= 0) close(ctx->state_dir_fd);
  ctx->state_dir_fd = -1;
  if (ctx->fifo_fd >= 0) close(ctx->fifo_fd);
  ctx->fifo_fd = -1;
  return 0;
}

int tsrun_step_fds(struct tsrun_init *ctx) {
  /* Node keeps epoll, eventfd, pipe and file fds open: none may reach the
   * container (CVE-2024-21626). Stdio and preserved fds 3..3+n-1 are passed
   * on: Node marks even fds 0-2 close-on-exec, so clear the flag. */
  unsigned first = 3 + ctx->plan->h->preserve_fds;
  for (unsigned fd = 0; fd < first; fd++) fcntl((int)fd, F_SETFD, 0);
  if (syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return 0;
  /* Kernels before 5.11: mark them one by one. */
  for (unsigned fd = first; fd < 65536; fd++) fcntl((int)fd, F_SETFD, FD_CLOEXEC);
  return 0;
}
