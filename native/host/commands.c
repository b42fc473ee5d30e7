/* commands.c — the lifecycle commands that act on an existing container:
 * state, list, kill, delete, start, pause, resume, ps. Each takes the
 * container's lock, checks its status in one place, and uses the pieces of
 * state.c, cgroup.c and hooks.c. The front binary and the addon both call
 * these; the words of every error are runc's. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "host.h"

static void sleep_ms(int ms) {
  struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&t, &t) < 0 && errno == EINTR) {
  }
}

static long elapsed_ms(const struct timespec *start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}

int tsrun_release_fifo(const char *path, pid_t pid, int timeout_ms, struct tsrun_err *e) {
  /* Non-blocking read end: a dead init cannot hang us. */
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "open exec fifo: %s", strerrorname_np(errno));
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  int got_byte = 0;
  char said[sizeof e->message];
  size_t nsaid = 0;
  for (;;) {
    char buf[512];
    ssize_t n = read(fd, buf, got_byte ? sizeof buf : 1);
    if (n > 0 && !got_byte) {
      got_byte = 1;
      continue;
    }
    if (n > 0) {
      for (ssize_t i = 0; i < n && nsaid + 1 < sizeof said; i++) said[nsaid++] = buf[i];
      continue;
    }
    /* The writer's fd is close-on-exec: EOF after the byte means execve
     * happened (a fast program may even have exited by now), or the init
     * died; either way the program was released, unless the init wrote why
     * it could not go on (its startContainer hooks run in between). */
    if (n == 0 && got_byte) break;
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      int saved = errno;
      close(fd);
      return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "read exec fifo: %s", strerrorname_np(saved));
    }
    if (!got_byte && kill(pid, 0) < 0 && errno == ESRCH) {
      close(fd);
      return 0; /* died before start */
    }
    /* The byte comes at once from a waiting init; what follows may take as
     * long as the startContainer hooks do (each has its own timeout). */
    if (!got_byte && timeout_ms >= 0 && elapsed_ms(&start) > timeout_ms) {
      close(fd);
      return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "read exec fifo: ETIMEDOUT");
    }
    struct pollfd p = {fd, POLLIN, 0};
    poll(&p, 1, got_byte ? -1 : 10);
  }
  close(fd);
  if (nsaid) {
    said[nsaid] = 0;
    return tsrun_err_set(e, TSRUN_CODE(ECHILD), "%s", said);
  }
  return 1;
}

int tsrun_parse_signal(const char *text) {
  static const struct {
    const char *name;
    int sig;
  } names[] = {
      {"HUP", SIGHUP},   {"INT", SIGINT},       {"QUIT", SIGQUIT}, {"ILL", SIGILL},     {"TRAP", SIGTRAP},
      {"ABRT", SIGABRT}, {"IOT", SIGIOT},       {"BUS", SIGBUS},   {"FPE", SIGFPE},     {"KILL", SIGKILL},
      {"USR1", SIGUSR1}, {"SEGV", SIGSEGV},     {"USR2", SIGUSR2}, {"PIPE", SIGPIPE},   {"ALRM", SIGALRM},
      {"TERM", SIGTERM}, {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT},   {"STOP", SIGSTOP},
      {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN},     {"TTOU", SIGTTOU}, {"URG", SIGURG},     {"XCPU", SIGXCPU},
      {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},
      {"POLL", SIGPOLL}, {"PWR", SIGPWR},       {"SYS", SIGSYS},
  };
  if (!*text) return -1;
  char *end;
  if (text[0] >= '0' && text[0] <= '9') {
    long n = strtol(text, &end, 10);
    return !*end && n >= 0 && n <= 64 ? (int)n : -1; /* 0: only "is it alive?" */
  }
  const char *name = strncasecmp(text, "SIG", 3) ? text : text + 3;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (!strcasecmp(name, names[i].name)) return names[i].sig;
  /* real-time signals: RTMIN, RTMIN+n, RTMAX-n (glibc reserves 32 and 33) */
  int base = 0;
  if (!strncasecmp(name, "RTMIN", 5))
    base = 34;
  else if (!strncasecmp(name, "RTMAX", 5))
    base = 64;
  if (!base) return -1;
  const char *rest = name + 5;
  long off = 0;
  if (*rest) {
    if ((*rest != '+' && *rest != '-') || !rest[1]) return -1;
    off = strtol(rest + 1, &end, 10);
    if (*end || rest[1] < '0' || rest[1] > '9') return -1;
    if (*rest == '-') off = -off;
  }
  long v = base + off;
  return v >= 34 && v <= 64 ? (int)v : -1;
}

