/* files.c — small fd and file operations both front doors need: an fd moved
 * out of the way, a connected AF_UNIX socket (--console-socket,
 * --pidfd-socket), runc's pid file. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "host.h"

int tsrun_fd_lift(int fd, int min) {
  if (fd < 0 || fd >= min) return fd;
  int up = fcntl(fd, F_DUPFD_CLOEXEC, min);
  int saved = errno;
  close(fd);
  errno = saved;
  return up;
}

int tsrun_connect_unix(const char *path) {
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof addr.sun_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(addr.sun_path, path, strlen(path));
  /* not close-on-exec, as it always was: the init inherits it */
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

static int err_at(struct tsrun_err *e, const char *what, const char *path, int err) {
  const char *name = strerrorname_np(err);
  return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "%s %s: %s", what, path, name ? name : strerror(err));
}

/* runc's pid file: the pid, no newline, replaced whole. Its directory may be
 * another user's to write: the content goes into a new file at an
 * unpredictable name beside it (O_EXCL|O_NOFOLLOW: a symlink planted there is
 * never followed), renamed over `file` (rename replaces a symlink at `file`,
 * it does not follow it). */
int tsrun_write_pid_file(const char *file, pid_t pid, struct tsrun_err *e) {
  char dir[PATH_MAX], cwd[PATH_MAX], tmp[NAME_MAX + 1], text[24];
  const char *slash = strrchr(file, '/');
  const char *base = slash ? slash + 1 : file;
  if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
    return tsrun_err_set(e, TSRUN_CODE(EUSAGE), "pid file %s: not a file name", file);
  if (!slash) {
    if (!getcwd(cwd, sizeof cwd)) return err_at(e, "getcwd", ".", errno);
    snprintf(dir, sizeof dir, "%s", cwd);
  } else if (slash == file) {
    snprintf(dir, sizeof dir, "/");
  } else if ((size_t)(slash - file) < sizeof dir) {
    memcpy(dir, file, (size_t)(slash - file));
    dir[slash - file] = 0;
  } else {
    return err_at(e, "open", file, ENAMETOOLONG);
  }
  int d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d < 0) return err_at(e, "open", dir, errno);
  unsigned long long r = 0;
  if (getrandom(&r, sizeof r, 0) != sizeof r) r = (unsigned long long)pid * 2654435761ULL;
  snprintf(tmp, sizeof tmp, ".%.200s.%016llx", base, r);
  int fd = openat(d, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) {
    int saved = errno;
    close(d);
    return err_at(e, "open", file, saved);
  }
  int len = snprintf(text, sizeof text, "%d", pid);
  int ok = write(fd, text, (size_t)len) == len;
  int saved = errno;
  close(fd);
  if (ok && renameat(d, tmp, d, base) == 0) {
    close(d);
    return 0;
  }
  saved = ok ? errno : saved;
  unlinkat(d, tmp, 0);
  close(d);
  return err_at(e, ok ? "rename" : "write", file, saved);
}
