/* exec.c — `exec` from the container's plan cache, without a JavaScript
 * engine: the probe pattern (the same health check into the same container,
 * again and again) runs a plan TypeScript made before, unchanged.
 *
 * The key. The front reads the command line the way the JavaScript CLI
 * does (runc's exec flags before the id, the command after it) and writes
 * down everything the plan of that exec depends on:
 *   - the container's identity: its id, its init's pid and start time;
 *   - tsrun's build: this binary and the CLI's engine file (rewritten by
 *     every build);
 *   - the runtime's view of the container: which of the init's namespaces
 *     are not ours (the ones the plan joins);
 *   - what the plan reads from the container: /etc/passwd (HOME) as seen
 *     through the init's root (its inode, size, mtime and ctime, stated
 *     before the CLI reads it), and without --process the bundle's
 *     config.json (its process is the template);
 *   - the exec itself: every argument (the pid file, console and pidfd
 *     socket paths replaced by a marker: they are used, not planned) and
 *     the --process file's whole text.
 * That text is the key; no hash stands for it. Its FNV-1a names the entry,
 * <state dir>/exec/<hex>, which holds the whole key again, compared byte for
 * byte, and the plan.
 *
 * A hit: the plan runs as the JavaScript CLI would run it — namespaces
 * opened from the init and verified against its start time, the container's
 * cgroup joined, native/host/launch.c's sync loop, the pid file, then
 * (foreground) the stdio relay and the exit status, signals forwarded.
 * A miss, or anything this file does not serve (a paused or stopped
 * container, --cgroup, a terminal to relay, socket activation, a seccomp
 * listener, resctrl): the JavaScript CLI, with the key in TSRUN_EXEC_KEY
 * when there is one, and it stores the plan under it after a launch that
 * worked (lib/container/exec-cache.ts). A changed container never runs a
 * stale plan: a new init is a new key, and a paused or stopped one is never
 * served here. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "front.h"
#include "tsrun_plan.h"

#define KEY_ENV "TSRUN_EXEC_KEY"
#define ENTRY_ENV "TSRUN_EXEC_ENTRY"
#define ENTRY_MAGIC "tsrun-exec-plan 1\n"
#define KEY_MAX (64 * 1024)
#define ENTRY_MAX (8 * 1024 * 1024)
/* Our own fds live at or above this while the plan's are put in place. */
#define OURS_MIN 512

struct exec_args {
  const char *id, *pid_file, *console_socket, *pidfd_socket, *process;
  int detach, argv_mode;
};

/* runc's exec flags, as lib/cli/commands/exec.ts declares them. */
struct xflag {
  const char *name, *alias;
  int value;
};
static const struct xflag XFLAGS[] = {
    {"process", "p", 1},
    {"console-socket", NULL, 1},
    {"tty", "t", 0},
    {"detach", "d", 0},
    {"pid-file", NULL, 1},
    {"cwd", NULL, 1},
    {"env", "e", 1},
    {"user", "u", 1},
    {"additional-gids", "g", 1},
    {"cap", "c", 1},
    {"no-new-privs", NULL, 0},
    {"preserve-fds", NULL, 1},
    {"process-label", NULL, 1},
    {"apparmor", NULL, 1},
    {"ignore-paused", NULL, 0},
    {"no-subreaper", NULL, 0},
    {"pidfd-socket", NULL, 1},
    {NULL, NULL, 0},
};

static void buf_field(struct tsrun_buf *b, const char *name, const char *value, size_t len) {
  char n[32];
  snprintf(n, sizeof n, "%zu:", len);
  tsrun_buf_str(b, name);
  tsrun_buf_str(b, "=");
  tsrun_buf_str(b, n);
  tsrun_buf_add(b, value, len);
  tsrun_buf_str(b, "\n");
}

