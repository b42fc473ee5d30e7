/* measure.c — build/tsrun-measure: runs the commands the bench sends and
 * says what each cost, measured where nothing else is in the way: wall time
 * from fork to wait4, the user and system CPU and the peak RSS that wait4
 * reports (the command's, and the children it reaped: a runtime's init).
 *
 * One request per line on stdin, one answer per line on stdout (JSON):
 *   {"argv": ["runc", "state", "x"]}
 *     -> {"wall": ms, "user": ms, "sys": ms, "rss": KiB, "status": n, "stderr": "…"}
 *   {"parallel": [[argv…], [argv…], …]}   all started at once, all waited for
 *     -> {"wall": ms, "failed": n, "status": [n, …], "stderr": "the first failure's"}
 * status: the exit code, 128+N when killed by signal N. stderr: the first
 * 512 bytes of a failing command's (stdout and stdin are /dev/null). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "json.h"

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static double tv_ms(struct timeval tv) {
  return (double)tv.tv_sec * 1e3 + (double)tv.tv_usec / 1e3;
}

/* A NULL-terminated argv borrowing the strings of a JSON array. */
static char **argv_of(const struct tsrun_json *a) {
  if (!a || a->type != TSRUN_JSON_ARRAY || a->count == 0) return NULL;
  char **argv = calloc(a->count + 1, sizeof *argv);
  for (size_t i = 0; argv && i < a->count; i++)
    argv[i] = a->items[i]->type == TSRUN_JSON_STRING ? a->items[i]->str : "";
  return argv;
}

static pid_t start(char **argv, int err_fd) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  int null = open("/dev/null", O_RDWR);
  dup2(null, 0);
  dup2(null, 1);
  dup2(err_fd, 2);
  execvp(argv[0], argv);
  dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
  _exit(127);
}

static int status_of(int st) {
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The first bytes of what a command wrote to its stderr memfd, as a JSON string. */
static void add_stderr(struct tsrun_buf *out, int fd) {
  char buf[513];
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  buf[n > 0 ? n : 0] = 0;
  tsrun_buf_str(out, ",\"stderr\":");
  tsrun_buf_json_string(out, buf);
}

static void num(struct tsrun_buf *out, const char *key, double v) {
  char s[64];
  snprintf(s, sizeof s, ",\"%s\":%.3f", key, v);
  tsrun_buf_str(out, s);
}

static void one(const struct tsrun_json *req, struct tsrun_buf *out) {
  char **argv = argv_of(tsrun_json_get(req, "argv"));
  if (!argv) {
    tsrun_buf_str(out, "{\"error\":\"argv\"}");
    return;
  }
  int err = (int)syscall(SYS_memfd_create, "stderr", MFD_CLOEXEC);
  double t0 = now_ms();
  pid_t pid = start(argv, err);
  int st = 0;
  struct rusage ru;
  memset(&ru, 0, sizeof ru);
  while (wait4(pid, &st, 0, &ru) < 0 && errno == EINTR) {
  }
  double wall = now_ms() - t0;
  tsrun_buf_str(out, "{\"status\":");
  tsrun_buf_int(out, status_of(st));
  num(out, "wall", wall);
  num(out, "user", tv_ms(ru.ru_utime));
  num(out, "sys", tv_ms(ru.ru_stime));
  num(out, "rss", (double)ru.ru_maxrss);
  if (status_of(st)) add_stderr(out, err);
  tsrun_buf_str(out, "}");
  close(err);
  free(argv);
}

static void parallel(const struct tsrun_json *list, struct tsrun_buf *out) {
  size_t n = list->count;
  pid_t *pids = calloc(n, sizeof *pids);
  int *errs = calloc(n, sizeof *errs);
  int *sts = calloc(n, sizeof *sts);
  double t0 = now_ms();
  for (size_t i = 0; i < n; i++) {
    char **argv = argv_of(list->items[i]);
    errs[i] = (int)syscall(SYS_memfd_create, "stderr", MFD_CLOEXEC);
    pids[i] = argv ? start(argv, errs[i]) : -1;
    free(argv);
  }
  for (size_t i = 0; i < n; i++) {
    sts[i] = 127 << 8;
    if (pids[i] > 0)
      while (waitpid(pids[i], &sts[i], 0) < 0 && errno == EINTR) {
      }
  }
  double wall = now_ms() - t0;
  int failed = 0;
  long first = -1;
  for (size_t i = 0; i < n; i++)
    if (status_of(sts[i])) {
      failed++;
      if (first < 0) first = (long)i;
    }
  tsrun_buf_str(out, "{\"failed\":");
  tsrun_buf_int(out, failed);
  num(out, "wall", wall);
  tsrun_buf_str(out, ",\"status\":[");
  for (size_t i = 0; i < n; i++) {
    if (i) tsrun_buf_str(out, ",");
    tsrun_buf_int(out, status_of(sts[i]));
  }
  tsrun_buf_str(out, "]");
  if (first >= 0) add_stderr(out, errs[first]);
  tsrun_buf_str(out, "}");
  for (size_t i = 0; i < n; i++) close(errs[i]);
  free(pids);
  free(errs);
  free(sts);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  while ((len = getline(&line, &cap, stdin)) > 0) {
    const char *perr = NULL;
    struct tsrun_json *req = tsrun_json_parse(line, (size_t)len, &perr);
    struct tsrun_buf out = {0};
    const struct tsrun_json *par = req ? tsrun_json_get(req, "parallel") : NULL;
    if (!req)
      tsrun_buf_str(&out, "{\"error\":\"bad request\"}");
    else if (par && par->type == TSRUN_JSON_ARRAY)
      parallel(par, &out);
    else
      one(req, &out);
    tsrun_buf_str(&out, "\n");
    fwrite(out.data, 1, out.len, stdout);
    fflush(stdout);
    tsrun_buf_free(&out);
    tsrun_json_free(req);
  }
  free(line);
  return 0;
}
