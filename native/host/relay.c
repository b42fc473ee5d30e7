/* relay.c — the stdio relay of a foreground process without a terminal,
 * for both front doors: the addon runs it on a thread of its own
 * (native/binding/relay.cc: run and exec from JavaScript), the front on its
 * main thread's helper (a cached exec, native/front/exec.c).
 *
 * `run` and `exec` in the foreground give such a process pipes, never our
 * own stdio, as runc does: our fd 0 may be the caller's terminal (where the
 * process could TIOCSTI keystrokes into the caller's shell, or read what the
 * user types next) and fds 1 and 2 may be a file the caller redirected to
 * (which it could read back, seek or truncate). This copies between the
 * pipes and our fds 0-2 in a poll loop:
 *
 *   our fd 0  ──► stdin pipe   until our EOF (then closed: the process reads
 *                              EOF), its reader is gone, or END_INPUT
 *   stdout pipe ──► our fd 1   until EOF (every writer closed)
 *   stderr pipe ──► our fd 2   likewise
 *
 * It returns once all three are over, or at STOP. Every signal should be
 * blocked in the thread that runs it: a write to a pipe without a reader
 * then fails with EPIPE instead of raising SIGPIPE, and a read of a
 * terminal from a background job with EIO instead of stopping us. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "host.h"

enum { IN, OUT, ERR };

/* Closes the pipe end: for stdin the process reads EOF; for an output it
 * gets EPIPE, as it would writing to our fd with no reader left. */
static void end_flow(struct tsrun_relay_flow *f) {
  if (!f->open) return;
  f->open = 0;
  close(f->owns_src ? f->src : f->dst);
}

int tsrun_relay_init(struct tsrun_relay *r, const int pipes[3], const int ours[3]) {
  memset(r, 0, sizeof *r);
  for (int i = 0; i < 3; i++) {
    struct tsrun_relay_flow *f = &r->flow[i];
    f->owns_src = i != IN;
    f->src = i == IN ? ours[i] : pipes[i];
    f->dst = i == IN ? pipes[i] : ours[i];
    f->open = 1;
    fcntl(pipes[i], F_SETFL, fcntl(pipes[i], F_GETFL) | O_NONBLOCK); /* ours alone */
    if (ours[i] < 0 && i == IN) end_flow(f);
  }
  if (pipe2(r->ctl, O_CLOEXEC | O_NONBLOCK) < 0) {
    r->ctl[0] = r->ctl[1] = -1;
    for (int i = 0; i < 3; i++) end_flow(&r->flow[i]);
    return -1;
  }
  return 0;
}

void tsrun_relay_command(struct tsrun_relay *r, char c) {
  /* non-blocking: two commands never fill a pipe, and a relay that has ended reads none */
  ssize_t n;
  do n = write(r->ctl[1], &c, 1);
  while (n < 0 && errno == EINTR);
}

void tsrun_relay_free(struct tsrun_relay *r) {
  for (int i = 0; i < 3; i++) end_flow(&r->flow[i]);
  for (int i = 0; i < 2; i++)
    if (r->ctl[i] >= 0) close(r->ctl[i]);
  r->ctl[0] = r->ctl[1] = -1;
}

/* A write to one of our fds, which may be blocking: after POLLOUT, at most
 * PIPE_BUF bytes, which a pipe takes whole without blocking. (Setting
 * O_NONBLOCK on our fds is not ours to do: their file descriptions are
 * shared with the caller's shell.) Our own pipe ends are non-blocking. */
static size_t chunk(const struct tsrun_relay_flow *f, int i) {
  size_t left = f->len - f->off;
  return i == IN || left < PIPE_BUF ? left : PIPE_BUF;
}

void tsrun_relay_loop(struct tsrun_relay *r) {
  for (;;) {
    struct pollfd p[7];
    int idx[3][2]; /* [flow][src, dst] -> index in p, or -1 */
    nfds_t n = 0;
    p[n++] = (struct pollfd){r->ctl[0], POLLIN, 0};
    int any = 0;
    for (int i = 0; i < 3; i++) {
      struct tsrun_relay_flow *f = &r->flow[i];
      idx[i][0] = idx[i][1] = -1;
      if (!f->open) continue;
      any = 1;
      if (f->len == 0 && !f->eof) {
        idx[i][0] = (int)n;
        p[n++] = (struct pollfd){f->src, POLLIN, 0};
      }
      /* the stdin pipe is watched even with nothing to write: POLLERR there
       * (its reader is gone) ends the flow before we read fd 0 for nothing */
      if (f->len > 0 || i == IN) {
        idx[i][1] = (int)n;
        p[n++] = (struct pollfd){f->dst, (short)(f->len > 0 ? POLLOUT : 0), 0};
      }
    }
    if (!any) break;
    int rc;
    do rc = poll(p, n, -1);
    while (rc < 0 && errno == EINTR);
    if (rc < 0) {
      r->err = errno;
      r->syscall = "poll";
      break;
    }
    if (p[0].revents) {
      char cmds[16];
      ssize_t k = read(r->ctl[0], cmds, sizeof cmds);
      for (ssize_t j = 0; j < k; j++) {
        if (cmds[j] == TSRUN_RELAY_STOP) goto out;
        if (cmds[j] == TSRUN_RELAY_END_INPUT) end_flow(&r->flow[IN]);
      }
    }
    for (int i = 0; i < 3; i++) {
      struct tsrun_relay_flow *f = &r->flow[i];
      if (!f->open) continue;
      short outev = idx[i][1] >= 0 ? p[idx[i][1]].revents : 0;
      if (f->len > 0 && outev) {
        ssize_t w = write(f->dst, f->buf + f->off, chunk(f, i));
        if (w < 0 && errno != EAGAIN && errno != EINTR) {
          end_flow(f); /* the reader is gone (EPIPE: SIGPIPE is blocked here) */
          continue;
        }
        if (w > 0 && (f->off += (size_t)w) == f->len) f->off = f->len = 0;
      } else if (i == IN && (outev & (POLLERR | POLLHUP | POLLNVAL))) {
        end_flow(f); /* the process closed its stdin: we stop reading ours */
        continue;
      }
      short inev = idx[i][0] >= 0 ? p[idx[i][0]].revents : 0;
      if (f->len == 0 && !f->eof && inev) {
        ssize_t k = read(f->src, f->buf, sizeof f->buf);
        if (k > 0)
          f->len = f->dst >= 0 ? (size_t)k : 0; /* no fd of ours to write to: dropped, as a closed fd drops it */
        /* EOF; or an error: EIO from a terminal we may not read (a
         * background job: SIGTTIN is blocked), EBADF from a closed fd */
        else if (k == 0 || (errno != EAGAIN && errno != EINTR))
          f->eof = 1;
      }
      if (f->eof && f->len == 0) end_flow(f);
    }
  }
out:
  for (int i = 0; i < 3; i++) end_flow(&r->flow[i]);
}
