/* mount_attr.c — recursive mount attributes (rro, rnosuid, rnoatime, ...):
 * mount_setattr(2) with AT_RECURSIVE on the mount just made, so every
 * submount of an rbind gets them too (a remount reaches only the top). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init.h"

#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

struct tsrun_kernel_mount_attr {
  uint64_t attr_set;
  uint64_t attr_clr;
  uint64_t propagation;
  uint64_t userns_fd;
};

int tsrun_mount_attrs(struct tsrun_init *ctx, uint32_t index, const char *dest) {
  const struct tsrun_plan *p = ctx->plan;
  const struct tsrun_mount_attr *a = tsrun_plan_vec(p, p->h->mount_attrs);
  for (uint32_t i = 0; i < p->h->mount_attrs.count; i++) {
    if (a[i].mount != index) continue;
    /* The fd taken before mounting names the covered directory: resolve
     * the destination again to reach the new mount. */
    int fd = tsrun_open_in_root(ctx->root_fd, dest, O_PATH);
    if (fd < 0) return tsrun_fail(ctx, errno, "reopen mount target ", dest, NULL);
    struct tsrun_kernel_mount_attr attr = {.attr_set = a[i].attr_set, .attr_clr = a[i].attr_clr};
    long rc = syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr);
    int saved = errno;
    close(fd);
    if (rc < 0) return tsrun_fail(ctx, saved, "set recursive mount attributes on ", dest, NULL);
  }
  return 0;
}
