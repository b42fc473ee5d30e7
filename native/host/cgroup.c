/* cgroup.c — what the lifecycle commands do to a container's cgroup
 * (v1: one directory per controller; v2: one directory): freeze and thaw
 * (pause, resume, and v1's kill --all), list its processes, signal all of
 * them, and remove it. Creating it and writing limits stays with
 * lib/cgroups (create, update), which need the config.
 *
 * Signalling every process and removing directories happen only where the
 * container's create made the directory (`owned`): a cgroup that existed
 * before (linux.cgroupsPath naming one) may hold the host's processes and
 * other cgroups, which are not the container's to kill or remove. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "host.h"

static void sleep_ms(int ms) {
  struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&t, &t) < 0 && errno == EINTR) {
  }
}

static int owned_at(const struct tsrun_cgroup *cg, size_t i) {
  return cg->owned && cg->owned[i];
}

static const char *path_of(const struct tsrun_cgroup *cg, const char *key) {
  for (size_t i = 0; i < cg->count; i++)
    if (!strcmp(cg->keys[i], key)) return cg->paths[i];
  return NULL;
}

/* Whether the create made dir (any controller recording it says so). */
static int dir_owned(const struct tsrun_cgroup *cg, const char *dir) {
  for (size_t i = 0; dir && i < cg->count; i++)
    if (owned_at(cg, i) && !strcmp(cg->paths[i], dir)) return 1;
  return 0;
}

/* The first line of dir/file, trimmed, into buf; -1 when it cannot be read. */
static int read_line(const char *dir, const char *file, char *buf, size_t size) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, size - 1);
  close(fd);
  if (n < 0) return -1;
  buf[n] = 0;
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) buf[--n] = 0;
  return 0;
}

static int write_str(const char *dir, const char *file, const char *value) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = write(fd, value, strlen(value));
  int saved = errno;
  close(fd);
  errno = saved;
  return n < 0 ? -1 : 0;
}

static const char *v2_dir(const struct tsrun_cgroup *cg) {
  return cg->version == 2 ? path_of(cg, "") : NULL;
}

int tsrun_cgroup_frozen(const struct tsrun_cgroup *cg) {
  char v[64];
  if (cg->version == 2)
    return v2_dir(cg) && read_line(v2_dir(cg), "cgroup.freeze", v, sizeof v) == 0 && !strcmp(v, "1");
  const char *fz = path_of(cg, "freezer");
  return fz && read_line(fz, "freezer.state", v, sizeof v) == 0 && (!strcmp(v, "FROZEN") || !strcmp(v, "FREEZING"));
}

int tsrun_cgroup_freeze(const struct tsrun_cgroup *cg, struct tsrun_err *e) {
  char v[256];
  if (cg->version == 2) {
    const char *d = v2_dir(cg);
    if (!d || write_str(d, "cgroup.freeze", "1") < 0)
      return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "cannot freeze %s: %s", d ? d : "the cgroup", strerror(errno));
    for (int i = 0; i < 500; i++) {
      char path[4200];
      snprintf(path, sizeof path, "%s/cgroup.events", d);
      FILE *f = fopen(path, "re");
      int frozen = 0;
      while (f && fgets(v, sizeof v, f))
        if (!strcmp(v, "frozen 1\n") || !strcmp(v, "frozen 1")) frozen = 1;
      if (f) fclose(f);
      if (frozen) return 0;
      sleep_ms(10);
    }
    return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "cgroup %s did not freeze", d);
  }
  const char *d = path_of(cg, "freezer");
  if (!d)
    return tsrun_err_set(e, TSRUN_CODE(EUNSUPPORTED), "the freezer cgroup controller is not mounted on this host");
  for (int i = 0; i < 500; i++) {
    if (write_str(d, "freezer.state", "FROZEN") < 0)
      return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "cannot freeze %s: %s", d, strerror(errno));
    if (read_line(d, "freezer.state", v, sizeof v) == 0 && !strcmp(v, "FROZEN")) return 0;
    sleep_ms(10);
  }
  write_str(d, "freezer.state", "THAWED");
  return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "cgroup %s did not freeze", d);
}

