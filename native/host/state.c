/* state.c — the state record (state.json, written by lib/container/state.ts),
 * a container's status, its lock, and runc's state JSON. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host.h"

int tsrun_err_set(struct tsrun_err *e, const char *code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  e->code = code;
  vsnprintf(e->message, sizeof e->message, fmt, ap);
  va_end(ap);
  return -1;
}

void tsrun_warn(const struct tsrun_host *h, const char *fmt, ...) {
  if (!h->warn) return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  h->warn(h->warn_arg, msg);
}

void tsrun_mark(const struct tsrun_host *h, const char *step) {
  if (h->mark) h->mark(h->warn_arg, step);
}

int tsrun_check_id(const char *id, struct tsrun_err *e) {
  size_t n = strlen(id);
  int ok = n > 0 && n <= 1024 && !strstr(id, "..");
  for (size_t i = 0; ok && i < n; i++) {
    char c = id[i];
    int alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    ok = alnum || (i > 0 && (c == '_' || c == '.' || c == '+' || c == '-'));
  }
  if (ok) return 0;
  struct tsrun_buf q = {0};
  tsrun_buf_json_string(&q, id);
  /* as lib/errors.ts shows values: cut short past 80 characters */
  char more[64] = "";
  if (q.len > 80) snprintf(more, sizeof more, "… (%zu characters)", q.len);
  tsrun_err_set(e, TSRUN_CODE(EID),
                "invalid container id %.80s%s: must match [A-Za-z0-9][A-Za-z0-9_.+-]* without \"..\"",
                q.data ? q.data : "", more);
  tsrun_buf_free(&q);
  return -1;
}

static int read_file(const char *path, char **out, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (!buf) {
      close(fd);
      errno = ENOMEM;
      return -1;
    }
    ssize_t r = read(fd, buf + n, cap - n - 1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int saved = errno;
      free(buf);
      close(fd);
      errno = saved;
      return -1;
    }
    if (r == 0) break;
    n += (size_t)r;
    if (n + 1 == cap) {
      char *b = realloc(buf, cap *= 2);
      if (!b) free(buf);
      buf = b;
    }
  }
  close(fd);
  buf[n] = 0;
  *out = buf;
  *len = n;
  return 0;
}

/* cgroup: {version, paths: {controller: dir}, owned: [dir]}. A dir is the
 * container's own only if `owned` lists it (a record without the list, from
 * an older tsrun, owns none: its cgroup is left in place rather than taken
 * for the container's). */
static void load_cgroup(struct tsrun_state *s) {
  const struct tsrun_json *cg = tsrun_json_get(s->doc, "cgroup");
  /* systemd: {unit, user}, the unit the create started (its systemd driver) */
  const struct tsrun_json *sd = tsrun_json_get(cg, "systemd");
  const char *unit = tsrun_json_str(sd, "unit");
  if (unit && *unit) {
    s->cgroup.systemd.name = unit;
    s->cgroup.systemd.user = tsrun_json_bool(sd, "user");
  }
  const struct tsrun_json *paths = tsrun_json_get(cg, "paths");
  const struct tsrun_json *owned = tsrun_json_get(cg, "owned");
  if (!cg || !paths || paths->type != TSRUN_JSON_OBJECT) return;
  if (owned && owned->type != TSRUN_JSON_ARRAY) owned = NULL;
  size_t size = paths->count ? paths->count : 1;
  s->cgroup.keys = calloc(size, sizeof(char *));
  s->cgroup.paths = calloc(size, sizeof(char *));
  unsigned char *mine = calloc(size, 1);
  s->cgroup.owned = mine;
  if (!s->cgroup.keys || !s->cgroup.paths || !mine) return;
  s->cgroup.version = (int)tsrun_json_int(cg, "version", 0, INT_MAX, 0);
  for (size_t i = 0; i < paths->count; i++) {
    if (paths->items[i]->type != TSRUN_JSON_STRING) continue;
    for (size_t j = 0; owned && j < owned->count; j++)
      if (owned->items[j]->type == TSRUN_JSON_STRING && !strcmp(owned->items[j]->str, paths->items[i]->str))
        mine[s->cgroup.count] = 1;
    s->cgroup.keys[s->cgroup.count] = paths->keys[i];
    s->cgroup.paths[s->cgroup.count++] = paths->items[i]->str;
  }
}

/* intelRdt: {root, clos, mon?, owned} (resctrl.c); a clos with a "/" or a
 * dot name is no group of ours, and leaves the record without one. */
static void load_rdt(struct tsrun_state *s) {
  const struct tsrun_json *r = tsrun_json_get(s->doc, "intelRdt");
  const char *root = tsrun_json_str(r, "root"), *clos = tsrun_json_str(r, "clos"), *mon = tsrun_json_str(r, "mon");
  if (!root || *root != '/' || !clos || strchr(clos, '/') || !strcmp(clos, ".") || !strcmp(clos, "..")) return;
  if (mon && (!*mon || strchr(mon, '/') || *mon == '.')) return;
  s->rdt.root = root;
  s->rdt.clos = clos;
  s->rdt.mon = mon;
  s->rdt.owned = tsrun_json_bool(r, "owned");
}

