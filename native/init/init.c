/* init.c — the container init's main: an ordered step table walked in the
 * cloned child. The order is the security argument; each entry says why it
 * stands where it does. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "init.h"
#include "tsrun_go_words.h"

const char *const tsrun_step_names[TSRUN_STEP_COUNT] = {
#define X(id, name) name,
    TSRUN_STEPS(X)
#undef X
};

#ifndef KEYCTL_SETPERM
#define KEYCTL_SETPERM 5
#endif
#ifndef KEYCTL_DESCRIBE
#define KEYCTL_DESCRIBE 6
#endif
#ifndef KEYCTL_JOIN_SESSION_KEYRING
#define KEYCTL_JOIN_SESSION_KEYRING 1
#endif

static int step_signals(struct tsrun_init *ctx) {
  /* The parent blocked every signal around clone so no Node handler can run
   * here; put every disposition back to default, then unblock. */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    sigaction(sig, &sa, NULL); /* fails harmlessly for glibc-reserved ones */
  }
  sigset_t none;
  sigemptyset(&none);
  if (sigprocmask(SIG_SETMASK, &none, NULL) < 0) return tsrun_fail(ctx, errno, "reset signal mask", NULL);
  return 0;
}

static int wait_go(struct tsrun_init *ctx) {
  struct tsrun_sync_msg msg;
  ssize_t n = tsrun_sync_recv(ctx->sync_fd, &msg, NULL);
  if (n == 0) _exit(1); /* the runtime went away: nobody to report to */
  if (n < 0) return tsrun_fail(ctx, errno, "read from sync socket", NULL);
  if (msg.type != TSRUN_SYNC_GO) return tsrun_fail(ctx, EPROTO, "unexpected sync message", NULL);
  if (msg.pid > 0) ctx->host_pid = msg.pid;
  return 0;
}

static int step_sync(struct tsrun_init *ctx) {
  /* Wait until the parent has done the host side (id maps, cgroups,
   * oom_score_adj): nothing below may run before the init is accounted.
   * GO carries our pid as the host sees it, for the hooks' state. */
  return wait_go(ctx);
}

static int step_hooks(struct tsrun_init *ctx) {
  /* The create hooks run now: after the mounts, before pivot_root
   * (runtime-spec). prestart and createRuntime are the runtime's, in its
   * namespaces: we stop until it has run them. createContainer we run
   * ourselves, in our namespaces, from the rootfs, still privileged (runc's
   * init does the same): nothing of the runtime's reaches into the
   * container. */
  if (ctx->plan->h->flags & TSRUN_PLAN_HOOK_SYNC) {
    if (tsrun_sync_send(ctx->sync_fd, TSRUN_SYNC_HOOKS, TSRUN_STEP_HOOKS, 0, NULL, -1) < 0)
      return tsrun_fail(ctx, errno, "write to sync socket", NULL);
    if (wait_go(ctx) < 0) return -1;
  }
  return tsrun_run_init_hooks(ctx, TSRUN_HOOK_CREATE_CONTAINER, "creating", ctx->root_fd);
}

static int step_start_hooks(struct tsrun_init *ctx) {
  /* startContainer: `start` has taken our byte; the image picks these
   * binaries (their paths resolve in the container), so they run as the
   * program will: its user, capabilities, no_new_privs, seccomp filter,
   * cgroup. A failure reaches `start` through the fifo (the main loop). */
  return tsrun_run_init_hooks(ctx, TSRUN_HOOK_START_CONTAINER, "created", -1);
}

static int step_session(struct tsrun_init *ctx) {
  /* A new session, as runc does: the container never shares the caller's
   * controlling terminal; with process.terminal the pty becomes it. */
  if (setsid() < 0) return tsrun_fail(ctx, errno, "setsid", NULL);
  return 0;
}

/* The keyring's permissions | add: its description ("type;uid;gid;perm;
 * name") has the current ones, in hex. */
