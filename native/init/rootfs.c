/* rootfs.c — the container's filesystem: propagation, the rootfs bind, the
 * config's mounts, devices, pivot_root.
 *
 * Every path inside the container is resolved with openat2(RESOLVE_IN_ROOT)
 * against an fd of the rootfs, and mounts are made onto /proc/self/fd/N of
 * the resolved target: a symlink in the image (say /proc -> /etc on the
 * host) resolves inside the rootfs and can never make us mount on, or
 * create, a host path. */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "init.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

int tsrun_open_in_root(int root_fd, const char *path, int flags) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (uint64_t)(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  while (*path == '/') path++;
  if (!*path) path = ".";
  long fd;
  do fd = syscall(SYS_openat2, root_fd, path, &how, sizeof how);
  while (fd < 0 && (errno == EAGAIN || errno == EINTR));
  return (int)fd;
}

void tsrun_fd_path(int fd, char *buf, size_t size) {
  char num[24];
  tsrun_utoa((unsigned long)fd, num, sizeof num);
  tsrun_strlcpy(buf, "/proc/self/fd/", size);
  tsrun_strlcat(buf, num, size);
}

/* A component that exists but cannot be opened is a symlink whose target
 * is missing: continue at the target, resolved inside the root as the
 * kernel would (absolute targets from the container's "/", relative ones
 * from the link's directory), so a /proc -> /etc link in the image creates
 * <rootfs>/etc, never the host's. */
static int mkpath_depth(int root_fd, const char *path, int want_file, int depth);

static int follow_dangling(int root_fd, int parent, const char *dir, const char *name, const char *rest, int want_file,
                           int depth) {
  char target[4096], next[4096];
  ssize_t n = readlinkat(parent, name, target, sizeof target - 1);
  if (n < 0) return -1;
  target[n] = 0;
  if (target[0] == '/') {
    tsrun_strlcpy(next, target, sizeof next);
  } else {
    tsrun_strlcpy(next, dir, sizeof next);
    tsrun_strlcat(next, "/", sizeof next);
    tsrun_strlcat(next, target, sizeof next);
  }
  if (tsrun_strlcat(next, rest, sizeof next) >= sizeof next) {
    errno = ENAMETOOLONG;
    return -1;
  }
  return mkpath_depth(root_fd, next, want_file, depth + 1);
}

int tsrun_mkpath_in_root(int root_fd, const char *path, int want_file) {
  return mkpath_depth(root_fd, path, want_file, 0);
}

static int mkpath_depth(int root_fd, const char *path, int want_file, int depth) {
  if (depth > 16) {
    errno = ELOOP;
    return -1;
  }
  char buf[4096];
  if (tsrun_strlcpy(buf, path, sizeof buf) >= sizeof buf) {
    errno = ENAMETOOLONG;
    return -1;
  }
  size_t len = strlen(buf);
  while (len > 1 && buf[len - 1] == '/') buf[--len] = 0;
  int fd = tsrun_open_in_root(root_fd, buf, O_PATH);
  if (fd >= 0 || errno != ENOENT) return fd;
  /* Walk the prefixes, creating what is missing. Each parent is resolved
   * in the root afresh, so a symlink component stays inside it. */
  for (size_t i = 1; i <= len; i++) {
    if (buf[i] != '/' && buf[i] != 0) continue;
    int last = buf[i] == 0;
    char saved = buf[i];
    buf[i] = 0;
    fd = tsrun_open_in_root(root_fd, buf, O_PATH);
    if (fd < 0 && errno == ENOENT) {
      char *slash = strrchr(buf, '/');
      const char *name = slash + 1;
      *slash = 0;
      int parent = tsrun_open_in_root(root_fd, buf[0] ? buf : "/", O_PATH | O_DIRECTORY);
      *slash = '/';
      if (parent < 0) return -1;
      int rc;
      if (last && want_file) {
        rc = mknodat(parent, name, S_IFREG | 0644, 0);
      } else {
        rc = mkdirat(parent, name, 0755);
      }
      int saved_errno = errno;
      if (rc < 0 && saved_errno != EEXIST) {
        close(parent);
        errno = saved_errno;
        return -1;
      }
      fd = tsrun_open_in_root(root_fd, buf, O_PATH);
      if (fd < 0 && errno == ENOENT) {
        /* name ends at buf[i] only while that is NUL: copy it first. */
        char link_name[256], dir[4096];
        tsrun_strlcpy(link_name, name, sizeof link_name);
        *slash = 0;
        tsrun_strlcpy(dir, buf[0] ? buf : "/", sizeof dir);
        *slash = '/';
        buf[i] = saved;
        fd = follow_dangling(root_fd, parent, dir, link_name, buf + i, want_file, depth);
        saved_errno = errno;
        close(parent);
        errno = saved_errno;
        return fd;
      }
      close(parent);
    }
    buf[i] = saved;
    if (fd < 0) return -1;
    if (last) return fd;
    close(fd);
  }
  errno = EINVAL;
  return -1;
}

/* `flags` on the mount `rootfs` is on: the nearest ancestor that is a mount
 * point (mount(2) says EINVAL for a directory that is not one). The path is
 * the host's real path of the rootfs, checked before clone. */
static int rootfs_parent_propagation(struct tsrun_init *ctx, const char *rootfs, unsigned long flags) {
  char path[4096];
  if (tsrun_strlcpy(path, rootfs, sizeof path) >= sizeof path) return tsrun_fail(ctx, ENAMETOOLONG, rootfs, NULL);
  for (;;) {
    if (mount(NULL, path, NULL, flags, NULL) == 0) return 0;
    if (errno != EINVAL || !strcmp(path, "/")) return tsrun_fail(ctx, errno, "set propagation of ", path, NULL);
    char *slash = strrchr(path, '/');
    if (slash == path)
      path[1] = 0;
    else
      *slash = 0;
  }
}