/* The exec's command line → a and its part of the key; -1: not one this file reads (the CLI's). */
static int parse_exec(char **args, int n, struct exec_args *a, struct tsrun_buf *key) {
  memset(a, 0, sizeof *a);
  int i = 0;
  for (; i < n; i++) {
    const char *t = args[i];
    if (t[0] != '-' || !strcmp(t, "-")) break;
    if (!strcmp(t, "--")) {
      i++;
      break;
    }
    const char *name = t + (t[1] == '-' ? 2 : 1);
    const char *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const struct xflag *f = NULL;
    for (const struct xflag *x = XFLAGS; x->name; x++)
      if ((strlen(x->name) == len && !strncmp(x->name, name, len)) ||
          (x->alias && strlen(x->alias) == len && !strncmp(x->alias, name, len)))
        f = x;
    if (!f) return -1; /* --cgroup, combined short flags, a typo: the CLI's */
    const char *value = NULL;
    if (f->value) {
      if (eq)
        value = eq + 1;
      else if (i + 1 < n)
        value = args[++i];
      else
        return -1;
    } else if (eq && strcmp(eq + 1, "true") && strcmp(eq + 1, "false")) {
      return -1;
    }
    int on = !f->value && !(eq && !strcmp(eq + 1, "false"));
    /* used, not planned: their paths are no part of the key */
    int marker = 0;
    if (!strcmp(f->name, "pid-file")) a->pid_file = value, marker = 1;
    if (!strcmp(f->name, "console-socket")) a->console_socket = value, marker = 1;
    if (!strcmp(f->name, "pidfd-socket")) a->pidfd_socket = value, marker = 1;
    if (!strcmp(f->name, "process")) a->process = value, marker = 1;
    if (!strcmp(f->name, "detach")) a->detach = on;
    buf_field(key, "flag", f->name, strlen(f->name));
    if (f->value)
      buf_field(key, "value", marker ? "*" : value, marker ? 1 : strlen(value));
    else
      buf_field(key, "value", on ? "true" : "false", on ? 4 : 5);
  }
  if (i >= n) return -1;
  a->id = args[i++];
  if (!a->process && i >= n) return -1; /* the CLI words the usage error */
  a->argv_mode = !a->process;
  for (; i < n; i++) buf_field(key, "arg", args[i], strlen(args[i]));
  return 0;
}