int tsrun_host_status(const struct tsrun_host *h, const char *id, enum tsrun_status *status, struct tsrun_err *e) {
  struct tsrun_state s;
  if (tsrun_state_load(h, id, &s, e) < 0) return -1;
  *status = tsrun_state_status(&s);
  tsrun_state_free(&s);
  return 0;
}

int tsrun_host_state(const struct tsrun_host *h, const char *id, struct tsrun_buf *out, struct tsrun_err *e) {
  struct tsrun_state s;
  if (tsrun_state_load(h, id, &s, e) < 0) return -1;
  int rc = tsrun_state_json(&s, 1, out);
  tsrun_state_free(&s);
  if (rc < 0 || tsrun_buf_str(out, "\n") < 0) return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "out of memory");
  return 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int tsrun_host_list(const struct tsrun_host *h, struct tsrun_buf *out, struct tsrun_err *e) {
  DIR *d = opendir(h->root);
  if (tsrun_buf_str(out, "[") < 0) return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "out of memory");
  if (!d) {
    if (errno != ENOENT) return tsrun_root_err(e, "open", h->root, errno);
    return tsrun_buf_str(out, "]") < 0 ? tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "out of memory") : 0;
  }
  char **ids = NULL;
  size_t n = 0;
  struct dirent *ent;
  while ((ent = readdir(d))) {
    if (ent->d_name[0] == '.') continue;
    char **more = realloc(ids, (n + 1) * sizeof *ids);
    if (!more) break;
    ids = more;
    if (!(ids[n] = strdup(ent->d_name))) break; /* cmp_str takes no NULL */
    n++;
  }
  closedir(d);
  /* qsort's base must not be NULL, even for no elements (an empty root) */
  if (n > 1) qsort(ids, n, sizeof *ids, cmp_str);
  int first = 1, rc = 0;
  for (size_t i = 0; i < n; i++) {
    struct tsrun_state s;
    struct tsrun_err ignored;
    if (tsrun_state_load(h, ids[i], &s, &ignored) == 0) { /* else: raced with delete, or no state.json */
      if (!first) rc |= tsrun_buf_str(out, ",");
      rc |= tsrun_state_json(&s, 0, out);
      first = 0;
      tsrun_state_free(&s);
    }
    free(ids[i]);
  }
  free(ids);
  rc |= tsrun_buf_str(out, "]");
  return rc ? tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "out of memory") : 0;
}

int tsrun_host_kill(const struct tsrun_host *h, const char *id, int sig, int all, struct tsrun_err *e) {
  int lock = tsrun_lock(h, id, 0, e);
  if (lock < 0) return -1;
  struct tsrun_state s;
  int rc = tsrun_state_load(h, id, &s, e);
  if (rc == 0) {
    int go = tsrun_can_kill(tsrun_state_status(&s), all, e);
    if (go <= 0) {
      rc = go;
    } else if (all) {
      rc = tsrun_container_signal(&s, sig, e);
    } else if (kill(s.pid, sig) < 0) {
      rc = tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "kill: %s", strerrorname_np(errno));
    } else if (sig == SIGKILL && s.cgroup.version == 1 && tsrun_cgroup_frozen(&s.cgroup)) {
      /* v1's freezer holds even a SIGKILLed task until thawed (v2 kills
       * frozen tasks itself): a paused container must die as runc's does */
      struct tsrun_err ignored;
      tsrun_cgroup_thaw(&s.cgroup, &ignored);
    }
    tsrun_state_free(&s);
  }
  close(lock);
  return rc;
}

/* rm -r of a container's state dir. Its records go last, state.json the
 * very last: a delete killed half-way leaves a dir a second delete still
 * knows what to do with. */
/* A state dir's tree, never across a mount point: a restore's criu-root
 * (the rootfs bound there while CRIU runs) is unmounted first, and should
 * one still be there its rootfs is not emptied. */