int tsrun_step_rootfs(struct tsrun_init *ctx) {
  const struct tsrun_plan_header *h = ctx->plan->h;
  const char *rootfs = tsrun_plan_str(ctx->plan, h->rootfs);
  const char *state = tsrun_plan_str(ctx->plan, h->state_dir);
  /* The state dir stays reachable through this fd after pivot_root: the
   * exec fifo is opened through it at the very end. */
  if (ctx->state_dir_fd < 0) /* the namespace step may have opened it */
    ctx->state_dir_fd = open(state, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (ctx->state_dir_fd < 0) return tsrun_fail(ctx, errno, "open state dir ", state, NULL);
  /* Until pivot_root every mount target is named /proc/self/fd/N: /proc
   * must be a procfs (the runtime's, copied into our mount namespace; a
   * joined mount namespace could hold anything there). */
  int proc = tsrun_procfs();
  if (proc < 0) return tsrun_fail(ctx, errno, "/proc of the mount namespace the rootfs is set up in", NULL);
  close(proc);
  if (h->flags & TSRUN_PLAN_HOST_MOUNTS) {
    /* No mount namespace: "/" is the host's. Its propagation is left alone
     * (runc makes the host's root rslave here) and there is no bind of the
     * rootfs to pivot on: the mounts go under the rootfs in the host's
     * namespace, the runtime removes them at delete, and we chroot. */
    ctx->root_fd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (ctx->root_fd < 0) return tsrun_fail(ctx, errno, "open rootfs ", rootfs, NULL);
    umask(0);
    return 0;
  }
  /* runc's order (prepareRoot). "/" first takes linux.rootfsPropagation as
   * asked (rslave by default): that is what a bind mount's source is when
   * it is bound, so it decides what a volume becomes — with rshared a member
   * of the host's peer group (a mount made on either side appears on the
   * other: Kubernetes' Bidirectional), with rslave a slave of it. */
  if (mount(NULL, "/", NULL, h->rootfs_propagation, NULL) < 0)
    return tsrun_fail(ctx, errno, "set propagation of /", NULL);
  /* The mount the rootfs is on is never shared: pivot_root refuses a shared
   * parent, and the rootfs bind below, with every mount made in it, would
   * propagate to the host's peers. */
  if (rootfs_parent_propagation(ctx, rootfs, h->rootfs_parent_propagation) < 0) return -1;
  /* pivot_root needs the new root to be a mount point: the rootfs bound
   * on itself, or the API's overlay (the plan's rootfs_overlay) mounted on
   * it, which only this mount namespace ever sees. */
  const char *overlay = tsrun_plan_str(ctx->plan, h->rootfs_overlay);
  if (overlay) {
    if (mount("overlay", rootfs, "overlay", 0, overlay) < 0)
      return tsrun_fail(ctx, errno, "mount the overlay rootfs on ", rootfs, NULL);
  } else if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
    return tsrun_fail(ctx, errno, "bind mount rootfs ", rootfs, NULL);
  ctx->root_fd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (ctx->root_fd < 0) return tsrun_fail(ctx, errno, "open rootfs ", rootfs, NULL);
  /* Device nodes and mount points get exactly the modes the plan asks. */
  umask(0);
  return 0;
}

static int is_proc_or_sysfs(const struct tsrun_plan *p, const struct tsrun_mount *m) {
  const char *fstype = tsrun_plan_str(p, m->fstype);
  return m->kind == TSRUN_MOUNT_FS && fstype && (!strcmp(fstype, "proc") || !strcmp(fstype, "sysfs"));
}

/*
 * The directory a proc or sysfs mount goes on (or, later, is on): the parent
 * resolved inside the root, the last component never through a symlink.
 * Checking "is it a directory" and then mounting on the path would resolve
 * it twice, and a container sharing the rootfs as a volume can swap the
 * directory for a symlink in between (CVE-2019-19921, CVE-2023-27561): the
 * fd is what was checked, and what we mount on.
 */
static int open_fs_dir(int root_fd, const char *dest) {
  char parent[4096];
  if (tsrun_strlcpy(parent, dest, sizeof parent) >= sizeof parent) {
    errno = ENAMETOOLONG;
    return -1;
  }
  size_t len = strlen(parent);
  while (len > 1 && parent[len - 1] == '/') parent[--len] = 0;
  char *slash = strrchr(parent, '/');
  if (!slash || !slash[1]) return tsrun_open_in_root(root_fd, "/", O_PATH | O_DIRECTORY);
  *slash = 0;
  int pfd = tsrun_open_in_root(root_fd, parent[0] ? parent : "/", O_PATH | O_DIRECTORY);
  if (pfd < 0) return -1;
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
  long fd;
  do fd = syscall(SYS_openat2, pfd, slash + 1, &how, sizeof how);
  while (fd < 0 && (errno == EAGAIN || errno == EINTR));
  int saved = errno;
  close(pfd);
  errno = saved;
  return (int)fd;
}

/* `path` relative to `dir` when it is `dir` or below it, component-wise ("" for dir itself); NULL otherwise. */
static const char *path_below(const char *path, const char *dir) {
  while (*path == '/') path++;
  while (*dir == '/') dir++;
  size_t n = strlen(dir);
  while (n && dir[n - 1] == '/') n--;
  if (strncmp(path, dir, n) || (path[n] && path[n] != '/')) return NULL;
  path += n;
  while (*path == '/') path++;
  return path;
}

/*
 * Opens a maskedPaths/readonlyPaths entry. Where the plan's mount on top
 * of it is a proc or sysfs (the usual /proc/sys, /proc/timer_list,
 * /sys/firmware; not a volume someone put over /proc), the path
 * is resolved from that mount, found again with open_fs_dir and checked to
 * be a procfs or sysfs: were /proc swapped for a symlink or a decoy
 * directory after procfs went on it, resolving "/proc/sys" from the root
 * would protect the decoy and leave the real /proc/sys writable. Elsewhere,
 * inside the root as any container path.
 */
static int open_protected(struct tsrun_init *ctx, const char *dest) {
  const struct tsrun_plan *p = ctx->plan;
  const struct tsrun_mount *mounts = tsrun_plan_vec(p, p->h->mounts);
  const struct tsrun_mount *base = NULL;
  const char *rest = NULL;
  /* the mount on top at dest: the last of the plan's mounts that holds it */
  for (uint32_t i = 0; i < p->h->mounts.count; i++) {
    if (mounts[i].kind == TSRUN_MOUNT_MASK || mounts[i].kind == TSRUN_MOUNT_READONLY) continue;
    const char *r = path_below(dest, tsrun_plan_str(p, mounts[i].destination));
    if (r) {
      base = &mounts[i];
      rest = r;
    }
  }
  if (!base || !is_proc_or_sysfs(p, base)) return tsrun_open_in_root(ctx->root_fd, dest, O_PATH);
  int bfd = open_fs_dir(ctx->root_fd, tsrun_plan_str(p, base->destination));
  if (bfd < 0) return -1;
  struct statfs sfs;
  long want = strcmp(tsrun_plan_str(p, base->fstype), "proc") ? SYSFS_MAGIC : PROC_SUPER_MAGIC;
  if (fstatfs(bfd, &sfs) < 0 || sfs.f_type != want) {
    close(bfd);
    errno = EXDEV; /* not the filesystem we mounted there any more */
    return -1;
  }
  if (!*rest) return bfd;
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  long fd;
  do fd = syscall(SYS_openat2, bfd, rest, &how, sizeof how);
  while (fd < 0 && (errno == EAGAIN || errno == EINTR));
  int saved = errno;
  close(bfd);
  errno = saved;
  return (int)fd;
}

static int apply_after(struct tsrun_init *ctx, const struct tsrun_mount *m, const char *dest, const char *what) {
  /* Remount and propagation act on the new mount, which the fd taken before
   * mounting does not see: resolve the destination again. */
  const int remount_flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME |
                            MS_STRICTATIME | MS_SYNCHRONOUS | MS_DIRSYNC | MS_MANDLOCK;
  int need_remount = m->kind == TSRUN_MOUNT_BIND && (m->flags & remount_flags);
  if (!need_remount && !m->propagation) return 0;
  int fd = tsrun_open_in_root(ctx->root_fd, dest, O_PATH);
  if (fd < 0) return tsrun_fail(ctx, errno, "reopen mount target ", dest, NULL);
  char target[64];
  tsrun_fd_path(fd, target, sizeof target);
  int rc = 0;
  if (need_remount && mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | (m->flags & remount_flags), NULL) < 0)
    rc = tsrun_fail(ctx, errno, "remount ", what, " on ", dest, NULL);
  if (rc == 0 && m->propagation && mount(NULL, target, NULL, m->propagation, NULL) < 0)
    rc = tsrun_fail(ctx, errno, "set propagation of ", dest, NULL);
  close(fd);
  return rc;
}

