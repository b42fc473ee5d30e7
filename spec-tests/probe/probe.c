/*
 * tsrun-probe: a small static program for the runtime-agnostic conformance
 * suite (spec-tests). It runs inside containers to report what the runtime
 * set up, and on the host as an OCI hook and as the receiving end of
 * --console-socket / seccomp listenerPath (Node cannot receive SCM_RIGHTS).
 *
 * Usage: tsrun-probe CMD [ARGS...] [, CMD [ARGS...]]...
 * Commands are run in order; a lone "," separates them. Every report is a
 * "key=value" line written straight to fd 1 (no stdio buffering, so output
 * survives a seccomp kill). Free-form bytes are hex-encoded. Errors are
 * reported as "errno:ENAME" values, never as a non-zero exit, so the harness
 * can tell "the runtime refused" from "the probe saw EPERM".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* The whole command line, for `hook` records (argv[0] included). */
static int g_argc;
static char **g_argv;

/* ---- output ------------------------------------------------------------ */

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...) {
  char buf[8192];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n > sizeof buf - 2) n = (int)sizeof buf - 2;
  buf[n++] = '\n';
  size_t off = 0;
  while (off < (size_t)n) {
    ssize_t w = write(1, buf + off, (size_t)n - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    off += (size_t)w;
  }
}

static const char *errname(int e) {
  static char buf[32];
  const char *n = strerrorname_np(e);
  if (n) return n;
  snprintf(buf, sizeof buf, "E%d", e);
  return buf;
}

static void hex(const unsigned char *p, size_t n, char *dst, size_t cap) {
  static const char digits[] = "0123456789abcdef";
  size_t j = 0;
  for (size_t i = 0; i < n && j + 2 < cap; i++) {
    dst[j++] = digits[p[i] >> 4];
    dst[j++] = digits[p[i] & 15];
  }
  dst[j] = 0;
}

/* Reads a whole small file (procfs) into buf; returns length or -errno. */
static ssize_t slurp(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  size_t len = 0;
  for (;;) {
    ssize_t r = read(fd, buf + len, cap - 1 - len);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int e = errno;
      close(fd);
      return -e;
    }
    if (r == 0) break;
    len += (size_t)r;
    if (len >= cap - 1) break;
  }
  buf[len] = 0;
  close(fd);
  return (ssize_t)len;
}

/* Prints "Key:\tvalue" lines of /proc/self/status selected by name. */
static void status_fields(const char *const *names) {
  static char buf[16384];
  if (slurp("/proc/self/status", buf, sizeof buf) < 0) {
    out("status=errno:%s", errname(errno));
    return;
  }
  for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
    for (size_t i = 0; names[i]; i++) {
      size_t l = strlen(names[i]);
      if (strncmp(line, names[i], l) == 0 && line[l] == ':') {
        char *v = line + l + 1;
        while (*v == ' ' || *v == '\t') v++;
        out("%s=%s", names[i], v);
      }
    }
  }
}

/* ---- info ---------------------------------------------------------------- */