static void remove_tree(const char *dir, int top) {
  DIR *d = opendir(dir);
  if (d) {
    struct stat self;
    int have_self = fstat(dirfd(d), &self) == 0;
    struct dirent *ent;
    while ((ent = readdir(d))) {
      if (!strcmp(ent->d_name, ".") || !strcmp(ent->d_name, "..")) continue;
      if (top && (!strcmp(ent->d_name, TSRUN_STATE_FILE) || !strcmp(ent->d_name, TSRUN_INTENT_FILE))) continue;
      char p[4400];
      snprintf(p, sizeof p, "%s/%s", dir, ent->d_name);
      if (unlink(p) < 0 && errno == EISDIR) {
        struct stat st;
        if (have_self && lstat(p, &st) == 0 && st.st_dev != self.st_dev) continue;
        remove_tree(p, 0);
      }
    }
    closedir(d);
  }
  if (top) {
    char p[4400];
    snprintf(p, sizeof p, "%s/" TSRUN_INTENT_FILE, dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/" TSRUN_STATE_FILE, dir);
    unlink(p);
  }
  rmdir(dir);
}

/* A restore's dirs (criu-root: the rootfs bound for CRIU; criu-work: its
 * work dir, where it mounts its cgroup yard) may hold mounts when it was
 * killed: everything mounted under the state dir goes first. */
static void remove_dir(const struct tsrun_host *h, const char *dir) {
  char p[4400];
  snprintf(p, sizeof p, "%s/criu-root", dir);
  int restored = access(p, F_OK) == 0;
  snprintf(p, sizeof p, "%s/criu-work", dir);
  if (restored || access(p, F_OK) == 0) tsrun_unmount_under(h, dir);
  remove_tree(dir, 1);
}

/* What a container without a mount namespace mounted under its rootfs in
 * ours: detached, deepest first (runc leaves them behind). */
void tsrun_unmount_under(const struct tsrun_host *h, const char *rootfs) {
  FILE *f = fopen("/proc/self/mountinfo", "re");
  if (!f) return;
  char **points = NULL;
  size_t n = 0, rlen = strlen(rootfs);
  char line[8192];
  while (fgets(line, sizeof line, f)) {
    char *p = line;
    for (int i = 0; i < 4 && p; i++) p = strchr(p, ' ') ? strchr(p, ' ') + 1 : NULL;
    if (!p) continue;
    char *end = strchr(p, ' ');
    if (end) *end = 0;
    /* unescape \040 and friends */
    char *w = p;
    for (char *r = p; *r; r++) {
      if (r[0] == '\\' && r[1] && r[2] && r[3]) {
        *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
        r += 3;
      } else {
        *w++ = *r;
      }
    }
    *w = 0;
    if (strncmp(p, rootfs, rlen) || (p[rlen] && p[rlen] != '/')) continue;
    char **more = realloc(points, (n + 1) * sizeof *points);
    if (!more) break;
    points = more;
    points[n++] = strdup(p);
  }
  fclose(f);
  /* deepest first: the longest paths first */
  for (size_t i = 1; i < n; i++)
    for (size_t j = i; j > 0 && strlen(points[j - 1]) < strlen(points[j]); j--) {
      char *t = points[j];
      points[j] = points[j - 1];
      points[j - 1] = t;
    }
  for (size_t i = 0; i < n; i++) {
    if (umount2(points[i], MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL)
      tsrun_warn(h, "cleanup: unmount %s: %s", points[i], strerror(errno));
    free(points[i]);
  }
  free(points);
}

/* Waits for the init to die (up to 10 s): it is never our child here. */
static int wait_gone(const struct tsrun_state *s, struct tsrun_err *e) {
  for (int i = 0; i < 1000; i++) {
    if (!tsrun_pid_alive(s->pid, s->pid_start_time)) return 0;
    /* our own child (run, or an API user): reap it */
    waitpid(s->pid, NULL, WNOHANG | __WALL);
    sleep_ms(10);
  }
  return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "container init %d did not die after SIGKILL", (int)s->pid);
}

/* The resctrl groups the create made (a failure only warns: a group the
 * kernel will not remove must not keep the container's state forever, and
 * `delete --force` must succeed). */
static void remove_rdt(const struct tsrun_host *h, const struct tsrun_state *s) {
  struct tsrun_err err;
  if (s->rdt.root && tsrun_rdt_remove(&s->rdt, &err) < 0) tsrun_warn(h, "%s", err.message);
}

/* A claimed dir without state.json: a create that died (or is still at
 * work). Dead: what its intent record says it made goes — the init, the
 * cgroup directories it created, the mounts it made in our namespace —
 * then the dir. At work (it holds the dir's lock): not there yet, as for
 * runc; that create cleans up after itself if it fails. */
static int delete_claimed(const struct tsrun_host *h, const char *id, int force, struct tsrun_err *e) {
  char dir[4200], file[4300];
  snprintf(dir, sizeof dir, "%s/%s", h->root, id);
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return force ? 0 : -1; /* e: ENOTFOUND */
  /* The lock's holder may be a killed create's init, which has the fd
   * until it has died of its parent's death a moment later: wait a second
   * for it; a create still at work holds on past that. */
  int locked = 0;
  for (int i = 0; i < 100 && !locked; i++) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
      locked = 1;
    else if (errno == EWOULDBLOCK || errno == EINTR)
      sleep_ms(10);
    else
      break;
  }
  if (!locked) {
    close(fd);
    return force ? 0 : -1;
  }
  snprintf(file, sizeof file, "%s/" TSRUN_STATE_FILE, dir);
  if (access(file, F_OK) == 0) { /* it finished between our two looks */
    close(fd);
    return tsrun_host_delete(h, id, force, e);
  }
  struct tsrun_state s;
  struct tsrun_err rerr;
  int rc = 0;
  if (tsrun_record_load(dir, TSRUN_INTENT_FILE, &s, &rerr) == 0) {
    if (s.pid_start_time && tsrun_pid_alive(s.pid, s.pid_start_time)) {
      kill(s.pid, SIGKILL);
      rc = wait_gone(&s, e);
    }
    if (rc == 0 && (s.cgroup.version || s.cgroup.systemd.name)) rc = tsrun_cgroup_destroy(h, &s.cgroup, e);
    if (rc == 0) remove_rdt(h, &s);
    if (rc == 0 && s.host_mounts && s.rootfs) tsrun_unmount_under(h, s.rootfs);
    tsrun_state_free(&s);
    tsrun_mark(h, "abandoned");
  } else if (strcmp(rerr.code, TSRUN_CODE(ENOTFOUND))) {
    tsrun_warn(h, "cleanup: %s", rerr.message); /* unreadable: the dir goes, nothing else is known */
  }
  if (rc == 0) remove_dir(h, dir);
  close(fd);
  return rc;
}

