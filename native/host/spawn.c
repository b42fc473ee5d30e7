/* spawn.c — starting a container process: clone, then at once execve of
 * tsrun-init (native/init/main.c), which walks the plan.
 *
 * Why an exec and not the cloned runtime itself: whatever runs in the
 * container's pid namespace before the program's execve is visible there as
 * /proc/<pid>/exe, and a container process that may ptrace it (CAP_SYS_PTRACE
 * overrides non-dumpability) can open that link, keep the fd and write
 * through it once the runtime has exited (CVE-2019-5736). A clone of the
 * runtime is the runtime's own executable; tsrun-init runs instead from
 *  - a detached read-only bind mount of its file (open_tree + mount_setattr,
 *    ~15 µs): reopening /proc/<pid>/exe for writing gives EROFS, and no path
 *    leads from it to the file's directory; or, where the runtime may not
 *    make mounts (rootless),
 *  - a sealed memfd copy (F_SEAL_WRITE|GROW|SHRINK|SEAL, ~0.5 ms for its
 *    ~700 KB): there is nothing to write to, and it is no file of the host's.
 * Made once per process. The exec also leaves the runtime's heap and
 * environment behind: a rootless init that waits dumpable holds nothing of
 * the caller's.
 *
 * The clone shares our memory until the execve (CLONE_VM|CLONE_VFORK, as
 * posix_spawn does; x86-64): copying a JavaScript engine's page tables only
 * to replace them costs more than the exec. The child runs on a stack of
 * its own and makes raw system calls only: it may not touch errno, locks or
 * anything else of the parent's, whose thread is suspended meanwhile.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "host.h"
#include "tsrun_sync.h"

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#define TSRUN_OPEN_TREE_CLONE 1
#define TSRUN_MOUNT_ATTR_RDONLY 0x00000001
#define TSRUN_MOUNT_ATTR_NOSUID 0x00000002
#define TSRUN_MOUNT_ATTR_NODEV 0x00000004
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

struct tsrun_mount_attr_arg {
  uint64_t attr_set, attr_clr, propagation, userns_fd;
};

/* ---- the executable ------------------------------------------------------- */

static pthread_mutex_t exe_lock = PTHREAD_MUTEX_INITIALIZER;
static int exe_fd = -1;
static int exe_how;

static int detached_readonly(const char *path) {
  int fd = (int)syscall(SYS_open_tree, AT_FDCWD, path, TSRUN_OPEN_TREE_CLONE | O_CLOEXEC);
  if (fd < 0) return -1;
  struct tsrun_mount_attr_arg a = {TSRUN_MOUNT_ATTR_RDONLY | TSRUN_MOUNT_ATTR_NOSUID | TSRUN_MOUNT_ATTR_NODEV, 0, 0, 0};
  if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &a, sizeof a) < 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

static int sealed_copy(const char *path) {
  int src = open(path, O_RDONLY | O_CLOEXEC);
  if (src < 0) return -1;
  int fd = memfd_create("tsrun-init", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
  if (fd < 0 && errno == EINVAL) fd = memfd_create("tsrun-init", MFD_CLOEXEC | MFD_ALLOW_SEALING); /* before 6.3 */
  struct stat st;
  int rc = fd < 0 || fstat(src, &st) < 0 ? -1 : 0;
  for (off_t off = 0; rc == 0 && off < st.st_size;) {
    ssize_t n = sendfile(fd, src, &off, (size_t)(st.st_size - off));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) rc = -1;
  }
  if (rc == 0 && fd >= 0)
    rc = fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0 ? -1 : 0;
  int saved = errno;
  close(src);
  if (rc < 0 && fd >= 0) close(fd);
  errno = saved;
  return rc < 0 ? -1 : fd;
}

int tsrun_init_exe(const char *path, const char **how, struct tsrun_err *e) {
  pthread_mutex_lock(&exe_lock);
  if (exe_fd < 0) {
    exe_fd = detached_readonly(path);
    exe_how = 1;
    if (exe_fd < 0) {
      exe_fd = sealed_copy(path);
      exe_how = 2;
    }
  }
  int fd = exe_fd, saved = errno;
  pthread_mutex_unlock(&exe_lock);
  if (fd < 0)
    return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "cannot open the init executable %s: %s", path, strerror(saved));
  if (how) *how = exe_how == 1 ? "read-only mount" : "sealed memfd";
  return fd;
}

/* ---- the child, between clone and execve ---------------------------------- */

#if defined(__x86_64__)
#define TSRUN_SPAWN_SHARES_VM 1
/* A system call that leaves errno alone: errno is the parent thread's while
 * we share its memory. Returns -errno on failure. */
