/* seccomp.c — the init's seccomp step: load the BPF program the parent
 * compiled (native/seccomp/) with one seccomp(2) call. No allocation, no
 * libseccomp: the program is already in the plan buffer. */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init.h"

#ifndef SECCOMP_FILTER_FLAG_NEW_LISTENER
#define SECCOMP_FILTER_FLAG_NEW_LISTENER (1UL << 3)
#endif

_Static_assert(sizeof(struct sock_filter) == TSRUN_SOCK_FILTER_SIZE, "sock_filter layout");

static int load(struct tsrun_init *ctx) {
  const struct tsrun_plan_header *h = ctx->plan->h;
  struct sock_fprog prog = {
      .len = (unsigned short)h->seccomp_bpf.count,
      .filter = (struct sock_filter *)tsrun_plan_vec(ctx->plan, h->seccomp_bpf),
  };
  long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, h->seccomp_flags, &prog);
  if (rc < 0) {
    if (errno == EACCES)
      return tsrun_fail(ctx, errno, "load seccomp filter (without noNewPrivileges this needs CAP_SYS_ADMIN)", NULL);
    return tsrun_fail(ctx, errno, "load seccomp filter", NULL);
  }
  if (!(h->seccomp_flags & SECCOMP_FILTER_FLAG_NEW_LISTENER)) return 0;
  /* rc is the notify fd: the parent hands it to linux.seccomp.listenerPath.
   * Our copy must go, or the container would hold its own listener open and
   * notified syscalls could never fail with ENOSYS once the listener quits. */
  int fd = (int)rc;
  if (tsrun_sync_send(ctx->sync_fd, TSRUN_SYNC_SECCOMP, ctx->step, 0, NULL, fd) < 0) {
    int e = errno;
    close(fd);
    return tsrun_fail(ctx, e, "send the seccomp notify fd to the runtime", NULL);
  }
  close(fd);
  return 0;
}

int tsrun_step_seccomp_early(struct tsrun_init *ctx) {
  const struct tsrun_plan_header *h = ctx->plan->h;
  if (h->seccomp_bpf.count == 0 || (h->flags & TSRUN_PLAN_NO_NEW_PRIVS)) return 0;
  return load(ctx);
}

int tsrun_step_seccomp(struct tsrun_init *ctx) {
  const struct tsrun_plan_header *h = ctx->plan->h;
  if (h->seccomp_bpf.count == 0 || !(h->flags & TSRUN_PLAN_NO_NEW_PRIVS)) return 0;
  return load(ctx);
}
