// addon.cc — the Node-API surface of tsrun: small, positional, policy-free.
// Parent side only; the child never returns into this file (it enters
// tsrun_init_main, plain C, right after clone).
#include <napi.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dlfcn.h>

#include <string>
#include <vector>

extern "C" {
#include "../init/init.h"
#include "host.h"
}

#include "binding.h"

namespace tsrun {

long ElapsedMs(const struct timespec &start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
}

Napi::Error ErrnoError(Napi::Env env, int err, const char *syscall_name, const std::string &message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("errno", Napi::Number::New(env, err));
  if (syscall_name) e.Set("syscall", Napi::String::New(env, syscall_name));
  const char *name = strerrorname_np(err);
  e.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
  return e;
}

Napi::Value ThrowErrno(Napi::Env env, int err, const char *syscall_name) {
  ErrnoError(env, err, syscall_name, std::string(syscall_name) + ": " + strerror(err)).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value FdPair(Napi::Env env, const int fds[2]) {
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set(0u, Napi::Number::New(env, fds[0]));
  a.Set(1u, Napi::Number::New(env, fds[1]));
  return a;
}

} // namespace tsrun

namespace {

using tsrun::ThrowErrno;

Napi::Value ThrowMessage(Napi::Env env, const std::string &msg) {
  Napi::Error::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

// The init executable: tsrun-init beside this addon (CMakeLists.txt puts it
// there, and so does a release).
const std::string &InitPath() {
  static std::string path;
  if (path.empty()) {
    Dl_info info;
    std::string self = dladdr(reinterpret_cast<void *>(&InitPath), &info) && info.dli_fname ? info.dli_fname : "";
    size_t slash = self.rfind('/');
    path = (slash == std::string::npos ? std::string(".") : self.substr(0, slash)) + "/tsrun-init";
  }
  return path;
}

// launchStart(plan: Uint8Array, cgroupFd: number, stdio: [in, out, err], timeoutMs)
//   -> { handle, pid }
// Starts a container process (native/host/launch.c: the plan checked, then
// clone and execve of tsrun-init). The handle drives the rest: launchNext,
// launchGo, launchAbort, launchClose.
Napi::Value LaunchStart(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray()) return ThrowMessage(env, "launchStart: plan must be a Uint8Array");
  Napi::Uint8Array buf = info[0].As<Napi::Uint8Array>();
  struct tsrun_launch_req req;
  memset(&req, 0, sizeof req);
  req.init_path = InitPath().c_str();
  req.plan = buf.Data();
  req.plan_len = buf.ByteLength();
  req.cgroup_fd = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : -1;
  req.stdio[0] = req.stdio[1] = req.stdio[2] = -1;
  if (info[2].IsArray()) {
    Napi::Array a = info[2].As<Napi::Array>();
    for (uint32_t i = 0; i < 3 && i < a.Length(); i++)
      if (a.Get(i).IsNumber()) req.stdio[i] = a.Get(i).As<Napi::Number>().Int32Value();
  }
  req.timeout_ms = info[3].IsNumber() ? info[3].As<Napi::Number>().Int32Value() : -1;
#ifdef TSRUN_SANITIZE
  // the sanitized init reports where the rest of the sanitized runtime does
  std::vector<std::string> vars;
  std::vector<const char *> envp;
  for (const char *name : {"ASAN_OPTIONS", "UBSAN_OPTIONS"})
    if (const char *v = getenv(name)) vars.push_back(std::string(name) + "=" + v);
  for (const std::string &v : vars) envp.push_back(v.c_str());
  req.env = envp.data();
  req.nenv = envp.size();
#endif
  auto *L = new tsrun_launch();
  struct tsrun_err e;
  if (tsrun_launch_start(L, &req, &e) < 0) {
    delete L;
    tsrun::HostError(env, e, {}).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("handle", Napi::External<tsrun_launch>::New(env, L, [](Napi::Env, tsrun_launch *l) { delete l; }));
  out.Set("pid", Napi::Number::New(env, (double)L->pid));
  return out;
}

tsrun_launch *LaunchOf(const Napi::Value &v) {
  return v.As<Napi::External<tsrun_launch>>().Data();
}

// launchNext(handle) -> Promise<{ type, pid, startTime, fd, step, errno,
// code, message }>: the sync loop up to the next event, on the libuv
// threadpool, so the event loop runs while an init sets itself up (signals
// are forwarded meanwhile; an API user drives many containers at once).
class LaunchNextWorker : public Napi::AsyncWorker {
 public:
  LaunchNextWorker(Napi::Env env, tsrun_launch *l)
      : Napi::AsyncWorker(env), l_(l), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override { rc_ = tsrun_launch_next(l_, &ev_, &err_); }
  void OnOK() override {
    Napi::Env env = Env();
    if (rc_ < 0) {
      deferred_.Reject(tsrun::HostError(env, err_, {}).Value());
      return;
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("type", Napi::Number::New(env, ev_.type));
    out.Set("pid", Napi::Number::New(env, (double)l_->pid));
    out.Set("startTime", Napi::Number::New(env, (double)l_->start_time));
    out.Set("fd", Napi::Number::New(env, ev_.fd));
    out.Set("ptyMaster", Napi::Number::New(env, l_->pty_master));
    out.Set("step", Napi::Number::New(env, ev_.step));
    out.Set("errno", Napi::Number::New(env, ev_.err));
    const char *code = ev_.err ? strerrorname_np(ev_.err) : nullptr;
    out.Set("code", code ? Napi::Value(Napi::String::New(env, code)) : env.Null());
    out.Set("message", Napi::String::New(env, ev_.message));
    if (ev_.type == TSRUN_SYNC_ERROR) {
      struct tsrun_err worded;
      tsrun_launch_error(&ev_, &worded);
      out.Set("text", Napi::String::New(env, worded.message));
    }
    deferred_.Resolve(out);
  }

 private:
  tsrun_launch *l_;
  int rc_ = 0;
  struct tsrun_launch_event ev_;
  struct tsrun_err err_;
  Napi::Promise::Deferred deferred_;
};

Napi::Value LaunchNext(const Napi::CallbackInfo &info) {
  auto *w = new LaunchNextWorker(info.Env(), LaunchOf(info[0]));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// launchGo(handle, pid?): GO after the caller's step; after PID it carries
// the process's pid as we see it (the init's hooks read it in their state).
Napi::Value LaunchGo(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  struct tsrun_err e;
  pid_t pid = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0;
  if (tsrun_launch_go(LaunchOf(info[0]), pid, &e) < 0) tsrun::HostError(env, e, {}).ThrowAsJavaScriptException();
  return env.Undefined();
}

// launchAbort(handle) -> Promise<void>: SIGKILL, reap (off the event loop), close.
class LaunchAbortWorker : public Napi::AsyncWorker {
 public:
  LaunchAbortWorker(Napi::Env env, tsrun_launch *l)
      : Napi::AsyncWorker(env), l_(l), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override { tsrun_launch_abort(l_); }
  void OnOK() override { deferred_.Resolve(Env().Undefined()); }

 private:
  tsrun_launch *l_;
  Napi::Promise::Deferred deferred_;
};

Napi::Value LaunchAbort(const Napi::CallbackInfo &info) {
  auto *w = new LaunchAbortWorker(info.Env(), LaunchOf(info[0]));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// launchClose(handle): done; the sync socket closes (the process and the pty master are ours).
Napi::Value LaunchClose(const Napi::CallbackInfo &info) {
  tsrun_launch_close(LaunchOf(info[0]));
  return info.Env().Undefined();
}

// writeOomScoreAdj(pid, value): process.oomScoreAdj (native/host/launch.c).
Napi::Value WriteOomScoreAdj(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  struct tsrun_err e;
  if (tsrun_write_oom_score_adj(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int32Value(), &e) <
      0)
    tsrun::HostError(env, e, {}).ThrowAsJavaScriptException();
  return env.Undefined();
}

// cgroupWarm(): the grace period of a v1 cgroup join, started now (native/host/launch.c).
Napi::Value CgroupWarm(const Napi::CallbackInfo &info) {
  tsrun_cgroup_warm();
  return info.Env().Undefined();
}

// monotonicMs() -> CLOCK_MONOTONIC in ms: the init's step times are on this clock.
Napi::Value MonotonicMs(const Napi::CallbackInfo &info) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return Napi::Number::New(info.Env(), (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6);
}

// realtimeNs() -> CLOCK_REALTIME in ns (a BigInt): state.json's `created`,
// to the nanosecond as runc writes it (Date.now() has ms only).
Napi::Value RealtimeNs(const Napi::CallbackInfo &info) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return Napi::BigInt::New(info.Env(), static_cast<uint64_t>((uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec));
}

// pipe() -> [readFd, writeFd], both close-on-exec (stdio for the API's containers).
Napi::Value Pipe(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) return ThrowErrno(env, errno, "pipe2");
  return tsrun::FdPair(env, fds);
}

// nsType(fd) -> CLONE_NEW* of the namespace file fd (ioctl
// NS_GET_NSTYPE); throws ENOTTY/EINVAL when fd is not a namespace.
Napi::Value NsType(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int rc = ioctl(info[0].As<Napi::Number>().Int32Value(), _IO(0xb7, 0x3) /* NS_GET_NSTYPE */);
  if (rc < 0) return ThrowErrno(env, errno, "ioctl NS_GET_NSTYPE");
  return Napi::Number::New(env, rc);
}

// waitPid(pid) -> Promise<{code, signal}>: waits for a child on a thread of
// its own, not libuv's pool: a container may outlive many waits (exec'd
// processes of health checks), and a pool thread blocked in waitpid would
// both starve the pool and hold up process exit, which joins the pool.
// A detached thread is simply gone when the process exits.
struct ExitWait {
  pid_t pid;
  int status = 0;
  int err = 0;
  napi_deferred deferred = nullptr;
  Napi::ThreadSafeFunction tsfn;
  explicit ExitWait(pid_t p) : pid(p) {}
};

void SettleExit(Napi::Env env, Napi::Function, ExitWait *w) {
  // raw napi, every status ignored: an unref'd wait may settle while the
  // environment is torn down at exit, when no JavaScript can run and
  // node-addon-api's throw on a failed call would abort the process
  napi_value result = nullptr, v = nullptr;
  if (w->err) {
    napi_value msg = nullptr;
    std::string text = std::string("waitpid: ") + strerror(w->err);
    napi_create_string_utf8(env, text.c_str(), text.size(), &msg);
    if (napi_create_error(env, nullptr, msg, &result) != napi_ok) return;
    napi_create_int32(env, w->err, &v);
    napi_set_named_property(env, result, "errno", v);
    napi_reject_deferred(env, w->deferred, result);
    return;
  }
  if (napi_create_object(env, &result) != napi_ok) return;
  if (WIFEXITED(w->status))
    napi_create_int32(env, WEXITSTATUS(w->status), &v);
  else
    napi_get_null(env, &v);
  napi_set_named_property(env, result, "code", v);
  if (WIFSIGNALED(w->status))
    napi_create_int32(env, WTERMSIG(w->status), &v);
  else
    napi_get_null(env, &v);
  napi_set_named_property(env, result, "signal", v);
  napi_resolve_deferred(env, w->deferred, result);
}

void *WaitThread(void *arg) {
  auto *w = static_cast<ExitWait *>(arg);
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, nullptr); // Node's signals are for its own threads
  int rc;
  do rc = waitpid(w->pid, &w->status, __WALL);
  while (rc < 0 && errno == EINTR);
  w->err = rc < 0 ? errno : 0;
  w->tsfn.BlockingCall(w, SettleExit);
  w->tsfn.Release();
  return nullptr;
}

Napi::Value WaitPid(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  auto *w = new ExitWait(info[0].As<Napi::Number>().Int32Value());
  napi_value promise;
  if (napi_create_promise(env, &w->deferred, &promise) != napi_ok) {
    delete w;
    return ThrowErrno(env, ENOMEM, "napi_create_promise");
  }
  w->tsfn = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo &) {}),
                                          "tsrun.waitPid", 0, 1, [w](Napi::Env) { delete w; });
  // waitPid(pid, true): the wait does not keep the process alive (the
  // Runtime's own watch of its inits; whoever awaits a result holds a ref
  // of their own)
  if (info.Length() > 1 && info[1].ToBoolean()) w->tsfn.Unref(env);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  pthread_t thread;
  int rc = pthread_create(&thread, &attr, WaitThread, w);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    w->tsfn.Release();
    return ThrowErrno(env, rc, "pthread_create");
  }
  return Napi::Value(env, promise);
}