int tsrun_cgroup_thaw(const struct tsrun_cgroup *cg, struct tsrun_err *e) {
  if (cg->version == 2) {
    const char *d = v2_dir(cg);
    if (!d || write_str(d, "cgroup.freeze", "0") < 0)
      return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "cannot thaw %s: %s", d ? d : "the cgroup", strerror(errno));
    return 0;
  }
  const char *d = path_of(cg, "freezer");
  if (!d)
    return tsrun_err_set(e, TSRUN_CODE(EUNSUPPORTED), "the freezer cgroup controller is not mounted on this host");
  if (write_str(d, "freezer.state", "THAWED") < 0)
    return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "cannot thaw %s: %s", d, strerror(errno));
  return 0;
}

/* Directory and every cgroup below it, deepest first (appended to *list). */
static void subtree(const char *dir, char ***list, size_t *n) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *ent;
  while ((ent = readdir(d))) {
    if (ent->d_type != DT_DIR || !strcmp(ent->d_name, ".") || !strcmp(ent->d_name, "..")) continue;
    char sub[4200];
    snprintf(sub, sizeof sub, "%s/%s", dir, ent->d_name);
    subtree(sub, list, n);
  }
  closedir(d);
  char **l = realloc(*list, (*n + 1) * sizeof *l);
  if (!l) return;
  *list = l;
  l[(*n)++] = strdup(dir);
}

static void free_list(char **list, size_t n) {
  for (size_t i = 0; i < n; i++) free(list[i]);
  free(list);
}

static int cmp_pid(const void *a, const void *b) {
  pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
  return x < y ? -1 : x > y;
}

/* The v1 directory whose cgroup.procs lists the container: pids, memory,
 * freezer, devices, or any controller's; one the create made first, where
 * every process is the container's. Not the hybrid's unified directory,
 * which is for tracking only: the init may not have joined it. */
static const char *procs_dir(const struct tsrun_cgroup *cg) {
  if (cg->version == 2) return v2_dir(cg);
  static const char *const order[] = {"pids", "memory", "freezer", "devices"};
  for (int made = 1; made >= 0; made--) {
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
      const char *d = path_of(cg, order[i]);
      if (d && dir_owned(cg, d) == made) return d;
    }
    for (size_t i = 0; i < cg->count; i++)
      if (*cg->keys[i] && owned_at(cg, i) == made) return cg->paths[i];
  }
  return cg->count ? cg->paths[0] : NULL;
}

int tsrun_cgroup_owned(const struct tsrun_cgroup *cg) {
  return dir_owned(cg, procs_dir(cg));
}

int tsrun_cgroup_pids(const struct tsrun_cgroup *cg, pid_t **pids, size_t *count) {
  *pids = NULL;
  *count = 0;
  const char *dir = procs_dir(cg);
  if (!dir) return 0;
  char **dirs = NULL;
  size_t nd = 0;
  subtree(dir, &dirs, &nd);
  size_t cap = 0;
  for (size_t i = 0; i < nd; i++) {
    char path[4300];
    snprintf(path, sizeof path, "%s/cgroup.procs", dirs[i]);
    FILE *f = fopen(path, "re");
    long v;
    while (f && fscanf(f, "%ld", &v) == 1) {
      if (*count == cap) {
        pid_t *p = realloc(*pids, (cap = cap ? cap * 2 : 16) * sizeof *p);
        if (!p) break;
        *pids = p;
      }
      (*pids)[(*count)++] = (pid_t)v;
    }
    if (f) fclose(f);
  }
  free_list(dirs, nd);
  if (*count) qsort(*pids, *count, sizeof **pids, cmp_pid);
  return 0;
}

static void signal_pids(const struct tsrun_cgroup *cg, int sig) {
  pid_t *pids;
  size_t n;
  tsrun_cgroup_pids(cg, &pids, &n);
  for (size_t i = 0; i < n; i++) kill(pids[i], sig);
  free(pids);
}