static const struct {
  const char *name;
  int res;
} RLIMITS[] = {
    {"RLIMIT_AS", RLIMIT_AS},           {"RLIMIT_CORE", RLIMIT_CORE},         {"RLIMIT_CPU", RLIMIT_CPU},
    {"RLIMIT_DATA", RLIMIT_DATA},       {"RLIMIT_FSIZE", RLIMIT_FSIZE},       {"RLIMIT_LOCKS", RLIMIT_LOCKS},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}, {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
    {"RLIMIT_NOFILE", RLIMIT_NOFILE},   {"RLIMIT_NPROC", RLIMIT_NPROC},       {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},   {"RLIMIT_RTTIME", RLIMIT_RTTIME},     {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_STACK", RLIMIT_STACK},
};

static int cmd_info(int argc, char **argv) {
  (void)argc;
  (void)argv;
  uid_t r, e, s;
  gid_t gr, ge, gs;
  getresuid(&r, &e, &s);
  getresgid(&gr, &ge, &gs);
  out("pid=%d", (int)getpid());
  out("ppid=%d", (int)getppid());
  out("uid=%u", r);
  out("euid=%u", e);
  out("suid=%u", s);
  out("gid=%u", gr);
  out("egid=%u", ge);
  out("sgid=%u", gs);

  gid_t groups[256];
  int ng = getgroups(256, groups);
  char gbuf[4096] = "";
  size_t gl = 0;
  for (int i = 0; i < ng && gl < sizeof gbuf - 16; i++)
    gl += (size_t)snprintf(gbuf + gl, sizeof gbuf - gl, "%s%u", i ? "," : "", groups[i]);
  out("groups=%s", gbuf);

  mode_t old = umask(0);
  umask(old);
  out("umask=%04o", (unsigned)old);

  char cwd[PATH_MAX];
  if (getcwd(cwd, sizeof cwd))
    out("cwd=%s", cwd);
  else
    out("cwd=errno:%s", errname(errno));

  struct utsname u;
  if (uname(&u) == 0) {
    out("hostname=%s", u.nodename);
    out("domainname=%s", u.domainname);
    out("machine=%s", u.machine);
  }
  out("nnp=%d", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
  out("dumpable=%d", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
  out("personality=0x%x", (unsigned)personality(0xffffffff));

  static const char *const fields[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "Seccomp", "NoNewPrivs", NULL};
  status_fields(fields);

  char buf[64];
  ssize_t n = slurp("/proc/self/oom_score_adj", buf, sizeof buf);
  if (n > 0) {
    buf[strcspn(buf, "\n")] = 0;
    out("oom_score_adj=%s", buf);
  } else {
    out("oom_score_adj=errno:%s", errname((int)-n));
  }

  for (size_t i = 0; i < sizeof RLIMITS / sizeof RLIMITS[0]; i++) {
    struct rlimit rl;
    if (getrlimit(RLIMITS[i].res, &rl) == 0)
      out("%s=%llu:%llu", RLIMITS[i].name, (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
    else
      out("%s=errno:%s", RLIMITS[i].name, errname(errno));
  }
  for (int fd = 0; fd < 3; fd++) out("isatty%d=%d", fd, isatty(fd));

  out("sched_policy=%d", sched_getscheduler(0));
  errno = 0;
  int nice = getpriority(PRIO_PROCESS, 0);
  out("nice=%d", errno ? -999 : nice);
  /* ioprio_get(IOPRIO_WHO_PROCESS, 0): class in bits 13.., data in low bits */
  long io = syscall(SYS_ioprio_get, 1, 0);
  if (io >= 0)
    out("ioprio=%ld:%ld", io >> 13, io & 0x1fff);
  else
    out("ioprio=errno:%s", errname(errno));
  return 0;
}

static int cmd_args(int argc, char **argv) {
  out("argc=%d", argc);
  for (int i = 0; i < argc; i++) {
    char h[4096];
    hex((const unsigned char *)argv[i], strlen(argv[i]), h, sizeof h);
    out("arg%d=%s", i, h);
  }
  return 0;
}

static int cmd_env(int argc, char **argv) {
  (void)argc;
  (void)argv;
  int n = 0;
  for (char **e = environ; *e; e++, n++) {
    char h[8192];
    hex((const unsigned char *)*e, strlen(*e), h, sizeof h);
    out("env%d=%s", n, h);
  }
  out("envc=%d", n);
  return 0;
}

/* ---- files ------------------------------------------------------------- */

static const char *ftype(mode_t m) {
  switch (m & S_IFMT) {
    case S_IFREG: return "reg";
    case S_IFDIR: return "dir";
    case S_IFCHR: return "chr";
    case S_IFBLK: return "blk";
    case S_IFIFO: return "fifo";
    case S_IFLNK: return "lnk";
    case S_IFSOCK: return "sock";
  }
  return "unknown";
}

static void report_stat(const char *key, const char *path, int follow) {
  struct stat st;
  int rc = follow ? stat(path, &st) : lstat(path, &st);
  if (rc < 0) {
    out("%s.%s=errno:%s", key, path, errname(errno));
    return;
  }
  char target[PATH_MAX] = "";
  if (S_ISLNK(st.st_mode)) {
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n > 0) target[n] = 0;
  }
  out("%s.%s=type:%s mode:%04o uid:%u gid:%u major:%u minor:%u size:%lld ino:%llu dev:%u:%u%s%s", key, path,
      ftype(st.st_mode), (unsigned)(st.st_mode & 07777), st.st_uid, st.st_gid, major(st.st_rdev), minor(st.st_rdev),
      (long long)st.st_size, (unsigned long long)st.st_ino, major(st.st_dev), minor(st.st_dev),
      S_ISLNK(st.st_mode) ? " target:" : "", target);
}

static int cmd_stat(int argc, char **argv) {
  for (int i = 1; i < argc; i++) report_stat("stat", argv[i], 0);
  return 0;
}

static int cmd_statf(int argc, char **argv) {
  for (int i = 1; i < argc; i++) report_stat("statf", argv[i], 1);
  return 0;
}

static int cmd_read(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    int fd = open(argv[i], O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
      out("read.%s=errno:%s", argv[i], errname(errno));
      continue;
    }
    unsigned char buf[256];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0)
      out("read.%s=errno:%s", argv[i], errname(errno));
    else {
      char h[sizeof buf * 2 + 1];
      hex(buf, (size_t)n, h, sizeof h);
      out("read.%s=ok:%zd", argv[i], n);
      out("data.%s=%s", argv[i], h);
    }
    close(fd);
  }
  return 0;
}

static void do_write(const char *path, const char *value) {
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0644);
  if (fd < 0) {
    out("write.%s=errno:%s", path, errname(errno));
    return;
  }
  ssize_t n = write(fd, value, strlen(value));
  if (n < 0)
    out("write.%s=errno:%s", path, errname(errno));
  else
    out("write.%s=ok:%zd", path, n);
  close(fd);
}

static int cmd_write(int argc, char **argv) {
  for (int i = 1; i < argc; i++) do_write(argv[i], "x");
  return 0;
}

static int cmd_writev(int argc, char **argv) {
  if (argc < 3) return 2;
  do_write(argv[1], argv[2]);
  return 0;
}

static int cmd_touch(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    int fd = open(argv[i], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
      out("touch.%s=errno:%s", argv[i], errname(errno));
    else {
      out("touch.%s=ok", argv[i]);
      close(fd);
    }
  }
  return 0;
}

static int cmd_mkdir(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (mkdir(argv[i], 0755) < 0)
      out("mkdir.%s=errno:%s", argv[i], errname(errno));
    else
      out("mkdir.%s=ok", argv[i]);
  }
  return 0;
}