static void stamp(struct tsrun_buf *b, const char *name, const struct stat *st) {
  char text[160];
  if (!st) {
    snprintf(text, sizeof text, "%s=none\n", name);
  } else {
    snprintf(text, sizeof text, "%s=%llu:%llu:%lld:%lld.%09ld:%lld.%09ld\n", name, (unsigned long long)st->st_dev,
             (unsigned long long)st->st_ino, (long long)st->st_size, (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec,
             (long long)st->st_ctim.tv_sec, st->st_ctim.tv_nsec);
  }
  tsrun_buf_str(b, text);
}

static int stat_path(struct tsrun_buf *b, const char *name, const char *path) {
  struct stat st;
  if (stat(path, &st) < 0) return -1;
  stamp(b, name, &st);
  return 0;
}

/* The order lib/container/namespaces.ts joins them in (user first, mnt last). */
static const char *const NS_ORDER[] = {"user", "ipc", "uts", "net", "pid", "time", "cgroup", "mnt"};

/* The whole key: the container's, the build's, the files', then the command line's (already in args_key). */
static int make_key(const struct tsrun_state *s, const struct exec_args *a, const struct tsrun_buf *args_key,
                    const char *engine_file, struct tsrun_buf *key) {
  char text[4400];
  tsrun_buf_str(key, "tsrun-exec 1\n");
  buf_field(key, "id", s->id, strlen(s->id));
  snprintf(text, sizeof text, "pid=%d\nstart=%llu\n", s->pid, s->pid_start_time);
  tsrun_buf_str(key, text);
  if (stat_path(key, "self", "/proc/self/exe") < 0 || stat_path(key, "engine", engine_file) < 0) return -1;
  tsrun_buf_str(key, "ns=");
  for (size_t i = 0; i < sizeof NS_ORDER / sizeof *NS_ORDER; i++) {
    char mine[64], theirs[64], p[64];
    snprintf(p, sizeof p, "/proc/self/ns/%s", NS_ORDER[i]);
    ssize_t m = readlink(p, mine, sizeof mine - 1);
    if (m < 0) continue; /* this kernel has no such namespace */
    snprintf(p, sizeof p, "/proc/%d/ns/%s", s->pid, NS_ORDER[i]);
    ssize_t t = readlink(p, theirs, sizeof theirs - 1);
    if (t < 0) return -1;
    if (m == t && !memcmp(mine, theirs, (size_t)m)) continue;
    tsrun_buf_str(key, NS_ORDER[i]);
    tsrun_buf_str(key, ",");
  }
  tsrun_buf_str(key, "\n");
  /* /etc/passwd as the CLI reads it: through the init's root, never out of it */
  snprintf(text, sizeof text, "/proc/%d/root", s->pid);
  int root = open(text, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) return -1;
  struct open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
  int fd = (int)syscall(SYS_openat2, root, "etc/passwd", &how, sizeof how);
  int saved = errno;
  close(root);
  struct stat st;
  if (fd >= 0 && fstat(fd, &st) == 0)
    stamp(key, "passwd", &st);
  else if (fd < 0 && saved == ENOENT)
    stamp(key, "passwd", NULL);
  else {
    if (fd >= 0) close(fd);
    return -1;
  }
  if (fd >= 0) close(fd);
  if (a->argv_mode) {
    /* the bundle's config.json, read again by the CLI for its process */
    if (!s->bundle) return -1;
    snprintf(text, sizeof text, "%s/config.json", s->bundle);
    if (stat_path(key, "config", text) < 0) return -1;
  }
  tsrun_buf_add(key, args_key->data, args_key->len);
  if (a->process) {
    int pf = open(a->process, O_RDONLY | O_CLOEXEC);
    if (pf < 0) return -1;
    char *body = malloc(KEY_MAX);
    ssize_t n = body ? read(pf, body, KEY_MAX) : -1;
    close(pf);
    /* a file this size or with a NUL is the CLI's to read (and word) */
    if (n < 0 || n >= KEY_MAX || memchr(body, 0, (size_t)n)) {
      free(body);
      return -1;
    }
    buf_field(key, "process", body, (size_t)n);
    free(body);
  }
  return key->len < KEY_MAX ? 0 : -1;
}

static unsigned long long fnv1a(const char *p, size_t n) {
  unsigned long long h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
  return h;
}

/* The entry for key in the container's dir: its plan (malloc'd, 8-aligned) and oom_score_adj; -1: none. */
static int read_entry(int dir, const struct tsrun_buf *key, void **plan, size_t *plan_len, int *oom, int *has_oom) {
  char name[40];
  snprintf(name, sizeof name, "exec/%016llx", fnv1a(key->data, key->len));
  setenv(ENTRY_ENV, name + 5, 1); /* for the CLI, on a miss */
  struct open_how how = {.flags = O_RDONLY | O_CLOEXEC, .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS};
  int fd = (int)syscall(SYS_openat2, dir, name, &how, sizeof how);
  if (fd < 0) return -1;
  struct stat st;
  char *data = NULL;
  int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() && st.st_size < ENTRY_MAX &&
           (data = malloc((size_t)st.st_size + 1)) != NULL;
  size_t got = 0;
  while (ok && got < (size_t)st.st_size) {
    ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ok = 0;
    got += n > 0 ? (size_t)n : 0;
  }
  if (!ok) {
    close(fd);
    free(data);
    return -1;
  }
  data[got] = 0;
  /* "tsrun-exec-plan 1\n<key length>\n<key>\noom=<n|none>\nplan=<length>\n<plan>" */
  char *p = data, *end = data + got;
  int rc = -1;
  size_t magic = strlen(ENTRY_MAGIC);
  if (got < magic || memcmp(p, ENTRY_MAGIC, magic)) goto out;
  p += magic;
  char *nl;
  unsigned long long klen = strtoull(p, &nl, 10);
  if (*nl != '\n' || klen != key->len || (size_t)(end - nl - 1) < klen + 1) goto out;
  p = nl + 1;
  if (memcmp(p, key->data, klen) || p[klen] != '\n') goto out;
  p += klen + 1;
  if (!strncmp(p, "oom=none\n", 9)) {
    *has_oom = 0;
    p += 9;
  } else if (!strncmp(p, "oom=", 4)) {
    long v = strtol(p + 4, &nl, 10);
    if (*nl != '\n' || v < -1000 || v > 1000) goto out;
    *has_oom = 1;
    *oom = (int)v;
    p = nl + 1;
  } else {
    goto out;
  }
  if (strncmp(p, "plan=", 5)) goto out;
  unsigned long long plen = strtoull(p + 5, &nl, 10);
  if (*nl != '\n' || (size_t)(end - nl - 1) != plen || plen == 0) goto out;
  if (posix_memalign(plan, 8, plen) != 0) goto out;
  memcpy(*plan, nl + 1, plen);
  *plan_len = plen;
  rc = 0;
  /* used now: the CLI's bound removes the least recently used first */
  futimens(fd, NULL);
out:
  close(fd);
  free(data);
  return rc;
}

/* fd placed at exactly `at` for the init to inherit (not close-on-exec). */
static int place(int fd, int at) {
  if (fd < 0) return -1;
  if (fd == at) {
    fcntl(fd, F_SETFD, 0);
    return 0;
  }
  int rc = dup2(fd, at);
  close(fd);
  return rc < 0 ? -1 : 0;
}

static void *relay_thread(void *arg) {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, NULL);
  tsrun_relay_loop(arg);
  return NULL;
}