/* The tmpfs every masked directory shares: the first one masked gets it,
 * the others a bind of it, as runc does (one superblock however many
 * directories are masked). */
struct mask_source {
  int fd;     /* the tmpfs's root, once made; -1 until then */
  int failed; /* a bind of it failed: each later directory gets its own */
};

/* The mask tmpfs: read-only, data from the plan (nr_blocks=1,nr_inodes=1 and
 * the SELinux context=). Ubuntu 20.04's 5.4 kernel refuses nr_inodes < 2
 * (a private patch), hence the retry with 2, as runc does. */
static int mount_mask_tmpfs(struct tsrun_init *ctx, const struct tsrun_mount *m, const char *target) {
  const char *data = tsrun_plan_str(ctx->plan, m->data);
  if (mount("tmpfs", target, "tmpfs", MS_RDONLY, data) == 0) return 0;
  static const char one[] = "nr_inodes=1";
  const char *at = data && errno == EINVAL ? strstr(data, one) : NULL;
  if (!at || (at[sizeof one - 1] != ',' && at[sizeof one - 1] != 0)) return -1;
  char retry[4096];
  if (tsrun_strlcpy(retry, data, sizeof retry) >= sizeof retry) return -1;
  retry[at - data + sizeof one - 2] = '2';
  return mount("tmpfs", target, "tmpfs", MS_RDONLY, retry);
}

/*
 * The mask just mounted at dest, to bind on the next directories: dest is
 * resolved again (the fd taken before mounting names the covered directory)
 * and kept only if it is what a mask must be whatever raced us there — a
 * read-only tmpfs other than the directory's own filesystem, holding nothing
 * but its root — so a bind of it hides and denies as the mask does.
 * Otherwise -1: each later directory gets its own tmpfs.
 */
static int reopen_mask(struct tsrun_init *ctx, const char *dest, dev_t covered) {
  int fd = open_protected(ctx, dest);
  if (fd < 0) return -1;
  struct stat st;
  struct statfs sfs;
  if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) && st.st_dev != covered && fstatfs(fd, &sfs) == 0 &&
      sfs.f_type == TMPFS_MAGIC && (sfs.f_flags & ST_RDONLY) && sfs.f_files - sfs.f_ffree <= 1)
    return fd;
  close(fd);
  return -1;
}