static int cmd_chown(int argc, char **argv) {
  if (argc < 4) return 2;
  if (chown(argv[1], (uid_t)atoi(argv[2]), (gid_t)atoi(argv[3])) < 0)
    out("chown.%s=errno:%s", argv[1], errname(errno));
  else
    out("chown.%s=ok", argv[1]);
  return 0;
}

static int cmd_statfs(int argc, char **argv) {
  static const struct {
    unsigned long bit;
    const char *name;
  } FLAGS[] = {
      {ST_RDONLY, "ro"},         {ST_NOSUID, "nosuid"},
      {ST_NODEV, "nodev"},       {ST_NOEXEC, "noexec"},
      {ST_SYNCHRONOUS, "sync"},  {ST_MANDLOCK, "mand"},
      {ST_NOATIME, "noatime"},   {ST_NODIRATIME, "nodiratime"},
      {ST_RELATIME, "relatime"}, {8192 /* ST_NOSYMFOLLOW */, "nosymfollow"},
  };
  for (int i = 1; i < argc; i++) {
    struct statfs sf;
    if (statfs(argv[i], &sf) < 0) {
      out("statfs.%s=errno:%s", argv[i], errname(errno));
      continue;
    }
    char flags[256] = "";
    size_t fl = 0;
    for (size_t j = 0; j < sizeof FLAGS / sizeof FLAGS[0]; j++)
      if ((unsigned long)sf.f_flags & FLAGS[j].bit)
        fl += (size_t)snprintf(flags + fl, sizeof flags - fl, "%s%s", fl ? "," : "", FLAGS[j].name);
    out("statfs.%s=type:0x%lx bsize:%ld blocks:%llu flags:%s", argv[i], (unsigned long)sf.f_type, (long)sf.f_bsize,
        (unsigned long long)sf.f_blocks, flags);
  }
  return 0;
}

