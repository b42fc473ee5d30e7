// relay.cc — the stdio relay of a foreground process without a terminal.
//
// `run` and `exec` in the foreground give such a process pipes, never our
// own stdio, as runc does: our fd 0 may be the caller's terminal (where the
// process could TIOCSTI keystrokes into the caller's shell, or read what the
// user types next) and fds 1 and 2 may be a file the caller redirected to
// (which it could read back, seek or truncate). This copies between the
// pipes and our fds 0-2 on a thread of its own, in a poll loop:
//
//   our fd 0  ──► stdin pipe   until our EOF (then closed: the process reads
//                              EOF), its reader is gone, or endInput()
//   stdout pipe ──► our fd 1   until EOF (every writer closed)
//   stderr pipe ──► our fd 2   likewise
//
// `done` resolves once all three are over, or at stop(). Not libuv's pool:
// under Bun it has few threads, and reads blocked there starve everything
// else queued (waitPid, fs), nor node:net or fs streams, which under Bun read
// nothing from a pipe fd or never finish a write to one.
#include <napi.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <string>

#include "binding.h"

namespace tsrun {

namespace {

// One direction: src → dst through buf. The pipe end of each is ours to
// close; our fds 0-2 never are.
struct Flow {
  int src = -1, dst = -1;
  bool owns_src = false;
  bool open = false;
  bool eof = false; // src is done; what is in buf still goes
  char buf[65536];
  size_t off = 0, len = 0;
};

enum { IN, OUT, ERR };
enum : char { CMD_END_INPUT = 'i', CMD_STOP = 's' };

struct Relay {
  Flow flow[3];
  int ctl[2] = {-1, -1}; // commands (one byte each) from the JS thread
  int err = 0;
  const char *syscall = "";
  Napi::Promise::Deferred deferred;
  Napi::ThreadSafeFunction tsfn;
  explicit Relay(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
  ~Relay() {
    for (Flow &f : flow) End(f);
    for (int fd : ctl)
      if (fd >= 0) close(fd);
  }
  // Closes the pipe end: for stdin the process reads EOF; for an output it
  // gets EPIPE, as it would writing to our fd with no reader left.
  static void End(Flow &f) {
    if (!f.open) return;
    f.open = false;
    close(f.owns_src ? f.src : f.dst);
  }
  void Command(char c) {
    // non-blocking: two commands never fill a pipe, and a relay that has
    // ended reads none
    ssize_t n;
    do n = write(ctl[1], &c, 1);
    while (n < 0 && errno == EINTR);
  }
};

// A write to one of our fds, which may be blocking: after POLLOUT, at most
// PIPE_BUF bytes, which a pipe takes whole without blocking. (Setting
// O_NONBLOCK on our fds is not ours to do: their file descriptions are
// shared with the caller's shell.) Our own pipe ends are non-blocking.
size_t Chunk(const Flow &f, int i) {
  return i == IN ? f.len - f.off : std::min(f.len - f.off, (size_t)PIPE_BUF);
}

void Loop(Relay *r) {
  for (;;) {
    struct pollfd p[7];
    int idx[3][2]; // [flow][src, dst] -> index in p, or -1
    nfds_t n = 0;
    p[n++] = {r->ctl[0], POLLIN, 0};
    bool any = false;
    for (int i = 0; i < 3; i++) {
      Flow &f = r->flow[i];
      idx[i][0] = idx[i][1] = -1;
      if (!f.open) continue;
      any = true;
      if (f.len == 0 && !f.eof) {
        idx[i][0] = n;
        p[n++] = {f.src, POLLIN, 0};
      }
      // the stdin pipe is watched even with nothing to write: POLLERR there
      // (its reader is gone) ends the flow before we read fd 0 for nothing
      if (f.len > 0 || i == IN) {
        idx[i][1] = n;
        p[n++] = {f.dst, (short)(f.len > 0 ? POLLOUT : 0), 0};
      }
    }
    if (!any) return;
    int rc;
    do rc = poll(p, n, -1);
    while (rc < 0 && errno == EINTR);
    if (rc < 0) {
      r->err = errno;
      r->syscall = "poll";
      return;
    }
    if (p[0].revents) {
      char cmds[16];
      ssize_t k = read(r->ctl[0], cmds, sizeof cmds);
      for (ssize_t j = 0; j < k; j++) {
        if (cmds[j] == CMD_STOP) return;
        if (cmds[j] == CMD_END_INPUT) Relay::End(r->flow[IN]);
      }
    }
    for (int i = 0; i < 3; i++) {
      Flow &f = r->flow[i];
      if (!f.open) continue;
      short out = idx[i][1] >= 0 ? p[idx[i][1]].revents : 0;
      if (f.len > 0 && out) {
        ssize_t w = write(f.dst, f.buf + f.off, Chunk(f, i));
        if (w < 0 && errno != EAGAIN && errno != EINTR) {
          Relay::End(f); // the reader is gone (EPIPE: SIGPIPE is blocked here)
          continue;
        }
        if (w > 0 && (f.off += w) == f.len) f.off = f.len = 0;
      } else if (i == IN && (out & (POLLERR | POLLHUP | POLLNVAL))) {
        Relay::End(f); // the process closed its stdin: we stop reading ours
        continue;
      }
      short in = idx[i][0] >= 0 ? p[idx[i][0]].revents : 0;
      if (f.len == 0 && !f.eof && in) {
        ssize_t k = read(f.src, f.buf, sizeof f.buf);
        if (k > 0) f.len = f.dst >= 0 ? k : 0; // no fd of ours to write to: dropped, as a closed fd drops it
        // EOF; or an error: EIO from a terminal we may not read (a
        // background job: SIGTTIN is blocked here), EBADF from a closed fd
        else if (k == 0 || (errno != EAGAIN && errno != EINTR))
          f.eof = true;
      }
      if (f.eof && f.len == 0) Relay::End(f);
    }
  }
}

void Settle(Napi::Env env, Napi::Function, Relay *r) {
  if (!r->err) {
    r->deferred.Resolve(env.Undefined());
    return;
  }
  Napi::Error e = Napi::Error::New(env, std::string(r->syscall) + ": " + strerror(r->err));
  e.Set("errno", Napi::Number::New(env, r->err));
  e.Set("syscall", Napi::String::New(env, r->syscall));
  const char *name = strerrorname_np(r->err);
  e.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
  r->deferred.Reject(e.Value());
}

void *RelayThread(void *arg) {
  auto *ref = static_cast<std::shared_ptr<Relay> *>(arg);
  Relay *r = ref->get();
  // Every signal blocked: Node's are for its own threads; a write to a pipe
  // without a reader fails with EPIPE instead of raising SIGPIPE; a read of
  // a terminal from a background job fails with EIO instead of stopping us.
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, nullptr);
  Loop(r);
  for (Flow &f : r->flow) Relay::End(f);
  Napi::ThreadSafeFunction tsfn = r->tsfn;
  tsfn.BlockingCall(r, Settle);
  delete ref; // the tsfn's finalizer holds the relay until Settle has run
  tsfn.Release();
  return nullptr;
}

} // namespace

// relayPipes(pipes: [stdin, stdout, stderr], ours: [in, out, err])
//   -> { done: Promise<void>, endInput(), stop() }
// pipes: our ends (the stdin pipe's write end, the others' read ends); the
// relay owns them from here on, even when this throws. ours: -1 for one
// that is closed (no stdin: the process reads EOF at once).
Napi::Value RelayPipes(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  auto r = std::make_shared<Relay>(env);
  Napi::Array pipes = info[0].As<Napi::Array>(), ours = info[1].As<Napi::Array>();
  for (int i = 0; i < 3; i++) {
    Flow &f = r->flow[i];
    int pipe_end = pipes.Get(i).As<Napi::Number>().Int32Value();
    int mine = ours.Get(i).As<Napi::Number>().Int32Value();
    f.owns_src = i != IN;
    f.src = i == IN ? mine : pipe_end;
    f.dst = i == IN ? pipe_end : mine;
    f.open = true;
    fcntl(pipe_end, F_SETFL, fcntl(pipe_end, F_GETFL) | O_NONBLOCK); // ours alone
    if (mine < 0 && i == IN) Relay::End(f);
  }
  if (pipe2(r->ctl, O_CLOEXEC | O_NONBLOCK) < 0) return ThrowErrno(env, errno, "pipe2");
  r->tsfn = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo &) {}),
                                          "tsrun.relayPipes", 0, 1, new std::shared_ptr<Relay>(r),
                                          [](Napi::Env, std::shared_ptr<Relay> *keep) { delete keep; });
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  pthread_t thread;
  auto *ref = new std::shared_ptr<Relay>(r);
  int rc = pthread_create(&thread, &attr, RelayThread, ref);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    delete ref;
    r->tsfn.Release();
    return ThrowErrno(env, rc, "pthread_create");
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("done", r->deferred.Promise());
  out.Set("endInput", Napi::Function::New(env, [r](const Napi::CallbackInfo &) { r->Command(CMD_END_INPUT); }));
  out.Set("stop", Napi::Function::New(env, [r](const Napi::CallbackInfo &) { r->Command(CMD_STOP); }));
  return out;
}

} // namespace tsrun
