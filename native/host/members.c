/* members.c — which processes are a container's: what `ps` lists,
 * `kill --all` signals and `delete` kills.
 *
 * In a cgroup the container's create made, every process is the
 * container's (a fork stays in its parent's cgroup), and the cgroup is the
 * way to reach them all (cgroup.c). A cgroup that existed before —
 * linux.cgroupsPath naming one; create only warns that it is not empty —
 * also holds whatever the host put there. Of its processes the container's
 * are the init and those descended from it, and
 *   - with a pid namespace of its own, every process in that namespace (an
 *     `exec`'d one's parent is the runtime, not the init). Killing the init
 *     kills them all, and those of namespaces nested in it, which is why
 *     runc kills only the init there;
 *   - without one, nothing else: a process that left the tree (a double
 *     fork, an `exec`'d process) cannot be told from the host's and is left
 *     alone, where runc 1.1.5 kills every process of the cgroup, the host's
 *     too.
 * Without a cgroup: the pid namespace's processes, or the init alone. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host.h"

/* The init, if it is still the process the create started, else 0. */
static pid_t live_init(const struct tsrun_state *s) {
  return tsrun_pid_alive(s->pid, s->pid_start_time) ? s->pid : 0;
}

/* The parent of pid (field 4 of /proc/<pid>/stat), 0 when it is gone. */
static pid_t parent_of(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  /* comm may hold spaces and parentheses: the fields start after the last ")" */
  const char *p = strrchr(buf, ')');
  int ppid;
  return p && sscanf(p + 1, " %*c %d", &ppid) == 1 ? (pid_t)ppid : 0;
}

/* pid is init, or init is one of its ancestors. */
static int descends(pid_t pid, pid_t init) {
  for (int depth = 0; pid > 0 && depth < 4096; depth++) {
    if (pid == init) return 1;
    if (pid == 1) return 0;
    pid = parent_of(pid);
  }
  return 0;
}

/* readlink /proc/<pid>/ns/pid ("pid:[4026531836]"); -1 with errno. */
static int pidns_of(pid_t pid, char *buf, size_t size) {
  char link[64];
  snprintf(link, sizeof link, "/proc/%d/ns/pid", (int)pid);
  ssize_t n = readlink(link, buf, size - 1);
  if (n < 0) return -1;
  buf[n] = 0;
  return 0;
}

static int push(pid_t **pids, size_t *n, size_t *cap, pid_t pid) {
  if (*n == *cap) {
    pid_t *p = realloc(*pids, (*cap = *cap ? *cap * 2 : 16) * sizeof *p);
    if (!p) return -1;
    *pids = p;
  }
  (*pids)[(*n)++] = pid;
  return 0;
}

/* Every process of the host (our pid namespace's). */
static int every_pid(pid_t **pids, size_t *n) {
  DIR *d = opendir("/proc");
  if (!d) return -1;
  size_t cap = 0;
  struct dirent *ent;
  while ((ent = readdir(d))) {
    char *end;
    long pid = strtol(ent->d_name, &end, 10);
    if (*end || pid <= 0) continue;
    if (push(pids, n, &cap, (pid_t)pid) < 0) break;
  }
  closedir(d);
  return 0;
}

static int cmp_pid(const void *a, const void *b) {
  pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
  return x < y ? -1 : x > y;
}

int tsrun_container_pids(const struct tsrun_state *s, pid_t **pids, size_t *n) {
  *pids = NULL;
  *n = 0;
  if (s->cgroup.version && tsrun_cgroup_owned(&s->cgroup)) return tsrun_cgroup_pids(&s->cgroup, pids, n);
  pid_t init = live_init(s);
  if (!init) return 0;
  size_t cap = 0;
  char ns[128];
  if (s->pid_namespace && pidns_of(init, ns, sizeof ns) < 0) {
    if (errno != EACCES) return 0; /* gone */
    /* an unprivileged runtime cannot read the ns links of an init that has
     * not started its program (it is not dumpable): the init alone, whose
     * death kills the rest */
    return push(pids, n, &cap, init);
  }
  if (!s->pid_namespace && !s->cgroup.version) return push(pids, n, &cap, init);
  if ((s->cgroup.version ? tsrun_cgroup_pids(&s->cgroup, pids, n) : every_pid(pids, n)) < 0) return -1;
  size_t kept = 0;
  for (size_t i = 0; i < *n; i++) {
    pid_t p = (*pids)[i];
    char other[128];
    int mine = s->pid_namespace && pidns_of(p, other, sizeof other) == 0 && !strcmp(ns, other);
    if (mine || (s->cgroup.version && descends(p, init))) (*pids)[kept++] = p;
  }
  *n = kept;
  if (*n > 1) qsort(*pids, *n, sizeof **pids, cmp_pid);
  return 0;
}

/* Stops the init's tree in a cgroup that existed before, until a look
 * finds no process it has not stopped: a process stopped (or with a stop
 * pending) cannot fork, so once SIGKILL follows, no child of it can have
 * been orphaned out of the tree between a listing and the kill. */
static void stop_tree(const struct tsrun_state *s) {
  pid_t *stopped = NULL;
  size_t ns = 0, cap = 0;
  for (int round = 0; round < 100; round++) {
    pid_t *p;
    size_t n;
    if (tsrun_container_pids(s, &p, &n) < 0) break;
    int fresh = 0;
    for (size_t i = 0; i < n; i++) {
      int seen = 0;
      for (size_t j = 0; j < ns && !seen; j++) seen = stopped[j] == p[i];
      if (seen) continue;
      kill(p[i], SIGSTOP);
      fresh = 1;
      if (push(&stopped, &ns, &cap, p[i]) < 0) break;
    }
    free(p);
    if (!fresh) break;
  }
  free(stopped);
}

int tsrun_container_signal(const struct tsrun_state *s, int sig, struct tsrun_err *e) {
  if (s->cgroup.version && tsrun_cgroup_owned(&s->cgroup)) return tsrun_cgroup_signal(&s->cgroup, sig, e);
  /* Pid by pid. A child forked between the listing and the signal is
   * caught by a second look, unless the kill orphaned it out of the init's
   * tree first (no pid namespace to hold it): for SIGKILL that tree is
   * stopped before it is killed. */
  if (sig == SIGKILL && !s->pid_namespace && s->cgroup.version) stop_tree(s);
  pid_t *first, *then;
  size_t n1, n2;
  if (tsrun_container_pids(s, &first, &n1) < 0)
    return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "list processes: %s", strerror(errno));
  for (size_t i = 0; i < n1; i++) kill(first[i], sig);
  if (tsrun_container_pids(s, &then, &n2) == 0) {
    for (size_t i = 0; i < n2; i++) /* each process once */
      if (!n1 || !bsearch(&then[i], first, n1, sizeof *first, cmp_pid)) kill(then[i], sig);
    free(then);
  }
  free(first);
  /* v1's freezer holds even a SIGKILLed task until thawed (a paused container) */
  if (sig == SIGKILL && s->cgroup.version == 1 && tsrun_cgroup_frozen(&s->cgroup))
    return tsrun_cgroup_thaw(&s->cgroup, e);
  return 0;
}