/* Copies a file's bytes to stdout unchanged (mountinfo, uid_map, cgroup). */
static int cmd_cat(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      out("cat.%s=errno:%s", argv[i], errname(errno));
      continue;
    }
    char buf[8192];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
      ssize_t off = 0;
      while (off < n) {
        ssize_t w = write(1, buf + off, (size_t)(n - off));
        if (w <= 0) break;
        off += w;
      }
    }
    close(fd);
  }
  return 0;
}

static int cmd_ls(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    DIR *d = opendir(argv[i]);
    if (!d) {
      out("ls.%s=errno:%s", argv[i], errname(errno));
      continue;
    }
    char list[8192] = "";
    size_t l = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
      if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
      l += (size_t)snprintf(list + l, sizeof list - l, "%s%s", l ? "," : "", de->d_name);
      if (l >= sizeof list) break;
    }
    closedir(d);
    out("ls.%s=%s", argv[i], list);
  }
  return 0;
}

static int cmd_fds(int argc, char **argv) {
  (void)argc;
  (void)argv;
  DIR *d = opendir("/proc/self/fd");
  if (!d) {
    out("fds=errno:%s", errname(errno));
    return 0;
  }
  int self = dirfd(d);
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.') continue;
    int fd = atoi(de->d_name);
    if (fd == self) continue;
    char p[64], target[PATH_MAX];
    snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(p, target, sizeof target - 1);
    target[n > 0 ? n : 0] = 0;
    out("fd.%d=%s", fd, target);
  }
  closedir(d);
  return 0;
}

static int cmd_procs(int argc, char **argv) {
  (void)argc;
  (void)argv;
  DIR *d = opendir("/proc");
  if (!d) {
    out("procs=errno:%s", errname(errno));
    return 0;
  }
  char list[8192] = "";
  size_t l = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] < '0' || de->d_name[0] > '9') continue;
    l += (size_t)snprintf(list + l, sizeof list - l, "%s%s", l ? "," : "", de->d_name);
    if (l >= sizeof list) break;
  }
  closedir(d);
  out("procs=%s", list);
  return 0;
}

static const char *const NS_NAMES[] = {"cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts", NULL};

static int cmd_ns(int argc, char **argv) {
  (void)argc;
  (void)argv;
  for (size_t i = 0; NS_NAMES[i]; i++) {
    char p[64], t[128];
    snprintf(p, sizeof p, "/proc/self/ns/%s", NS_NAMES[i]);
    ssize_t n = readlink(p, t, sizeof t - 1);
    if (n < 0)
      out("ns.%s=errno:%s", NS_NAMES[i], errname(errno));
    else {
      t[n] = 0;
      out("ns.%s=%s", NS_NAMES[i], t);
    }
  }
  return 0;
}

/* ---- terminal ------------------------------------------------------------- */

static int cmd_tty(int argc, char **argv) {
  (void)argc;
  (void)argv;
  for (int fd = 0; fd < 3; fd++) {
    out("isatty%d=%d", fd, isatty(fd));
    char *n = ttyname(fd);
    out("ttyname%d=%s", fd, n ? n : "");
  }
  struct winsize ws;
  if (ioctl(1, TIOCGWINSZ, &ws) == 0)
    out("winsize=%ux%u", ws.ws_row, ws.ws_col);
  else
    out("winsize=errno:%s", errname(errno));
  int t = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (t < 0)
    out("devtty=errno:%s", errname(errno));
  else {
    out("devtty=ok");
    close(t);
  }
  out("sid=%d", (int)getsid(0));
  out("pgrp=%d", (int)getpgrp());
  out("tcpgrp=%d", (int)tcgetpgrp(0));
  return 0;
}

/* ---- syscalls --------------------------------------------------------------- */

