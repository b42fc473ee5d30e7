/* hooks.c — the hooks the init runs itself, as runc's init does:
 * createContainer (step "hooks", after the mounts, before pivot_root) and
 * startContainer (step "start_hooks", after `start` released us, just
 * before execve). A hook forked here is confined exactly as the init is at
 * that moment: in the container's namespaces and cgroup, and for
 * startContainer with the program's user, capabilities, no_new_privs and
 * seccomp filter. The image chooses a startContainer hook's binary (its path
 * resolves in the container): it must never run with the runtime's
 * privileges over the host.
 *
 * Each hook reads the state JSON on stdin and writes into a memfd whose
 * start becomes part of the error if it fails; the init waits for it with
 * SIGCHLD blocked (sigtimedwait: a hook's timeout needs no polling), then
 * kills its process group at the timeout. Plain C, no allocation. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "init.h"
#include "tsrun_go_words.h"

static const char *kind_name(uint32_t kind) {
  return kind == TSRUN_HOOK_CREATE_CONTAINER ? "createContainer" : "startContainer";
}

/* The state on stdin: the plan's head, the pid, the status. */
static int state_memfd(struct tsrun_init *ctx, const char *status) {
  int fd = (int)syscall(SYS_memfd_create, "tsrun-hook-state", MFD_CLOEXEC);
  if (fd < 0) return tsrun_fail(ctx, errno, "memfd for the hooks' state", NULL);
  char tail[96], num[24];
  tsrun_utoa((unsigned long)ctx->host_pid, num, sizeof num);
  tsrun_strlcpy(tail, num, sizeof tail);
  tsrun_strlcat(tail, ",\"status\":\"", sizeof tail);
  tsrun_strlcat(tail, status, sizeof tail);
  tsrun_strlcat(tail, "\"}", sizeof tail);
  const char *head = tsrun_plan_str(ctx->plan, ctx->plan->h->hook_state);
  const char *parts[2] = {head, tail};
  for (int i = 0; i < 2; i++) {
    size_t len = strlen(parts[i]), off = 0;
    while (off < len) {
      ssize_t n = write(fd, parts[i] + off, len - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        int saved = errno;
        close(fd);
        return tsrun_fail(ctx, saved, "write the hooks' state", NULL);
      }
      off += (size_t)n;
    }
  }
  return fd;
}

static uint64_t now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

__attribute__((noreturn)) static void hook_child(const struct tsrun_plan_hook *hk, int in, int out, int cwd_fd,
                                                 int errno_wr) {
  /* its own process group: the timeout kills whatever it started too */
  setpgid(0, 0);
  if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) _exit(126);
  lseek(0, 0, SEEK_SET);
  if (cwd_fd >= 0 && fchdir(cwd_fd) < 0) _exit(126);
  /* nothing of the init's but stdio: not the preserved fds, not the fifo */
  syscall(SYS_close_range, 3, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  execve(hk->path, hk->argv, hk->envp);
  int err = errno; /* to the init, which words it as runc does (close-on-exec: nothing when execve worked) */
  ssize_t ignored = write(errno_wr, &err, sizeof err);
  (void)ignored;
  _exit(127);
}

/* Forks the hook and waits: 0 with *status (and *timed_out, and *exec_errno
 * when it could not be started), or -1. */
static int run_one(struct tsrun_init *ctx, const struct tsrun_plan_hook *hk, int in, int out, int cwd_fd, int *status,
                   int *timed_out, int *exec_errno) {
  sigset_t chld, old;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  /* blocked before the fork, so its SIGCHLD cannot come before we wait */
  sigprocmask(SIG_BLOCK, &chld, &old);
  if (ftruncate(out, 0) < 0) return tsrun_fail(ctx, errno, "truncate the hook's output", NULL);
  int errpipe[2];
  if (pipe2(errpipe, O_CLOEXEC | O_NONBLOCK) < 0) return tsrun_fail(ctx, errno, "pipe for a hook's execve", NULL);
  long pid = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
  if (pid == 0) hook_child(hk, in, out, cwd_fd, errpipe[1]);
  int fork_errno = errno;
  close(errpipe[1]);
  if (pid < 0) {
    close(errpipe[0]);
    sigprocmask(SIG_SETMASK, &old, NULL);
    return tsrun_fail(ctx, fork_errno, "fork for ", kind_name(hk->kind), " hook ", hk->path, NULL);
  }
  uint64_t deadline = hk->timeout_ms ? now_ms() + hk->timeout_ms : 0;
  *timed_out = 0;
  for (;;) {
    int rc = waitpid((pid_t)pid, status, WNOHANG);
    if (rc == (int)pid) break;
    if (rc < 0 && errno != EINTR) break;
    if (!deadline) {
      sigwaitinfo(&chld, NULL);
      continue;
    }
    uint64_t t = now_ms();
    if (t >= deadline) {
      *timed_out = 1;
      kill(-(pid_t)pid, SIGKILL);
      kill((pid_t)pid, SIGKILL);
      while (waitpid((pid_t)pid, status, 0) < 0 && errno == EINTR) {
      }
      break;
    }
    struct timespec left = {(time_t)((deadline - t) / 1000), (long)((deadline - t) % 1000) * 1000000L};
    sigtimedwait(&chld, NULL, &left);
  }
  sigprocmask(SIG_SETMASK, &old, NULL);
  int err = 0;
  *exec_errno = read(errpipe[0], &err, sizeof err) == (ssize_t)sizeof err ? err : 0;
  close(errpipe[0]);
  return 0;
}

