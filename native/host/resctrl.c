/*
 * resctrl.c — a container's Intel RDT groups (linux.intelRdt) in the
 * resctrl filesystem: the CTRL_MON group its processes join (named by
 * closID, else the container's id; "" is the root, default group), the
 * schemata written there, and the MON group mon_groups/<id> when monitoring
 * is on. create makes and joins them through the addon, exec joins, delete
 * (here or in the front) removes what the create made. Validation and the
 * plan of names are TypeScript's (lib/plan/resctrl.ts).
 *
 * Every name is opened beneath the mount point without following a
 * symlink: the root comes from mountinfo or state.json, the names were
 * validated, but nothing below the root is taken on trust.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host.h"

#define DIR_FLAGS (O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

/* ", last_cmd_status: <why>": the kernel's own reason for the last refused
 * write or mkdir (info/last_cmd_status), or nothing where it has none. */
static void last_cmd_status(int root, char *buf, size_t size) {
  buf[0] = 0;
  int info = openat(root, "info", DIR_FLAGS);
  int fd = info < 0 ? -1 : openat(info, "last_cmd_status", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (info >= 0) close(info);
  if (fd < 0) return;
  char text[256];
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0) return;
  while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' ')) n--;
  text[n] = 0;
  snprintf(buf, size, ", last_cmd_status: %s", text);
}

/* "intelrdt: <what>: <strerror(err)>, last_cmd_status: <why>", as runc's. */
__attribute__((format(printf, 4, 5))) static int fail(int root, struct tsrun_err *e, int err, const char *fmt, ...) {
  char status[300], head[512];
  last_cmd_status(root, status, sizeof status);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(head, sizeof head, fmt, ap);
  va_end(ap);
  return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "intelrdt: %s: %s%s", head, strerror(err), status);
}

/* The schemata as runc quotes them in its errors: each newline as \n. */
static const char *escaped(const char *text, char *buf, size_t size) {
  size_t o = 0;
  for (; *text && o + 3 < size; text++) {
    if (*text == '\n') {
      buf[o++] = '\\';
      buf[o++] = 'n';
    } else {
      buf[o++] = *text;
    }
  }
  buf[o] = 0;
  return buf;
}

/* The group's directory beneath the root ("" and NULL: the root itself). */
static int open_group(int root, const char *clos) {
  return clos && *clos ? openat(root, clos, DIR_FLAGS) : fcntl(root, F_DUPFD_CLOEXEC, 0);
}

/* The CTRL_MON group as errors name it. */
static const char *group_name(const struct tsrun_rdt *r) {
  return r->clos && *r->clos ? r->clos : "/";
}

/* The mount point, or -1 with e set. */
static int open_root(const struct tsrun_rdt *r, struct tsrun_err *e) {
  int root = open(r->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0)
    tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "intelrdt: cannot open the resctrl filesystem at %s: %s", r->root,
                  strerror(errno));
  return root;
}