/* Each process once, and a second look for what forked between the listing
 * and the signal (they stay in the cgroup). */
static void signal_pids_twice(const struct tsrun_cgroup *cg, int sig) {
  pid_t *first, *then;
  size_t n1, n2;
  tsrun_cgroup_pids(cg, &first, &n1);
  for (size_t i = 0; i < n1; i++) kill(first[i], sig);
  tsrun_cgroup_pids(cg, &then, &n2);
  for (size_t i = 0; i < n2; i++)
    if (!n1 || !bsearch(&then[i], first, n1, sizeof *first, cmp_pid)) kill(then[i], sig);
  free(first);
  free(then);
}

int tsrun_cgroup_signal(const struct tsrun_cgroup *cg, int sig, struct tsrun_err *e) {
  if (!tsrun_cgroup_owned(cg))
    return tsrun_err_set(e, TSRUN_CODE(ESYSTEM),
                         "cgroup %s existed before the container: not signalling all its processes",
                         procs_dir(cg) ? procs_dir(cg) : "");
  if (cg->version == 2) {
    const char *d = v2_dir(cg);
    char kill_file[4200];
    snprintf(kill_file, sizeof kill_file, "%s/cgroup.kill", d ? d : "");
    if (sig == SIGKILL && d && access(kill_file, F_OK) == 0) {
      if (write_str(d, "cgroup.kill", "1") < 0)
        return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "cgroup.kill %s: %s", d, strerror(errno));
      return 0;
    }
    signal_pids_twice(cg, sig);
    return 0;
  }
  /* v1: frozen, nothing can fork away from the signal (runc does the same);
   * not a freezer cgroup that existed before, whose other processes would
   * stop too (a fork lands in the container's cgroup anyway: a second look
   * catches it). */
  const char *fz = path_of(cg, "freezer");
  int can_freeze = fz && dir_owned(cg, fz) && access(fz, F_OK) == 0;
  int was_frozen = tsrun_cgroup_frozen(cg);
  if (can_freeze && !was_frozen && tsrun_cgroup_freeze(cg, e) < 0) return -1;
  if (can_freeze)
    signal_pids(cg, sig);
  else
    signal_pids_twice(cg, sig);
  if (can_freeze && !was_frozen && tsrun_cgroup_thaw(cg, e) < 0) return -1;
  if (was_frozen && sig == SIGKILL) return tsrun_cgroup_thaw(cg, e); /* a frozen v1 task dies only once thawed */
  return 0;
}

static int rmdir_retry(char **dirs, size_t n, struct tsrun_err *e) {
  for (size_t i = 0; i < n; i++) {
    for (int tries = 0;; tries++) {
      if (rmdir(dirs[i]) == 0 || errno == ENOENT) break;
      if (errno == EBUSY && tries < 50) {
        sleep_ms(20);
        continue;
      }
      return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "cannot remove cgroup %s: %s", dirs[i], strerrorname_np(errno));
    }
  }
  return 0;
}

/* SIGKILL to every process in each of dirs and below, until none is left
 * (up to 2 s): cgroup.kill (v2, 5.14+) or pid by pid. A fork stays in its
 * cgroup, so the next look catches it; what survives makes the rmdir fail. */
static void kill_in(const char *const *mine, size_t count) {
  for (int i = 0; i < 200; i++) {
    size_t n = 0;
    for (size_t k = 0; k < count; k++) {
      char kill_file[4200];
      snprintf(kill_file, sizeof kill_file, "%s/cgroup.kill", mine[k]);
      int has_kill = access(kill_file, F_OK) == 0;
      char **dirs = NULL;
      size_t nd = 0, here = 0;
      subtree(mine[k], &dirs, &nd);
      for (size_t j = 0; j < nd; j++) {
        char path[4300];
        snprintf(path, sizeof path, "%s/cgroup.procs", dirs[j]);
        FILE *f = fopen(path, "re");
        long v;
        while (f && fscanf(f, "%ld", &v) == 1) {
          here++;
          if (!has_kill) kill((pid_t)v, SIGKILL);
        }
        if (f) fclose(f);
      }
      free_list(dirs, nd);
      if (here && has_kill) write_str(mine[k], "cgroup.kill", "1");
      n += here;
    }
    if (n == 0) return;
    sleep_ms(10);
  }
}