int tsrun_record_load(const char *dir, const char *name, struct tsrun_state *s, struct tsrun_err *e) {
  memset(s, 0, sizeof *s);
  snprintf(s->dir, sizeof s->dir, "%s", dir);
  char file[4200];
  snprintf(file, sizeof file, "%s/%s", s->dir, name);
  char *text;
  size_t len;
  if (read_file(file, &text, &len) < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return tsrun_err_set(e, TSRUN_CODE(ENOTFOUND), "container does not exist");
    return tsrun_root_err(e, "read", file, errno);
  }
  const char *perr = NULL;
  s->doc = tsrun_json_parse(text, len, &perr);
  free(text);
  if (!s->doc || s->doc->type != TSRUN_JSON_OBJECT) {
    tsrun_json_free(s->doc);
    s->doc = NULL;
    return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "%s: %s", file, perr ? perr : "not an object");
  }
  s->oci_version = tsrun_json_str(s->doc, "ociVersion");
  s->id = tsrun_json_str(s->doc, "id");
  s->bundle = tsrun_json_str(s->doc, "bundle");
  s->rootfs = tsrun_json_str(s->doc, "rootfs");
  s->created = tsrun_json_str(s->doc, "created");
  s->owner = tsrun_json_str(s->doc, "owner");
  s->pid = (pid_t)tsrun_json_int(s->doc, "pid", 0, INT_MAX, 0);
  /* a JavaScript number: exact up to 2^53 */
  s->pid_start_time = (unsigned long long)tsrun_json_int(s->doc, "pidStartTime", 0, 1LL << 53, 0);
  s->pid_namespace = tsrun_json_bool(s->doc, "pidNamespace");
  s->host_mounts = tsrun_json_bool(s->doc, "hostMounts");
  s->annotations = tsrun_json_get(s->doc, "annotations");
  s->hooks = tsrun_json_get(s->doc, "hooks");
  s->seccomp = tsrun_json_get(s->doc, "seccomp");
  if (s->seccomp && s->seccomp->type != TSRUN_JSON_OBJECT) s->seccomp = NULL;
  load_cgroup(s);
  load_rdt(s);
  return 0;
}

int tsrun_state_load(const struct tsrun_host *h, const char *id, struct tsrun_state *s, struct tsrun_err *e) {
  memset(s, 0, sizeof *s);
  if (tsrun_check_id(id, e) < 0) return -1;
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/%s", h->root, id);
  if (tsrun_record_load(dir, TSRUN_STATE_FILE, s, e) < 0) return -1;
  char file[4200];
  snprintf(file, sizeof file, "%s/" TSRUN_STATE_FILE, s->dir);
  if (!s->id || !s->oci_version || !s->bundle || !s->rootfs || !s->created || !s->owner) {
    tsrun_state_free(s);
    return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "%s: a field is missing", file);
  }
  return 0;
}

void tsrun_state_free(struct tsrun_state *s) {
  free((void *)s->cgroup.keys);
  free((void *)s->cgroup.paths);
  free((void *)s->cgroup.owned);
  tsrun_json_free(s->doc);
  memset(s, 0, sizeof *s);
}

unsigned long long tsrun_proc_start_time(pid_t pid, char *state_letter) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  /* comm may hold spaces and parentheses: the fields start after the last ")" */
  char *p = strrchr(buf, ')');
  if (!p || !p[1]) return 0;
  p += 2;
  if (state_letter) *state_letter = *p;
  for (int field = 3; field < 22 && p; field++) {
    p = strchr(p, ' ');
    if (p) p++;
  }
  return p ? strtoull(p, NULL, 10) : 0;
}