// reap(pid) -> {code, signal} | null : a non-blocking waitpid.
Napi::Value Reap(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int status = 0;
  int rc = waitpid(info[0].As<Napi::Number>().Int32Value(), &status, WNOHANG | __WALL);
  if (rc < 0) return ThrowErrno(env, errno, "waitpid");
  if (rc == 0) return env.Null();
  Napi::Object out = Napi::Object::New(env);
  out.Set("code", WIFEXITED(status) ? Napi::Value(Napi::Number::New(env, WEXITSTATUS(status))) : env.Null());
  out.Set("signal", WIFSIGNALED(status) ? Napi::Value(Napi::Number::New(env, WTERMSIG(status))) : env.Null());
  return out;
}

// mkfifo(path, mode)
Napi::Value Mkfifo(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>();
  if (mkfifo(path.c_str(), info[1].As<Napi::Number>().Uint32Value()) < 0) return ThrowErrno(env, errno, "mkfifo");
  return env.Undefined();
}

// flock(fd, op) ; op: LOCK_EX=2, LOCK_SH=1, LOCK_UN=8, | LOCK_NB=4
Napi::Value Flock(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int rc;
  do rc = flock(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int32Value());
  while (rc < 0 && errno == EINTR);
  if (rc < 0) return ThrowErrno(env, errno, "flock");
  return env.Undefined();
}