/* maskedPaths act on what the image (or an earlier mount, like /proc) has;
 * a path that does not exist is skipped. A symlink is followed, inside the
 * root only (RESOLVE_IN_ROOT), so what it names is masked, as runc does:
 * masking the link itself would leave its target readable. */
static int mask(struct tsrun_init *ctx, const struct tsrun_mount *m, const char *dest, struct mask_source *shared) {
  int fd = open_protected(ctx, dest);
  if (fd < 0) return errno == ENOENT ? 0 : tsrun_fail(ctx, errno, "open ", dest, NULL);
  char target[64];
  tsrun_fd_path(fd, target, sizeof target);
  struct stat st;
  int rc = fstat(fd, &st);
  if (rc == 0 && S_ISDIR(st.st_mode)) {
    rc = -1;
    if (shared->fd >= 0 && !shared->failed) {
      char source[64];
      tsrun_fd_path(shared->fd, source, sizeof source);
      /* a bind keeps the source's read-only flag */
      rc = mount(source, target, NULL, MS_BIND, NULL);
      shared->failed = rc < 0;
    }
    if (rc < 0) {
      rc = mount_mask_tmpfs(ctx, m, target);
      if (rc == 0 && shared->fd < 0 && !shared->failed) shared->fd = reopen_mask(ctx, dest, st.st_dev);
    }
  } else if (rc == 0) {
    /* The container's own /dev/null (as runc), resolved inside the root
     * and verified to be the real null device: the image must not be able
     * to make us bind something else over a masked path. */
    int null_fd = tsrun_open_in_root(ctx->root_fd, "/dev/null", O_PATH | O_NOFOLLOW);
    struct stat null_st;
    if (null_fd < 0 || fstat(null_fd, &null_st) < 0 || !S_ISCHR(null_st.st_mode) || null_st.st_rdev != makedev(1, 3)) {
      if (null_fd >= 0) close(null_fd);
      close(fd);
      return tsrun_fail(ctx, EPERM, "/dev/null is not the null device; refusing to mask ", dest, NULL);
    }
    char source[64];
    tsrun_fd_path(null_fd, source, sizeof source);
    rc = mount(source, target, NULL, MS_BIND, NULL);
    int bind_errno = errno;
    close(null_fd);
    errno = bind_errno;
  }
  int saved = errno;
  close(fd);
  return rc < 0 ? tsrun_fail(ctx, saved, "mask ", dest, NULL) : 0;
}

/* readonlyPaths: a recursive bind onto itself, remounted read-only keeping
 * nosuid/nodev/noexec; skipped when absent; a symlink followed inside the
 * root, as for masks. With MS_REMOUNT in the plan's flags the mount already
 * there is remounted in place with them instead (a read-only /dev: one
 * mount, made read-only once the devices are in it). */
static int make_readonly(struct tsrun_init *ctx, const struct tsrun_mount *m, const char *dest) {
  int fd = open_protected(ctx, dest);
  if (fd < 0) return errno == ENOENT ? 0 : tsrun_fail(ctx, errno, "open ", dest, NULL);
  char target[64];
  tsrun_fd_path(fd, target, sizeof target);
  int rc;
  if (m->flags & MS_REMOUNT) {
    rc = mount(NULL, target, NULL, m->flags, NULL);
    int saved = errno;
    close(fd);
    return rc < 0 ? tsrun_fail(ctx, saved, "remount ", dest, " read-only", NULL) : 0;
  }
  rc = mount(target, target, NULL, MS_BIND | MS_REC, NULL);
  int saved = errno;
  close(fd);
  if (rc < 0) return tsrun_fail(ctx, saved, "bind ", dest, " read-only", NULL);
  fd = open_protected(ctx, dest);
  if (fd < 0) return tsrun_fail(ctx, errno, "reopen ", dest, NULL);
  tsrun_fd_path(fd, target, sizeof target);
  struct statvfs sv;
  unsigned long keep = 0;
  if (fstatvfs(fd, &sv) == 0) {
    if (sv.f_flag & ST_NOSUID) keep |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV) keep |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC) keep |= MS_NOEXEC;
  }
  rc = mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | keep, NULL);
  saved = errno;
  close(fd);
  return rc < 0 ? tsrun_fail(ctx, saved, "remount ", dest, " read-only", NULL) : 0;
}

/*
 * What a mount target resolved to, against runc's checkProcMount: validation
 * let a destination on or below /proc through only by its name (a procfs on
 * /proc, an lxcfs file), so a target that lands in the container's /proc
 * must be that very name. An image symlink elsewhere that leads into it
 * (/attr -> /proc/self/attr, then a bind on /attr/exec) is refused, as runc
 * refuses it on the resolved path. The path is the kernel's, read back from
 * the fd (d_path); RESOLVE_IN_ROOT keeps it below the rootfs.
 */
static int check_proc_target(struct tsrun_init *ctx, int fd, const char *dest) {
  char link[64], got[4096];
  tsrun_fd_path(fd, link, sizeof link);
  ssize_t n = readlink(link, got, sizeof got - 1);
  if (n < 0) return tsrun_fail(ctx, errno, "readlink the mount target of ", dest, NULL);
  got[n] = 0;
  const char *in_root = path_below(got, tsrun_plan_str(ctx->plan, ctx->plan->h->rootfs));
  const char *in_proc = in_root ? path_below(in_root, "proc") : NULL;
  if (!in_proc) return 0;
  const char *named = path_below(dest, "proc");
  if (named && !strcmp(named, in_proc)) return 0;
  return tsrun_fail(ctx, EPERM, "\"", dest, "\" cannot be mounted because it resolves inside /proc (/proc/", in_proc,
                    ")", NULL);
}

