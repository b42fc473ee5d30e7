/* namespaces.c — the namespace step, for the init and for tenants: join
 * namespaces by fd (a tenant joins every namespace of the container),
 * create a user namespace whose id maps the parent writes, unshare the
 * rest, set time namespace offsets and fork once more so the process is
 * inside a new or joined pid/time namespace; then report the pid.
 * Also the mounts a user namespace forbids (sysfs, mqueue, cgroup without
 * the namespace that owns them), bound from the host as runc does.
 *
 * Plain C after clone: raw syscalls, no allocation (see init.h). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#define TSRUN_OPEN_TREE_CLONE 1
#define TSRUN_AT_RECURSIVE 0x8000
#define TSRUN_MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#define TSRUN_MOVE_MOUNT_T_SYMLINKS 0x00000010 /* the target is a /proc/self/fd magic link */
#define TSRUN_MOUNT_ATTR_RDONLY 0x00000001
#define TSRUN_MOUNT_ATTR_NOSUID 0x00000002
#define TSRUN_MOUNT_ATTR_NODEV 0x00000004
#define TSRUN_MOUNT_ATTR_NOEXEC 0x00000008

struct tsrun_mount_attr_v0 {
  uint64_t attr_set;
  uint64_t attr_clr;
  uint64_t propagation;
  uint64_t userns_fd;
};

static const char *ns_name(uint32_t nstype) {
  switch (nstype) {
    case CLONE_NEWUSER: return "user";
    case CLONE_NEWPID: return "pid";
    case CLONE_NEWNET: return "network";
    case CLONE_NEWNS: return "mount";
    case CLONE_NEWIPC: return "ipc";
    case CLONE_NEWUTS: return "uts";
    case CLONE_NEWCGROUP: return "cgroup";
    case CLONE_NEWTIME: return "time";
    default: return "unknown";
  }
}

static int send_msg(struct tsrun_init *ctx, uint32_t type, int32_t pid) {
  struct tsrun_sync_msg msg;
  memset(&msg, 0, sizeof msg);
  msg.type = type;
  msg.step = ctx->step;
  msg.pid = pid;
  if (tsrun_send_with_fd(ctx->sync_fd, &msg, sizeof msg, -1) != (ssize_t)sizeof msg)
    return tsrun_fail(ctx, errno, "write to sync socket", NULL);
  return 0;
}

/* After entering a user namespace we still carry the host's ids, which it
 * may not map: become its root (when it maps 0) so files we create during
 * setup get an owner the container can see. From a non-root euid to the
 * namespace's root, the kernel keeps our capabilities. */
static int become_ns_root(struct tsrun_init *ctx) {
  if (syscall(SYS_setresgid, 0, 0, 0) < 0 && errno != EINVAL)
    return tsrun_fail(ctx, errno, "setresgid to root of the user namespace", NULL);
  if (syscall(SYS_setresuid, 0, 0, 0) < 0 && errno != EINVAL)
    return tsrun_fail(ctx, errno, "setresuid to root of the user namespace", NULL);
  return 0;
}

/* "<name> <secs> <nsecs>\n" into /proc/self/timens_offsets: allowed only
 * while no process is in the new time namespace, i.e. before the fork. */
static int write_offset(struct tsrun_init *ctx, int fd, const char *name, int64_t secs, uint32_t nsecs) {
  char line[96], num[24];
  tsrun_strlcpy(line, name, sizeof line);
  tsrun_strlcat(line, " ", sizeof line);
  if (secs < 0) tsrun_strlcat(line, "-", sizeof line);
  tsrun_utoa(secs < 0 ? (unsigned long)(-(secs + 1)) + 1 : (unsigned long)secs, num, sizeof num);
  tsrun_strlcat(line, num, sizeof line);
  tsrun_strlcat(line, " ", sizeof line);
  tsrun_utoa(nsecs, num, sizeof num);
  tsrun_strlcat(line, num, sizeof line);
  tsrun_strlcat(line, "\n", sizeof line);
  if (write(fd, line, strlen(line)) < 0)
    return tsrun_fail(ctx, errno, "write ", name, " offset to /proc/self/timens_offsets", NULL);
  return 0;
}

/* Whether our user namespace denies setgroups, read from the procfs we
 * started with: right after joining the user namespace, before a mount
 * namespace we join could put another "/proc" in its place. */