// connectUnix(path) -> fd  (a SOCK_STREAM client, e.g. --console-socket);
// not close-on-exec by design: the init inherits it.
Napi::Value ConnectUnix(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>();
  int fd = tsrun_connect_unix(path.c_str()); // native/host/files.c, the front's too
  if (fd < 0) return ThrowErrno(env, errno, "connect");
  return Napi::Number::New(env, fd);
}

// writePidFile(file, pid): runc's pid file (native/host/files.c, the front's too).
Napi::Value WritePidFile(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string file = info[0].As<Napi::String>();
  struct tsrun_err e;
  if (tsrun_write_pid_file(file.c_str(), info[1].As<Napi::Number>().Int32Value(), &e) < 0)
    tsrun::HostError(env, e, {}).ThrowAsJavaScriptException();
  return env.Undefined();
}

// readInRoot(root, path, maxBytes) -> string | null: a small file of a
// container's tree (a rootfs, or /proc/<pid>/root), resolved with
// openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) so no symlink in the
// image leads to a host file; null when it does not exist or is no regular
// file. A file of more than maxBytes throws EFBIG without being read (the
// image chooses its size: a sparse 1.5 GB /etc/passwd). Used for the
// image's /etc/passwd (HOME).
Napi::Value ReadInRoot(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string root = info[0].As<Napi::String>();
  std::string rel = info[1].As<Napi::String>();
  size_t max = info[2].As<Napi::Number>().Uint32Value();
  int dir = open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return env.Null();
  int fd = tsrun_open_in_root(dir, rel.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  close(dir);
  if (fd < 0) return env.Null();
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return env.Null();
  }
  if ((uint64_t)st.st_size > max) {
    close(fd);
    return ThrowErrno(env, EFBIG, "read");
  }
  // the size may grow meanwhile: read one byte past max to know
  std::string out;
  char buf[8192];
  ssize_t n;
  while (out.size() <= max && (n = read(fd, buf, sizeof buf)) > 0) out.append(buf, (size_t)n);
  close(fd);
  if (out.size() > max) return ThrowErrno(env, EFBIG, "read");
  return Napi::String::New(env, out);
}