/* proc and sysfs only on a directory the image has (or none): mounted
 * through a symlink they could cover a host path, or shadow what the
 * container's /proc must show (CVE-2023-28642 class). runc's rule and words. */
static int ordinary_dir(struct tsrun_init *ctx, const char *dest, const char *fstype) {
  char parent[4096];
  if (tsrun_strlcpy(parent, dest, sizeof parent) >= sizeof parent) return tsrun_fail(ctx, ENAMETOOLONG, dest, NULL);
  size_t len = strlen(parent);
  while (len > 1 && parent[len - 1] == '/') parent[--len] = 0;
  char *slash = strrchr(parent, '/');
  if (!slash || !slash[1]) return 0; /* "/" itself */
  *slash = 0;
  const char *name = slash + 1;
  int pfd = tsrun_open_in_root(ctx->root_fd, parent[0] ? parent : "/", O_PATH | O_DIRECTORY);
  if (pfd < 0) return errno == ENOENT ? 0 : tsrun_fail(ctx, errno, "open the parent of ", dest, NULL);
  struct stat st;
  int rc = fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW);
  int saved = errno;
  close(pfd);
  if (rc < 0) return saved == ENOENT ? 0 : tsrun_fail(ctx, saved, "stat ", dest, NULL);
  if (!S_ISDIR(st.st_mode))
    return tsrun_fail(ctx, ENOTDIR, "filesystem \"", fstype, "\" must be mounted on ordinary directory", NULL);
  return 0;
}

/* linux.mountLabel on an mqueue mount: the superblock is the IPC
 * namespace's, labelled when it was made, so the label goes on its root as
 * an attribute (tsrun_plan.h mqueue_label). The root is opened inside the
 * container's root, without following a symlink out of it. */
