/* copyup.c — the `tmpcopyup` mount option (runc's extension, which podman
 * adds to every tmpfs of --read-only, --tmpfs and --mount type=tmpfs): what
 * the image has at the target is copied into the new tmpfs, with owners,
 * modes, timestamps, xattrs and symlinks kept.
 *
 * Both trees are walked by fd only: the source is an O_DIRECTORY fd of the
 * target taken (inside the root, RESOLVE_IN_ROOT) before the tmpfs covered
 * it, every step below is an *at call on a directory fd with O_NOFOLLOW, and
 * a symlink is copied as a symlink, never followed: no host path is ever
 * named. Plain C after clone: stack buffers, no allocation. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "init.h"

#define COPYUP_MAX_DEPTH 64

struct linux_dirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

/* Extended attributes of `from` onto `to` (both regular fds); names or
 * values that do not fit the stack buffers are skipped, as are names the
 * target filesystem refuses (tmpfs takes security.* and trusted.* as root). */
static void copy_xattrs(int from, int to) {
  char names[4096];
  ssize_t n = flistxattr(from, names, sizeof names);
  for (ssize_t off = 0; n > 0 && off < n; off += (ssize_t)strlen(names + off) + 1) {
    char value[4096];
    ssize_t v = fgetxattr(from, names + off, value, sizeof value);
    if (v >= 0) (void)fsetxattr(to, names + off, value, (size_t)v, 0);
  }
}

static int copy_data(int from, int to) {
  for (;;) {
    ssize_t n = syscall(SYS_copy_file_range, from, NULL, to, NULL, (size_t)1 << 30, 0);
    if (n == 0) return 0;
    if (n > 0) continue;
    if (errno == EINTR) continue;
    if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP) return -1;
    break; /* across filesystems on old kernels: copy by hand */
  }
  char buf[16384];
  for (;;) {
    ssize_t n = read(from, buf, sizeof buf);
    if (n == 0) return 0;
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    for (ssize_t done = 0; done < n;) {
      ssize_t w = write(to, buf + done, (size_t)(n - done));
      if (w < 0) {
        if (errno == EINTR) continue;
        return -1;
      }
      done += w;
    }
  }
}

/* Owner, then mode (chown clears set-id bits), then timestamps. */
static int finish(int fd, const struct stat *st) {
  if (fchown(fd, st->st_uid, st->st_gid) < 0) return -1;
  if (fchmod(fd, st->st_mode & 07777) < 0) return -1;
  struct timespec times[2] = {st->st_atim, st->st_mtim};
  return futimens(fd, times);
}

static int copy_dir(struct tsrun_init *ctx, int src, int dst, int depth);

static int copy_entry(struct tsrun_init *ctx, int src, int dst, const char *name, int depth) {
  struct stat st;
  if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0) return tsrun_fail(ctx, errno, "tmpcopyup: stat ", name, NULL);
  if (S_ISDIR(st.st_mode)) {
    if (mkdirat(dst, name, 0700) < 0 && errno != EEXIST) return tsrun_fail(ctx, errno, "tmpcopyup: mkdir ", name, NULL);
    int s = openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (s < 0) return tsrun_fail(ctx, errno, "tmpcopyup: open ", name, NULL);
    int d = openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (d < 0) {
      int e = errno;
      close(s);
      return tsrun_fail(ctx, e, "tmpcopyup: open ", name, NULL);
    }
    int rc = copy_dir(ctx, s, d, depth + 1);
    if (rc == 0) {
      copy_xattrs(s, d);
      if (finish(d, &st) < 0) rc = tsrun_fail(ctx, errno, "tmpcopyup: set owner and mode of ", name, NULL);
    }
    close(s);
    close(d);
    return rc;
  }
  if (S_ISREG(st.st_mode)) {
    int s = openat(src, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (s < 0) return tsrun_fail(ctx, errno, "tmpcopyup: open ", name, NULL);
    int d = openat(dst, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (d < 0) {
      int e = errno;
      close(s);
      return tsrun_fail(ctx, e, "tmpcopyup: create ", name, NULL);
    }
    int rc = copy_data(s, d) < 0 ? tsrun_fail(ctx, errno, "tmpcopyup: copy ", name, NULL) : 0;
    if (rc == 0) {
      copy_xattrs(s, d);
      if (finish(d, &st) < 0) rc = tsrun_fail(ctx, errno, "tmpcopyup: set owner and mode of ", name, NULL);
    }
    close(s);
    close(d);
    return rc;
  }
  if (S_ISLNK(st.st_mode)) {
    char target[4096];
    ssize_t n = readlinkat(src, name, target, sizeof target - 1);
    if (n < 0) return tsrun_fail(ctx, errno, "tmpcopyup: readlink ", name, NULL);
    target[n] = 0;
    if (symlinkat(target, dst, name) < 0) return tsrun_fail(ctx, errno, "tmpcopyup: symlink ", name, NULL);
    if (fchownat(dst, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
      return tsrun_fail(ctx, errno, "tmpcopyup: chown ", name, NULL);
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    (void)utimensat(dst, name, times, AT_SYMLINK_NOFOLLOW);
    return 0;
  }
  /* devices, fifos, sockets: the node itself */
  if (mknodat(dst, name, st.st_mode, st.st_rdev) < 0) return tsrun_fail(ctx, errno, "tmpcopyup: mknod ", name, NULL);
  if (fchownat(dst, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
    return tsrun_fail(ctx, errno, "tmpcopyup: chown ", name, NULL);
  return 0;
}

static int copy_dir(struct tsrun_init *ctx, int src, int dst, int depth) {
  if (depth > COPYUP_MAX_DEPTH) return tsrun_fail(ctx, ELOOP, "tmpcopyup: the tree is too deep", NULL);
  char buf[4096] __attribute__((aligned(8)));
  for (;;) {
    long n = syscall(SYS_getdents64, src, buf, sizeof buf);
    if (n == 0) return 0;
    if (n < 0) return tsrun_fail(ctx, errno, "tmpcopyup: read directory", NULL);
    for (long off = 0; off < n;) {
      struct linux_dirent64 *e = (struct linux_dirent64 *)(buf + off);
      off += e->d_reclen;
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      if (copy_entry(ctx, src, dst, e->d_name, depth) < 0) return -1;
    }
  }
}

/* The tmpfs root keeps what its mount options made it (mode=, uid=). */
int tsrun_copyup(struct tsrun_init *ctx, int src, int dst) {
  return copy_dir(ctx, src, dst, 0);
}
