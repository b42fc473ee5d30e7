/* sysctl.c — linux.sysctl, written from the init in its new namespaces.
 *
 * The files under /proc/sys that the validator allows (net.*, the ipc and
 * mqueue keys, kernel.hostname/domainname, and user.* — the ucounts of the
 * opener's user namespace, writable there with CAP_SYS_RESOURCE, which we
 * hold in a new one) act on the namespaces of the task that opens them, so
 * the host's procfs reaches the container's own values. We use it before any container mount exists: nothing in the
 * image (a /proc symlink, a bind over /proc/sys) can choose the file we
 * write to (cf. runc's CVE-2025-52881, writes redirected through a fake
 * procfs). The path is resolved beneath /proc/sys without symlinks or
 * mount crossings, and /proc/sys itself must be a procfs. */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

int tsrun_step_sysctl(struct tsrun_init *ctx) {
  const struct tsrun_plan *p = ctx->plan;
  if (p->h->sysctls.count == 0) return 0;
  int dir = open("/proc/sys", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return tsrun_fail(ctx, errno, "open /proc/sys", NULL);
  struct statfs sfs;
  if (fstatfs(dir, &sfs) < 0 || sfs.f_type != PROC_SUPER_MAGIC) {
    close(dir);
    return tsrun_fail(ctx, EXDEV, "/proc/sys is not a procfs", NULL);
  }
  const struct tsrun_sysctl *s = tsrun_plan_vec(p, p->h->sysctls);
  for (uint32_t i = 0; i < p->h->sysctls.count; i++) {
    const char *key = tsrun_plan_str(p, s[i].path);
    const char *value = tsrun_plan_str(p, s[i].value);
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_WRONLY | O_TRUNC | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
    long fd;
    do fd = syscall(SYS_openat2, dir, key, &how, sizeof how);
    while (fd < 0 && (errno == EAGAIN || errno == EINTR));
    if (fd < 0) {
      int saved = errno;
      close(dir);
      return tsrun_fail(ctx, saved, "open /proc/sys/", key, NULL);
    }
    size_t len = strlen(value);
    ssize_t n = write((int)fd, value, len);
    int saved = errno;
    close((int)fd);
    if (n != (ssize_t)len) {
      close(dir);
      return tsrun_fail(ctx, n < 0 ? saved : EIO, "write sysctl /proc/sys/", key, NULL);
    }
  }
  close(dir);
  return 0;
}
