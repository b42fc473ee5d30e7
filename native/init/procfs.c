/* procfs.c — how the init reaches /proc once it may not be the host's: in a
 * container without a proc mount (rootless), or after joining a mount
 * namespace, "/proc" is whatever the image or that namespace put there, and
 * a file there must never decide what the init does (a fake
 * /proc/self/setgroups, a fake /proc/self/fd/N fifo). So every /proc file
 * the init opens is opened beneath a directory checked to be a procfs
 * (fstatfs), and an fd reopened through /proc/self/fd must come out as the
 * same file it was. */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

int tsrun_procfs(void) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  long fd;
  do fd = syscall(SYS_openat2, AT_FDCWD, "/proc", &how, sizeof how);
  while (fd < 0 && (errno == EAGAIN || errno == EINTR));
  if (fd < 0) return -1;
  struct statfs sfs;
  if (fstatfs((int)fd, &sfs) < 0 || sfs.f_type != PROC_SUPER_MAGIC) {
    close((int)fd);
    errno = EXDEV;
    return -1;
  }
  return (int)fd;
}

int tsrun_proc_open(int proc, const char *rel, int flags) {
  int fd;
  do fd = openat(proc, rel, flags | O_CLOEXEC | O_NOFOLLOW);
  while (fd < 0 && errno == EINTR);
  return fd;
}

int tsrun_reopen_fd(int fd, int flags) {
  /* Checked, then opened by path: the open may block (a fifo), and no fd of
   * a directory is held meanwhile. What it opened is checked after. */
  int proc = tsrun_procfs();
  if (proc < 0) return -1;
  close(proc);
  char path[40] = "/proc/self/fd/", num[16];
  tsrun_utoa((unsigned long)fd, num, sizeof num);
  tsrun_strlcat(path, num, sizeof path);
  int out;
  do out = open(path, flags | O_CLOEXEC);
  while (out < 0 && errno == EINTR);
  if (out < 0) return -1;
  struct stat a, b;
  if (fstat(fd, &a) < 0 || fstat(out, &b) < 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
    close(out);
    errno = EXDEV;
    return -1;
  }
  return out;
}