/* Foreground: the relay, signals forwarded, then the process's exit status (128+N: killed by N). */
static int supervise(pid_t pid, int sigfd, struct tsrun_relay *relay) {
  pthread_t thread;
  int relaying = relay && pthread_create(&thread, NULL, relay_thread, relay) == 0;
  int code = 255;
  for (;;) {
    int status;
    pid_t w = waitpid(pid, &status, WNOHANG | __WALL);
    if (w == pid) {
      code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
      break;
    }
    if (w < 0 && errno != EINTR) {
      /* (a caller that left SIGCHLD ignored would have it reaped for us:
       * front_exec resets that) */
      dprintf(2, "tsrun: exec failed: waitpid %d: %s\n", pid, strerror(errno));
      break;
    }
    struct signalfd_siginfo si;
    ssize_t n = read(sigfd, &si, sizeof si);
    if (n != sizeof si) continue;
    if (si.ssi_signo == SIGCHLD || si.ssi_signo == SIGURG || si.ssi_signo == SIGWINCH) continue;
    kill(pid, (int)si.ssi_signo);
  }
  if (relaying) {
    /* its stdin is over with it; what it wrote is copied to the end */
    tsrun_relay_command(relay, TSRUN_RELAY_END_INPUT);
    pthread_join(thread, NULL);
  }
  return code;
}