static int keyring_add_perms(struct tsrun_init *ctx, long id, uint32_t add, const char *name) {
  char desc[256];
  long n = syscall(SYS_keyctl, KEYCTL_DESCRIBE, id, desc, sizeof desc - 1);
  if (n < 0) return tsrun_fail(ctx, errno, "describe session keyring ", name, NULL);
  desc[n < (long)sizeof desc ? n : (long)sizeof desc - 1] = 0;
  const char *p = desc;
  for (int field = 0; field < 3 && p; field++) {
    p = strchr(p, ';');
    if (p) p++;
  }
  uint32_t perm = 0;
  int digits = 0;
  for (; p && *p && *p != ';'; p++, digits++) {
    int v = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 : -1;
    if (v < 0 || digits == 8)
      return tsrun_fail(ctx, EINVAL, "session keyring ", name, ": unexpected description ", desc, NULL);
    perm = perm << 4 | (uint32_t)v;
  }
  if (!digits) return tsrun_fail(ctx, EINVAL, "session keyring ", name, ": unexpected description ", desc, NULL);
  if (syscall(SYS_keyctl, KEYCTL_SETPERM, id, perm | add) < 0)
    return tsrun_fail(ctx, errno, "set the permissions of session keyring ", name, NULL);
  return 0;
}

static int step_keyring(struct tsrun_init *ctx) {
  const struct tsrun_plan_header *h = ctx->plan->h;
  if (!(h->flags & TSRUN_PLAN_NEW_KEYRING)) return 0;
  const char *name = tsrun_plan_str(ctx->plan, h->keyring);
  /* the new keyring gets the process's SELinux label (lsm.c) */
  const char *label = tsrun_plan_str(ctx->plan, h->selinux_label);
  if (label && tsrun_selinux_keycreate(ctx, label) < 0) return -1;
  int rc = 0;
  long id = syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name);
  if (id < 0 && errno != ENOSYS)
    rc = tsrun_fail(ctx, errno, "join session keyring ", name, NULL);
  else if (id >= 0 && h->keyring_perms)
    rc = keyring_add_perms(ctx, id, h->keyring_perms, name);
  if (label) tsrun_selinux_keycreate(ctx, NULL); /* what the process creates later: its own default, as runc */
  return rc;
}

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

/* --pidfd-socket: a pidfd of ourselves (the pid the program will have)
 * for whoever listens on the socket; kill(2) by pidfd cannot hit a reused
 * pid. The message says which kind of process, as runc's does. */
static int step_pidfd(struct tsrun_init *ctx) {
  int sock = ctx->plan->h->pidfd_socket_fd;
  if (sock < 0) return 0;
  int pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
  if (pidfd < 0) {
    int saved = errno;
    close(sock);
    return tsrun_fail(ctx, saved, "pidfd_open for --pidfd-socket", NULL);
  }
  const char *kind = ctx->tenant ? "setns" : "standard";
  int rc = tsrun_send_with_fd(sock, kind, strlen(kind), pidfd);
  int saved = errno;
  close(pidfd);
  close(sock);
  return rc < 0 ? tsrun_fail(ctx, saved, "send the pidfd to --pidfd-socket", NULL) : 0;
}

/* A network namespace of our own starts with lo down: bring it up, as
 * runc does, so 127.0.0.1 answers in a container without other networking
 * (--network none, a daemon without a bridge, build steps). */
static int step_loopback(struct tsrun_init *ctx) {
  const struct tsrun_plan_header *h = ctx->plan->h;
  if (!((h->clone_flags | h->unshare_flags) & CLONE_NEWNET)) return 0;
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return tsrun_fail(ctx, errno, "socket for lo", NULL);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, "lo", 3);
  int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
  if (rc == 0 && !(ifr.ifr_flags & IFF_UP)) {
    ifr.ifr_flags |= IFF_UP;
    rc = ioctl(s, SIOCSIFFLAGS, &ifr);
  }
  int saved = errno;
  close(s);
  if (rc < 0) return tsrun_fail(ctx, saved, "bring lo up", NULL);
  return 0;
}

static int step_hostname(struct tsrun_init *ctx) {
  const char *host = tsrun_plan_str(ctx->plan, ctx->plan->h->hostname);
  const char *domain = tsrun_plan_str(ctx->plan, ctx->plan->h->domainname);
  if (host && sethostname(host, strlen(host)) < 0) return tsrun_fail(ctx, errno, "sethostname ", host, NULL);
  if (domain && setdomainname(domain, strlen(domain)) < 0)
    return tsrun_fail(ctx, errno, "setdomainname ", domain, NULL);
  return 0;
}

static int fail_chdir(struct tsrun_init *ctx, const char *cwd) {
  /* runc's wording, which users and tests match on */
  return tsrun_fail(ctx, errno, "chdir to cwd (\"", cwd, "\") set in config.json failed", NULL);
}

