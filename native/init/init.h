/*
 * init.h — the container init: plain C that runs in tsrun-init, the small
 * executable the runtime clones and execs for every container process
 * (native/init/main.c, native/host/spawn.c).
 *
 * The steps stay what they were when they ran in a clone of the runtime:
 * async-signal-safe code, raw syscalls, no malloc, no stdio (everything that
 * allocates happens in main.c before the first step), and no glibc wrapper
 * that talks to other threads (setuid and friends: use the raw syscalls).
 */
#ifndef TSRUN_INIT_H
#define TSRUN_INIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tsrun_plan.h"
#include "tsrun_sync.h"

/* The ordered steps of the init and of a tenant (exec); the order of this
 * list is the order they run in (see tsrun_steps[] in init.c for why and
 * for which kind runs which). Names are exported to TS. */
#define TSRUN_STEPS(X)                \
  X(SIGNALS, "signals")               \
  X(NAMESPACES, "namespaces")         \
  X(AFFINITY_INITIAL, "cpu_affinity") \
  X(SYNC, "sync")                     \
  X(AFFINITY_FINAL, "cpu_affinity")   \
  X(CGROUPNS, "cgroupns")             \
  X(SESSION, "session")               \
  X(KEYRING, "keyring")               \
  X(LOOPBACK, "loopback")             \
  X(SYSCTL, "sysctl")                 \
  X(ROOTFS, "rootfs")                 \
  X(MOUNT, "mount")                   \
  X(DEVICES, "devices")               \
  X(PATHS, "masked_paths")            \
  X(CWD, "cwd")                       \
  X(HOOKS, "hooks")                   \
  X(PIVOT, "pivot_root")              \
  X(HOSTNAME, "hostname")             \
  X(APPARMOR, "apparmor")             \
  X(SELINUX, "selinux")               \
  X(RLIMITS, "rlimits")               \
  X(ATTRS, "process_attrs")           \
  X(TERMINAL, "terminal")             \
  X(PIDFD, "pidfd")                   \
  X(CWD_EARLY, "cwd")                 \
  X(SECCOMP_EARLY, "seccomp")         \
  X(BOUNDING, "capabilities")         \
  X(USER, "user")                     \
  X(CAPS, "capabilities")             \
  X(CHDIR, "cwd")                     \
  X(UMASK, "umask")                   \
  X(NO_NEW_PRIVS, "no_new_privs")     \
  X(LOOKUP, "exec")                   \
  X(FIFO_OPEN, "exec_fifo")           \
  X(SECCOMP, "seccomp")               \
  X(READY, "sync")                    \
  X(FIFO, "exec_fifo")                \
  X(START_HOOKS, "start_hooks")       \
  X(FDS, "fds")                       \
  X(EXEC, "exec")

enum tsrun_step {
#define X(id, name) TSRUN_STEP_##id,
  TSRUN_STEPS(X)
#undef X
      TSRUN_STEP_COUNT
};

extern const char *const tsrun_step_names[TSRUN_STEP_COUNT];

struct tsrun_init {
  const struct tsrun_plan *plan;
  int sync_fd;
  int root_fd;      /* O_PATH fd of the container's root (bind mount) */
  int state_dir_fd; /* O_PATH fd of the host state dir (exec.fifo) */
  int fifo_fd;      /* O_PATH fd of exec.fifo once the state dir's is closed, or -1 */
  int cwd_done;     /* chdir to the cwd already succeeded as root */
  int tenant;       /* TSRUN_PLAN_TENANT: joining a running container (exec) */
  int no_setgroups; /* TSRUN_PLAN_NO_SETGROUPS, or a joined user namespace denies it */
  int pty_slave_fd; /* -1 until the terminal step */
  pid_t host_pid;   /* our pid as the runtime sees it (GO after PID): the hooks' state */
  int fifo_out_fd;  /* exec.fifo, open for writing once `start` took our byte: errors go there */
  enum tsrun_step step;
  int err;                          /* errno of the failure */
  char message[TSRUN_SYNC_MSG_MAX]; /* what failed, without the errno */
  char exec_path[4096];             /* the resolved executable */
  /* The host's directory of our cgroup (/sys/fs/cgroup/<path> on a cgroup
   * v2 host), noted just before the cgroup namespace is unshared; "" when
   * there is no namespace to emulate. What a cgroup2 mount the user
   * namespace may not make is bound from (tsrun_userns_mount_fallback). */
  char cgroup2_dir[4096];
  /* O_PATH fd of the runtime's procfs (checked), opened before any
   * namespace is joined or any container mount exists, when the plan has
   * an LSM label to write: the attribute files are opened beneath it, so
   * nothing the container mounts can redirect the write. -1: none. */
  int host_proc_fd;
  /* When each step ended, in µs after t0_ns (CLOCK_MONOTONIC): READY tells
   * the runtime, for --debug's timeline. 0: the step did not run. */
  uint64_t t0_ns;
  uint32_t step_end_us[TSRUN_STEP_COUNT];
};

/* Runs the plan in the child; never returns. */
__attribute__((noreturn)) void tsrun_init_main(const struct tsrun_plan *plan, int sync_fd);

