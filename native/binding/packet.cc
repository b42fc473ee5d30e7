// packet.cc — message sockets for talking to a helper process that speaks
// in whole messages (CRIU's RPC service, `criu swrk`): a SOCK_SEQPACKET
// pair, one message sent, one message received (with an fd it carries, as
// CRIU passes a pty master with its orphan-pts-master notification) off the
// event loop. Parent side only.
#include <napi.h>

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "binding.h"

namespace tsrun {

namespace {

// seqpacketPair() -> [a, b]: AF_UNIX SOCK_SEQPACKET, both close-on-exec
Napi::Value SeqpacketPair(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return ThrowErrno(env, errno, "socketpair");
  return FdPair(env, sv);
}

// sendPacket(fd, buffer): one message, whole or not at all
Napi::Value SendPacket(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::Buffer<uint8_t> buf = info[1].As<Napi::Buffer<uint8_t>>();
  ssize_t n;
  do n = send(fd, buf.Data(), buf.Length(), MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0) return ThrowErrno(env, errno, "send");
  if ((size_t)n != buf.Length()) return ThrowErrno(env, EMSGSIZE, "send");
  return env.Undefined();
}

// recvPacket(fd, max) -> Promise<{ data: Buffer, fd: number }>: one
// message (an empty data at EOF) and the fd it carried (-1: none; it is
// close-on-exec here). A message that fills `max` is refused: it may have
// been cut.
class RecvPacketWorker : public Napi::AsyncWorker {
 public:
  RecvPacketWorker(Napi::Env env, int fd, size_t max)
      : Napi::AsyncWorker(env), fd_(fd), buf_(max + 1), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    union {
      struct cmsghdr align;
      char bytes[CMSG_SPACE(sizeof(int) * 4)];
    } control;
    struct iovec iov = {buf_.data(), buf_.size()};
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    memset(&control, 0, sizeof control);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.bytes;
    msg.msg_controllen = sizeof control.bytes;
    ssize_t n;
    do n = recvmsg(fd_, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
      err_ = errno;
      return;
    }
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      int *fds = (int *)CMSG_DATA(c);
      for (size_t i = 0; i < count; i++) {
        if (passed_ < 0)
          passed_ = fds[i];
        else
          close(fds[i]); // one fd per message is all a peer may pass
      }
    }
    if ((size_t)n == buf_.size() || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
      if (passed_ >= 0) close(passed_);
      passed_ = -1;
      err_ = EMSGSIZE;
      return;
    }
    n_ = (size_t)n;
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (err_) {
      deferred_.Reject(ErrnoError(env, err_, "recvmsg", std::string("recvmsg: ") + strerror(err_)).Value());
      return;
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("data", Napi::Buffer<uint8_t>::Copy(env, buf_.data(), n_));
    out.Set("fd", Napi::Number::New(env, passed_));
    deferred_.Resolve(out);
  }

 private:
  int fd_;
  std::vector<uint8_t> buf_;
  size_t n_ = 0;
  int err_ = 0;
  int passed_ = -1;
  Napi::Promise::Deferred deferred_;
};

Napi::Value RecvPacket(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  size_t max = info[1].IsNumber() ? (size_t)info[1].As<Napi::Number>().Int64Value() : 65536;
  auto *w = new RecvPacketWorker(env, fd, max);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// bindMount(source, target): a recursive bind in our mount namespace (a
// restore's criu-root: CRIU restores onto a mount point)
Napi::Value BindMount(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string source = info[0].As<Napi::String>();
  std::string target = info[1].As<Napi::String>();
  if (mount(source.c_str(), target.c_str(), nullptr, MS_BIND | MS_REC, nullptr) < 0)
    return ThrowErrno(env, errno, "mount");
  return env.Undefined();
}

} // namespace

void InitPacket(Napi::Env env, Napi::Object exports) {
  exports.Set("seqpacketPair", Napi::Function::New(env, SeqpacketPair));
  exports.Set("sendPacket", Napi::Function::New(env, SendPacket));
  exports.Set("recvPacket", Napi::Function::New(env, RecvPacket));
  exports.Set("bindMount", Napi::Function::New(env, BindMount));
}

} // namespace tsrun