/* chdir(cwd), the path resolved inside the container's root with magic
 * links refused. The mkcwd step checked the path before pivot_root, but a
 * racing container that shares a volume on it can since have made it a
 * symlink to /proc/self/fd/N, and N is one of our fds until execve (the
 * state dir of the host, say): a plain chdir would follow it and leave the
 * program in a host directory (CVE-2024-21626 by a race). */
static int enter_cwd(struct tsrun_init *ctx, const char *cwd) {
  int fd = tsrun_open_in_root(ctx->root_fd, cwd, O_PATH | O_DIRECTORY);
  if (fd < 0) return -1;
  int rc = fchdir(fd);
  int saved = errno;
  close(fd);
  errno = saved;
  return rc;
}

static int step_cwd_early(struct tsrun_init *ctx) {
  /* Enter the cwd while still root: a directory the runtime may enter but
   * the container user may not still works. A permission error is retried
   * as the container user (step "cwd" below): a volume chowned to that user
   * may be closed to root in a user namespace. Either way the host cwd
   * inherited from the runtime never survives (CVE-2024-21626): the init
   * left it at pivot_root, a tenant when it joined the mount namespace. */
  const char *cwd = tsrun_plan_str(ctx->plan, ctx->plan->h->cwd);
  if (enter_cwd(ctx, cwd) == 0) {
    ctx->cwd_done = 1;
    return 0;
  }
  if (errno == EACCES || errno == EPERM) return 0;
  return fail_chdir(ctx, cwd);
}

static int step_chdir(struct tsrun_init *ctx) {
  if (ctx->cwd_done) return 0;
  const char *cwd = tsrun_plan_str(ctx->plan, ctx->plan->h->cwd);
  if (enter_cwd(ctx, cwd) < 0) return fail_chdir(ctx, cwd);
  return 0;
}

static int step_umask(struct tsrun_init *ctx) {
  if (ctx->plan->h->flags & TSRUN_PLAN_SET_UMASK) umask(ctx->plan->h->umask);
  return 0;
}

static int step_no_new_privs(struct tsrun_init *ctx) {
  if (!(ctx->plan->h->flags & TSRUN_PLAN_NO_NEW_PRIVS)) return 0;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return tsrun_fail(ctx, errno, "set no_new_privs", NULL);
  return 0;
}

static uint64_t monotonic_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t); /* the vDSO: no syscall, no lock */
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* READY's message: "<t0 ns> <step>:<end µs> …" for the steps that ran. */
static void step_times(const struct tsrun_init *ctx, char *out, size_t size) {
  char num[24];
  out[0] = 0;
  tsrun_utoa((unsigned long)ctx->t0_ns, num, sizeof num);
  tsrun_strlcat(out, num, size);
  for (int i = 0; i < TSRUN_STEP_COUNT; i++) {
    if (!ctx->step_end_us[i]) continue;
    if (strlen(out) + 2 * sizeof num > size) break;
    tsrun_strlcat(out, " ", size);
    tsrun_utoa((unsigned long)i, num, sizeof num);
    tsrun_strlcat(out, num, size);
    tsrun_strlcat(out, ":", size);
    tsrun_utoa((unsigned long)ctx->step_end_us[i], num, sizeof num);
    tsrun_strlcat(out, num, size);
  }
}

static int step_ready(struct tsrun_init *ctx) {
  /* Past this point the runtime may exit and we outlive it: stop tying our
   * life to it. */
  prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
  char times[TSRUN_SYNC_MSG_MAX];
  step_times(ctx, times, sizeof times);
  if (tsrun_sync_send(ctx->sync_fd, TSRUN_SYNC_READY, TSRUN_STEP_READY, 0, times, -1) < 0)
    return tsrun_fail(ctx, errno, "write to sync socket", NULL);
  /* A tenant keeps its end until execve closes it (close-on-exec): EOF tells
   * the runtime the program runs, an ERROR that execve failed. The init
   * closes it now and reports through the exec fifo from here on. */
  if (ctx->tenant) return 0;
  close(ctx->sync_fd);
  ctx->sync_fd = -1;
  return 0;
}

static int step_exec(struct tsrun_init *ctx) {
  execve(ctx->exec_path, ctx->plan->argv, ctx->plan->envp);
  /* runc's words ("exec <path>: <why>"), the errno by name: the parents
   * print an exec step's message as it is */
  int err = errno;
  const char *name = strerrorname_np(err);
  return tsrun_fail(ctx, err, "exec ", ctx->exec_path, ": ", name ? name : "unknown error", NULL);
}

