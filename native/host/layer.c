/*
 * layer.c — unpacking one image layer into a directory, entry by entry:
 * TypeScript parses the tar stream (lib/image/), this file does the
 * filesystem work, so that nothing the layer says reaches outside the
 * layer's directory.
 *
 * A layer is hostile input. An entry may be named "../x" or "/etc/x", lie
 * below a symlink that an earlier entry of the same layer made ("evil" ->
 * "/etc", then "evil/passwd"; "up" -> "..", then "up/x"), or hardlink a
 * file through such a symlink. So:
 *  - a path is checked first: relative, no ".." component;
 *  - its parent is resolved from the layer's root fd by openat2 with
 *    RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
 *    RESOLVE_NO_XDEV: a symlink anywhere in a parent is an error (the
 *    layer's symlinks are data: stored, never followed while unpacking),
 *    and so is a mount crossed;
 *  - the last component is made, changed and timed by *at calls on that
 *    parent fd that do not follow it; what was there is unlinked, never
 *    opened, so a file entry over a symlink or a hardlink writes a new file
 *    rather than through the old one.
 *
 * Metadata order (each step would undo part of another otherwise): chown
 * first, since it clears setuid/setgid and security.capability; then the
 * xattrs, since user.* need write permission that the mode may take away
 * and a POSIX ACL rewrites the group bits; then the mode; the times last.
 *
 * Parent side, plain C; one entry costs a handful of syscalls and no
 * allocation (paths are split in stack buffers).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "host.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

#define RESOLVE_LAYER (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)

/* A path split into its parent (dir, "" for the root) and last component. */
struct layer_path {
  char buf[PATH_MAX];
  char *dir;
  const char *name;
};

/* s, quoted for a message: control characters escaped, at most ~200 bytes
 * shown (the path comes from the layer). */
static const char *quoted(const char *s, char *buf, size_t size) {
  size_t o = 0;
  buf[o++] = '"';
  for (; *s && o + 8 < size; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      buf[o++] = '\\';
      buf[o++] = (char)c;
    } else if (c < 0x20 || c == 0x7f) {
      o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
    } else {
      buf[o++] = (char)c;
    }
  }
  if (*s) {
    memcpy(buf + o, "...", 3);
    o += 3;
  }
  buf[o++] = '"';
  buf[o] = 0;
  return buf;
}

/* `layer entry "<path>": <what>`; returns -err. */
__attribute__((format(printf, 4, 5))) static int fail(struct tsrun_err *e, int err, const char *path, const char *fmt,
                                                      ...) {
  char q[256], what[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "layer entry %s: %s", quoted(path, q, sizeof q), what);
  return -err;
}

/* `layer entry "<path>": <call>: <strerror(err)>`. */
static int sys_fail(struct tsrun_err *e, int err, const char *path, const char *call) {
  return fail(e, err, path, "%s: %s", call, strerror(err));
}

/* Splits a path below the layer: 0, -EINVAL for an empty or absolute path, a
 * ".." component or a last component ".", -ENAMETOOLONG. Trailing slashes
 * (a dir entry's "usr/") are dropped. */
static int split(const char *path, struct layer_path *p) {
  size_t len = strlen(path);
  if (len >= sizeof p->buf) return -ENAMETOOLONG;
  if (len == 0 || path[0] == '/') return -EINVAL;
  memcpy(p->buf, path, len + 1);
  while (p->buf[len - 1] == '/') p->buf[--len] = 0; /* stops at path[0], no '/' */
  for (const char *c = p->buf; *c;) {
    const char *end = strchrnul(c, '/');
    if (end - c == 2 && c[0] == '.' && c[1] == '.') return -EINVAL;
    c = *end ? end + 1 : end;
  }
  char *slash = strrchr(p->buf, '/');
  if (slash) {
    *slash = 0;
    p->dir = p->buf;
    p->name = slash + 1;
  } else {
    p->dir = p->buf + len; /* "" */
    p->name = p->buf;
  }
  return strcmp(p->name, ".") == 0 ? -EINVAL : 0;
}

