/* process.c — the process attributes that end the init's privileged life:
 * rlimits, the capability bounding set, user and groups, capabilities. */
#include <errno.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init.h"

static const char *const rlimit_names[] = {
    "RLIMIT_CPU",      "RLIMIT_FSIZE",  "RLIMIT_DATA",    "RLIMIT_STACK",  "RLIMIT_CORE",  "RLIMIT_RSS",
    "RLIMIT_NPROC",    "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS",     "RLIMIT_LOCKS", "RLIMIT_SIGPENDING",
    "RLIMIT_MSGQUEUE", "RLIMIT_NICE",   "RLIMIT_RTPRIO",  "RLIMIT_RTTIME",
};

int tsrun_step_rlimits(struct tsrun_init *ctx) {
  const struct tsrun_plan *p = ctx->plan;
  const struct tsrun_rlimit *r = tsrun_plan_vec(p, p->h->rlimits);
  for (uint32_t i = 0; i < p->h->rlimits.count; i++) {
    struct rlimit lim = {.rlim_cur = r[i].soft, .rlim_max = r[i].hard};
    if (syscall(SYS_prlimit64, 0, r[i].resource, &lim, NULL) < 0) {
      const char *name =
          r[i].resource < sizeof rlimit_names / sizeof rlimit_names[0] ? rlimit_names[r[i].resource] : "rlimit";
      return tsrun_fail(ctx, errno, "setrlimit ", name, NULL);
    }
  }
  return 0;
}

static int has_cap(uint64_t set, int cap) {
  return (set >> cap) & 1;
}

int tsrun_step_bounding(struct tsrun_init *ctx) {
  /* Dropping from the bounding set needs CAP_SETPCAP: do it while root. */
  const struct tsrun_plan_header *h = ctx->plan->h;
  if (!(h->flags & TSRUN_PLAN_SET_CAPS)) return 0;
  for (int cap = 0; cap < 64; cap++) {
    if (has_cap(h->caps[TSRUN_CAPSET_BOUNDING], cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
      if (errno == EINVAL) break; /* past the kernel's last capability */
      return tsrun_fail(ctx, errno, "drop capability from the bounding set", NULL);
    }
  }
  return 0;
}

/* Stdio that is a pipe or a socket (an engine's, usually) is handed to the
 * process's user, as runc does, so the program can reopen it through
 * /dev/stdout or /proc/self/fd. Terminals and files are left alone: they
 * are the caller's (a host tty, a host log file), not the container's;
 * our own pty was chowned when it was made. Failures are ignored, as runc
 * does: inside a user namespace the kernel may refuse. */
static void chown_stdio(uint32_t uid, uint32_t gid) {
  for (int fd = 0; fd < 3; fd++) {
    struct stat st;
    if (fstat(fd, &st) < 0 || !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) continue;
    if (st.st_uid == uid) continue;
    if (fchown(fd, uid, gid) < 0) { /* not ours to change */
    }
  }
}

int tsrun_step_user(struct tsrun_init *ctx) {
  const struct tsrun_plan_header *h = ctx->plan->h;
  chown_stdio(h->uid, h->gid);
  /* Keep the permitted set across the uid change; capset then trims it. */
  if ((h->flags & TSRUN_PLAN_SET_CAPS) && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
    return tsrun_fail(ctx, errno, "set keepcaps", NULL);
  /* Raw syscalls: glibc's wrappers would try to signal Node's other
   * threads, which do not exist in this process. The host's supplementary
   * groups are always replaced, by additionalGids or by none. */
  const uint32_t *gids = tsrun_plan_vec(ctx->plan, h->additional_gids);
  /* ...unless setgroups is denied in our user namespace (an unprivileged
   * runtime mapped only its own gid): the kernel refuses it, and the
   * groups we keep are those the runtime's user has anyway. */
  if (ctx->no_setgroups && h->additional_gids.count)
    return tsrun_fail(ctx, EPERM, "cannot set additionalGids: the user namespace denies setgroups", NULL);
  if (!ctx->no_setgroups && syscall(SYS_setgroups, (long)h->additional_gids.count, gids) < 0)
    return tsrun_fail(ctx, errno, "setgroups", NULL);
  if (syscall(SYS_setresgid, h->gid, h->gid, h->gid) < 0) return tsrun_fail(ctx, errno, "setgid", NULL);
  if (syscall(SYS_setresuid, h->uid, h->uid, h->uid) < 0) return tsrun_fail(ctx, errno, "setuid", NULL);
  return 0;
}

int tsrun_step_caps(struct tsrun_init *ctx) {
  const struct tsrun_plan_header *h = ctx->plan->h;
  if (!(h->flags & TSRUN_PLAN_SET_CAPS)) return 0;
  struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2];
  for (int i = 0; i < 2; i++) {
    data[i].effective = (uint32_t)(h->caps[TSRUN_CAPSET_EFFECTIVE] >> (32 * i));
    data[i].permitted = (uint32_t)(h->caps[TSRUN_CAPSET_PERMITTED] >> (32 * i));
    data[i].inheritable = (uint32_t)(h->caps[TSRUN_CAPSET_INHERITABLE] >> (32 * i));
  }
  if (syscall(SYS_capset, &hdr, data) < 0) return tsrun_fail(ctx, errno, "capset", NULL);
  prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
  /* Ambient capabilities need the cap in permitted and inheritable; like
   * runc, one that cannot be raised is skipped rather than fatal. */
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  for (int cap = 0; cap < 64; cap++)
    if (has_cap(h->caps[TSRUN_CAPSET_AMBIENT], cap)) prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
  return 0;
}