/* Each step returns 0, or -1 with ctx->err and ctx->message set. */
int tsrun_step_rootfs(struct tsrun_init *ctx);
int tsrun_step_mounts(struct tsrun_init *ctx);
int tsrun_step_devices(struct tsrun_init *ctx);
int tsrun_step_paths(struct tsrun_init *ctx);
int tsrun_step_mkcwd(struct tsrun_init *ctx);
int tsrun_step_pivot(struct tsrun_init *ctx);
int tsrun_step_rlimits(struct tsrun_init *ctx);
/* lsm.c */
int tsrun_step_apparmor(struct tsrun_init *ctx);
int tsrun_step_selinux(struct tsrun_init *ctx);
/* Sets (label) or clears (NULL) the SELinux label of keys this process
 * creates, for the session keyring (lsm.c). */
int tsrun_selinux_keycreate(struct tsrun_init *ctx, const char *label);
int tsrun_step_terminal(struct tsrun_init *ctx);
int tsrun_step_bounding(struct tsrun_init *ctx);
int tsrun_step_user(struct tsrun_init *ctx);
int tsrun_step_caps(struct tsrun_init *ctx);
int tsrun_step_lookup(struct tsrun_init *ctx);
int tsrun_step_fifo_open(struct tsrun_init *ctx);
int tsrun_step_fifo(struct tsrun_init *ctx);
/* hooks.c: the plan's hooks of `kind` (TSRUN_HOOK_*), the state with
 * `status` on stdin, cwd_fd entered first (-1: ours). */
int tsrun_run_init_hooks(struct tsrun_init *ctx, uint32_t kind, const char *status, int cwd_fd);
int tsrun_step_fds(struct tsrun_init *ctx);
/* Load the seccomp filter; early (before the caps are dropped) without
 * noNewPrivileges, late (just before READY) with it. */
int tsrun_step_seccomp_early(struct tsrun_init *ctx);
int tsrun_step_seccomp(struct tsrun_init *ctx);
int tsrun_step_sysctl(struct tsrun_init *ctx);
int tsrun_step_attrs(struct tsrun_init *ctx);
/* process.execCPUAffinity: before and after the move into the cgroup. */
int tsrun_step_affinity_initial(struct tsrun_init *ctx);
int tsrun_step_affinity_final(struct tsrun_init *ctx);
/* Applies the recursive attributes planned for mounts[index] (at dest). */
int tsrun_mount_attrs(struct tsrun_init *ctx, uint32_t index, const char *dest);
/* namespaces.c */
int tsrun_step_namespaces(struct tsrun_init *ctx);
int tsrun_step_cgroupns(struct tsrun_init *ctx);
int tsrun_userns_mount_fallback(const struct tsrun_mount *m, const char *fstype, const char *target,
                                const char *cgroup2_dir);
/* The /dev/console bind target (a plain file; an image's symlink or
 * directory there removed): an O_PATH fd, -1 if it cannot be made, -2 with
 * ctx's error set if the image's could not be removed. */
int tsrun_console_target(struct tsrun_init *ctx);
/* tmpcopyup: copies the tree under src (the target before the tmpfs) into dst (the tmpfs). */
int tsrun_copyup(struct tsrun_init *ctx, int src, int dst);
/* The idmapped tree fd for mounts[index], or -1 when it is a plain mount. */
int tsrun_idmap_tree(const struct tsrun_plan *p, uint32_t index);
/* Attaches a detached tree on target (a /proc/self/fd link) and closes it. */
int tsrun_attach_tree(int tree, const char *target);

/* Failure reporting: record errno and a message built from string pieces
 * (a NULL piece ends the list). Always returns -1. */
int tsrun_fail(struct tsrun_init *ctx, int err, ...);

/* Allocation-free string helpers (see util.c). */
size_t tsrun_strlcpy(char *dst, const char *src, size_t size);
size_t tsrun_strlcat(char *dst, const char *src, size_t size);
void tsrun_utoa(unsigned long v, char *buf, size_t size);
/* Joins root and an absolute container path into buf; -1 if too long. */
int tsrun_join(char *buf, size_t size, const char *root, const char *path);
/* Resolves an absolute container path inside the root fd (symlinks cannot
 * leave it), creating missing directories and, with want_file, the last
 * component as an empty file. Returns an O_PATH fd or -1 (errno set). */
int tsrun_mkpath_in_root(int root_fd, const char *path, int want_file);
/* Opens an existing container path inside the root fd, O_PATH. */
int tsrun_open_in_root(int root_fd, const char *path, int flags);
/* procfs.c: an O_PATH fd of "/proc" checked to be a procfs (-1, EXDEV
 * when it is not); a file beneath it, without following a final symlink;
 * our fd reopened through its /proc/self/fd link with flags, checked to be
 * the same file (-1, EXDEV when it is not). */
int tsrun_procfs(void);
int tsrun_proc_open(int proc, const char *rel, int flags);
int tsrun_reopen_fd(int fd, int flags);
/* "/proc/self/fd/N" for a mount target fd (used before pivot_root, while
 * /proc is the host's, checked by the rootfs step). */
void tsrun_fd_path(int fd, char *buf, size_t size);
/* Text for the errno values users meet in exec errors, as Go spells them. */
const char *tsrun_errno_text(int err);

/* Sends one message on the sync socket (optionally with an fd). */
int tsrun_sync_send(int fd, uint32_t type, uint32_t step, int err, const char *message, int pass_fd);
/* Receives one message: its size (0 = EOF) or -1; a passed fd (close-on-
 * exec) goes to *passed_fd, -1 if none. Also used by the parent. */
ssize_t tsrun_sync_recv(int fd, struct tsrun_sync_msg *msg, int *passed_fd);
/* sendmsg of `data` with one SCM_RIGHTS fd (none if pass_fd < 0). */
ssize_t tsrun_send_with_fd(int sock, const void *data, size_t len, int pass_fd);

#endif