static int split_or_fail(const char *path, struct layer_path *p, const char *path_named, struct tsrun_err *e) {
  int rc = split(path, p);
  if (rc == -ENAMETOOLONG) return fail(e, ENAMETOOLONG, path_named, "path too long");
  if (rc < 0) return fail(e, EINVAL, path_named, "not a relative path below the layer");
  return 0;
}

/* openat2 beneath dirfd, no symlink, magic link or mount on the way. */
static int open_beneath(int dirfd, const char *path, int flags) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (uint64_t)(flags | O_CLOEXEC);
  how.resolve = RESOLVE_LAYER;
  long fd;
  do fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
  while (fd < 0 && (errno == EAGAIN || errno == EINTR));
  return (int)fd;
}

static void close_dir(int fd, int root) {
  if (fd >= 0 && fd != root) close(fd);
}

/* A directory made beneath dirfd as an implicit parent (or an opaque
 * entry's): 0755 whatever the umask or a setgid parent says, owned by 0:0
 * when chown_root; its O_RDONLY fd, or -1 (errno). One made meanwhile is
 * taken as it is. */
static int make_dir(int dirfd, const char *name, int chown_root) {
  if (mkdirat(dirfd, name, 0700) < 0) {
    if (errno != EEXIST) return -1;
    return open_beneath(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  }
  int fd = open_beneath(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  if (fd < 0) return -1;
  if ((chown_root && fchown(fd, 0, 0) < 0) || fchmod(fd, 0755) < 0) {
    int err = errno;
    close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

/* Why a parent could not be opened, in words. `pre` names a hardlink's
 * target ("" for the entry's own path). */
static int parent_fail(struct tsrun_err *e, int err, const char *path, const char *pre) {
  switch (err) {
    case ELOOP: return fail(e, err, path, "%sa parent lies through a symlink", pre);
    case EXDEV: return fail(e, err, path, "%sa parent lies across a mount point or outside the layer", pre);
    case ENOTDIR: return fail(e, err, path, "%sa parent is not a directory", pre);
    case ENOENT: return fail(e, err, path, "%sa parent does not exist", pre);
    default: return fail(e, err, path, "%sparent directory: %s", pre, strerror(err));
  }
}

/* The parent of p beneath root: root itself for a top-level name (the
 * caller closes any other fd with close_dir), or a negative errno with e.
 * With make, missing directories are made (make_dir) one component at a
 * time, each resolved like the whole. */
static int open_parent(int root, struct layer_path *p, int make, int chown_root, const char *path, const char *pre,
                       struct tsrun_err *e) {
  if (!*p->dir) return root;
  int fd = open_beneath(root, p->dir, O_PATH | O_DIRECTORY);
  if (fd >= 0) return fd;
  if (errno != ENOENT || !make) return parent_fail(e, errno, path, pre);
  int cur = root;
  for (char *c = p->dir; *c;) {
    if (*c == '/') {
      c++;
      continue;
    }
    char *end = strchrnul(c, '/');
    char saved = *end;
    *end = 0;
    int next = open_beneath(cur, c, O_PATH | O_DIRECTORY);
    if (next < 0 && errno == ENOENT) next = make_dir(cur, c, chown_root);
    int err = errno;
    *end = saved;
    close_dir(cur, root);
    if (next < 0) return parent_fail(e, err, path, pre);
    cur = next;
    c = end;
  }
  return cur;
}

static int overlay_name(const char *name) {
  return strncmp(name, "trusted.overlay.", 16) == 0 || strncmp(name, "user.overlay.", 13) == 0;
}

/* overlayfs reads its own xattrs (opaque, redirect, metacopy...) as orders:
 * a layer may not set them; the opaque marker comes only from an opaque entry. */
static int check_xattrs(const struct tsrun_layer_entry *en, struct tsrun_err *e) {
  for (size_t i = 0; i < en->nxattrs; i++)
    if (overlay_name(en->xattrs[i].name)) {
      char q[128];
      return fail(e, EPERM, en->path, "xattr %s is overlayfs's own: refused", quoted(en->xattrs[i].name, q, sizeof q));
    }
  return 0;
}

/* chown, xattrs, mode, times on an fd: a file's (open for writing) or a dir's. */
static int fd_meta(int fd, const struct tsrun_layer_entry *en, struct tsrun_err *e) {
  if (en->chown && fchown(fd, en->uid, en->gid) < 0) return sys_fail(e, errno, en->path, "fchown");
  for (size_t i = 0; i < en->nxattrs; i++)
    if (fsetxattr(fd, en->xattrs[i].name, en->xattrs[i].value, en->xattrs[i].size, 0) < 0) {
      char q[128];
      return fail(e, errno, en->path, "fsetxattr %s: %s", quoted(en->xattrs[i].name, q, sizeof q), strerror(errno));
    }
  if (fchmod(fd, en->mode & 07777) < 0) return sys_fail(e, errno, en->path, "fchmod");
  struct timespec ts[2] = {en->mtime, en->mtime};
  if (futimens(fd, ts) < 0) return sys_fail(e, errno, en->path, "futimens");
  return 0;
}

/* fchmodat without following a symlink: fchmodat2 (Linux 6.6), else glibc's
 * emulation (O_PATH and /proc/self/fd, refusing a symlink). */
static int chmod_nofollow(int dirfd, const char *name, mode_t mode) {
  if (syscall(SYS_fchmodat2, dirfd, name, mode, AT_SYMLINK_NOFOLLOW) == 0) return 0;
  if (errno != ENOSYS) return -1;
  return fchmodat(dirfd, name, mode, AT_SYMLINK_NOFOLLOW);
}

/* The same by parent fd and name, for what cannot be opened for writing
 * (symlinks, hardlinks, devices, fifos, whiteouts): no mode or xattrs on a
 * symlink; xattrs (not with no_xattrs) by lsetxattr through
 * /proc/self/fd/<parent>/<name>, whose last component is not followed. */
static int at_meta(int parent, const char *name, const struct tsrun_layer_entry *en, int symlink, int no_xattrs,
                   struct tsrun_err *e) {
  if (en->chown && fchownat(parent, name, en->uid, en->gid, AT_SYMLINK_NOFOLLOW) < 0)
    return sys_fail(e, errno, en->path, "fchownat");
  if (!symlink) {
    if (!no_xattrs && en->nxattrs) {
      char proc[64 + NAME_MAX];
      if ((size_t)snprintf(proc, sizeof proc, "/proc/self/fd/%d/%s", parent, name) >= sizeof proc)
        return sys_fail(e, ENAMETOOLONG, en->path, "lsetxattr");
      for (size_t i = 0; i < en->nxattrs; i++)
        if (lsetxattr(proc, en->xattrs[i].name, en->xattrs[i].value, en->xattrs[i].size, 0) < 0) {
          char q[128];
          return fail(e, errno, en->path, "lsetxattr %s: %s", quoted(en->xattrs[i].name, q, sizeof q), strerror(errno));
        }
    }
    if (chmod_nofollow(parent, name, en->mode & 07777) < 0) return sys_fail(e, errno, en->path, "fchmodat");
  }
  struct timespec ts[2] = {en->mtime, en->mtime};
  if (utimensat(parent, name, ts, AT_SYMLINK_NOFOLLOW) < 0) return sys_fail(e, errno, en->path, "utimensat");
  return 0;
}

static int dir_meta(int parent, const char *name, const struct tsrun_layer_entry *en, struct tsrun_err *e) {
  int fd = open_beneath(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  if (fd < 0) return sys_fail(e, errno, en->path, "openat2");
  int rc = fd_meta(fd, en, e);
  close(fd);
  return rc;
}

/* The opaque marker on the directory at parent/name (made if missing). */
static int opaque(int parent, const char *name, int exists, const struct tsrun_layer_entry *en, struct tsrun_err *e) {
  char xname[32];
  if (strcmp(en->overlay_xattr, "trusted") != 0 && strcmp(en->overlay_xattr, "user") != 0)
    return fail(e, EINVAL, en->path, "overlay xattr namespace must be trusted or user");
  snprintf(xname, sizeof xname, "%s.overlay.opaque", en->overlay_xattr);
  int fd = exists ? open_beneath(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW) : make_dir(parent, name, en->chown);
  if (fd < 0) return sys_fail(e, errno, en->path, exists ? "openat2" : "mkdirat");
  int rc = 0;
  if (fsetxattr(fd, xname, "y", 1, 0) < 0) rc = fail(e, errno, en->path, "fsetxattr %s: %s", xname, strerror(errno));
  close(fd);
  return rc;
}

/* A hardlink's target, before anything is changed: its parent beneath root
 * (*tparent, for close_dir) and what it is (no directory). */
static int link_target(int root, const struct tsrun_layer_entry *en, struct layer_path *t, int *tparent,
                       struct stat *st, struct tsrun_err *e) {
  char q[256], pre[300];
  snprintf(pre, sizeof pre, "hardlink target %s: ", quoted(en->linkname, q, sizeof q));
  int rc = split(en->linkname, t);
  if (rc < 0) return fail(e, -rc, en->path, "%snot a relative path below the layer", pre);
  *tparent = open_parent(root, t, 0, 0, en->path, pre, e);
  if (*tparent < 0) return *tparent;
  if (fstatat(*tparent, t->name, st, AT_SYMLINK_NOFOLLOW) < 0)
    return fail(e, errno, en->path, "%s%s", pre, strerror(errno));
  if (S_ISDIR(st->st_mode)) return fail(e, EPERM, en->path, "%sis a directory", pre);
  return 0;
}

/* The entry at parent/name, made; its metadata set unless it is a file. */
static int make(int parent, const char *name, const struct tsrun_layer_entry *en, int tparent, const char *tname,
                const struct stat *tst, int *file_fd, struct tsrun_err *e) {
  struct stat st;
  int exists = fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
  if (!exists && errno != ENOENT) return sys_fail(e, errno, en->path, "fstatat");
  int keep_dir = en->type == TSRUN_LAYER_DIR || en->type == TSRUN_LAYER_OPAQUE;
  int linked = en->type == TSRUN_LAYER_HARDLINK && exists && st.st_dev == tst->st_dev && st.st_ino == tst->st_ino;
  if (exists && !linked && !(keep_dir && S_ISDIR(st.st_mode))) {
    if (unlinkat(parent, name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0) {
      if (errno == ENOTEMPTY || errno == EEXIST)
        return fail(e, ENOTEMPTY, en->path, "a non-empty directory is in the way");
      return sys_fail(e, errno, en->path, "unlinkat");
    }
    exists = 0;
  }
  switch (en->type) {
    case TSRUN_LAYER_FILE: {
      int fd = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (fd < 0) return sys_fail(e, errno, en->path, "openat");
      *file_fd = fd;
      return 0;
    }
    case TSRUN_LAYER_DIR:
      if (!exists && mkdirat(parent, name, 0700) < 0) return sys_fail(e, errno, en->path, "mkdirat");
      return dir_meta(parent, name, en, e);
    case TSRUN_LAYER_OPAQUE:
      /* no metadata: the marker's own (a ".wh..wh..opq" file's) is not the dir's */
      return opaque(parent, name, exists, en, e);
    case TSRUN_LAYER_SYMLINK:
      if (symlinkat(en->linkname, parent, name) < 0) return sys_fail(e, errno, en->path, "symlinkat");
      return at_meta(parent, name, en, 1, 1, e);
    case TSRUN_LAYER_HARDLINK:
      /* never AT_SYMLINK_FOLLOW: a link to a symlink is a link to the symlink */
      if (!linked && linkat(tparent, tname, parent, name, 0) < 0) return sys_fail(e, errno, en->path, "linkat");
      return at_meta(parent, name, en, S_ISLNK(tst->st_mode), 0, e);
    case TSRUN_LAYER_CHAR:
    case TSRUN_LAYER_BLOCK:
    case TSRUN_LAYER_FIFO: {
      mode_t fmt = en->type == TSRUN_LAYER_CHAR ? S_IFCHR : en->type == TSRUN_LAYER_BLOCK ? S_IFBLK : S_IFIFO;
      dev_t dev = en->type == TSRUN_LAYER_FIFO ? 0 : makedev(en->devmajor, en->devminor);
      if (mknodat(parent, name, fmt | 0600, dev) < 0) return sys_fail(e, errno, en->path, "mknodat");
      return at_meta(parent, name, en, 0, 0, e);
    }
    case TSRUN_LAYER_WHITEOUT:
      /* allowed unprivileged since Linux 5.8; the ".wh." file's xattrs are not the whiteout's */
      if (mknodat(parent, name, S_IFCHR | 0600, makedev(0, 0)) < 0) return sys_fail(e, errno, en->path, "mknodat");
      return at_meta(parent, name, en, 0, 1, e);
  }
  return fail(e, EINVAL, en->path, "unknown entry type %d", (int)en->type);
}

int tsrun_layer_root(const char *dir, struct tsrun_err *e) {
  int fd = open(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    char q[256];
    tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "layer root %s: %s", quoted(dir, q, sizeof q), strerror(err));
    return -err;
  }
  return fd;
}

int tsrun_layer_entry(int root, const struct tsrun_layer_entry *en, int *file_fd, struct tsrun_err *e) {
  *file_fd = -1;
  struct layer_path p, t;
  int rc = split_or_fail(en->path, &p, en->path, e);
  if (rc < 0) return rc;
  if ((rc = check_xattrs(en, e)) < 0) return rc;
  if ((en->type == TSRUN_LAYER_SYMLINK || en->type == TSRUN_LAYER_HARDLINK) && (!en->linkname || !*en->linkname))
    return fail(e, EINVAL, en->path, "a link without a target");
  int tparent = -1;
  struct stat tst;
  memset(&tst, 0, sizeof tst);
  if (en->type == TSRUN_LAYER_HARDLINK && (rc = link_target(root, en, &t, &tparent, &tst, e)) < 0) {
    close_dir(tparent, root);
    return rc;
  }
  int parent = open_parent(root, &p, 1, en->chown, en->path, "", e);
  if (parent < 0) {
    close_dir(tparent, root);
    return parent;
  }
  rc = make(parent, p.name, en, tparent, tparent >= 0 ? t.name : NULL, &tst, file_fd, e);
  close_dir(parent, root);
  close_dir(tparent, root);
  return rc;
}

int tsrun_layer_finish(int fd, const struct tsrun_layer_entry *en, struct tsrun_err *e) {
  int rc = check_xattrs(en, e);
  if (rc == 0) rc = fd_meta(fd, en, e);
  if (close(fd) < 0 && rc == 0) rc = sys_fail(e, errno, en->path, "close");
  return rc;
}

int tsrun_layer_times(int root, const char *path, struct timespec mtime, struct tsrun_err *e) {
  struct layer_path p;
  int rc = split_or_fail(path, &p, path, e);
  if (rc < 0) return rc;
  int parent = open_parent(root, &p, 0, 0, path, "", e);
  if (parent < 0) return parent;
  struct timespec ts[2] = {mtime, mtime};
  if (utimensat(parent, p.name, ts, AT_SYMLINK_NOFOLLOW) < 0) rc = sys_fail(e, errno, path, "utimensat");
  close_dir(parent, root);
  return rc;
}