static void on_sigsys(int sig, siginfo_t *si, void *uc) {
  (void)sig;
  (void)uc;
  char buf[64];
  int n = snprintf(buf, sizeof buf, "sigsys=%d\n", si->si_syscall);
  if (write(1, buf, (size_t)n) < 0) _exit(101);
  _exit(100);
}

static unsigned long num(const char *s) {
  return s ? strtoul(s, NULL, 0) : 0;
}

/* SPEC is name[:arg[:arg...]]; returns the raw syscall result. */
static long run_syscall(char *spec, int *known) {
  char *a[6] = {0};
  char *name = strtok(spec, ":");
  for (int i = 0; i < 6; i++) a[i] = strtok(NULL, ":");
  *known = 1;
  char buf[PATH_MAX];
  if (!strcmp(name, "getcwd")) return syscall(SYS_getcwd, buf, sizeof buf);
  if (!strcmp(name, "getpriority")) return syscall(SYS_getpriority, num(a[0]), num(a[1]));
  if (!strcmp(name, "getppid")) return syscall(SYS_getppid);
  if (!strcmp(name, "sysinfo")) {
    char si[512];
    return syscall(SYS_sysinfo, si);
  }
  if (!strcmp(name, "personality")) return syscall(SYS_personality, num(a[0]));
  if (!strcmp(name, "uname")) {
    struct utsname u;
    return syscall(SYS_uname, &u);
  }
  if (!strcmp(name, "mkdir")) return syscall(SYS_mkdir, a[0], 0755);
  if (!strcmp(name, "chmod")) return syscall(SYS_chmod, a[0], num(a[1]));
  if (!strcmp(name, "chown")) return syscall(SYS_chown, a[0], num(a[1]), num(a[2]));
  if (!strcmp(name, "chroot")) return syscall(SYS_chroot, a[0]);
  if (!strcmp(name, "sethostname")) return syscall(SYS_sethostname, a[0], a[0] ? strlen(a[0]) : 0);
  if (!strcmp(name, "mount")) return mount("none", a[0], "tmpfs", 0, NULL);
  if (!strcmp(name, "setuid")) return syscall(SYS_setuid, num(a[0]));
  if (!strcmp(name, "setgid")) return syscall(SYS_setgid, num(a[0]));
  if (!strcmp(name, "socket")) return syscall(SYS_socket, num(a[0]), num(a[1]), num(a[2]));
  if (!strcmp(name, "mknod"))
    return syscall(SYS_mknod, a[0], (a[1] && a[1][0] == 'b' ? S_IFBLK : S_IFCHR) | 0600, makedev(num(a[2]), num(a[3])));
  if (!strcmp(name, "open")) return syscall(SYS_open, a[0], O_RDONLY | O_CLOEXEC);
  if (!strcmp(name, "openw")) return syscall(SYS_open, a[0], O_WRONLY | O_CLOEXEC);
  if (!strcmp(name, "kill")) return syscall(SYS_kill, num(a[0]), num(a[1]));
  if (!strcmp(name, "nr")) return syscall((long)num(a[0]), num(a[1]), num(a[2]), num(a[3]), num(a[4]), num(a[5]));
  *known = 0;
  return -1;
}

static int cmd_syscall(int argc, char **argv) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_sigsys;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGSYS, &sa, NULL);
  for (int i = 1; i < argc; i++) {
    char spec[512];
    snprintf(spec, sizeof spec, "%s", argv[i]);
    out("calling.%s=1", argv[i]);
    int known;
    errno = 0;
    long rc = run_syscall(spec, &known);
    int e = errno;
    if (!known)
      out("syscall.%s=unknown", argv[i]);
    else if (rc < 0 && e)
      out("syscall.%s=errno:%s", argv[i], errname(e));
    else
      out("syscall.%s=ret:%ld", argv[i], rc);
  }
  return 0;
}

/* ---- processes and signals ------------------------------------------------ */

static void noop(int sig) {
  (void)sig;
}

