/* attrs.c — process attributes the container program inherits across
 * execve: personality, scheduler, I/O priority, memory policy. Applied
 * while the init is still fully privileged: real-time policies, negative
 * nice values and the real-time I/O class need CAP_SYS_NICE or
 * CAP_SYS_ADMIN, which the container user may not keep. */
#include <errno.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init.h"

/* The mask an affinity reset writes: every CPU the kernel may have (runc's
 * MaxCPU), 1 KiB of stack; the kernel clamps it to what it has. */
#define TSRUN_AFFINITY_RESET_WORDS (8192 / 64)

#ifndef SYS_sched_setattr
#define SYS_sched_setattr 314
#endif
#ifndef SYS_ioprio_set
#define SYS_ioprio_set 251
#endif
#ifndef SYS_set_mempolicy
#define SYS_set_mempolicy 238
#endif
#define TSRUN_IOPRIO_WHO_PROCESS 1

int tsrun_step_attrs(struct tsrun_init *ctx) {
  const struct tsrun_plan_header *h = ctx->plan->h;
  if (h->proc_flags & TSRUN_PROC_PERSONALITY) {
    /* personality(2) returns the previous persona; -1 is the only error. */
    if (syscall(SYS_personality, (unsigned long)h->personality) == -1)
      return tsrun_fail(ctx, errno, "set personality", NULL);
  }
  if (h->proc_flags & TSRUN_PROC_SCHED) {
    struct tsrun_sched attr = h->sched; /* the kernel may not write to the plan */
    if (syscall(SYS_sched_setattr, 0, &attr, 0) < 0) return tsrun_fail(ctx, errno, "sched_setattr", NULL);
  }
  if (h->proc_flags & TSRUN_PROC_IOPRIO) {
    if (syscall(SYS_ioprio_set, TSRUN_IOPRIO_WHO_PROCESS, 0, (int)h->ioprio) < 0)
      return tsrun_fail(ctx, errno, "ioprio_set", NULL);
  }
  if (h->proc_flags & TSRUN_PROC_MEMPOLICY) {
    const uint64_t *mask = tsrun_plan_vec(ctx->plan, h->mempolicy_nodes);
    unsigned long maxnode = h->mempolicy_nodes.count ? (unsigned long)h->mempolicy_nodes.count * 64 + 1 : 0;
    if (syscall(SYS_set_mempolicy, (int)h->mempolicy_mode, h->mempolicy_nodes.count ? mask : NULL, maxnode) < 0)
      return tsrun_fail(ctx, errno, "set_mempolicy", NULL);
  }
  return 0;
}

/* sched_setaffinity(2) of a plan CPU mask; none: leave it alone. */
static int set_affinity(struct tsrun_init *ctx, struct tsrun_vec mask, const char *which) {
  if (mask.count == 0) return 0;
  const uint64_t *words = tsrun_plan_vec(ctx->plan, mask);
  if (syscall(SYS_sched_setaffinity, 0, (size_t)mask.count * sizeof(uint64_t), words) < 0)
    return tsrun_fail(ctx, errno, "set the ", which, " CPU affinity (process.execCPUAffinity)", NULL);
  return 0;
}

int tsrun_step_affinity_initial(struct tsrun_init *ctx) {
  return set_affinity(ctx, ctx->plan->h->cpu_affinity_initial, "initial");
}

/* After GO, in the container's cgroup: execCPUAffinity's `final`; with
 * none at all (the init's case), every CPU, so the program does not inherit
 * the runtime's affinity (a runtime pinned by its caller, a CPU manager's
 * exclusive CPUs): the kernel keeps the cgroup's cpuset out of it, as runc
 * (>= 1.3.1) and crun reset it. `initial` alone stays. Best effort, as
 * runc's: a kernel that refuses leaves the inherited mask. */
int tsrun_step_affinity_final(struct tsrun_init *ctx) {
  const struct tsrun_plan_header *h = ctx->plan->h;
  if (h->cpu_affinity_final.count) return set_affinity(ctx, h->cpu_affinity_final, "final");
  if (h->cpu_affinity_initial.count) return 0;
  uint64_t all[TSRUN_AFFINITY_RESET_WORDS];
  memset(all, 0xff, sizeof all);
  (void)syscall(SYS_sched_setaffinity, 0, sizeof all, all);
  return 0;
}