/* Seconds to one decimal, as runc's "%.1fs" ("1.0s"). */
static void seconds_text(uint32_t ms, char *buf, size_t size) {
  char num[24];
  uint64_t tenths = ((uint64_t)ms + 50) / 100;
  tsrun_utoa((unsigned long)(tenths / 10), num, sizeof num);
  tsrun_strlcpy(buf, num, size);
  char frac[4] = {'.', (char)('0' + tenths % 10), 's', 0};
  tsrun_strlcat(buf, frac, size);
}

/* The hook's output, trimmed, for its error: the start of it, one line. */
static void output_text(int out, char *buf, size_t size) {
  ssize_t n = pread(out, buf, size - 1, 0);
  buf[n > 0 ? n : 0] = 0;
  char *s = buf;
  while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r') s++;
  size_t len = strlen(s);
  while (len && (s[len - 1] == ' ' || s[len - 1] == '\n' || s[len - 1] == '\t' || s[len - 1] == '\r')) s[--len] = 0;
  memmove(buf, s, len + 1);
}

int tsrun_run_init_hooks(struct tsrun_init *ctx, uint32_t kind, const char *status, int cwd_fd) {
  const struct tsrun_plan *p = ctx->plan;
  uint32_t count = 0;
  for (uint32_t i = 0; i < p->nhooks; i++) count += p->hooks[i].kind == kind;
  if (!count) return 0;
  int in = state_memfd(ctx, status);
  if (in < 0) return -1;
  int out = (int)syscall(SYS_memfd_create, "tsrun-hook-output", MFD_CLOEXEC);
  if (out < 0) {
    close(in);
    return tsrun_fail(ctx, errno, "memfd for the hooks' output", NULL);
  }
  int rc = 0;
  for (uint32_t i = 0, n = 0; rc == 0 && i < p->nhooks; i++) {
    const struct tsrun_plan_hook *hk = &p->hooks[i];
    if (hk->kind != kind) continue;
    int status_word = 0, timed_out = 0, exec_errno = 0;
    if (run_one(ctx, hk, in, out, cwd_fd, &status_word, &timed_out, &exec_errno) < 0) {
      rc = -1;
      break;
    }
    /* runc's words (its Command.Run's causes: "exit status 3", "signal:
     * killed", "hook ran past specified timeout of 1.0s"), which engines
     * show and match on; then the hook's path and output where runc shows
     * its stdout and stderr */
    char output[256], problem[96], num[24], words[128];
    output_text(out, output, sizeof output);
    problem[0] = 0;
    tsrun_utoa(n, num, sizeof num);
    if (exec_errno) {
      /* Go's os/exec names the path itself */
      tsrun_go_errno_words(exec_errno, words, sizeof words);
      rc = tsrun_fail(ctx, 0, "error running ", kind_name(kind), " hook #", num, ": fork/exec ", hk->path, ": ", words,
                      NULL);
      break;
    }
    if (timed_out) {
      tsrun_strlcpy(problem, "hook ran past specified timeout of ", sizeof problem);
      seconds_text(hk->timeout_ms, words, sizeof words);
      tsrun_strlcat(problem, words, sizeof problem);
    } else if (WIFSIGNALED(status_word)) {
      const char *name = tsrun_go_signal_words(WTERMSIG(status_word));
      tsrun_strlcpy(problem, "signal: ", sizeof problem);
      if (!name) {
        tsrun_utoa((unsigned long)WTERMSIG(status_word), words, sizeof words);
        tsrun_strlcat(problem, "signal ", sizeof problem);
      }
      tsrun_strlcat(problem, name ? name : words, sizeof problem);
      if (WCOREDUMP(status_word)) tsrun_strlcat(problem, " (core dumped)", sizeof problem);
    } else if (WEXITSTATUS(status_word) != 0) {
      tsrun_strlcpy(problem, "exit status ", sizeof problem);
      tsrun_utoa((unsigned long)WEXITSTATUS(status_word), words, sizeof words);
      tsrun_strlcat(problem, words, sizeof problem);
    }
    if (problem[0])
      rc = tsrun_fail(ctx, 0, "error running ", kind_name(kind), " hook #", num, ": ", problem, " (", hk->path, ")",
                      output[0] ? ": " : "", output, NULL);
    n++;
  }
  close(in);
  close(out);
  return rc;
}
