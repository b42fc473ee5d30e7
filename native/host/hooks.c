/* hooks.c — running the runtime's OCI hooks (prestart, createRuntime,
 * poststart, poststop): one program in the runtime's namespaces, with the
 * state JSON on stdin (a memfd) and its output captured (another), killed
 * with its process group at its timeout. The forked child does nothing but
 * dup2/execve: it may be a copy of a multi-threaded Node. The hooks that run
 * in the container (createContainer, startContainer) the init runs itself
 * (native/init/hooks.c), confined as the container is. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "host.h"
#include "tsrun_go_words.h"

struct child {
  int stdin_fd, out_fd;
  int errno_rd, errno_wr; /* a failed execve's errno, from the child (close-on-exec) */
};

static long raw_fork(void) {
  return syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
}

__attribute__((noreturn)) static void run_child(const struct child *c, const char *path, char *const argv[],
                                                char *const envp[]) {
  setpgid(0, 0); /* the parent kills the whole group on timeout */
  dup2(c->stdin_fd, 0);
  dup2(c->out_fd, 1);
  dup2(c->out_fd, 2);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  execve(path, argv, envp);
  int err = errno;
  ssize_t ignored = write(c->errno_wr, &err, sizeof err);
  (void)ignored;
  _exit(127);
}

static int memfd_with(const char *data) {
  int fd = (int)syscall(SYS_memfd_create, "tsrun-hook", MFD_CLOEXEC);
  if (fd < 0) return -1;
  size_t len = strlen(data), off = 0;
  while (off < len) {
    ssize_t n = write(fd, data + off, len - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      close(fd);
      return -1;
    }
    off += (size_t)n;
  }
  lseek(fd, 0, SEEK_SET);
  return fd;
}

static long elapsed_ms(const struct timespec *start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}

static void close_child(struct child *c) {
  if (c->stdin_fd >= 0) close(c->stdin_fd);
  if (c->out_fd >= 0) close(c->out_fd);
  if (c->errno_rd >= 0) close(c->errno_rd);
  if (c->errno_wr >= 0) close(c->errno_wr);
  c->stdin_fd = c->out_fd = c->errno_rd = c->errno_wr = -1;
}