static int label_mqueue(struct tsrun_init *ctx, const char *dest) {
  const char *label = tsrun_plan_str(ctx->plan, ctx->plan->h->mqueue_label);
  if (!label) return 0;
  int fd = tsrun_open_in_root(ctx->root_fd, dest, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return tsrun_fail(ctx, errno, "open the mqueue mount on ", dest, NULL);
  int rc = fsetxattr(fd, "security.selinux", label, strlen(label), 0);
  int saved = errno;
  close(fd);
  return rc < 0 ? tsrun_fail(ctx, saved, "selinux: label the mqueue mount on ", dest, " ", label, NULL) : 0;
}

/* A tmpfs with tmpcopyup: mounted writable, filled from what it covers,
 * then remounted with its own flags if they make it read-only. */
static int mount_copyup(struct tsrun_init *ctx, const struct tsrun_mount *m, const char *dest, const char *target) {
  int src = tsrun_open_in_root(ctx->root_fd, dest, O_RDONLY | O_DIRECTORY);
  if (src < 0) return tsrun_fail(ctx, errno, "tmpcopyup: open ", dest, NULL);
  const char *data = tsrun_plan_str(ctx->plan, m->data);
  int rc = mount("tmpfs", target, "tmpfs", m->flags & ~(uint64_t)MS_RDONLY, data);
  if (rc < 0) {
    int saved = errno;
    close(src);
    return tsrun_fail(ctx, saved, "mount tmpfs on ", dest, NULL);
  }
  int dst = tsrun_open_in_root(ctx->root_fd, dest, O_RDONLY | O_DIRECTORY);
  if (dst < 0) {
    int saved = errno;
    close(src);
    return tsrun_fail(ctx, saved, "tmpcopyup: open the tmpfs on ", dest, NULL);
  }
  rc = tsrun_copyup(ctx, src, dst);
  close(src);
  close(dst);
  if (rc < 0) return -1;
  if ((m->flags & MS_RDONLY) && mount(NULL, target, NULL, MS_REMOUNT | m->flags, data) < 0)
    return tsrun_fail(ctx, errno, "remount the tmpfs on ", dest, " read-only", NULL);
  return 0;
}

int tsrun_step_mounts(struct tsrun_init *ctx) {
  const struct tsrun_plan *p = ctx->plan;
  const struct tsrun_mount *mounts = tsrun_plan_vec(p, p->h->mounts);
  for (uint32_t i = 0; i < p->h->mounts.count; i++) {
    const struct tsrun_mount *m = &mounts[i];
    const char *dest = tsrun_plan_str(p, m->destination);
    const char *source = tsrun_plan_str(p, m->source);
    const char *fstype = tsrun_plan_str(p, m->fstype);
    const char *what = source ? source : fstype ? fstype : "none";
    if (m->kind == TSRUN_MOUNT_MASK || m->kind == TSRUN_MOUNT_READONLY) continue; /* tsrun_step_paths */
    int fs_dir = is_proc_or_sysfs(p, m);
    if (fs_dir && ordinary_dir(ctx, dest, fstype) < 0) return -1;
    int fd = tsrun_mkpath_in_root(ctx->root_fd, dest, m->target_kind == TSRUN_TARGET_FILE);
    if (fd < 0) return tsrun_fail(ctx, errno, "create mount target ", dest, NULL);
    if (fs_dir) {
      close(fd);
      fd = open_fs_dir(ctx->root_fd, dest);
      if (fd < 0 && (errno == ELOOP || errno == ENOTDIR))
        return tsrun_fail(ctx, ENOTDIR, "filesystem \"", fstype, "\" must be mounted on ordinary directory", NULL);
      if (fd < 0) return tsrun_fail(ctx, errno, "open mount target ", dest, NULL);
    }
    if (check_proc_target(ctx, fd, dest) < 0) {
      close(fd);
      return -1;
    }
    char target[64];
    tsrun_fd_path(fd, target, sizeof target);
    int rc;
    int tree = tsrun_idmap_tree(p, i); /* an idmapped bind, prepared by the runtime */
    if (m->kind == TSRUN_MOUNT_COPYUP) {
      rc = mount_copyup(ctx, m, dest, target);
      close(fd);
      if (rc < 0) return -1;
      if (m->propagation && apply_after(ctx, m, dest, what) < 0) return -1;
      if (tsrun_mount_attrs(ctx, i, dest) < 0) return -1;
      continue;
    }
    if (tree >= 0)
      rc = tsrun_attach_tree(tree, target);
    else if (m->kind == TSRUN_MOUNT_BIND)
      rc = mount(source, target, NULL, MS_BIND | (m->flags & MS_REC), NULL);
    else
      rc = mount(source, target, fstype, m->flags, tsrun_plan_str(p, m->data));
    /* what a user namespace may not mount, bound from the host; cgroup2
     * says EBUSY rather than EPERM where the user namespace may not mount
     * the one cgroup2 superblock with these flags (runc falls back on both) */
    int bound = 0; /* the host's, bound: not ours to label */
    if (rc < 0 && m->kind == TSRUN_MOUNT_FS &&
        (errno == EPERM || (errno == EBUSY && fstype && !strcmp(fstype, "cgroup2")))) {
      rc = tsrun_userns_mount_fallback(m, fstype, target, ctx->cgroup2_dir);
      bound = 1;
    }
    int saved = errno;
    close(fd);
    if (rc < 0) return tsrun_fail(ctx, saved, "mount ", what, " on ", dest, NULL);
    if (!bound && fstype && !strcmp(fstype, "mqueue") && label_mqueue(ctx, dest) < 0) return -1;
    if (apply_after(ctx, m, dest, what) < 0) return -1;
    if (tsrun_mount_attrs(ctx, i, dest) < 0) return -1;
  }
  return 0;
}

int tsrun_step_paths(struct tsrun_init *ctx) {
  /* After the devices: masking binds the container's own /dev/null, and a
   * read-only /dev is remounted once they are in it. */
  const struct tsrun_plan *p = ctx->plan;
  const struct tsrun_mount *mounts = tsrun_plan_vec(p, p->h->mounts);
  struct mask_source shared = {.fd = -1, .failed = 0};
  int rc = 0;
  for (uint32_t i = 0; i < p->h->mounts.count && rc == 0; i++) {
    const struct tsrun_mount *m = &mounts[i];
    const char *dest = tsrun_plan_str(p, m->destination);
    if (m->kind == TSRUN_MOUNT_MASK)
      rc = mask(ctx, m, dest, &shared);
    else if (m->kind == TSRUN_MOUNT_READONLY)
      rc = make_readonly(ctx, m, dest);
  }
  if (shared.fd >= 0) close(shared.fd);
  return rc;
}

static int make_device(struct tsrun_init *ctx, const struct tsrun_device *d) {
  const char *path = tsrun_plan_str(ctx->plan, d->path);
  char parent_path[4096];
  tsrun_strlcpy(parent_path, path, sizeof parent_path);
  char *slash = strrchr(parent_path, '/');
  const char *name = path + (slash - parent_path) + 1;
  *slash = 0;
  int parent = tsrun_mkpath_in_root(ctx->root_fd, parent_path[0] ? parent_path : "/", 0);
  if (parent < 0) return tsrun_fail(ctx, errno, "create parent of device ", path, NULL);
  mode_t type = d->type == TSRUN_DEV_BLOCK ? S_IFBLK : d->type == TSRUN_DEV_FIFO ? S_IFIFO : S_IFCHR;
  unlinkat(parent, name, 0); /* a device replaces whatever the image had there */
  int rc = mknodat(parent, name, type | (d->mode & 07777), makedev(d->major, d->minor));
  if (rc < 0 && errno == EPERM && type != S_IFIFO) {
    /* mknod is not allowed (user namespace): bind the host's node of the
     * same path instead, as runc does. */
    rc = mknodat(parent, name, S_IFREG | 0644, 0);
    if (rc == 0) {
      int fd = tsrun_open_in_root(ctx->root_fd, path, O_PATH | O_NOFOLLOW);
      if (fd < 0)
        rc = -1;
      else {
        char target[64];
        tsrun_fd_path(fd, target, sizeof target);
        rc = mount(path, target, NULL, MS_BIND, NULL);
        close(fd);
      }
    }
    if (rc < 0) {
      int saved = errno;
      close(parent);
      return tsrun_fail(ctx, saved, "bind mount device ", path, NULL);
    }
    close(parent);
    return 0;
  }
  if (rc < 0) {
    int saved = errno;
    close(parent);
    return tsrun_fail(ctx, saved, "mknod ", path, NULL);
  }
  rc = fchownat(parent, name, d->uid, d->gid, AT_SYMLINK_NOFOLLOW);
  int saved = errno;
  close(parent);
  if (rc < 0) return tsrun_fail(ctx, saved, "chown device ", path, NULL);
  return 0;
}

int tsrun_step_devices(struct tsrun_init *ctx) {
  const struct tsrun_plan *p = ctx->plan;
  if (p->h->flags & TSRUN_PLAN_TERMINAL) {
    int console = tsrun_console_target(ctx);
    if (console == -2) return -1;
    if (console >= 0) close(console);
  }
  const struct tsrun_device *devs = tsrun_plan_vec(p, p->h->devices);
  for (uint32_t i = 0; i < p->h->devices.count; i++)
    if (make_device(ctx, &devs[i]) < 0) return -1;
  const struct tsrun_symlink *links = tsrun_plan_vec(p, p->h->symlinks);
  for (uint32_t i = 0; i < p->h->symlinks.count; i++) {
    const char *target = tsrun_plan_str(p, links[i].target);
    const char *path = tsrun_plan_str(p, links[i].linkpath);
    char parent_path[4096];
    tsrun_strlcpy(parent_path, path, sizeof parent_path);
    char *slash = strrchr(parent_path, '/');
    *slash = 0;
    int parent = tsrun_mkpath_in_root(ctx->root_fd, parent_path[0] ? parent_path : "/", 0);
    if (parent < 0) return tsrun_fail(ctx, errno, "create parent of ", path, NULL);
    int rc = symlinkat(target, parent, path + (slash - parent_path) + 1);
    int saved = errno;
    close(parent);
    if (rc < 0 && saved != EEXIST) return tsrun_fail(ctx, saved, "symlink ", path, " -> ", target, NULL);
  }
  return 0;
}

int tsrun_step_mkcwd(struct tsrun_init *ctx) {
  /* runc creates a missing cwd; do it while we are still root. */
  const char *cwd = tsrun_plan_str(ctx->plan, ctx->plan->h->cwd);
  int fd = tsrun_mkpath_in_root(ctx->root_fd, cwd, 0);
  if (fd < 0) return tsrun_fail(ctx, errno, "create cwd ", cwd, NULL);
  close(fd);
  return 0;
}

static unsigned long locked_flags(const char *path) {
  /* A read-only remount must repeat the flags already on the mount, or the
   * kernel refuses it for mounts locked by a user namespace. */
  struct statvfs st;
  unsigned long out = 0;
  if (statvfs(path, &st) < 0) return 0;
  if (st.f_flag & ST_NOSUID) out |= MS_NOSUID;
  if (st.f_flag & ST_NODEV) out |= MS_NODEV;
  if (st.f_flag & ST_NOEXEC) out |= MS_NOEXEC;
  if (st.f_flag & ST_NOATIME) out |= MS_NOATIME;
  if (st.f_flag & ST_NODIRATIME) out |= MS_NODIRATIME;
  if (st.f_flag & ST_RELATIME) out |= MS_RELATIME;
  return out;
}

/* Unescapes a mountinfo path field (\040 for a space, ...) in place. */
static void unescape(char *s) {
  char *w = s;
  for (char *r = s; *r; r++) {
    if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
      *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
      r += 3;
    } else {
      *w++ = *r;
    }
  }
  *w = 0;
}

