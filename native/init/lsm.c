/* lsm.c — the Linux security module labels of the container process.
 *
 * AppArmor: the process's profile is set for its next execve by writing
 * "exec <profile>" to its own exec attribute (/proc/thread-self/attr/
 * apparmor/exec; attr/exec on kernels before 5.8).
 *
 * SELinux: the process label is written to attr/exec, the label its next
 * execve gives it, and to attr/keycreate while the session keyring is made
 * (step_keyring), so the keyring carries the container's label; keycreate is
 * cleared after, as runc does.
 *
 * Nothing is confined before that execve, so the runtime's own setup is not.
 *
 * Where the writes go is not left to a path the container could have
 * changed (CVE-2025-52881: runc's label writes redirected by mounts over
 * /proc). Each file is opened beneath ctx->host_proc_fd: the runtime's own
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

/* Opens attribute `rel` of this thread (or `fallback`, where the kernel
 * has no `rel`) beneath the runtime's procfs, checked to be on a procfs. */
static int open_attr(struct tsrun_init *ctx, const char *rel, const char *fallback) {
  if (ctx->host_proc_fd < 0) {
    errno = EXDEV;
    return -1;
  }
  int fd = tsrun_proc_open(ctx->host_proc_fd, rel, O_WRONLY);
  if (fd < 0 && errno == ENOENT && fallback) fd = tsrun_proc_open(ctx->host_proc_fd, fallback, O_WRONLY);
  if (fd < 0) return -1;
  struct statfs sfs;
  if (fstatfs(fd, &sfs) < 0 || sfs.f_type != PROC_SUPER_MAGIC) {
    close(fd);
    errno = EXDEV;
    return -1;
  }
  return fd;
}

/* Writes `len` bytes of `value` to the attribute in one write (the kernel
 * takes no partial writes); 0 or -1 with errno. */
static int write_attr(struct tsrun_init *ctx, const char *rel, const char *fallback, const char *value, size_t len) {
  int fd = open_attr(ctx, rel, fallback);
  if (fd < 0) return -1;
  ssize_t n;
  do n = write(fd, value, len);
  while (n < 0 && errno == EINTR);
  int saved = n < 0 ? errno : EIO;
  close(fd);
  if (n == (ssize_t)len) return 0;
  errno = saved;
  return -1;
}

int tsrun_step_apparmor(struct tsrun_init *ctx) {
  const char *profile = tsrun_plan_str(ctx->plan, ctx->plan->h->apparmor_profile);
  if (!profile) return 0;
  char line[4096] = "exec ";
  if (tsrun_strlcat(line, profile, sizeof line) >= sizeof line)
    return tsrun_fail(ctx, ENAMETOOLONG, "apparmor: profile name too long", NULL);
  if (write_attr(ctx, "thread-self/attr/apparmor/exec", "thread-self/attr/exec", line, strlen(line)) < 0)
    return tsrun_fail(ctx, errno, "apparmor: apply profile ", profile, NULL);
  return 0;
}

int tsrun_selinux_keycreate(struct tsrun_init *ctx, const char *label) {
  /* attr/keycreate: SELinux's alone (no per-LSM directory has it) */
  if (write_attr(ctx, "thread-self/attr/keycreate", NULL, label ? label : "", label ? strlen(label) : 0) < 0)
    return label ? tsrun_fail(ctx, errno, "selinux: set the keyring label ", label, NULL) : -1;
  return 0;
}

int tsrun_step_selinux(struct tsrun_init *ctx) {
  const char *label = tsrun_plan_str(ctx->plan, ctx->plan->h->selinux_label);
  int rc = 0;
  if (label && write_attr(ctx, "thread-self/attr/exec", NULL, label, strlen(label)) < 0)
    rc = tsrun_fail(ctx, errno, "selinux: set the process label ", label, NULL);
  /* the last step to write an attribute: the runtime's procfs goes now */
  if (ctx->host_proc_fd >= 0) close(ctx->host_proc_fd);
  ctx->host_proc_fd = -1;
  return rc;
}