// userName(uid) -> the passwd entry's name, or the uid as a string (runc's `owner`).
Napi::Value UserName(const Napi::CallbackInfo &info) {
  uid_t uid = info[0].As<Napi::Number>().Uint32Value();
  struct passwd pw, *found = nullptr;
  char buf[4096];
  if (getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found) return Napi::String::New(info.Env(), pw.pw_name);
  return Napi::String::New(info.Env(), std::to_string(uid));
}

// setChildSubreaper(): orphans of the container come to us (run without a
// pid namespace).
Napi::Value SetChildSubreaper(const Napi::CallbackInfo &info) {
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) return ThrowErrno(info.Env(), errno, "prctl");
  return info.Env().Undefined();
}

// copyWinsize(from, to) -> bool: gives the pty `to` the window size of the
// terminal `from` (false when `from` is not a terminal).
Napi::Value CopyWinsize(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  struct winsize ws;
  if (ioctl(info[0].As<Napi::Number>().Int32Value(), TIOCGWINSZ, &ws) < 0) return Napi::Boolean::New(env, false);
  if (ioctl(info[1].As<Napi::Number>().Int32Value(), TIOCSWINSZ, &ws) < 0)
    return ThrowErrno(env, errno, "ioctl TIOCSWINSZ");
  return Napi::Boolean::New(env, true);
}