/* Field `n` (0-based, space separated) of a mountinfo line, NUL-terminated in place. */
static char *field(char *line, int n) {
  for (int i = 0; i < n; i++) {
    line = strchr(line, ' ');
    if (!line) return NULL;
    line++;
  }
  char *end = strchr(line, ' ');
  if (end) *end = 0;
  return line;
}

/*
 * --no-pivot leaves the host's mounts in the container's mount namespace,
 * only out of the chroot's sight: the kernel, which lets a new proc or sysfs
 * be mounted only where one is already fully visible in the namespace, would
 * then allow `mount -t proc proc /proc` inside (an unmasked procfs). So, as
 * runc does, every full proc or sysfs mount outside the rootfs goes first:
 * detached, or covered with a tmpfs where that is refused. The next such
 * mount is found by reading mountinfo afresh after each change; ids already
 * dealt with are skipped.
 */
static int hide_host_procfs_at(struct tsrun_init *ctx, const char *rootfs, int proc) {
  static char buf[65536]; /* one mountinfo line at least, as the reader carries partial lines */
  int done[256];
  int ndone = 0;
  size_t rlen = strlen(rootfs);
  for (;;) {
    int fd = openat(proc, "self/mountinfo", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return tsrun_fail(ctx, errno, "open /proc/self/mountinfo", NULL);
    char target[4096];
    int id = -1;
    size_t have = 0;
    for (;;) {
      ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      have += (size_t)n;
      buf[have] = 0;
      char *line = buf;
      char *nl;
      while (id < 0 && (nl = strchr(line, '\n'))) {
        *nl = 0;
        char copy[4096 + 512];
        tsrun_strlcpy(copy, line, sizeof copy);
        line = nl + 1;
        char *sep = strstr(copy, " - ");
        if (!sep) continue;
        char *fstype = field(sep + 3, 0);
        if (!fstype || (strcmp(fstype, "proc") && strcmp(fstype, "sysfs"))) continue;
        *sep = 0;
        char tmp[4096 + 512];
        tsrun_strlcpy(tmp, copy, sizeof tmp);
        char *root = field(tmp, 3);
        if (!root || strcmp(root, "/")) continue; /* a bind of part of one: not a full mount */
        tsrun_strlcpy(tmp, copy, sizeof tmp);
        char *mp = field(tmp, 4);
        if (!mp) continue;
        unescape(mp);
        if (!strncmp(mp, rootfs, rlen) && (mp[rlen] == '/' || mp[rlen] == 0)) continue; /* the container's */
        int this_id = 0;
        for (const char *c = copy; *c >= '0' && *c <= '9'; c++) this_id = this_id * 10 + (*c - '0');
        int seen = 0;
        for (int i = 0; i < ndone; i++) seen |= done[i] == this_id;
        if (seen) continue;
        id = this_id;
        tsrun_strlcpy(target, mp, sizeof target);
      }
      if (id >= 0) break;
      /* keep the partial last line for the next read */
      have = strlen(line);
      memmove(buf, line, have + 1);
      if (have >= sizeof buf - 1) have = 0; /* a line longer than the buffer: skip it */
    }
    close(fd);
    if (id < 0) return 0;
    if (ndone == (int)(sizeof done / sizeof done[0]))
      return tsrun_fail(ctx, E2BIG, "too many host proc/sysfs mounts to hide", NULL);
    done[ndone++] = id;
    /* our unmount must not reach the host's peers */
    if (mount(NULL, target, NULL, MS_SLAVE | MS_REC, NULL) < 0) {
      if (errno == ENOENT) continue; /* under one detached already */
      return tsrun_fail(ctx, errno, "make ", target, " rslave", NULL);
    }
    if (umount2(target, MNT_DETACH) == 0) continue;
    if (errno != EINVAL && errno != EPERM) return tsrun_fail(ctx, errno, "unmount ", target, NULL);
    if (mount("tmpfs", target, "tmpfs", MS_RDONLY, NULL) < 0) return tsrun_fail(ctx, errno, "cover ", target, NULL);
  }
}

/* The host's /proc is among what goes: mountinfo is read through an fd of
 * it, which outlives its detached mount. */
static int hide_host_procfs(struct tsrun_init *ctx, const char *rootfs) {
  int proc = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (proc < 0) return tsrun_fail(ctx, errno, "open /proc", NULL);
  int rc = hide_host_procfs_at(ctx, rootfs, proc);
  close(proc);
  return rc;
}

/* runc's reOpenDevNull: an fd 0-2 that is the runtime's /dev/null (an
 * engine's stdin, for one) is reopened from the container's own, so no fd
 * of a mount outside the container's namespace stays open in it (CRIU
 * cannot dump one: "Can't lookup mount"). The node opened must be the null
 * device itself, not whatever a path in the container names. */
static int reopen_dev_null(struct tsrun_init *ctx) {
  int null_fd = -1;
  struct stat null_st;
  for (int i = 0; i < 3; i++) {
    struct stat st;
    if (fstat(i, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3)) continue;
    if (null_fd < 0) {
      null_fd = open("/dev/null", O_RDWR | O_NOFOLLOW | O_CLOEXEC);
      if (null_fd < 0) return errno == ENOENT ? 0 : tsrun_fail(ctx, errno, "open the container's /dev/null", NULL);
      if (fstat(null_fd, &null_st) < 0 || !S_ISCHR(null_st.st_mode) || null_st.st_rdev != makedev(1, 3)) {
        close(null_fd);
        return 0; /* not the null device: leave ours */
      }
    }
    if (st.st_dev == null_st.st_dev && st.st_ino == null_st.st_ino) continue; /* the container's already */
    if (dup3(null_fd, i, 0) < 0) {
      int saved = errno;
      close(null_fd);
      return tsrun_fail(ctx, saved, "reopen /dev/null", NULL);
    }
  }
  if (null_fd >= 0) close(null_fd);
  return 0;
}

int tsrun_step_pivot(struct tsrun_init *ctx) {
  const struct tsrun_plan_header *h = ctx->plan->h;
  const char *rootfs = tsrun_plan_str(ctx->plan, h->rootfs);
  if (h->flags & TSRUN_PLAN_HOST_MOUNTS) {
    /* runc's way without a mount namespace: a chroot, nothing else */
    if (fchdir(ctx->root_fd) < 0 || chroot(".") < 0) return tsrun_fail(ctx, errno, "chroot to ", rootfs, NULL);
  } else if (h->flags & TSRUN_PLAN_NO_PIVOT) {
    if (hide_host_procfs(ctx, rootfs) < 0) return -1;
    if (chdir(rootfs) < 0) return tsrun_fail(ctx, errno, "chdir to rootfs ", rootfs, NULL);
    if (mount(rootfs, "/", NULL, MS_MOVE, NULL) < 0) return tsrun_fail(ctx, errno, "move rootfs to /", NULL);
    if (chroot(".") < 0) return tsrun_fail(ctx, errno, "chroot to ", rootfs, NULL);
  } else {
    int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (oldroot < 0) return tsrun_fail(ctx, errno, "open /", NULL);
    /* pivot_root(".", ".") stacks the old root on top of the new one; we
     * then lazily detach it from where it sits, never naming a host path. */
    if (fchdir(ctx->root_fd) < 0 || syscall(SYS_pivot_root, ".", ".") < 0) {
      int saved = errno;
      close(oldroot);
      return tsrun_fail(ctx, saved, "pivot_root to ", rootfs, NULL);
    }
    int rc = fchdir(oldroot);
    close(oldroot);
    if (rc < 0) return tsrun_fail(ctx, errno, "fchdir to old root", NULL);
    /* Our unmount must not propagate to the host's mounts. */
    if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
      return tsrun_fail(ctx, errno, "make old root rslave", NULL);
    if (umount2(".", MNT_DETACH) < 0) return tsrun_fail(ctx, errno, "unmount old root", NULL);
  }
  if (chdir("/") < 0) return tsrun_fail(ctx, errno, "chdir to /", NULL);
  /* linux.rootfsPropagation on the container's "/" itself, for the values
   * that are neither private nor slave (those are in place): the rootfs
   * bind took its parent's private or slave propagation. Made shared now,
   * "/" is a new peer group that exists only in this namespace. */
  if (h->root_propagation && mount(NULL, "/", NULL, h->root_propagation, NULL) < 0)
    return tsrun_fail(ctx, errno, "set propagation of the container's /", NULL);
  if (h->flags & TSRUN_PLAN_ROOT_READONLY) {
    unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags("/");
    if (mount(NULL, "/", NULL, flags, NULL) < 0) return tsrun_fail(ctx, errno, "remount / read-only", NULL);
  }
  if (reopen_dev_null(ctx) < 0) return -1;
  umask(022);
  return 0;
}