/* Which kind of process runs a step: the container's init (create), a
 * tenant joining a running container (exec), or both. */
enum { INIT = 1, TENANT = 2, BOTH = INIT | TENANT };

struct tsrun_step_entry {
  enum tsrun_step id;
  int (*run)(struct tsrun_init *ctx);
  int who;
};

/*
 * The order, and why:
 *  - signals, namespaces, sync: nothing container-specific happens before
 *    the parent has accounted the process (id maps, cgroups); the namespace
 *    step reports the final pid (after its fork into pid/time namespaces)
 *    before the parent's host steps, which must act on that process.
 *  - cpu affinity: `initial` before the parent moves us into the cgroup,
 *    `final` once we are in it (config.md, execCPUAffinity).
 *  - cgroupns right after: the init is now in the container's cgroup, which
 *    becomes the namespace's root (the planner keeps CLONE_NEWCGROUP out of
 *    the clone flags for that; v1 has no CLONE_INTO_CGROUP). A tenant joins
 *    the container's cgroup namespace with the other namespaces.
 *  - rootfs .. pivot_root (init only): every mount is made while we are
 *    still fully privileged and can still see host paths (bind sources, the
 *    state dir); the create hooks run just before pivot_root, as the spec
 *    places them. A tenant is in the container's mount namespace already.
 *  - hostname after the rootfs: independent, but a failure there should not
 *    leave a half-mounted tree visible for longer than needed.
 *  - rlimits before the user switch: raising a hard limit needs
 *    CAP_SYS_RESOURCE, which the container user may not keep.
 *  - terminal before the user switch: the pty must be opened and made the
 *    controlling terminal while we may still open /dev/ptmx.
 *  - cwd as root first (see step_cwd_early), as the user later if refused.
 *  - bounding set before the user switch (dropping needs CAP_SETPCAP);
 *    user (setgroups/setresgid/setresuid with KEEPCAPS) before capset, so
 *    the final sets are what the container keeps.
 *  - cwd, umask, no_new_privs, then the executable lookup as the final user,
 *    so a missing or non-executable program fails `create` (or `exec`), not
 *    `start`.
 *  - ready, then the exec fifo (init only): `create` returns while we block
 *    there; then the startContainer hooks, confined as the program. A
 *    tenant goes straight on to execve.
 *  - fds last: everything the runtime left open is close-on-exec.
 */
