/* util.c — allocation-free helpers for the init: strings, failure
 * reporting, the sync socket. Everything here is async-signal-safe. */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "init.h"

size_t tsrun_strlcpy(char *dst, const char *src, size_t size) {
  size_t n = strlen(src);
  if (size) {
    size_t c = n < size - 1 ? n : size - 1;
    memcpy(dst, src, c);
    dst[c] = 0;
  }
  return n;
}

size_t tsrun_strlcat(char *dst, const char *src, size_t size) {
  size_t d = strnlen(dst, size);
  if (d == size) return d + strlen(src);
  return d + tsrun_strlcpy(dst + d, src, size - d);
}

void tsrun_utoa(unsigned long v, char *buf, size_t size) {
  char tmp[24];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v && n < sizeof tmp);
  size_t i = 0;
  for (; i < n && i + 1 < size; i++) buf[i] = tmp[n - 1 - i];
  if (size) buf[i] = 0;
}

int tsrun_join(char *buf, size_t size, const char *root, const char *path) {
  buf[0] = 0;
  tsrun_strlcpy(buf, root, size);
  size_t r = strlen(buf);
  while (r > 1 && buf[r - 1] == '/') buf[--r] = 0;
  if (path[0] != '/') tsrun_strlcat(buf, "/", size);
  if (tsrun_strlcat(buf, path, size) >= size) {
    errno = ENAMETOOLONG;
    return -1;
  }
  return 0;
}

int tsrun_fail(struct tsrun_init *ctx, int err, ...) {
  va_list ap;
  ctx->err = err;
  ctx->message[0] = 0;
  va_start(ap, err);
  for (const char *piece; (piece = va_arg(ap, const char *));) tsrun_strlcat(ctx->message, piece, sizeof ctx->message);
  va_end(ap);
  return -1;
}

/* Room for exactly one passed fd. */
union fd_control {
  char buf[CMSG_SPACE(sizeof(int))];
  struct cmsghdr align;
};

static void init_msghdr(struct msghdr *mh, struct iovec *iov, union fd_control *control) {
  memset(mh, 0, sizeof *mh);
  memset(control, 0, sizeof *control);
  mh->msg_iov = iov;
  mh->msg_iovlen = 1;
  mh->msg_control = control->buf;
  mh->msg_controllen = sizeof control->buf;
}

ssize_t tsrun_send_with_fd(int sock, const void *data, size_t len, int pass_fd) {
  /* cmsg_len == CMSG_LEN(sizeof(int)) exactly: conmon and go-runc insist. */
  struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
  union fd_control control;
  struct msghdr mh;
  init_msghdr(&mh, &iov, &control);
  if (pass_fd < 0) {
    mh.msg_control = NULL;
    mh.msg_controllen = 0;
  } else {
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
  }
  ssize_t n;
  do n = sendmsg(sock, &mh, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n;
}

int tsrun_sync_send(int fd, uint32_t type, uint32_t step, int err, const char *message, int pass_fd) {
  struct tsrun_sync_msg msg;
  memset(&msg, 0, sizeof msg);
  msg.type = type;
  msg.step = step;
  msg.err = err;
  if (message) tsrun_strlcpy(msg.message, message, sizeof msg.message);
  return tsrun_send_with_fd(fd, &msg, sizeof msg, pass_fd) == (ssize_t)sizeof msg ? 0 : -1;
}

ssize_t tsrun_sync_recv(int fd, struct tsrun_sync_msg *msg, int *passed_fd) {
  struct iovec iov = {.iov_base = msg, .iov_len = sizeof *msg};
  union fd_control control;
  struct msghdr mh;
  init_msghdr(&mh, &iov, &control);
  ssize_t n;
  do n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (passed_fd) *passed_fd = -1;
  if (n < 0) return n;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    int got;
    memcpy(&got, CMSG_DATA(c), sizeof(int));
    if (passed_fd)
      *passed_fd = got;
    else
      close(got);
  }
  if (n > 0 && n != (ssize_t)sizeof *msg) {
    errno = EPROTO;
    return -1;
  }
  if (n > 0) msg->message[sizeof msg->message - 1] = 0;
  return n;
}
