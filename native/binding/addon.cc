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

// spawn(plan: Uint8Array, cgroupFd?: number, stdio?: [in, out, err]) -> { pid, syncFd }
// Starts a container process: clone, then execve of tsrun-init with the
// plan (native/host/spawn.c). It walks the plan and waits for syncSend(fd, GO).
Napi::Value Spawn(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray()) return ThrowMessage(env, "spawn: plan must be a Uint8Array");
  Napi::Uint8Array buf = info[0].As<Napi::Uint8Array>();
  // Checked here too, with the init's own loader (an aligned copy), so a bad
  // plan fails before any process exists; it also names the plan's fds.
  void *copy = nullptr;
  if (posix_memalign(&copy, 8, buf.ByteLength() ? buf.ByteLength() : 8) != 0) return ThrowErrno(env, ENOMEM, "malloc");
  memcpy(copy, buf.Data(), buf.ByteLength());
  struct tsrun_plan plan;
  char err[256];
  if (tsrun_plan_load(copy, buf.ByteLength(), &plan, err, sizeof err) < 0) {
    free(copy);
    return ThrowMessage(env, err);
  }
  std::vector<int> keep;
  if (plan.h->console_socket_fd >= 0) keep.push_back(plan.h->console_socket_fd);
  if (plan.h->pidfd_socket_fd >= 0) keep.push_back(plan.h->pidfd_socket_fd);
  const struct tsrun_ns_join *joins =
      static_cast<const struct tsrun_ns_join *>(tsrun_plan_vec(&plan, plan.h->ns_joins));
  for (uint32_t i = 0; i < plan.h->ns_joins.count; i++) keep.push_back(joins[i].fd);
  const struct tsrun_idmap_mount *idm =
      static_cast<const struct tsrun_idmap_mount *>(tsrun_plan_vec(&plan, plan.h->idmap_mounts));
  for (uint32_t i = 0; i < plan.h->idmap_mounts.count; i++) keep.push_back(idm[i].fd);

  struct tsrun_spawn_req req;
  memset(&req, 0, sizeof req);
  req.init_path = InitPath().c_str();
  req.plan = copy;
  req.plan_len = buf.ByteLength();
  // (CLONE_NEWCGROUP is never among the clone flags: the init unshares it
  // once it is in its cgroup, step "cgroupns", so that cgroup is its root.)
  req.clone_flags = plan.h->clone_flags;
  req.cgroup_fd = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : -1;
  req.stdio[0] = req.stdio[1] = req.stdio[2] = -1;
  if (info.Length() > 2 && info[2].IsArray()) {
    Napi::Array a = info[2].As<Napi::Array>();
    for (uint32_t i = 0; i < 3 && i < a.Length(); i++)
      if (a.Get(i).IsNumber()) req.stdio[i] = a.Get(i).As<Napi::Number>().Int32Value();
  }
  req.preserve_fds = plan.h->preserve_fds;
  req.keep = keep.data();
  req.nkeep = keep.size();
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
  pid_t pid = -1;
  int sync_fd = -1;
  struct tsrun_err e;
  int rc = tsrun_spawn(&req, &pid, &sync_fd, &e);
  tsrun_plan_free(&plan);
  free(copy);
  if (rc < 0) return ThrowMessage(env, std::string("spawn: ") + e.message);
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, (double)pid));
  out.Set("syncFd", Napi::Number::New(env, sync_fd));
  return out;
}

// A received sync message as JS: { type, step, errno, code, message, fd, pid }; type 0 = EOF.
Napi::Value SyncMessage(Napi::Env env, ssize_t n, const struct tsrun_sync_msg &msg, int passed) {
  Napi::Object out = Napi::Object::New(env);
  if (n == 0) {
    out.Set("type", Napi::Number::New(env, 0));
    return out;
  }
  out.Set("type", Napi::Number::New(env, msg.type));
  out.Set("step", Napi::Number::New(env, msg.step));
  out.Set("errno", Napi::Number::New(env, msg.err));
  const char *code = msg.err ? strerrorname_np(msg.err) : nullptr;
  out.Set("code", code ? Napi::Value(Napi::String::New(env, code)) : env.Null());
  out.Set("message", Napi::String::New(env, msg.message));
  out.Set("fd", Napi::Number::New(env, passed));
  out.Set("pid", Napi::Number::New(env, msg.pid)); // TSRUN_SYNC_PID
  return out;
}

// syncRecvAsync(fd, timeoutMs) -> Promise<{ type, step, errno, code,
// message, fd, pid }> (type 0 = EOF): poll + recvmsg on the libuv
// threadpool, so the event loop runs while an init sets itself up (signals
// are forwarded meanwhile; an API user drives many containers at once).
class SyncRecvWorker : public Napi::AsyncWorker {
 public:
  SyncRecvWorker(Napi::Env env, int fd, int timeout)
      : Napi::AsyncWorker(env), fd_(fd), timeout_(timeout), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    struct pollfd p = {fd_, POLLIN, 0};
    int rc;
    do rc = poll(&p, 1, timeout_);
    while (rc < 0 && errno == EINTR);
    if (rc < 0) {
      err_ = errno;
      syscall_ = "poll";
      return;
    }
    if (rc == 0) {
      err_ = ETIMEDOUT;
      syscall_ = "sync";
      return;
    }
    memset(&msg_, 0, sizeof msg_);
    n_ = tsrun_sync_recv(fd_, &msg_, &passed_);
    if (n_ < 0) {
      err_ = errno;
      syscall_ = "recvmsg";
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (err_) {
      Napi::Error e = Napi::Error::New(env, std::string(syscall_) + ": " + strerror(err_));
      e.Set("errno", Napi::Number::New(env, err_));
      e.Set("syscall", Napi::String::New(env, syscall_));
      const char *name = strerrorname_np(err_);
      e.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
      deferred_.Reject(e.Value());
      return;
    }
    deferred_.Resolve(SyncMessage(env, n_, msg_, passed_));
  }

 private:
  int fd_, timeout_;
  int err_ = 0;
  const char *syscall_ = "";
  ssize_t n_ = 0;
  struct tsrun_sync_msg msg_;
  int passed_ = -1;
  Napi::Promise::Deferred deferred_;
};

Napi::Value SyncRecvAsync(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  int timeout = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : -1;
  auto *w = new SyncRecvWorker(env, fd, timeout);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
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

// syncSend(fd, type, pid?): GO after PID carries the process's pid as we
// see it (the init's hooks read it in their state).
Napi::Value SyncSend(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  struct tsrun_sync_msg msg;
  memset(&msg, 0, sizeof msg);
  int fd = info[0].As<Napi::Number>().Int32Value();
  msg.type = info[1].As<Napi::Number>().Uint32Value();
  if (info.Length() > 2 && info[2].IsNumber()) msg.pid = info[2].As<Napi::Number>().Int32Value();
  if (tsrun_send_with_fd(fd, &msg, sizeof msg, -1) != (ssize_t)sizeof msg) return ThrowErrno(env, errno, "sendmsg");
  return env.Undefined();
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
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return ThrowErrno(env, ENAMETOOLONG, "connect");
  memcpy(addr.sun_path, path.c_str(), path.size());
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) return ThrowErrno(env, errno, "socket");
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    int e = errno;
    close(fd);
    return ThrowErrno(env, e, "connect");
  }
  return Napi::Number::New(env, fd);
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
  exports.Set("spawn", Napi::Function::New(env, Spawn));
  exports.Set("syncRecvAsync", Napi::Function::New(env, SyncRecvAsync));
  exports.Set("syncSend", Napi::Function::New(env, SyncSend));
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