int tsrun_host_delete(const struct tsrun_host *h, const char *id, int force, struct tsrun_err *e) {
  int lock = tsrun_lock(h, id, 0, e);
  if (lock < 0) {
    if (strcmp(e->code, TSRUN_CODE(ENOTFOUND))) return -1;
    return delete_claimed(h, id, force, e);
  }
  struct tsrun_state s;
  int rc = tsrun_state_load(h, id, &s, e);
  if (rc < 0) {
    close(lock);
    return -1;
  }
  enum tsrun_status st = tsrun_state_status(&s);
  tsrun_mark(h, "load");
  if (tsrun_can_delete(st, id, force, e) < 0) {
    rc = -1;
  } else {
    if (st != TSRUN_STOPPED) {
      rc = tsrun_container_signal(&s, SIGKILL, e);
      if (rc == 0) rc = wait_gone(&s, e);
      tsrun_mark(h, "kill");
    }
    /* kills what the init left behind in the cgroup directories the create
     * made (no pid namespace), stops the unit it started, and removes them;
     * a cgroup that existed before stays, with whatever else runs in it */
    if (rc == 0 && (s.cgroup.version || s.cgroup.systemd.name)) {
      rc = tsrun_cgroup_destroy(h, &s.cgroup, e);
      tsrun_mark(h, "cgroup");
    }
    if (rc == 0) {
      remove_rdt(h, &s);
      if (s.host_mounts) tsrun_unmount_under(h, s.rootfs);
      remove_dir(h, s.dir);
      tsrun_mark(h, "remove");
      struct tsrun_err ignored;
      tsrun_run_hooks(h, &s, "poststop", "stopped", 1, &ignored);
      if (s.hooks) tsrun_mark(h, "poststop");
    }
  }
  tsrun_state_free(&s);
  close(lock);
  return rc;
}

