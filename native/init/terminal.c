/* terminal.c — process.terminal: a pty whose slave becomes the container's
 * stdio and controlling terminal, and whose master goes to the caller. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

#include "init.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#define TSRUN_OPEN_TREE_CLONE 1
#define TSRUN_MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#define TSRUN_MOVE_MOUNT_T_EMPTY_PATH 0x00000040

/* The console-socket protocol engines expect (go-runc, conmon): one
 * SCM_RIGHTS fd and a short name, as runc sends it. */
static int send_console(int sock, int master) {
  static const char name[] = "/dev/ptmx";
  return tsrun_send_with_fd(sock, name, sizeof name - 1, master) < 0 ? -1 : 0;
}

/* The mount target for /dev/console: an image's /dev/console that is a
 * symlink or a directory is removed, not followed; the pty goes onto a
 * plain file we create (cf. CVE-2025-52565). Made in the devices step too,
 * while /dev may still be written (a read-only /dev is remounted so only
 * after the devices). Returns an O_PATH fd, or -1 (errno set; nothing to
 * bind onto is not an error of the caller's). */
int tsrun_console_target(struct tsrun_init *ctx) {
  int devfd = tsrun_open_in_root(ctx->root_fd, "/dev", O_PATH | O_DIRECTORY);
  if (devfd >= 0) {
    struct stat st;
    int rc = 0;
    if (fstatat(devfd, "console", &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode))
      rc = unlinkat(devfd, "console", S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0);
    int saved = errno;
    close(devfd);
    if (rc < 0) {
      tsrun_fail(ctx, saved, "replace the image's /dev/console (a symlink or directory)", NULL);
      return -2;
    }
  }
  int fd = tsrun_mkpath_in_root(ctx->root_fd, "/dev/console", 1);
  if (fd < 0) return -1;
  /* mkpath follows a symlink (inside the root): one swapped in since the
   * unlink above, by a container sharing /dev as a volume, must not choose
   * where the pty goes. The fd is of /dev/console itself, checked. */
  close(fd);
  fd = tsrun_open_in_root(ctx->root_fd, "/dev/console", O_PATH | O_NOFOLLOW);
  struct stat st;
  if (fd >= 0 && (fstat(fd, &st) < 0 || (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode)))) {
    close(fd);
    tsrun_fail(ctx, ELOOP, "/dev/console is not a file any more; refusing to bind the console onto it", NULL);
    return -2;
  }
  return fd;
}

/* /dev/console is the pty too, as runc does (bind of the slave). Fd to fd
 * (open_tree + move_mount): we are past pivot_root, where /proc/self/fd
 * paths would resolve in whatever the container has at /proc. */
static int bind_console(struct tsrun_init *ctx, int slave) {
  int console = tsrun_console_target(ctx);
  if (console == -2) return -1;
  if (console >= 0) {
    int tree = (int)syscall(SYS_open_tree, slave, "", TSRUN_OPEN_TREE_CLONE | AT_EMPTY_PATH | O_CLOEXEC);
    if (tree >= 0) {
      syscall(SYS_move_mount, tree, "", console, "", TSRUN_MOVE_MOUNT_F_EMPTY_PATH | TSRUN_MOVE_MOUNT_T_EMPTY_PATH);
      close(tree);
    }
    close(console);
  }
  return 0;
}

/* Opens the container's pty multiplexer: its own devpts instance (after
 * pivot_root for the init, in the joined mount namespace for a tenant).
 * Resolved inside the root, since a tenant's container may have swapped
 * /dev/ptmx for a symlink leading out of it, and checked to be the ptmx
 * device (5:2): a fifo there must not hang us, nor a regular file become
 * the container's terminal. */
static int open_ptmx(struct tsrun_init *ctx) {
  int master = tsrun_open_in_root(ctx->root_fd, "/dev/ptmx", O_RDWR | O_NOCTTY | O_NONBLOCK);
  if (master < 0) return tsrun_fail(ctx, errno, "open /dev/ptmx", NULL);
  struct stat st;
  if (fstat(master, &st) < 0 || !S_ISCHR(st.st_mode) || major(st.st_rdev) != 5 || minor(st.st_rdev) != 2) {
    close(master);
    return tsrun_fail(ctx, ENOTTY, "/dev/ptmx is not the pty multiplexer", NULL);
  }
  int fl = fcntl(master, F_GETFL);
  if (fl >= 0) fcntl(master, F_SETFL, fl & ~O_NONBLOCK);
  return master;
}

int tsrun_step_terminal(struct tsrun_init *ctx) {
  const struct tsrun_plan_header *h = ctx->plan->h;
  if (!(h->flags & TSRUN_PLAN_TERMINAL)) return 0;
  int master = open_ptmx(ctx);
  if (master < 0) return -1;
  int unlock = 0;
  if (ioctl(master, TIOCSPTLCK, &unlock) < 0) {
    int saved = errno;
    close(master);
    return tsrun_fail(ctx, saved, "unlock pty", NULL);
  }
  int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
  if (slave < 0) {
    int saved = errno;
    close(master);
    return tsrun_fail(ctx, saved, "open pty peer", NULL);
  }
  if (h->console_width || h->console_height) {
    struct winsize ws = {.ws_row = (unsigned short)h->console_height, .ws_col = (unsigned short)h->console_width};
    ioctl(slave, TIOCSWINSZ, &ws);
  }
  /* The terminal belongs to the process's user, as runc makes it; its group
   * stays what devpts gave it (gid=5, tty, with the usual devpts options). */
  int rc = fchown(slave, h->uid, (gid_t)-1) < 0 ? tsrun_fail(ctx, errno, "chown the pty to the process user", NULL) : 0;
  /* A tenant shares the init's /dev/console. */
  if (rc == 0 && !ctx->tenant) rc = bind_console(ctx, slave);
  if (rc < 0) {
    close(slave);
    close(master);
    return -1;
  }
  if (h->console_socket_fd >= 0) {
    rc = send_console(h->console_socket_fd, master);
    close(h->console_socket_fd);
  } else {
    rc = tsrun_sync_send(ctx->sync_fd, TSRUN_SYNC_PTY, TSRUN_STEP_TERMINAL, 0, NULL, master);
  }
  int saved = errno;
  close(master);
  if (rc < 0) {
    close(slave);
    return tsrun_fail(ctx, saved, "send pty master to console socket", NULL);
  }
  for (int fd = 0; fd < 3; fd++)
    if (dup2(slave, fd) < 0) return tsrun_fail(ctx, errno, "dup pty to stdio", NULL);
  if (ioctl(0, TIOCSCTTY, 0) < 0) return tsrun_fail(ctx, errno, "set controlling terminal", NULL);
  if (slave > 2) close(slave);
  return 0;
}