/* Removes each directory's subtree, deepest first, where it is empty: 1 when
 * none is left. A cgroup with a process in it (or below it) stays (EBUSY),
 * so this never takes anything from a process: the common delete, whose
 * init is gone, ends here without reading any cgroup.procs. */
static int remove_if_empty(const char *const *made, size_t count) {
  int all = 1;
  for (size_t i = 0; i < count; i++) {
    char **dirs = NULL;
    size_t nd = 0;
    subtree(made[i], &dirs, &nd);
    for (size_t j = 0; j < nd; j++)
      if (rmdir(dirs[j]) < 0 && errno != ENOENT) all = 0;
    free_list(dirs, nd);
  }
  return all;
}

/* What delete and a failed create share, in this order: kill every process
 * in the directories (so a scope's stop has nobody to SIGTERM and wait 90 s
 * for), stop the unit (systemd removes a stopped scope's cgroup), remove what
 * is left of the directories (systemd then drops an empty scope it could not
 * be told about). A stop that fails is a warning where there is a host to
 * hear it (delete, which must succeed without a bus); else it is the error,
 * once the directories are gone. */
static int remove_made(const struct tsrun_host *h, const char *const *made, size_t count,
                       const struct tsrun_sd_unit *unit, struct tsrun_err *e) {
  /* without a unit to stop: empty directories go at once, and only what
   * still holds processes takes the kill and the retries below */
  if (!(unit && unit->name) && remove_if_empty(made, count)) return 0;
  const char **mine = calloc(count ? count : 1, sizeof *mine);
  if (!mine) return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "out of memory");
  size_t n = 0;
  for (size_t i = 0; i < count; i++)
    if (access(made[i], F_OK) == 0) mine[n++] = made[i];
  kill_in(mine, n);
  struct tsrun_err stop = {NULL, ""}; /* its code is set only by a failure */
  if (unit && unit->name) tsrun_sd_stop(unit, &stop);
  if (stop.code && h) {
    tsrun_warn(h, "cleanup: %s", stop.message);
    stop.code = NULL;
  }
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    char **dirs = NULL;
    size_t nd = 0;
    subtree(mine[i], &dirs, &nd);
    rc = rmdir_retry(dirs, nd, e);
    free_list(dirs, nd);
  }
  free(mine);
  if (rc == 0 && stop.code) {
    *e = stop;
    rc = -1;
  }
  return rc;
}

int tsrun_cgroup_destroy(const struct tsrun_host *h, const struct tsrun_cgroup *cg, struct tsrun_err *e) {
  /* each directory the create made, once (v1 controllers mounted together share one) */
  const char **mine = calloc(cg->count ? cg->count : 1, sizeof *mine);
  if (!mine) return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "out of memory");
  size_t n = 0;
  for (size_t i = 0; i < cg->count; i++) {
    if (!owned_at(cg, i) || access(cg->paths[i], F_OK) < 0) continue;
    int seen = 0;
    for (size_t j = 0; j < n; j++) seen |= !strcmp(cg->paths[i], mine[j]);
    if (!seen) mine[n++] = cg->paths[i];
  }
  /* a frozen v1 task dies only once thawed (a paused container) */
  const char *fz = path_of(cg, "freezer");
  int rc = 0;
  if (cg->version == 1 && fz && dir_owned(cg, fz) && tsrun_cgroup_frozen(cg)) rc = tsrun_cgroup_thaw(cg, e);
  if (rc == 0) rc = remove_made(h, mine, n, cg->systemd.name ? &cg->systemd : NULL, e);
  free(mine);
  return rc;
}

int tsrun_cgroup_remove(const char *const *made, size_t count, const struct tsrun_sd_unit *unit, struct tsrun_err *e) {
  return remove_made(NULL, made, count, unit, e);
}
