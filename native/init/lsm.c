/* lsm.c — the Linux security module labels of the container process.
 *
 * AppArmor: the process's profile is set for its next execve by writing
 * "exec <profile>" to its own exec attribute (/proc/thread-self/attr/
 * apparmor/exec; attr/exec on kernels before 5.8). Nothing is confined
 * before that execve, so the runtime's own setup is not.
 *
 * Where the write goes is not left to a path the container could have
 * changed (CVE-2025-52881: runc's label writes redirected by mounts over
 * /proc). The file is opened beneath ctx->host_proc_fd: the runtime's own
 * procfs, opened (and checked to be a procfs) before any namespace was
 * joined or any container mount made, and no mount of the container's can
 * lie below it. The opened file is checked again to be on a procfs, and the
 * kernel lets a task write only its own attributes. */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "init.h"

/* Opens this thread's AppArmor exec attribute beneath the runtime's procfs. */
static int open_exec_attr(struct tsrun_init *ctx) {
  int fd = tsrun_proc_open(ctx->host_proc_fd, "thread-self/attr/apparmor/exec", O_WRONLY);
  if (fd < 0 && errno == ENOENT) fd = tsrun_proc_open(ctx->host_proc_fd, "thread-self/attr/exec", O_WRONLY);
  if (fd < 0) return -1;
  struct statfs sfs;
  if (fstatfs(fd, &sfs) < 0 || sfs.f_type != PROC_SUPER_MAGIC) {
    close(fd);
    errno = EXDEV;
    return -1;
  }
  return fd;
}

int tsrun_step_apparmor(struct tsrun_init *ctx) {
  const char *profile = tsrun_plan_str(ctx->plan, ctx->plan->h->apparmor_profile);
  if (!profile) return 0;
  if (ctx->host_proc_fd < 0)
    return tsrun_fail(ctx, EXDEV, "apparmor: no procfs of the runtime's to set profile ", profile, " through", NULL);
  char line[4096] = "exec ";
  if (tsrun_strlcat(line, profile, sizeof line) >= sizeof line)
    return tsrun_fail(ctx, ENAMETOOLONG, "apparmor: profile name too long", NULL);
  int fd = open_exec_attr(ctx);
  if (fd < 0) return tsrun_fail(ctx, errno, "apparmor: open the exec attribute for profile ", profile, NULL);
  size_t len = strlen(line);
  ssize_t n;
  do n = write(fd, line, len);
  while (n < 0 && errno == EINTR);
  int saved = errno;
  close(fd);
  close(ctx->host_proc_fd);
  ctx->host_proc_fd = -1;
  if (n != (ssize_t)len) return tsrun_fail(ctx, n < 0 ? saved : EIO, "apparmor: apply profile ", profile, NULL);
  return 0;
}