/* runc's state JSON, in its field order; annotations only when there are some. */
int tsrun_state_json(const struct tsrun_state *s, int pretty, struct tsrun_buf *b) {
  enum tsrun_status st = tsrun_state_status(s);
  const char *nl = pretty ? "\n  " : "";
  const char *sep = pretty ? ": " : ":";
  int rc = 0;
#define KEY(k) (rc |= tsrun_buf_str(b, nl), rc |= tsrun_buf_json_string(b, k), rc |= tsrun_buf_str(b, sep))
  rc |= tsrun_buf_str(b, "{");
  KEY("ociVersion");
  rc |= tsrun_buf_json_string(b, s->oci_version);
  rc |= tsrun_buf_str(b, ",");
  KEY("id");
  rc |= tsrun_buf_json_string(b, s->id);
  rc |= tsrun_buf_str(b, ",");
  KEY("pid");
  rc |= tsrun_buf_int(b, st == TSRUN_STOPPED ? 0 : s->pid);
  rc |= tsrun_buf_str(b, ",");
  KEY("status");
  rc |= tsrun_buf_json_string(b, tsrun_status_names[st]);
  rc |= tsrun_buf_str(b, ",");
  KEY("bundle");
  rc |= tsrun_buf_json_string(b, s->bundle);
  rc |= tsrun_buf_str(b, ",");
  KEY("rootfs");
  rc |= tsrun_buf_json_string(b, s->rootfs);
  rc |= tsrun_buf_str(b, ",");
  KEY("created");
  rc |= tsrun_buf_json_string(b, s->created);
  rc |= tsrun_buf_str(b, ",");
  KEY("owner");
  rc |= tsrun_buf_json_string(b, s->owner);
  const struct tsrun_json *a = s->annotations;
  if (a && a->type == TSRUN_JSON_OBJECT && a->count) {
    rc |= tsrun_buf_str(b, ",");
    KEY("annotations");
    rc |= tsrun_buf_str(b, "{");
    /* a value that is not a string (a record edited by hand) is left out,
     * and so is its comma */
    for (size_t i = 0, n = 0; i < a->count; i++) {
      if (a->items[i]->type != TSRUN_JSON_STRING) continue;
      if (n++) rc |= tsrun_buf_str(b, ",");
      rc |= tsrun_buf_str(b, pretty ? "\n    " : "");
      rc |= tsrun_buf_json_string(b, a->keys[i]);
      rc |= tsrun_buf_str(b, sep);
      rc |= tsrun_buf_json_string(b, a->items[i]->str);
    }
    rc |= tsrun_buf_str(b, pretty ? "\n  }" : "}");
  }
#undef KEY
  rc |= tsrun_buf_str(b, pretty ? "\n}" : "}");
  return rc ? -1 : 0;
}

int tsrun_root_err(struct tsrun_err *e, const char *what, const char *path, int err) {
  if ((err == EACCES || err == EPERM) && geteuid() != 0)
    return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "%s %s: %s (running as uid %u: " TSRUN_ROOT_HINT ")", what, path,
                         strerror(err), (unsigned)geteuid());
  return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "%s %s: %s", what, path, strerror(err));
}

#define NOT_TRUSTED "another user could change this container's state; not trusted"

/* What a container's dir holds decides what root does (the hooks it runs,
 * the pid it kills, the cgroups it removes): the root and the dir must be
 * ours alone — owned by our euid, writable by no one else — checked on the
 * fds we then use (lib/container/safe-files.ts does the same). */
static int check_private(int fd, const char *path, struct tsrun_err *e) {
  struct stat st;
  if (fstat(fd, &st) < 0) return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "stat %s: %s", path, strerror(errno));
  if (!S_ISDIR(st.st_mode)) return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "%s is not a directory: " NOT_TRUSTED, path);
  if (st.st_uid != geteuid())
    return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "%s is owned by uid %u, not %u: " NOT_TRUSTED, path,
                         (unsigned)st.st_uid, (unsigned)geteuid());
  if (st.st_mode & 022)
    return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "%s is writable by other users (mode %04o): " NOT_TRUSTED, path,
                         (unsigned)(st.st_mode & 07777));
  return 0;
}

/* The container's dir, locked: opened below the checked root without
 * following a symlink, and checked itself. */
int tsrun_lock(const struct tsrun_host *h, const char *id, int shared, struct tsrun_err *e) {
  if (tsrun_check_id(id, e) < 0) return -1;
  char dir[4200];
  snprintf(dir, sizeof dir, "%s/%s", h->root, id);
  int root = open(h->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) {
    if (errno == ENOENT) return tsrun_err_set(e, TSRUN_CODE(ENOTFOUND), "container does not exist");
    return tsrun_root_err(e, "open", h->root, errno);
  }
  if (check_private(root, h->root, e) < 0) {
    close(root);
    return -1;
  }
  int fd = openat(root, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  int saved = errno;
  struct stat st;
  /* a symlink is ENOTDIR (ELOOP without O_DIRECTORY) */
  int link = fd < 0 && fstatat(root, id, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
  close(root);
  if (fd < 0) {
    if (saved == ENOENT) return tsrun_err_set(e, TSRUN_CODE(ENOTFOUND), "container does not exist");
    if (saved == ELOOP || saved == ENOTDIR)
      return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "%s is %s: " NOT_TRUSTED, dir,
                           link ? "a symlink" : "not a directory");
    return tsrun_root_err(e, "open", dir, saved);
  }
  if (check_private(fd, dir, e) < 0) {
    close(fd);
    return -1;
  }
  if (faccessat(fd, TSRUN_STATE_FILE, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
    close(fd);
    return tsrun_err_set(e, TSRUN_CODE(ENOTFOUND), "container does not exist");
  }
  int rc;
  do rc = flock(fd, shared ? LOCK_SH : LOCK_EX);
  while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    saved = errno;
    close(fd);
    return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "flock %s: %s", dir, strerror(saved));
  }
  return fd;
}
