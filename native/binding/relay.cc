// relay.cc — the stdio relay of a foreground process without a terminal,
// for JavaScript: native/host/relay.c's loop (what it copies and why, there)
// on a thread of its own. Not libuv's pool: under Bun it has few threads,
// and reads blocked there starve everything else queued (waitPid, fs), nor
// node:net or fs streams, which under Bun read nothing from a pipe fd or
// never finish a write to one. `done` resolves once all three flows are
// over, or at stop().
#include <napi.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include <memory>
#include <string>

#include "binding.h"
extern "C" {
#include "host.h"
}

namespace tsrun {

namespace {

struct Relay {
  struct tsrun_relay r;
  Napi::Promise::Deferred deferred;
  Napi::ThreadSafeFunction tsfn;
  explicit Relay(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
  ~Relay() { tsrun_relay_free(&r); }
};

void Settle(Napi::Env env, Napi::Function, Relay *r) {
  if (!r->r.err) {
    r->deferred.Resolve(env.Undefined());
    return;
  }
  Napi::Error e = Napi::Error::New(env, std::string(r->r.syscall) + ": " + strerror(r->r.err));
  e.Set("errno", Napi::Number::New(env, r->r.err));
  e.Set("syscall", Napi::String::New(env, r->r.syscall));
  const char *name = strerrorname_np(r->r.err);
  e.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
  r->deferred.Reject(e.Value());
}

void *RelayThread(void *arg) {
  auto *ref = static_cast<std::shared_ptr<Relay> *>(arg);
  Relay *r = ref->get();
  // Every signal blocked: Node's are for its own threads (and relay.c's reasons)
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, nullptr);
  tsrun_relay_loop(&r->r);
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
  int p[3], o[3];
  for (int i = 0; i < 3; i++) {
    p[i] = pipes.Get(i).As<Napi::Number>().Int32Value();
    o[i] = ours.Get(i).As<Napi::Number>().Int32Value();
  }
  if (tsrun_relay_init(&r->r, p, o) < 0) return ThrowErrno(env, errno, "pipe2");
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
  out.Set("endInput", Napi::Function::New(
                          env, [r](const Napi::CallbackInfo &) { tsrun_relay_command(&r->r, TSRUN_RELAY_END_INPUT); }));
  out.Set("stop",
          Napi::Function::New(env, [r](const Napi::CallbackInfo &) { tsrun_relay_command(&r->r, TSRUN_RELAY_STOP); }));
  return out;
}

} // namespace tsrun