int tsrun_host_start(const struct tsrun_host *h, const char *id, struct tsrun_err *e) {
  int lock = tsrun_lock(h, id, 0, e);
  if (lock < 0) return -1;
  struct tsrun_state s;
  int rc = tsrun_state_load(h, id, &s, e);
  if (rc < 0) {
    close(lock);
    return -1;
  }
  tsrun_mark(h, "load");
  rc = tsrun_can_start(tsrun_state_status(&s), id, e);
  if (rc == 0) {
    /* The init runs the startContainer hooks between its byte and its
     * execve: their failure comes back through the fifo, and the init has
     * exited (the container is stopped: delete runs poststop). */
    char fifo[4300];
    snprintf(fifo, sizeof fifo, "%s/" TSRUN_FIFO_FILE, s.dir);
    int out = tsrun_release_fifo(fifo, s.pid, 10000, e);
    if (out != 0) unlink(fifo);
    if (out < 0)
      rc = -1;
    else if (out == 0)
      rc = tsrun_err_set(e, TSRUN_CODE(ESTATE), "cannot start a container that has stopped");
    tsrun_mark(h, "release");
  }
  if (rc == 0) {
    /* runtime.md (1.3.0), step 9: a failing poststart hook is an error
     * that stops the container (delete then destroys it and runs
     * poststop), the later poststart hooks not run; as runc and crun. */
    rc = tsrun_run_hooks(h, &s, "poststart", "running", 0, e);
    if (s.hooks) tsrun_mark(h, "poststart");
    if (rc < 0) {
      struct tsrun_err ignored;
      if (tsrun_container_signal(&s, SIGKILL, &ignored) == 0) wait_gone(&s, &ignored);
    }
  }
  tsrun_state_free(&s);
  close(lock);
  return rc;
}

static int with_cgroup(const struct tsrun_host *h, const char *id, struct tsrun_state *s, int *lock,
                       struct tsrun_err *e) {
  *lock = tsrun_lock(h, id, 0, e);
  if (*lock < 0) return -1;
  if (tsrun_state_load(h, id, s, e) < 0) {
    close(*lock);
    return -1;
  }
  if (!s->cgroup.version) {
    tsrun_state_free(s);
    close(*lock);
    return tsrun_err_set(e, TSRUN_CODE(EUNSUPPORTED), "container %s has no cgroup (created without cgroup support)",
                         id);
  }
  return 0;
}

int tsrun_host_pause(const struct tsrun_host *h, const char *id, struct tsrun_err *e) {
  struct tsrun_state s;
  int lock;
  if (with_cgroup(h, id, &s, &lock, e) < 0) return -1;
  int rc = tsrun_can_pause(tsrun_state_status(&s), e) < 0 ? -1 : tsrun_cgroup_freeze(&s.cgroup, e);
  tsrun_state_free(&s);
  close(lock);
  return rc;
}

int tsrun_host_resume(const struct tsrun_host *h, const char *id, struct tsrun_err *e) {
  struct tsrun_state s;
  int lock;
  if (with_cgroup(h, id, &s, &lock, e) < 0) return -1;
  int rc = tsrun_can_resume(tsrun_state_status(&s), e) < 0 ? -1 : tsrun_cgroup_thaw(&s.cgroup, e);
  tsrun_state_free(&s);
  close(lock);
  return rc;
}

int tsrun_host_ps(const struct tsrun_host *h, const char *id, pid_t **pids, size_t *n, struct tsrun_err *e) {
  *pids = NULL;
  *n = 0;
  int lock = tsrun_lock(h, id, 0, e);
  if (lock < 0) return -1;
  struct tsrun_state s;
  int rc = tsrun_state_load(h, id, &s, e);
  if (rc == 0) {
    if (tsrun_container_pids(&s, pids, n) < 0)
      rc = tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "list processes: %s", strerror(errno));
    tsrun_state_free(&s);
  }
  close(lock);
  return rc;
}