/* A served exec: the plan in place, launched, recorded. Returns the exit status. */
static int serve(const struct globals *g, const struct tsrun_state *s, const struct exec_args *a, int lock,
                 const char *init_path, void *plan_buf, size_t plan_len, int oom, int has_oom) {
  struct tsrun_err e = {"", ""};
  struct tsrun_plan plan;
  char err[256];
  /* the plan's fds: loaded from a copy (the loader keeps pointers into it) */
  void *copy = NULL;
  if (posix_memalign(&copy, 8, plan_len) != 0) return 255;
  memcpy(copy, plan_buf, plan_len);
  if (tsrun_plan_load(copy, plan_len, &plan, err, sizeof err) < 0) {
    free(copy);
    tsrun_err_set(&e, TSRUN_CODE(ESYSTEM), "the cached plan: %s", err);
    return fail(g, "exec failed", &e), 255;
  }
  const struct tsrun_ns_join *joins = tsrun_plan_vec(&plan, plan.h->ns_joins);
  uint32_t njoins = plan.h->ns_joins.count;
  int console_at = plan.h->console_socket_fd, pidfd_at = plan.h->pidfd_socket_fd;
  unsigned preserve = plan.h->preserve_fds;
  int placed[66], nplaced = 0;
  for (uint32_t i = 0; i < njoins && i < 64; i++) placed[nplaced++] = joins[i].fd;
  if (console_at >= 0) placed[nplaced++] = console_at;
  if (pidfd_at >= 0) placed[nplaced++] = pidfd_at;
  int placed_ok = njoins <= 64;
  for (uint32_t i = 0; i < njoins; i++)
    if (joins[i].fd >= OURS_MIN || joins[i].fd < 3 + (int)preserve) placed_ok = 0;
  if (console_at >= OURS_MIN || pidfd_at >= OURS_MIN) placed_ok = 0;
  if ((console_at >= 0) != (a->console_socket != NULL) || (pidfd_at >= 0) != (a->pidfd_socket != NULL)) placed_ok = 0;
  if (!placed_ok) {
    tsrun_plan_free(&plan);
    free(copy);
    free(plan_buf);
    to_javascript();
  }
  /* the namespaces, each at its number in the plan; the init's root last */
  for (uint32_t i = 0; i < njoins && !e.message[0]; i++) {
    char path[64];
    int fd;
    if (joins[i].nstype == TSRUN_JOIN_ROOT) {
      snprintf(path, sizeof path, "/proc/%d/root", s->pid);
      fd = open(path, O_PATH | O_DIRECTORY);
    } else {
      const char *name = NULL;
      static const struct {
        unsigned type;
        const char *name;
      } names[] = {{0x10000000, "user"}, {0x08000000, "ipc"},  {0x04000000, "uts"},    {0x40000000, "net"},
                   {0x20000000, "pid"},  {0x00000080, "time"}, {0x02000000, "cgroup"}, {0x00020000, "mnt"}};
      for (size_t k = 0; k < sizeof names / sizeof *names; k++)
        if (names[k].type == joins[i].nstype) name = names[k].name;
      if (!name) {
        tsrun_err_set(&e, TSRUN_CODE(ESYSTEM), "the cached plan joins an unknown namespace type %#x", joins[i].nstype);
        break;
      }
      snprintf(path, sizeof path, "/proc/%d/ns/%s", s->pid, name);
      fd = open(path, O_RDONLY);
    }
    if (fd < 0 && errno == ENOENT)
      tsrun_err_set(&e, TSRUN_CODE(ESTATE), "cannot exec in a stopped container");
    else if (fd < 0)
      tsrun_err_set(&e, TSRUN_CODE(ESYSTEM), "open %s: %s", path, strerror(errno));
    else if (place(fd, joins[i].fd) < 0)
      tsrun_err_set(&e, TSRUN_CODE(ESYSTEM), "dup2: %s", strerror(errno));
  }
  /* the namespaces are the init's only if it is still the process we recorded */
  if (!e.message[0] && !tsrun_pid_alive(s->pid, s->pid_start_time))
    tsrun_err_set(&e, TSRUN_CODE(ESTATE), "cannot exec in a stopped container");
  if (!e.message[0] && a->console_socket && place(tsrun_connect_unix(a->console_socket), console_at) < 0)
    tsrun_err_set(&e, TSRUN_CODE(ESYSTEM), "connect %s: %s", a->console_socket, strerrorname_np(errno));
  if (!e.message[0] && a->pidfd_socket && place(tsrun_connect_unix(a->pidfd_socket), pidfd_at) < 0)
    tsrun_err_set(&e, TSRUN_CODE(ESYSTEM), "connect %s: %s", a->pidfd_socket, strerrorname_np(errno));
  tsrun_plan_free(&plan);
  free(copy);
  if (e.message[0]) return fail(g, "exec failed", &e), 255;
  /* v1: the join's grace period under way while the process is spawned.
   * Not before the plan's fds are in place (that thread opens fds of its
   * own, which a dup2 onto the plan's numbers could close under it), nor
   * before the lookup (a miss's execve would wait for the thread). */
  tsrun_cgroup_warm();

  /* foreground: pipes relayed to our fds 0-2, as runc */
  int child[3] = {-1, -1, -1}, pipes[3] = {-1, -1, -1};
  if (!a->detach) {
    for (int i = 0; i < 3; i++) {
      int p[2];
      if (pipe2(p, O_CLOEXEC) < 0)
        return tsrun_err_set(&e, TSRUN_CODE(ESYSTEM), "pipe2: %s", strerror(errno)), fail(g, "exec failed", &e), 255;
      child[i] = tsrun_fd_lift(i == 0 ? p[0] : p[1], OURS_MIN);
      pipes[i] = tsrun_fd_lift(i == 0 ? p[1] : p[0], OURS_MIN);
    }
  }
  /* signals from now on are held, then forwarded to the process */
  sigset_t fwd, old;
  sigfillset(&fwd);
  static const int own[] = {SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGABRT};
  for (size_t k = 0; k < sizeof own / sizeof *own; k++) sigdelset(&fwd, own[k]);
  int sigfd = -1;
  if (!a->detach) {
    sigprocmask(SIG_BLOCK, &fwd, &old);
    sigfd = tsrun_fd_lift(signalfd(-1, &fwd, SFD_CLOEXEC), OURS_MIN);
  }
  int cg_fd = -1;
  if (s->cgroup.version == 2 && s->cgroup.count == 1)
    cg_fd = tsrun_fd_lift(open(s->cgroup.paths[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC), OURS_MIN);
  struct tsrun_launch_req req;
  memset(&req, 0, sizeof req);
  req.init_path = init_path;
  req.plan = plan_buf;
  req.plan_len = plan_len;
  req.cgroup_fd = cg_fd;
  memcpy(req.stdio, child, sizeof child);
  req.timeout_ms = 60000;
  struct tsrun_launch L;
  int rc = tsrun_launch_start(&L, &req, &e);
  if (cg_fd >= 0) close(cg_fd);
  for (int i = 0; i < 3; i++)
    if (child[i] >= 0) close(child[i]);
  /* the plan's fds are the child's now */
  for (int i = 0; i < nplaced; i++) close(placed[i]);
  free(plan_buf);
  if (rc < 0) return fail(g, "exec failed", &e), 255;
  for (;;) {
    struct tsrun_launch_event ev;
    if (tsrun_launch_next(&L, &ev, &e) < 0) break;
    if (ev.type == TSRUN_SYNC_PID) {
      if (tsrun_cgroup_join(&s->cgroup, L.pid, &e) < 0) break;
      if (has_oom && tsrun_write_oom_score_adj(L.pid, oom, &e) < 0) break;
      /* in the container's cgroup: a delete from now on kills it too */
      close(lock);
      lock = -1;
      if (tsrun_launch_go(&L, L.pid, &e) < 0) break;
      continue;
    }
    if (ev.type == TSRUN_SYNC_READY) {
      tsrun_launch_close(&L);
      goto launched;
    }
    if (ev.type == TSRUN_SYNC_ERROR) {
      tsrun_launch_error(&ev, &e);
      break;
    }
    if (ev.type == TSRUN_SYNC_SECCOMP && ev.fd >= 0) close(ev.fd);
    tsrun_err_set(&e, TSRUN_CODE(ECHILD), "the process stopped at a step this exec does not have (%d)", ev.type);
    break;
  }
  tsrun_launch_abort(&L);
  return fail(g, "exec failed", &e), 255;

launched:
  if (a->pid_file && tsrun_write_pid_file(a->pid_file, L.pid, &e) < 0) {
    kill(L.pid, SIGKILL);
    waitpid(L.pid, NULL, __WALL);
    return fail(g, "exec failed", &e), 255;
  }
  if (a->detach) return 0; /* the caller (conmon, a shim) is the subreaper that reaps it */
  static struct tsrun_relay relay;
  int ours[3];
  for (int i = 0; i < 3; i++) ours[i] = fcntl(i, F_GETFD) < 0 ? -1 : i;
  int relaying = tsrun_relay_init(&relay, pipes, ours) == 0;
  return supervise(L.pid, sigfd, relaying ? &relay : NULL);
}

int front_exec(const struct globals *g, struct tsrun_host *h, char **args, int nargs) {
  struct exec_args a;
  struct tsrun_buf args_key = {0};
  /* our children are ours to reap: an ignored SIGCHLD (inherited across
   * execve) would have the kernel reap the process we wait for */
  signal(SIGCHLD, SIG_DFL);
  /* a miss carries no key from any caller of ours */
  unsetenv(KEY_ENV);
  unsetenv(ENTRY_ENV);
  if (parse_exec(args, nargs, &a, &args_key) < 0) to_javascript();
  /* socket activation: the CLI reads LISTEN_FDS/LISTEN_PID from its environment */
  if (getenv("LISTEN_FDS")) to_javascript();
  struct tsrun_err e = {"", ""};
  int lock = tsrun_fd_lift(tsrun_lock(h, a.id, 1, &e), OURS_MIN);
  if (lock < 0) to_javascript(); /* the CLI says what is wrong */
  struct tsrun_state s;
  if (tsrun_state_load(h, a.id, &s, &e) < 0) to_javascript();
  /* paused, stopped, created: the CLI's (a stale plan never runs) */
  if (tsrun_state_status(&s) != TSRUN_RUNNING || s.host_mounts || s.rdt.root ||
      (s.seccomp && tsrun_json_str(s.seccomp, "listenerPath")))
    to_javascript();
  char engine_dir[PATH_MAX], engine_file[PATH_MAX], init_path[PATH_MAX];
  struct tsrun_buf key = {0};
  if (front_find_engine(engine_dir, engine_file) < 0 || front_init_path(init_path, sizeof init_path) < 0 ||
      make_key(&s, &a, &args_key, engine_file, &key) < 0)
    to_javascript();
  int dir = tsrun_fd_lift(open(s.dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), OURS_MIN);
  void *plan = NULL;
  size_t plan_len = 0;
  int oom = 0, has_oom = 0;
  if (dir < 0 || read_entry(dir, &key, &plan, &plan_len, &oom, &has_oom) < 0) {
    /* (tsrun_buf keeps its text NUL-terminated) */
    if (dir >= 0 && key.data && !memchr(key.data, 0, key.len))
      setenv(KEY_ENV, key.data, 1);
    else
      unsetenv(ENTRY_ENV);
    to_javascript();
  }
  close(dir);
  tsrun_buf_free(&key);
  tsrun_buf_free(&args_key);
  int code = serve(g, &s, &a, lock, init_path, plan, plan_len, oom, has_oom);
  tsrun_state_free(&s);
  return code;
}