// terminalSize(fd) -> { rows, cols } | null: TIOCGWINSZ (null when fd is no terminal).
Napi::Value TerminalSize(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  struct winsize ws;
  if (ioctl(info[0].As<Napi::Number>().Int32Value(), TIOCGWINSZ, &ws) < 0) return env.Null();
  Napi::Object out = Napi::Object::New(env);
  out.Set("rows", Napi::Number::New(env, ws.ws_row));
  out.Set("cols", Napi::Number::New(env, ws.ws_col));
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("planVersion", tsrun::PlanVersion(env));
  exports.Set("constantsJson", Napi::Function::New(env, tsrun::ConstantsJson));
  exports.Set("launchStart", Napi::Function::New(env, LaunchStart));
  exports.Set("launchNext", Napi::Function::New(env, LaunchNext));
  exports.Set("launchGo", Napi::Function::New(env, LaunchGo));
  exports.Set("launchAbort", Napi::Function::New(env, LaunchAbort));
  exports.Set("launchClose", Napi::Function::New(env, LaunchClose));
  exports.Set("writeOomScoreAdj", Napi::Function::New(env, WriteOomScoreAdj));
  exports.Set("cgroupWarm", Napi::Function::New(env, CgroupWarm));
  exports.Set("pipe", Napi::Function::New(env, Pipe));
  exports.Set("monotonicMs", Napi::Function::New(env, MonotonicMs));
  exports.Set("realtimeNs", Napi::Function::New(env, RealtimeNs));
  exports.Set("waitPid", Napi::Function::New(env, WaitPid));
  tsrun::InitPacket(env, exports);
  exports.Set("relayPipes", Napi::Function::New(env, tsrun::RelayPipes));
  exports.Set("reap", Napi::Function::New(env, Reap));
  exports.Set("mkfifo", Napi::Function::New(env, Mkfifo));
  exports.Set("flock", Napi::Function::New(env, Flock));
  exports.Set("connectUnix", Napi::Function::New(env, ConnectUnix));
  exports.Set("writePidFile", Napi::Function::New(env, WritePidFile));
  exports.Set("setChildSubreaper", Napi::Function::New(env, SetChildSubreaper));
  exports.Set("host", Napi::Function::New(env, tsrun::Host));
  exports.Set("hostAsync", Napi::Function::New(env, tsrun::HostAsync));
  exports.Set("cgroupRemove", Napi::Function::New(env, tsrun::CgroupRemove));
  exports.Set("rdt", Napi::Function::New(env, tsrun::Rdt));
  exports.Set("systemdStart", Napi::Function::New(env, tsrun::SystemdStart));
  exports.Set("systemdSet", Napi::Function::New(env, tsrun::SystemdSet));
  exports.Set("systemdStop", Napi::Function::New(env, tsrun::SystemdStop));
  exports.Set("runHooks", Napi::Function::New(env, tsrun::RunHooks));
  exports.Set("unmountUnder", Napi::Function::New(env, tsrun::UnmountUnder));
  exports.Set("parseSignal", Napi::Function::New(env, tsrun::ParseSignal));
  exports.Set("rootless", Napi::Function::New(env, tsrun::Rootless));
  exports.Set("procStartTime", Napi::Function::New(env, tsrun::ProcStartTime));
  exports.Set("prlimit", Napi::Function::New(env, tsrun::Prlimit));
  exports.Set("checkId", Napi::Function::New(env, tsrun::CheckId));
  exports.Set("pidAlive", Napi::Function::New(env, tsrun::PidAlive));
  exports.Set("canExec", Napi::Function::New(env, tsrun::CanExec));
  exports.Set("copyWinsize", Napi::Function::New(env, CopyWinsize));
  exports.Set("terminalSize", Napi::Function::New(env, TerminalSize));
  exports.Set("seccompCompile", Napi::Function::New(env, tsrun::SeccompCompile));
  exports.Set("seccompFlagSupported", Napi::Function::New(env, tsrun::SeccompFlagSupported));
  exports.Set("seccompActionAvailable", Napi::Function::New(env, tsrun::SeccompActionAvailable));
  exports.Set("sendWithFd", Napi::Function::New(env, tsrun::SendWithFd));
  exports.Set("nsType", Napi::Function::New(env, NsType));
  exports.Set("idmapTree", Napi::Function::New(env, tsrun::IdmapTree));
  exports.Set("bindTree", Napi::Function::New(env, tsrun::BindTree));
  exports.Set("attachDeviceProgram", Napi::Function::New(env, tsrun::AttachDeviceProgram));
  exports.Set("readInRoot", Napi::Function::New(env, ReadInRoot));
  exports.Set("userName", Napi::Function::New(env, UserName));
  exports.Set("layerRoot", Napi::Function::New(env, tsrun::LayerRoot));
  exports.Set("layerEntry", Napi::Function::New(env, tsrun::LayerEntry));
  exports.Set("layerFinish", Napi::Function::New(env, tsrun::LayerFinish));
  exports.Set("layerTimes", Napi::Function::New(env, tsrun::LayerTimes));
  return exports;
}

} // namespace

NODE_API_MODULE(tsrun, Init)