static long raw_syscall(long n, long a, long b, long c, long d, long e) {
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  long ret;
  __asm__ volatile("syscall" : "=a"(ret) : "0"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8) : "rcx", "r11", "memory");
  return ret;
}
#else
#define TSRUN_SPAWN_SHARES_VM 0
static long raw_syscall(long n, long a, long b, long c, long d, long e) {
  long r = syscall(n, a, b, c, d, e);
  return r < 0 ? -errno : r;
}
#endif

struct child_args {
  int init_fd;
  int stdio[3];
  int inherit[3 + 64 + 2]; /* fds to pass besides 0..2 and the preserved range */
  int ninherit;
  unsigned preserved_end; /* fds [3, preserved_end) are passed too */
  int sync_fd;
  char *argv[4];
  char *envp[4];
  struct tsrun_sync_msg failure; /* prepared by the parent: the child only fills in err */
};

__attribute__((noreturn)) static void child_main(struct child_args *a) {
  /* fds 0-2: copies above 2 first, so swapped sources (1 <-> 2) come out right */
  long tmp[3];
  for (int i = 0; i < 3; i++)
    tmp[i] = a->stdio[i] >= 0 ? raw_syscall(SYS_fcntl, a->stdio[i], F_DUPFD_CLOEXEC, 3, 0, 0) : -1;
  for (int i = 0; i < 3; i++) {
    if (tmp[i] < 0) continue;
    raw_syscall(SYS_dup3, tmp[i], i, 0, 0, 0);
    raw_syscall(SYS_close, tmp[i], 0, 0, 0, 0);
  }
  /* What the init needs must survive the execve (the runtime keeps
   * everything close-on-exec): stdio, the preserved fds, the plan's fds. */
  for (unsigned fd = 0; fd < a->preserved_end; fd++) raw_syscall(SYS_fcntl, fd, F_SETFD, 0, 0, 0);
  for (int i = 0; i < a->ninherit; i++) raw_syscall(SYS_fcntl, a->inherit[i], F_SETFD, 0, 0, 0);
  /* ETXTBSY is someone's write access to the inode, and may last an instant
   * only: a write-open through the read-only mount (a container process
   * holding our exe, CVE-2019-5736 style) takes the inode's write count
   * before the mount refuses it (EROFS). Seen once today: 1 exec of ~160 in
   * four runs of the hostile-container test. Retried a bounded number of times, so
   * a writer that stays still fails the exec. */
  long rc;
  int tries = 0;
  do rc = raw_syscall(SYS_execveat, a->init_fd, (long)"", (long)a->argv, (long)a->envp, AT_EMPTY_PATH);
  while (rc == -ETXTBSY && ++tries < 200 && raw_syscall(SYS_sched_yield, 0, 0, 0, 0, 0) >= 0);
  a->failure.err = (int32_t)-rc;
  raw_syscall(SYS_sendto, a->sync_fd, (long)&a->failure, sizeof a->failure, MSG_NOSIGNAL, 0);
  for (;;) raw_syscall(SYS_exit, 127, 0, 0, 0, 0);
}

#if TSRUN_SPAWN_SHARES_VM
/* clone3 with CLONE_VM: the child starts on its own stack (the kernel sets
 * it from clone_args) and may not return into this frame, so it calls
 * child_main from here, in assembly, and never comes back. */
static long clone3_run(struct clone_args *ca, struct child_args *a) {
  register void (*fn)(struct child_args *) __asm__("r8") = child_main;
  register struct child_args *arg __asm__("r9") = a;
  long ret;
  __asm__ volatile(
      "syscall\n\t"
      "testq %%rax, %%rax\n\t"
      "jnz 1f\n\t"
      "xorl %%ebp, %%ebp\n\t"
      "movq %%r9, %%rdi\n\t"
      "callq *%%r8\n\t"
      "ud2\n"
      "1:"
      : "=a"(ret)
      : "0"((long)SYS_clone3), "D"(ca), "S"(sizeof *ca), "r"(fn), "r"(arg)
      : "rcx", "r11", "memory");
  return ret;
}
#endif

static long do_clone(uint64_t flags, int cgroup_fd, struct child_args *a, void *stack, size_t stack_size) {
  struct clone_args ca;
  memset(&ca, 0, sizeof ca);
  ca.flags = flags;
  ca.exit_signal = SIGCHLD;
  if (cgroup_fd >= 0) {
    ca.flags |= CLONE_INTO_CGROUP;
    ca.cgroup = (uint64_t)cgroup_fd;
  }
#if TSRUN_SPAWN_SHARES_VM
  ca.flags |= CLONE_VM | CLONE_VFORK;
  ca.stack = (uint64_t)(uintptr_t)stack;
  ca.stack_size = stack_size;
  long pid = clone3_run(&ca, a);
#else
  (void)stack;
  (void)stack_size;
  long pid = syscall(SYS_clone3, &ca, sizeof ca);
  if (pid == 0) child_main(a);
  if (pid < 0) pid = -errno;
#endif
  return pid;
}