static int setgroups_denied(int proc) {
  char buf[16] = {0};
  int fd = proc < 0 ? -1 : tsrun_proc_open(proc, "self/setgroups", O_RDONLY);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  return n >= 4 && !memcmp(buf, "deny", 4);
}

static int namespace_step(struct tsrun_init *ctx, int proc);

int tsrun_step_namespaces(struct tsrun_init *ctx) {
  /* clone3 made every namespace (or there are none): only the pid report. */
  if (!(ctx->plan->h->ns_flags & TSRUN_NS_STAGE)) return send_msg(ctx, TSRUN_SYNC_PID, 0);
  /* The procfs we start in is the host's (the runtime's mount namespace):
   * what we read or write of our own under /proc goes through it, taken
   * before any join. */
  int proc = tsrun_procfs();
  if (proc < 0) return tsrun_fail(ctx, errno, "open the runtime's /proc", NULL);
  int rc = namespace_step(ctx, proc);
  if (proc >= 0) close(proc);
  return rc;
}

static int namespace_step(struct tsrun_init *ctx, int proc) {
  const struct tsrun_plan_header *h = ctx->plan->h;
  /* The host state dir (exec.fifo) may be unreachable once we are the
   * root of a user namespace: take its fd while we still are the host's. */
  const char *state = tsrun_plan_str(ctx->plan, h->state_dir);
  if (state) {
    ctx->state_dir_fd = open(state, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (ctx->state_dir_fd < 0) return tsrun_fail(ctx, errno, "open state dir ", state, NULL);
  }

  /* Joins first (the spec: the child joins before it creates), the user
   * namespace first among them (the plan sorts it): it is what gives us
   * the right to join the namespaces it owns. */
  const struct tsrun_ns_join *joins = tsrun_plan_vec(ctx->plan, h->ns_joins);
  int in_userns = 0;
  for (uint32_t i = 0; i < h->ns_joins.count; i++) {
    if (joins[i].nstype == TSRUN_JOIN_ROOT) {
      if (fchdir(joins[i].fd) < 0 || chroot(".") < 0) return tsrun_fail(ctx, errno, "enter the container's root", NULL);
      close(joins[i].fd);
      continue;
    }
    if (syscall(SYS_setns, joins[i].fd, joins[i].nstype) < 0)
      return tsrun_fail(ctx, errno, "join ", ns_name(joins[i].nstype), " namespace", NULL);
    close(joins[i].fd);
    if (joins[i].nstype != CLONE_NEWUSER) continue;
    in_userns = 1;
    /* A joined user namespace may deny setgroups (a rootless container's):
     * the kernel refuses it there, as it does in one the runtime maps
     * itself. Read now: the user namespace comes first, the mount one last. */
    if (setgroups_denied(proc)) ctx->no_setgroups = 1;
  }

  /* A new user namespace before the others, so it owns them; the parent
   * writes its id maps while we wait (we cannot: only the parent's user
   * namespace may map host ids). */
  if (h->unshare_flags & CLONE_NEWUSER) {
    if (unshare(CLONE_NEWUSER) < 0) return tsrun_fail(ctx, errno, "unshare user namespace", NULL);
    /* Dumpable only while the parent writes the maps (as runc does): the
     * /proc/<pid> files of a non-dumpable process belong to root, which an
     * unprivileged runtime (and newuidmap, which checks the owner of
     * /proc/<pid>) cannot open; we run nothing of the container's yet. */
    if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0) return tsrun_fail(ctx, errno, "set dumpable for the id maps", NULL);
    if (send_msg(ctx, TSRUN_SYNC_IDMAP, 0) < 0) return -1;
    struct tsrun_sync_msg msg;
    ssize_t n = tsrun_sync_recv(ctx->sync_fd, &msg, NULL);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (n == 0) _exit(1);
    if (n < 0) return tsrun_fail(ctx, errno, "read from sync socket", NULL);
    if (msg.type != TSRUN_SYNC_GO) return tsrun_fail(ctx, EPROTO, "unexpected sync message", NULL);
    in_userns = 1;
  }

  /* not the cgroup namespace: tsrun_step_cgroupns, after the host steps */
  uint64_t rest = h->unshare_flags & ~(uint64_t)(CLONE_NEWUSER | CLONE_NEWCGROUP);
  if (rest && unshare((int)rest) < 0) return tsrun_fail(ctx, errno, "unshare namespaces", NULL);

  if (h->ns_flags & TSRUN_NS_TIME_OFFSETS) {
    /* A non-dumpable process's /proc files are root's: an unprivileged
     * runtime's init could not open its own offsets (the id maps above). */
    const int dumpable = (h->flags & TSRUN_PLAN_WAIT_DUMPABLE) != 0;
    if (dumpable && prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
      return tsrun_fail(ctx, errno, "set dumpable for the time offsets", NULL);
    int fd = tsrun_proc_open(proc, "self/timens_offsets", O_WRONLY);
    int rc = fd < 0 ? tsrun_fail(ctx, errno, "open /proc/self/timens_offsets", NULL) : 0;
    if (rc == 0) rc = write_offset(ctx, fd, "monotonic", h->monotonic_secs, h->monotonic_nsecs);
    if (rc == 0) rc = write_offset(ctx, fd, "boottime", h->boottime_secs, h->boottime_nsecs);
    if (fd >= 0) close(fd);
    if (dumpable) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (rc < 0) return -1;
  }

  /* Only now: /proc/self files of a non-dumpable process belong to the
   * host's root, which we stop being here (timens_offsets above). */
  if (in_userns && become_ns_root(ctx) < 0) return -1;

  /* A tenant joined the container's mount namespace, which set our root and
   * cwd to the container's root: that is where its terminal and cwd are
   * looked up (the init gets its root fd from the rootfs step). */
  if (ctx->tenant) {
    ctx->root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (ctx->root_fd < 0) return tsrun_fail(ctx, errno, "open the container's root", NULL);
  }

  if (!(h->ns_flags & TSRUN_NS_FORK)) return send_msg(ctx, TSRUN_SYNC_PID, 0);
  /* unshare/setns of pid and time namespaces apply to our children only:
   * the process is the next child. We are still in the runtime's pid
   * namespace (pid namespaces are never in the clone flags of a staged
   * plan), so the pid clone returns is the one the runtime must report.
   * CLONE_PARENT makes it the runtime's child, not ours: the runtime can
   * wait for it (a foreground exec's exit code) without being a subreaper,
   * and it is reparented to the runtime's caller exactly as an unforked
   * init would be. Raw clone: glibc's fork would run Node's atfork handlers. */
  long pid = syscall(SYS_clone, (unsigned long)(CLONE_PARENT | SIGCHLD), 0, 0, 0, 0);
  if (pid < 0) return tsrun_fail(ctx, errno, "fork into the new namespaces", NULL);
  if (pid == 0) {
    /* The runtime is our parent now: die with it while we set up. The sync
     * socket's EOF covers a runtime that died before this line. */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    return 0;
  }
  /* The intermediate: report and leave. A process whose pid the parent
   * never learnt must not live on. */
  if (send_msg(ctx, TSRUN_SYNC_PID, (int32_t)pid) < 0) {
    kill((pid_t)pid, SIGKILL);
    _exit(1);
  }
  _exit(0);
}

/* Our cgroup's directory in the host's cgroup v2 hierarchy, into
 * ctx->cgroup2_dir: "0::<path>" of /proc/self/cgroup (the runtime's procfs:
 * nothing of the container's is mounted yet), when /sys/fs/cgroup is a
 * cgroup2 mount. Left "" otherwise (cgroup v1 or hybrid, or the root). */
static void note_cgroup2_dir(struct tsrun_init *ctx) {
  ctx->cgroup2_dir[0] = '\0';
  struct statfs sfs;
  if (statfs("/sys/fs/cgroup", &sfs) < 0 || sfs.f_type != CGROUP2_SUPER_MAGIC) return;
  int proc = tsrun_procfs();
  if (proc < 0) return;
  int fd = tsrun_proc_open(proc, "self/cgroup", O_RDONLY);
  close(proc);
  if (fd < 0) return;
  char buf[4096];
  ssize_t n;
  do n = read(fd, buf, sizeof buf - 1);
  while (n < 0 && errno == EINTR);
  close(fd);
  if (n <= 0) return;
  buf[n] = '\0';
  for (char *line = buf; line && *line;) {
    char *next = strchr(line, '\n');
    if (next) *next++ = '\0';
    if (!strncmp(line, "0::/", 4) && line[4] && strlen(line) + sizeof "/sys/fs/cgroup" <= sizeof ctx->cgroup2_dir) {
      tsrun_strlcpy(ctx->cgroup2_dir, "/sys/fs/cgroup", sizeof ctx->cgroup2_dir);
      tsrun_strlcat(ctx->cgroup2_dir, line + 3, sizeof ctx->cgroup2_dir);
      return;
    }
    line = next;
  }
}

int tsrun_step_cgroupns(struct tsrun_init *ctx) {
  if (!(ctx->plan->h->unshare_flags & CLONE_NEWCGROUP)) return 0;
  note_cgroup2_dir(ctx);
  if (unshare(CLONE_NEWCGROUP) < 0) return tsrun_fail(ctx, errno, "unshare cgroup namespace", NULL);
  return 0;
}

/* A user namespace may not mount sysfs without owning the network
 * namespace, mqueue without the ipc one, cgroup without the cgroup one:
 * runc binds the host's instance instead, read-only where asked. A
 * detached recursive copy gets the attributes on every submount before it
 * is attached, so nothing of it is ever writable in the container. cgroup2
 * also refuses (EBUSY) a mount on the root of a cgroup2 mount, which is
 * what /sys/fs/cgroup is in a bound host /sys (a rootless bundle's): with a
 * cgroup namespace, the container's own cgroup directory (`cgroup2_dir`)
 * is bound, as that namespace would show it, never the whole hierarchy.
 * Returns the mount(2)-style result; errno set on failure. */
int tsrun_userns_mount_fallback(const struct tsrun_mount *m, const char *fstype, const char *target,
                                const char *cgroup2_dir) {
  const char *host = NULL;
  if (!fstype) return -1;
  if (!strcmp(fstype, "sysfs"))
    host = "/sys";
  else if (!strcmp(fstype, "mqueue"))
    host = "/dev/mqueue";
  else if (!strcmp(fstype, "cgroup2") && cgroup2_dir && cgroup2_dir[0])
    host = cgroup2_dir;
  else if (!strcmp(fstype, "cgroup") || !strcmp(fstype, "cgroup2"))
    host = "/sys/fs/cgroup";
  if (!host) {
    errno = EPERM;
    return -1;
  }
  int tree = (int)syscall(SYS_open_tree, AT_FDCWD, host, TSRUN_OPEN_TREE_CLONE | TSRUN_AT_RECURSIVE | O_CLOEXEC);
  if (tree < 0) return -1;
  struct tsrun_mount_attr_v0 attr;
  memset(&attr, 0, sizeof attr);
  if (m->flags & MS_RDONLY) attr.attr_set |= TSRUN_MOUNT_ATTR_RDONLY;
  if (m->flags & MS_NOSUID) attr.attr_set |= TSRUN_MOUNT_ATTR_NOSUID;
  if (m->flags & MS_NODEV) attr.attr_set |= TSRUN_MOUNT_ATTR_NODEV;
  if (m->flags & MS_NOEXEC) attr.attr_set |= TSRUN_MOUNT_ATTR_NOEXEC;
  int rc = 0;
  if (attr.attr_set)
    rc = (int)syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | TSRUN_AT_RECURSIVE, &attr, sizeof attr);
  if (rc == 0)
    rc = (int)syscall(SYS_move_mount, tree, "", AT_FDCWD, target,
                      TSRUN_MOVE_MOUNT_F_EMPTY_PATH | TSRUN_MOVE_MOUNT_T_SYMLINKS);
  int saved = errno;
  close(tree);
  errno = saved;
  return rc;
}

int tsrun_idmap_tree(const struct tsrun_plan *p, uint32_t index) {
  const struct tsrun_idmap_mount *im = tsrun_plan_vec(p, p->h->idmap_mounts);
  for (uint32_t i = 0; i < p->h->idmap_mounts.count; i++)
    if (im[i].mount_index == index) return im[i].fd;
  return -1;
}

int tsrun_attach_tree(int tree, const char *target) {
  int rc = (int)syscall(SYS_move_mount, tree, "", AT_FDCWD, target,
                        TSRUN_MOVE_MOUNT_F_EMPTY_PATH | TSRUN_MOVE_MOUNT_T_SYMLINKS);
  int saved = errno;
  close(tree);
  errno = saved;
  return rc;
}