int tsrun_run_hook(const char *path, char *const argv[], char *const envp[], const char *input, int timeout_ms,
                   struct tsrun_hook_result *r) {
  memset(r, 0, sizeof *r);
  struct child c = {.stdin_fd = -1, .out_fd = -1, .errno_rd = -1, .errno_wr = -1};
  c.stdin_fd = memfd_with(input);
  c.out_fd = (int)syscall(SYS_memfd_create, "tsrun-hook-out", MFD_CLOEXEC);
  /* Non-blocking: a fork of another thread's may hold the write end a
   * moment past our child's exit; an empty pipe then means execve worked. */
  int errpipe[2] = {-1, -1};
  if (pipe2(errpipe, O_CLOEXEC | O_NONBLOCK) == 0) c.errno_rd = errpipe[0], c.errno_wr = errpipe[1];
  if (c.stdin_fd < 0 || c.out_fd < 0 || c.errno_rd < 0) {
    int saved = errno;
    close_child(&c);
    errno = saved;
    return -1;
  }
  /* No handler of the caller's (Node's, when this runs in the addon) may
   * run in the child before it has reset them. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  long pid = raw_fork();
  if (pid == 0) run_child(&c, path, argv, envp);
  int fork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (pid < 0) {
    close_child(&c);
    errno = fork_errno;
    return -1;
  }
  close(c.errno_wr);
  c.errno_wr = -1;
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  int status = 0;
  for (;;) {
    int rc = waitpid((pid_t)pid, &status, WNOHANG);
    if (rc == (int)pid) break;
    if (rc < 0 && errno != EINTR) break;
    if (timeout_ms > 0 && elapsed_ms(&start) > timeout_ms && !r->timed_out) {
      r->timed_out = 1;
      kill(-(pid_t)pid, SIGKILL);
      kill((pid_t)pid, SIGKILL);
    }
    struct timespec nap = {0, 2 * 1000 * 1000};
    nanosleep(&nap, NULL);
  }
  size_t cap = 4096, len = 0;
  r->output = malloc(cap);
  ssize_t n;
  while (r->output && len < 65536 && (n = pread(c.out_fd, r->output + len, cap - len - 1, (off_t)len)) > 0) {
    len += (size_t)n;
    if (len + 1 >= cap) {
      char *b = realloc(r->output, cap *= 2);
      if (!b) break;
      r->output = b;
    }
  }
  if (r->output) r->output[len < 65536 ? len : 65536] = 0;
  int err = 0;
  if (read(c.errno_rd, &err, sizeof err) == (ssize_t)sizeof err) r->exec_errno = err;
  close_child(&c);
  r->code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  r->core_dumped = WIFSIGNALED(status) && WCOREDUMP(status);
  return 0;
}

/* Strips the output the way the TypeScript runner did (trim). */
static const char *trimmed(char *s) {
  if (!s) return "";
  while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r') s++;
  size_t n = strlen(s);
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\t' || s[n - 1] == '\r')) s[--n] = 0;
  return s;
}

/* A JSON array of strings → a NULL-terminated argv (malloc'd, borrowing the strings). */
static char **strings(const struct tsrun_json *a, const char *first) {
  size_t n = a && a->type == TSRUN_JSON_ARRAY ? a->count : 0;
  char **out = calloc(n + 2, sizeof *out);
  if (!out) return NULL;
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (a->items[i]->type == TSRUN_JSON_STRING) out[k++] = a->items[i]->str;
  if (k == 0 && first) out[k++] = (char *)first;
  return out;
}

/* The state a hook reads on stdin (runtime.md "State"). */
/* A hook's timeout (seconds, from the config) in ms; 0: none. A number too
 * large for an int of ms is as good as none, and converting it is undefined. */
static int hook_timeout_ms(double seconds) {
  if (!(seconds > 0)) return 0;
  return seconds >= INT_MAX / 1000 ? INT_MAX : (int)(seconds * 1000);
}

static int hook_state(const struct tsrun_state *s, const char *status, struct tsrun_buf *b) {
  int rc = tsrun_buf_str(b, "{\"ociVersion\":");
  rc |= tsrun_buf_json_string(b, s->oci_version);
  rc |= tsrun_buf_str(b, ",\"id\":");
  rc |= tsrun_buf_json_string(b, s->id);
  rc |= tsrun_buf_str(b, ",\"status\":");
  rc |= tsrun_buf_json_string(b, status);
  rc |= tsrun_buf_str(b, ",\"pid\":");
  rc |= tsrun_buf_int(b, s->pid);
  rc |= tsrun_buf_str(b, ",\"bundle\":");
  rc |= tsrun_buf_json_string(b, s->bundle);
  rc |= tsrun_buf_str(b, ",\"annotations\":{");
  const struct tsrun_json *a = s->annotations;
  for (size_t i = 0; a && a->type == TSRUN_JSON_OBJECT && i < a->count; i++) {
    if (i) rc |= tsrun_buf_str(b, ",");
    rc |= tsrun_buf_json_string(b, a->keys[i]);
    rc |= tsrun_buf_str(b, ":");
    rc |= tsrun_buf_json_string(b, a->items[i]->type == TSRUN_JSON_STRING ? a->items[i]->str : "");
  }
  rc |= tsrun_buf_str(b, "}}");
  return rc ? -1 : 0;
}

int tsrun_run_hook_list(const struct tsrun_host *h, const struct tsrun_json *hooks, const char *kind, const char *input,
                        int warn_only, struct tsrun_err *e) {
  const struct tsrun_json *list = tsrun_json_get(hooks, kind);
  if (!list || list->type != TSRUN_JSON_ARRAY || list->count == 0) return 0;
  int rc = 0;
  for (size_t i = 0; i < list->count && rc == 0; i++) {
    const struct tsrun_json *hook = list->items[i];
    const char *path = tsrun_json_str(hook, "path");
    if (!path) continue;
    double timeout = tsrun_json_num(hook, "timeout", 0);
    char **argv = strings(tsrun_json_get(hook, "args"), path);
    char **envp = strings(tsrun_json_get(hook, "env"), NULL);
    /* runc's words ("error running <kind> hook #<i>: exit status 3", its
     * Command.Run's causes), which engines show and match on; then the
     * hook's path and output where runc shows its stdout and stderr */
    char cause[PATH_MAX + 128] = "", detail[PATH_MAX + 768] = "";
    struct tsrun_hook_result r = {0};
    const char *out = "";
    int names_path = 0; /* Go's os/exec names the path itself in a failed start */
    if (!argv || !envp) {
      snprintf(cause, sizeof cause, "out of memory");
    } else if (tsrun_run_hook(path, argv, envp, input, hook_timeout_ms(timeout), &r) < 0) {
      snprintf(cause, sizeof cause, "%s", strerror(errno));
    } else {
      out = trimmed(r.output);
      char words[128];
      if (r.timed_out) {
        snprintf(cause, sizeof cause, "hook ran past specified timeout of %.1fs", timeout);
      } else if (r.exec_errno) {
        tsrun_go_errno_words(r.exec_errno, words, sizeof words);
        snprintf(cause, sizeof cause, "fork/exec %s: %s", path, words);
        names_path = 1;
      } else if (r.signal) {
        const char *name = tsrun_go_signal_words(r.signal);
        if (name)
          snprintf(words, sizeof words, "%s", name);
        else
          snprintf(words, sizeof words, "signal %d", r.signal);
        snprintf(cause, sizeof cause, "signal: %s%s", words, r.core_dumped ? " (core dumped)" : "");
      } else if (r.code != 0) {
        snprintf(cause, sizeof cause, "exit status %d", r.code);
      }
    }
    if (*cause && !names_path) snprintf(detail, sizeof detail, " (%s)%s%s", path, *out ? ": " : "", out);
    free(r.output);
    free(argv);
    free(envp);
    if (!*cause) continue;
    if (warn_only)
      tsrun_warn(h, "error running %s hook #%zu: %s%s", kind, i, cause, detail);
    else
      rc = tsrun_err_set(e, TSRUN_CODE(ECHILD), "error running %s hook #%zu: %s%s", kind, i, cause, detail);
  }
  return rc;
}

int tsrun_run_hooks(const struct tsrun_host *h, const struct tsrun_state *s, const char *kind, const char *status,
                    int warn_only, struct tsrun_err *e) {
  const struct tsrun_json *list = tsrun_json_get(s->hooks, kind);
  if (!list || list->type != TSRUN_JSON_ARRAY || list->count == 0) return 0;
  struct tsrun_buf input = {0};
  if (hook_state(s, status, &input) < 0) return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "out of memory");
  int rc = tsrun_run_hook_list(h, s->hooks, kind, input.data, warn_only, e);
  tsrun_buf_free(&input);
  return rc;
}