static int cmd_wait_signal(int argc, char **argv) {
  int timeout = argc > 1 ? atoi(argv[1]) : 30;
  sigset_t all;
  sigemptyset(&all);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = noop;
  /* A pid-namespace init only gets signals it has a handler for, so install
   * one everywhere, then block and collect them synchronously. */
  for (int s = 1; s < 32; s++) {
    if (s == SIGKILL || s == SIGSTOP) continue;
    sigaction(s, &sa, NULL);
    sigaddset(&all, s);
  }
  sigprocmask(SIG_BLOCK, &all, NULL);
  out("ready=1");
  struct timespec ts = {timeout, 0};
  siginfo_t si;
  int s = sigtimedwait(&all, &si, &ts);
  if (s < 0) {
    out("signal=timeout");
    return 3;
  }
  const char *abbrev = sigabbrev_np(s);
  out("signal=%s", abbrev ? abbrev : "?");
  out("signo=%d", s);
  return 0;
}

static int cmd_sleep_ms(int argc, char **argv) {
  long ms = argc > 1 ? atol(argv[1]) : 1000;
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
  return 0;
}

static int cmd_kill_self(int argc, char **argv) {
  int sig = argc > 1 ? atoi(argv[1]) : SIGTERM;
  signal(sig, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  sigprocmask(SIG_UNBLOCK, &set, NULL);
  kill(getpid(), sig);
  /* pid-namespace init ignores its own default-action signals: report it. */
  out("survived=%d", sig);
  return 4;
}

static int cmd_fork(int argc, char **argv) {
  int want = argc > 1 ? atoi(argv[1]) : 1;
  pid_t kids[1024];
  int got = 0, err = 0;
  for (int i = 0; i < want && i < 1024; i++) {
    pid_t p = fork();
    if (p == 0) {
      pause();
      _exit(0);
    }
    if (p < 0) {
      err = errno;
      break;
    }
    kids[got++] = p;
  }
  out("forked=%d", got);
  out("fork_errno=%s", err ? errname(err) : "none");
  for (int i = 0; i < got; i++) kill(kids[i], SIGKILL);
  for (int i = 0; i < got; i++) waitpid(kids[i], NULL, 0);
  return 0;
}

/* ---- host side: hook recorder ------------------------------------------------ */

/* hook NAME LOGFILE [EXIT [SLEEP_MS]]: appends one tab-separated record with
 * the hook's name, namespaces, argv, env and the state read from stdin. */
static int cmd_hook(int argc, char **argv) {
  if (argc < 3) return 2;
  static char input[65536], record[262144];
  size_t in = 0;
  for (;;) {
    ssize_t r = read(0, input + in, sizeof input - 1 - in);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    in += (size_t)r;
    if (in >= sizeof input - 1) break;
  }
  size_t l = 0;
  l += (size_t)snprintf(record + l, sizeof record - l, "name=%s\tpid=%d", argv[1], (int)getpid());
  for (size_t i = 0; NS_NAMES[i]; i++) {
    char p[64], t[128];
    snprintf(p, sizeof p, "/proc/self/ns/%s", NS_NAMES[i]);
    ssize_t n = readlink(p, t, sizeof t - 1);
    t[n > 0 ? n : 0] = 0;
    l += (size_t)snprintf(record + l, sizeof record - l, "\tns.%s=%s", NS_NAMES[i], t);
  }
  char cwd[PATH_MAX] = "";
  if (!getcwd(cwd, sizeof cwd)) cwd[0] = 0;
  l += (size_t)snprintf(record + l, sizeof record - l, "\tcwd=%s\targc=%d", cwd, g_argc);
  static char h[131072];
  for (int i = 0; i < g_argc; i++) {
    hex((const unsigned char *)g_argv[i], strlen(g_argv[i]), h, sizeof h);
    l += (size_t)snprintf(record + l, sizeof record - l, "\targ%d=%s", i, h);
  }
  int n = 0;
  for (char **e = environ; *e && l < sizeof record - 1024; e++, n++) {
    hex((const unsigned char *)*e, strlen(*e), h, sizeof h);
    l += (size_t)snprintf(record + l, sizeof record - l, "\tenv%d=%s", n, h);
  }
  /* What the container process (state.pid) is running at the time of the hook. */
  const char *pidkey = strstr(input, "\"pid\"");
  if (pidkey) {
    const char *v = strchr(pidkey + 5, ':');
    long target = v ? strtol(v + 1, NULL, 10) : 0;
    char p[64], cmd[4096];
    snprintf(p, sizeof p, "/proc/%ld/cmdline", target);
    ssize_t cl = target > 0 ? slurp(p, cmd, sizeof cmd) : -1;
    if (cl > 0) {
      for (ssize_t i = 0; i < cl; i++)
        if (cmd[i] == 0) cmd[i] = ' ';
      hex((const unsigned char *)cmd, (size_t)cl, h, sizeof h);
      l += (size_t)snprintf(record + l, sizeof record - l, "\ttarget_cmdline=%s", h);
    }
  }
  hex((const unsigned char *)input, in, h, sizeof h);
  l += (size_t)snprintf(record + l, sizeof record - l, "\tenvc=%d\tstdin=%s\n", n, h);
  if (l >= sizeof record) l = sizeof record - 1;
  int fd = open(argv[2], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return 5;
  if (write(fd, record, l) < 0) return 6;
  close(fd);
  if (argc > 4) {
    char *sv[] = {argv[0], argv[4]};
    cmd_sleep_ms(2, sv);
  }
  return argc > 3 ? atoi(argv[3]) : 0;
}

/* ---- host side: SCM_RIGHTS receiver ------------------------------------------- */

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* recv-fd MODE SOCKET REPORT TIMEOUT_MS
 * Listens on SOCKET, accepts one connection and receives the fds sent with
 * SCM_RIGHTS plus the payload. MODE "console": reads the (pty master) fd
 * until the slave side closes and records the bytes. MODE "seccomp": reads
 * the payload to EOF and closes the fds at once (a waiting notified syscall
 * then fails with ENOSYS). The report goes to REPORT as key=value lines. */
static int cmd_recv_fd(int argc, char **argv) {
  if (argc < 5) return 2;
  const char *mode = argv[1], *path = argv[2], *report = argv[3];
  long deadline = now_ms() + atol(argv[4]);
  int rfd = open(report, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (rfd < 0) return 5;
  if (dup2(rfd, 1) < 0) return 5;

  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof addr.sun_path) return 6;
  strcpy(addr.sun_path, path);
  unlink(path);
  if (s < 0 || bind(s, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(s, 1) < 0) {
    out("listen=errno:%s", errname(errno));
    return 7;
  }
  out("listening=1");
  struct pollfd pfd = {s, POLLIN, 0};
  if (poll(&pfd, 1, (int)(deadline - now_ms())) <= 0) {
    out("accept=timeout");
    return 8;
  }
  int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
  if (c < 0) {
    out("accept=errno:%s", errname(errno));
    return 8;
  }
  static unsigned char payload[65536];
  union {
    char buf[CMSG_SPACE(sizeof(int) * 16)];
    struct cmsghdr align;
  } cbuf;
  struct iovec iov = {payload, sizeof payload};
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = cbuf.buf;
  msg.msg_controllen = sizeof cbuf.buf;
  ssize_t got = recvmsg(c, &msg, MSG_CMSG_CLOEXEC);
  if (got < 0) {
    out("recvmsg=errno:%s", errname(errno));
    return 9;
  }
  int fds[16], nfds = 0, cmsgs = 0;
  size_t cmsg_len = 0;
  for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
    cmsgs++;
    if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
    cmsg_len = cm->cmsg_len;
    size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < n && nfds < 16; i++) memcpy(&fds[nfds++], CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
  }
  size_t plen = (size_t)got;
  if (!strcmp(mode, "seccomp")) {
    /* Later sendmsg calls may carry more of the payload (never fds). */
    for (;;) {
      struct pollfd cp = {c, POLLIN, 0};
      long left = deadline - now_ms();
      if (left <= 0 || poll(&cp, 1, (int)left) <= 0) break;
      ssize_t r = read(c, payload + plen, sizeof payload - plen);
      if (r <= 0) break;
      plen += (size_t)r;
    }
  }
  out("fds=%d", nfds);
  out("cmsgs=%d", cmsgs);
  out("cmsg_len_exact=%d", nfds > 0 && cmsg_len == CMSG_LEN(sizeof(int) * (size_t)nfds));
  out("truncated=%d", (msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) != 0);
  static char h[sizeof payload * 2 + 1];
  hex(payload, plen, h, sizeof h);
  out("payload=%s", h);
  for (int i = 0; i < nfds; i++) {
    char p[64], t[256];
    snprintf(p, sizeof p, "/proc/self/fd/%d", fds[i]);
    ssize_t n = readlink(p, t, sizeof t - 1);
    t[n > 0 ? n : 0] = 0;
    out("fd%d=%s", i, t);
  }
  close(c);
  if (!strcmp(mode, "seccomp") || nfds == 0) {
    for (int i = 0; i < nfds; i++) close(fds[i]);
    out("done=1");
    return 0;
  }

  int m = fds[0];
  unsigned int ptn;
  if (ioctl(m, TIOCGPTN, &ptn) == 0)
    out("ptn=%u", ptn);
  else
    out("ptn=errno:%s", errname(errno));
  static unsigned char data[65536];
  size_t dl = 0;
  for (;;) {
    long left = deadline - now_ms();
    if (left <= 0) {
      out("eof=timeout");
      break;
    }
    struct pollfd mp = {m, POLLIN, 0};
    int pr = poll(&mp, 1, (int)(left < 200 ? left : 200));
    if (pr < 0 && errno == EINTR) continue;
    if (pr == 0) continue;
    ssize_t r = read(m, data + dl, sizeof data - dl);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      out("eof=%s", r == 0 ? "eof" : errname(errno));
      break;
    }
    dl += (size_t)r;
    if (dl >= sizeof data) break;
  }
  static char dh[sizeof data * 2 + 1];
  hex(data, dl, dh, sizeof dh);
  out("data=%s", dh);
  out("done=1");
  return 0;
}

/* ---- dispatch ---------------------------------------------------------------- */

static const struct {
  const char *name;
  int (*fn)(int, char **);
} COMMANDS[] = {
    {"info", cmd_info},
    {"args", cmd_args},
    {"env", cmd_env},
    {"stat", cmd_stat},
    {"statf", cmd_statf},
    {"read", cmd_read},
    {"write", cmd_write},
    {"writev", cmd_writev},
    {"touch", cmd_touch},
    {"mkdir", cmd_mkdir},
    {"chown", cmd_chown},
    {"statfs", cmd_statfs},
    {"cat", cmd_cat},
    {"ls", cmd_ls},
    {"fds", cmd_fds},
    {"procs", cmd_procs},
    {"ns", cmd_ns},
    {"tty", cmd_tty},
    {"syscall", cmd_syscall},
    {"wait-signal", cmd_wait_signal},
    {"sleep-ms", cmd_sleep_ms},
    {"kill-self", cmd_kill_self},
    {"fork", cmd_fork},
    {"hook", cmd_hook},
    {"recv-fd", cmd_recv_fd},
};

int main(int argc, char **argv) {
  g_argc = argc;
  g_argv = argv;
  if (argc < 2) {
    out("usage=tsrun-probe CMD [ARGS] [, CMD [ARGS]]...");
    return 2;
  }
  /* "args" reports the whole argv, separators included. */
  if (!strcmp(argv[1], "args")) return cmd_args(argc, argv);
  int rc = 0;
  int start = 1;
  while (start < argc) {
    int end = start;
    while (end < argc && strcmp(argv[end], ",") != 0) end++;
    const char *name = argv[start];
    if (!strcmp(name, "exit")) return start + 1 < end ? atoi(argv[start + 1]) : 0;
    size_t i;
    for (i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++) {
      if (strcmp(COMMANDS[i].name, name) == 0) {
        char *saved = end < argc ? argv[end] : NULL;
        argv[end < argc ? end : argc] = NULL;
        rc = COMMANDS[i].fn(end - start, argv + start);
        if (end < argc) argv[end] = saved;
        break;
      }
    }
    if (i == sizeof COMMANDS / sizeof COMMANDS[0]) {
      out("unknown-command=%s", name);
      return 2;
    }
    start = end + 1;
  }
  return rc;
}