/* ---- the parent ------------------------------------------------------------ */

static void fd_text(int fd, char *buf, size_t size) {
  snprintf(buf, size, "%d", fd);
}

int tsrun_spawn(const struct tsrun_spawn_req *r, pid_t *pid_out, int *sync_out, struct tsrun_err *e) {
  const char *how = NULL;
  int init_fd = tsrun_init_exe(r->init_path, &how, e);
  if (init_fd < 0) return -1;
  if (r->nkeep > 64) return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "spawn: too many fds for the init");
  /* Nothing of ours may land among the fds passed on at their numbers. */
  const int low = 3 + (int)r->preserve_fds;
  for (size_t i = 0; i < r->nkeep; i++)
    if (r->keep[i] >= 0 && r->keep[i] < low)
      return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "spawn: fd %d of the plan is among the fds passed to the container",
                           r->keep[i]);

  int plan_fd = memfd_create("tsrun-plan", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (plan_fd < 0) return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "memfd_create: %s", strerror(errno));
  size_t off = 0;
  while (off < r->plan_len) {
    ssize_t n = write(plan_fd, (const char *)r->plan + off, r->plan_len - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int saved = errno;
      close(plan_fd);
      return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "write the plan: %s", strerror(saved));
    }
    off += (size_t)n;
  }
  fcntl(plan_fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
    int saved = errno;
    close(plan_fd);
    return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "socketpair: %s", strerror(saved));
  }
  plan_fd = tsrun_fd_lift(plan_fd, low);
  sv[1] = tsrun_fd_lift(sv[1], low);
  if (plan_fd < 0 || sv[1] < 0) {
    int saved = errno;
    if (plan_fd >= 0) close(plan_fd);
    if (sv[1] >= 0) close(sv[1]);
    close(sv[0]);
    return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "fcntl F_DUPFD: %s", strerror(saved));
  }

  struct child_args *a = calloc(1, sizeof *a);
  size_t stack_size = 64 * 1024;
  void *stack = TSRUN_SPAWN_SHARES_VM
                    ? mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0)
                    : NULL;
  char plan_text[16], sync_text[16];
  if (!a || stack == MAP_FAILED) {
    free(a);
    close(plan_fd);
    close(sv[0]);
    close(sv[1]);
    return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "spawn: out of memory");
  }
  a->init_fd = init_fd;
  memcpy(a->stdio, r->stdio, sizeof a->stdio);
  a->preserved_end = (unsigned)low;
  for (size_t i = 0; i < r->nkeep; i++)
    if (r->keep[i] >= 0) a->inherit[a->ninherit++] = r->keep[i];
  a->inherit[a->ninherit++] = plan_fd;
  a->inherit[a->ninherit++] = sv[1];
  a->sync_fd = sv[1];
  fd_text(plan_fd, plan_text, sizeof plan_text);
  fd_text(sv[1], sync_text, sizeof sync_text);
  a->argv[0] = (char *)"tsrun-init";
  a->argv[1] = plan_text;
  a->argv[2] = sync_text;
  for (size_t i = 0; i < r->nenv && i < 3; i++) a->envp[i] = (char *)r->env[i];
  a->failure.type = TSRUN_SYNC_ERROR;
  a->failure.step = 0; /* the first step: the init never started */
  snprintf(a->failure.message, sizeof a->failure.message, "exec the init executable (%s of %s)", how, r->init_path);

  /* Every signal blocked across clone: no handler of the caller's may run
   * in the child, which shares its memory (the init resets them all). */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  long pid = do_clone(r->clone_flags, r->cgroup_fd, a, stack, stack_size);
  /* Born in the cgroup or not at all: without it the runtime moves the
   * process at PID (cgroup.procs), as on v1. */
  if (pid < 0 && r->cgroup_fd >= 0) pid = do_clone(r->clone_flags, -1, a, stack, stack_size);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  /* CLONE_VFORK: the child has exec'd or exited by now; its stack is free. */
  if (stack) munmap(stack, stack_size);
  free(a);
  close(plan_fd);
  close(sv[1]);
  if (pid < 0) {
    close(sv[0]);
    return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "clone3: %s", strerror((int)-pid));
  }
  *pid_out = (pid_t)pid;
  *sync_out = sv[0];
  return 0;
}