/* One write(2) of the whole text: resctrl parses each write on its own. */
static int write_file(int dir, const char *name, const char *text) {
  int fd = openat(dir, name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t len = strlen(text);
  ssize_t n = write(fd, text, len);
  int err = errno;
  close(fd);
  if (n == (ssize_t)len) return 0;
  errno = n < 0 ? err : EIO;
  return -1;
}

/* The group's schemata file, in one write; a refusal quotes them as runc does. */
static int write_schemata(int root, int group, const char *schemata, struct tsrun_err *e) {
  if (write_file(group, "schemata", schemata) == 0) return 0;
  char shown[512];
  return fail(root, e, errno, "unable to write schemata \"%s\"", escaped(schemata, shown, sizeof shown));
}

int tsrun_rdt_make(const struct tsrun_rdt *r, const char *schemata, int must_exist, int named, int *made,
                   struct tsrun_err *e) {
  *made = 0;
  int root = open_root(r, e);
  if (root < 0) return -1;
  int rc = -1, group = -1;
  if (r->clos && *r->clos) {
    struct stat st;
    if (must_exist && fstatat(root, r->clos, &st, AT_SYMLINK_NOFOLLOW) < 0) {
      /* runc's words: a closID alone names a group someone configured */
      tsrun_err_set(e, TSRUN_CODE(ESYSTEM),
                    "clos dir not accessible (must be pre-created when schemata, l3CacheSchema and memBwSchema are "
                    "empty): stat %s/%s: %s",
                    r->root, r->clos, strerror(errno));
      goto out;
    }
    if (mkdirat(root, r->clos, 0755) == 0)
      *made = 1;
    else if (errno != EEXIST) {
      fail(root, e, errno, "cannot make the group %s", r->clos);
      goto out;
    }
  }
  group = open_group(root, r->clos);
  if (group < 0) {
    fail(root, e, errno, "cannot open the group %s", group_name(r));
    goto out;
  }
  /* a named group that was there is somebody's: validation compared its
   * schemata with the config's, and they stay as they are */
  if (schemata && *schemata && (*made || !named) && write_schemata(root, group, schemata, e) < 0) goto out;
  if (r->mon && *r->mon) {
    int mons = openat(group, "mon_groups", DIR_FLAGS);
    if (mons < 0 || (mkdirat(mons, r->mon, 0755) < 0 && errno != EEXIST)) {
      int err = errno;
      if (mons >= 0) close(mons);
      fail(root, e, err, "cannot make the monitoring group mon_groups/%s", r->mon);
      goto out;
    }
    close(mons);
  }
  rc = 0;
out:
  if (rc < 0 && *made) {
    unlinkat(root, r->clos, AT_REMOVEDIR);
    *made = 0;
  }
  if (group >= 0) close(group);
  close(root);
  return rc;
}

int tsrun_rdt_schemata(const struct tsrun_rdt *r, const char *schemata, struct tsrun_err *e) {
  int root = open_root(r, e);
  if (root < 0) return -1;
  int group = open_group(root, r->clos);
  int rc = group < 0 ? fail(root, e, errno, "cannot open the group %s", group_name(r))
                     : write_schemata(root, group, schemata, e);
  if (group >= 0) close(group);
  close(root);
  return rc;
}

int tsrun_rdt_join(const struct tsrun_rdt *r, pid_t pid, struct tsrun_err *e) {
  int root = open_root(r, e);
  if (root < 0) return -1;
  char text[32];
  snprintf(text, sizeof text, "%d", (int)pid);
  int rc = 0, group = open_group(root, r->clos), mon = -1;
  if (group < 0)
    rc = fail(root, e, errno, "cannot open the group %s", group_name(r));
  else if (write_file(group, "tasks", text) < 0)
    rc = fail(root, e, errno, "unable to add pid %d", (int)pid);
  /* a task joins a MON group of the CTRL_MON group it is in: after it
   * (one removed meanwhile is skipped, as runc skips a removed group) */
  if (rc == 0 && r->mon && *r->mon) {
    int mons = openat(group, "mon_groups", DIR_FLAGS);
    mon = mons < 0 ? -1 : openat(mons, r->mon, DIR_FLAGS);
    if (mons >= 0) close(mons);
    if ((mon < 0 && errno != ENOENT) || (mon >= 0 && write_file(mon, "tasks", text) < 0))
      rc = fail(root, e, errno, "unable to add pid %d to its monitoring group", (int)pid);
  }
  if (mon >= 0) close(mon);
  if (group >= 0) close(group);
  close(root);
  return rc;
}

int tsrun_rdt_remove(const struct tsrun_rdt *r, struct tsrun_err *e) {
  int root = open(r->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) {
    if (errno == ENOENT) return 0; /* resctrl is gone, and with it every group */
    return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "unable to remove container's IntelRDT group: open %s: %s", r->root,
                         strerror(errno));
  }
  int rc = 0;
  /* rmdir of a group takes its MON groups along; its tasks go back to the
   * default group, as the kernel does for every removed group */
  if (r->owned && r->clos && *r->clos) {
    if (unlinkat(root, r->clos, AT_REMOVEDIR) < 0 && errno != ENOENT)
      rc = tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "unable to remove container's IntelRDT group %s/%s: %s", r->root,
                         r->clos, strerror(errno));
  } else if (r->mon && *r->mon) {
    int group = open_group(root, r->clos);
    int mons = group < 0 ? -1 : openat(group, "mon_groups", DIR_FLAGS);
    if (mons >= 0 && unlinkat(mons, r->mon, AT_REMOVEDIR) < 0 && errno != ENOENT)
      rc = tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "unable to remove container's IntelRDT monitoring group %s: %s",
                         r->mon, strerror(errno));
    if (mons >= 0) close(mons);
    if (group >= 0) close(group);
  }
  close(root);
  return rc;
}