static const struct tsrun_step_entry tsrun_steps[] = {
    {TSRUN_STEP_SIGNALS, step_signals, BOTH},
    /* Joins before creating (user first), the user namespace before the
     * rest so it owns them, and the fork into pid/time namespaces. */
    {TSRUN_STEP_NAMESPACES, tsrun_step_namespaces, BOTH},
    {TSRUN_STEP_AFFINITY_INITIAL, tsrun_step_affinity_initial, TENANT},
    {TSRUN_STEP_SYNC, step_sync, BOTH},
    {TSRUN_STEP_AFFINITY_FINAL, tsrun_step_affinity_final, BOTH},
    /* The cgroup namespace is rooted where we are when we make it: only
     * after GO, i.e. after the runtime placed us in our cgroup. */
    {TSRUN_STEP_CGROUPNS, tsrun_step_cgroupns, INIT},
    {TSRUN_STEP_SESSION, step_session, BOTH},
    {TSRUN_STEP_KEYRING, step_keyring, BOTH},
    /* while we still hold CAP_NET_ADMIN in the new network namespace */
    {TSRUN_STEP_LOOPBACK, step_loopback, INIT},
    /* sysctl before the rootfs: it writes through the host's /proc/sys,
     * which no container mount can have covered yet (sysctl.c). */
    {TSRUN_STEP_SYSCTL, tsrun_step_sysctl, INIT},
    {TSRUN_STEP_ROOTFS, tsrun_step_rootfs, INIT},
    {TSRUN_STEP_MOUNT, tsrun_step_mounts, INIT},
    {TSRUN_STEP_DEVICES, tsrun_step_devices, INIT},
    {TSRUN_STEP_PATHS, tsrun_step_paths, INIT},
    {TSRUN_STEP_CWD, tsrun_step_mkcwd, INIT},
    {TSRUN_STEP_HOOKS, step_hooks, INIT},
    {TSRUN_STEP_PIVOT, tsrun_step_pivot, INIT},
    {TSRUN_STEP_HOSTNAME, step_hostname, INIT},
    /* The AppArmor profile takes effect at our execve; set after the
     * rootfs, its hooks and pivot_root (the runtime's own work), before
     * the startContainer hooks, which run confined as the program. */
    {TSRUN_STEP_APPARMOR, tsrun_step_apparmor, BOTH},
    /* the SELinux label, likewise for our execve; closes the procfs the
     * LSM attributes are written through */
    {TSRUN_STEP_SELINUX, tsrun_step_selinux, BOTH},
    {TSRUN_STEP_RLIMITS, tsrun_step_rlimits, BOTH},
    /* personality, scheduler, ioprio, mempolicy before the user switch:
     * real-time classes and negative nice need privileges the container
     * user may lack (attrs.c). */
    {TSRUN_STEP_ATTRS, tsrun_step_attrs, BOTH},
    {TSRUN_STEP_TERMINAL, tsrun_step_terminal, BOTH},
    /* right after the console, as runc: the process is in every namespace
     * and cgroup of the container, not yet the program */
    {TSRUN_STEP_PIDFD, step_pidfd, BOTH},
    {TSRUN_STEP_CWD_EARLY, step_cwd_early, BOTH},
    /* Without noNewPrivileges, seccomp(2) needs CAP_SYS_ADMIN, which the
     * caps steps below may drop: load it while we still hold it (what runc
     * does). The user/caps/cwd/lookup/fifo steps then run under the filter,
     * so the profile must allow their syscalls (any usable profile does). */
    {TSRUN_STEP_SECCOMP_EARLY, tsrun_step_seccomp_early, BOTH},
    {TSRUN_STEP_BOUNDING, tsrun_step_bounding, BOTH},
    {TSRUN_STEP_USER, tsrun_step_user, BOTH},
    {TSRUN_STEP_CAPS, tsrun_step_caps, BOTH},
    {TSRUN_STEP_CHDIR, step_chdir, BOTH},
    {TSRUN_STEP_UMASK, step_umask, BOTH},
    {TSRUN_STEP_NO_NEW_PRIVS, step_no_new_privs, BOTH},
    {TSRUN_STEP_LOOKUP, tsrun_step_lookup, BOTH},
    /* Rootless: dumpable from here to execve, for the runtime to join us
     * (exec.c); after the user and caps steps, which reset dumpability,
     * and before a late filter, which may not allow prctl. */
    {TSRUN_STEP_FIFO_OPEN, tsrun_step_fifo_open, INIT},
    /* With noNewPrivileges, load it as late as possible so the fewest
     * runtime syscalls run under the profile: after no_new_privs and the
     * lookup, but while the sync socket is still open, because a
     * SCMP_ACT_NOTIFY filter's listener fd travels over it. What still runs
     * after it: sendmsg/close (READY), open/write (exec fifo), close_range,
     * execve. */
    {TSRUN_STEP_SECCOMP, tsrun_step_seccomp, BOTH},
    {TSRUN_STEP_READY, step_ready, BOTH},
    {TSRUN_STEP_FIFO, tsrun_step_fifo, INIT},
    {TSRUN_STEP_START_HOOKS, step_start_hooks, INIT},
    {TSRUN_STEP_FDS, tsrun_step_fds, BOTH},
    {TSRUN_STEP_EXEC, step_exec, BOTH},
};

_Static_assert(sizeof tsrun_steps / sizeof tsrun_steps[0] == TSRUN_STEP_COUNT, "every step is in the table");

/* Closes every fd from `first` up except the ones in keep[] (sorted here). */
static void close_fds_except(unsigned first, int *keep, int n) {
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
      int t = keep[j];
      keep[j] = keep[j - 1];
      keep[j - 1] = t;
    }
  unsigned lo = first;
  for (int i = 0; i <= n; i++) {
    unsigned hi = i < n ? (unsigned)keep[i] : ~0U;
    if (i < n && (keep[i] < 0 || (unsigned)keep[i] < lo)) continue;
    if (hi > lo && syscall(SYS_close_range, lo, hi == ~0U ? ~0U : hi - 1, 0) < 0) {
      unsigned end = hi == ~0U ? 65536 : hi;
      for (unsigned fd = lo; fd < end; fd++) close((int)fd);
    }
    if (i < n) lo = (unsigned)keep[i] + 1;
  }
}

void tsrun_init_main(const struct tsrun_plan *plan, int sync_fd) {
  struct tsrun_init ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.plan = plan;
  ctx.sync_fd = sync_fd;
  ctx.root_fd = -1;
  ctx.state_dir_fd = -1;
  ctx.fifo_fd = -1;
  ctx.pty_slave_fd = -1;
  ctx.fifo_out_fd = -1;
  ctx.tenant = (plan->h->flags & TSRUN_PLAN_TENANT) != 0;
  ctx.no_setgroups = (plan->h->flags & TSRUN_PLAN_NO_SETGROUPS) != 0;
  ctx.t0_ns = monotonic_ns();
  const int kind = ctx.tenant ? TENANT : INIT;

  /* Before anything else: nothing that later runs in the container may
   * ptrace us (the exe it could open is a sealed copy, native/host/spawn.c,
   * but our memory holds the plan). execve resets dumpability for the
   * container program itself. */
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  /* If the runtime dies during setup, so do we. */
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  /* Drop any fd of the runtime's that was not close-on-exec: besides
   * leaking host resources, a copy of its lock fd would hold the
   * container's lock for as long as the init lives. Kept: stdio, preserved
   * fds, sync and console, the namespace fds to join and the idmapped trees
   * to attach (the namespace and mount steps close them). */
  int keep[3 + 64] = {sync_fd, plan->h->console_socket_fd, plan->h->pidfd_socket_fd};
  int nkeep = 3;
  const struct tsrun_ns_join *joins = tsrun_plan_vec(plan, plan->h->ns_joins);
  for (uint32_t i = 0; i < plan->h->ns_joins.count && nkeep < (int)(sizeof keep / sizeof keep[0]); i++)
    keep[nkeep++] = joins[i].fd;
  const struct tsrun_idmap_mount *idm = tsrun_plan_vec(plan, plan->h->idmap_mounts);
  for (uint32_t i = 0; i < plan->h->idmap_mounts.count && nkeep < (int)(sizeof keep / sizeof keep[0]); i++)
    keep[nkeep++] = idm[i].fd;
  close_fds_except(3 + plan->h->preserve_fds, keep, nkeep);
  /* The procfs LSM attributes are written through: the runtime's, now,
   * before a namespace is joined or a container mount made (lsm.c). A
   * failure is the step's that writes one to report. */
  ctx.host_proc_fd = plan->h->apparmor_profile.off || plan->h->selinux_label.off ? tsrun_procfs() : -1;

  for (size_t i = 0; i < sizeof tsrun_steps / sizeof tsrun_steps[0]; i++) {
    if (!(tsrun_steps[i].who & kind)) continue;
    ctx.step = tsrun_steps[i].id;
    if (tsrun_steps[i].run(&ctx) == 0) {
      uint64_t us = (monotonic_ns() - ctx.t0_ns) / 1000;
      ctx.step_end_us[ctx.step] = us ? (uint32_t)us : 1;
      continue;
    }
    if (ctx.sync_fd >= 0) {
      tsrun_sync_send(ctx.sync_fd, TSRUN_SYNC_ERROR, ctx.step, ctx.err, ctx.message, -1);
    } else {
      /* After `create` returned: `start` reads the fifo to its EOF, and
       * what it finds after our byte is the error; stderr hears it too. */
      if (ctx.fifo_out_fd >= 0) {
        ssize_t ignored = write(ctx.fifo_out_fd, ctx.message, strlen(ctx.message));
        (void)ignored;
      }
      char line[TSRUN_SYNC_MSG_MAX + 64] = "tsrun: ";
      tsrun_strlcat(line, ctx.message, sizeof line);
      if (ctx.err) {
        /* runc's words: Go's text of the errno ("operation not permitted") */
        char words[128];
        tsrun_go_errno_words(ctx.err, words, sizeof words);
        tsrun_strlcat(line, ": ", sizeof line);
        tsrun_strlcat(line, words, sizeof line);
      }
      tsrun_strlcat(line, "\n", sizeof line);
      ssize_t ignored = write(2, line, strlen(line));
      (void)ignored;
    }
    _exit(ctx.step == TSRUN_STEP_EXEC ? 127 : 1);
  }
  _exit(1); /* unreachable: exec replaces us */
}
