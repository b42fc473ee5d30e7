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

#include <linux/sched.h>

extern "C" {
#include "../init/init.h"
}

#include "binding.h"

namespace tsrun {

long ElapsedMs(const struct timespec &start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
}

Napi::Value ThrowErrno(Napi::Env env, int err, const char *syscall_name) {
  Napi::Error e = Napi::Error::New(env, std::string(syscall_name) + ": " + strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall_name));
  const char *name = strerrorname_np(err);
  e.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

} // namespace tsrun

namespace {

using tsrun::ThrowErrno;

Napi::Value ThrowMessage(Napi::Env env, const std::string &msg) {
  Napi::Error::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

long DoClone(uint64_t flags) {
  struct clone_args args;
  memset(&args, 0, sizeof args);
  args.flags = flags;
  args.exit_signal = SIGCHLD;
  long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid < 0 && errno == ENOSYS) pid = syscall(SYS_clone, (unsigned long)(flags | SIGCHLD), 0, 0, 0, 0);
  return pid;
}

// clone3(CLONE_INTO_CGROUP): the process is born in the container's
// (v2) cgroup, never charged to ours. Any failure falls back to a plain clone;
// the runtime then writes cgroup.procs before GO (a no-op after success).
long DoCloneIntoCgroup(uint64_t flags, int cgroup_fd) {
  struct clone_args args;
  memset(&args, 0, sizeof args);
  args.flags = flags | CLONE_INTO_CGROUP;
  args.exit_signal = SIGCHLD;
  args.cgroup = (uint64_t)cgroup_fd;
  long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid < 0) pid = DoClone(flags);
  return pid;
}

// spawn(plan: Uint8Array, cgroupFd?: number) -> { pid, syncFd }
// Clones the container's init with the plan's namespaces. The child starts
// walking the plan and waits for syncSend(fd, GO).
Napi::Value Spawn(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray()) return ThrowMessage(env, "spawn: plan must be a Uint8Array");
  Napi::Uint8Array buf = info[0].As<Napi::Uint8Array>();
  // An aligned private copy: the decoder needs 8-byte alignment, and the
  // child reads it after clone from its own copy of our memory.
  void *copy = nullptr;
  if (posix_memalign(&copy, 8, buf.ByteLength() ? buf.ByteLength() : 8) != 0) return ThrowErrno(env, ENOMEM, "malloc");
  memcpy(copy, buf.Data(), buf.ByteLength());
  struct tsrun_plan plan;
  char err[256];
  if (tsrun_plan_load(copy, buf.ByteLength(), &plan, err, sizeof err) < 0) {
    free(copy);
    return ThrowMessage(env, err);
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
    tsrun_plan_free(&plan);
    free(copy);
    return ThrowErrno(env, errno, "socketpair");
  }
  // Block every signal around clone: the child must not run a Node signal
  // handler before it has reset them (init.c, step "signals").
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int cgroup_fd = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : -1;
  // (CLONE_NEWCGROUP is never among the clone flags: the init unshares it
  // once it is in its cgroup, step "cgroupns", so that cgroup is its root.)
  uint64_t flags = plan.h->clone_flags;
  long pid = cgroup_fd >= 0 ? DoCloneIntoCgroup(flags, cgroup_fd) : DoClone(flags);
  if (pid == 0) {
    close(sv[0]);
    tsrun_init_main(&plan, sv[1]); // never returns
  }
  int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  close(sv[1]);
  tsrun_plan_free(&plan);
  free(copy);
  if (pid < 0) {
    close(sv[0]);
    return ThrowErrno(env, clone_errno, "clone3");
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, (double)pid));
  out.Set("syncFd", Napi::Number::New(env, sv[0]));
  return out;
}

// syncRecv(fd, timeoutMs) -> { type, step, errno, message, fd } ; type 0 = EOF
Napi::Value SyncRecv(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  int timeout = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : -1;
  struct pollfd p = {fd, POLLIN, 0};
  int rc;
  do rc = poll(&p, 1, timeout);
  while (rc < 0 && errno == EINTR);
  if (rc < 0) return ThrowErrno(env, errno, "poll");
  if (rc == 0) return ThrowErrno(env, ETIMEDOUT, "sync");
  struct tsrun_sync_msg msg;
  memset(&msg, 0, sizeof msg);
  int passed = -1;
  ssize_t n = tsrun_sync_recv(fd, &msg, &passed);
  if (n < 0) return ThrowErrno(env, errno, "recvmsg");
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

// nsType(fd) -> CLONE_NEW* of the namespace file fd (ioctl
// NS_GET_NSTYPE); throws ENOTTY/EINVAL when fd is not a namespace.
Napi::Value NsType(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int rc = ioctl(info[0].As<Napi::Number>().Int32Value(), _IO(0xb7, 0x3) /* NS_GET_NSTYPE */);
  if (rc < 0) return ThrowErrno(env, errno, "ioctl NS_GET_NSTYPE");
  return Napi::Number::New(env, rc);
}

// syncSend(fd, type)
Napi::Value SyncSend(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  uint32_t type = info[1].As<Napi::Number>().Uint32Value();
  if (tsrun_sync_send(fd, type, 0, 0, nullptr, -1) < 0) return ThrowErrno(env, errno, "sendmsg");
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
  Napi::Promise::Deferred deferred;
  Napi::ThreadSafeFunction tsfn;
  ExitWait(Napi::Env env, pid_t p) : pid(p), deferred(Napi::Promise::Deferred::New(env)) {}
};

void SettleExit(Napi::Env env, Napi::Function, ExitWait *w) {
  if (w->err) {
    Napi::Error e = Napi::Error::New(env, std::string("waitpid: ") + strerror(w->err));
    e.Set("errno", Napi::Number::New(env, w->err));
    e.Set("syscall", Napi::String::New(env, "waitpid"));
    w->deferred.Reject(e.Value());
    return;
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("code", WIFEXITED(w->status) ? Napi::Value(Napi::Number::New(env, WEXITSTATUS(w->status))) : env.Null());
  out.Set("signal", WIFSIGNALED(w->status) ? Napi::Value(Napi::Number::New(env, WTERMSIG(w->status))) : env.Null());
  w->deferred.Resolve(out);
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
  auto *w = new ExitWait(env, info[0].As<Napi::Number>().Int32Value());
  Napi::Promise promise = w->deferred.Promise();
  w->tsfn = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo &) {}),
                                          "tsrun.waitPid", 0, 1, [w](Napi::Env) { delete w; });
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
  return promise;
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
// file. Used for the image's /etc/passwd (HOME).
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
  std::string out;
  char buf[8192];
  ssize_t n;
  while (out.size() < max && (n = read(fd, buf, sizeof buf)) > 0) out.append(buf, (size_t)n);
  close(fd);
  if (out.size() > max) out.resize(max);
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
  exports.Set("constants", tsrun::Constants(env));
  exports.Set("spawn", Napi::Function::New(env, Spawn));
  exports.Set("syncRecv", Napi::Function::New(env, SyncRecv));
  exports.Set("syncSend", Napi::Function::New(env, SyncSend));
  exports.Set("waitPid", Napi::Function::New(env, WaitPid));
  exports.Set("reap", Napi::Function::New(env, Reap));
  exports.Set("mkfifo", Napi::Function::New(env, Mkfifo));
  exports.Set("flock", Napi::Function::New(env, Flock));
  exports.Set("connectUnix", Napi::Function::New(env, ConnectUnix));
  exports.Set("setChildSubreaper", Napi::Function::New(env, SetChildSubreaper));
  exports.Set("host", Napi::Function::New(env, tsrun::Host));
  exports.Set("hostAsync", Napi::Function::New(env, tsrun::HostAsync));
  exports.Set("cgroupOp", Napi::Function::New(env, tsrun::CgroupOp));
  exports.Set("runHooks", Napi::Function::New(env, tsrun::RunHooks));
  exports.Set("unmountUnder", Napi::Function::New(env, tsrun::UnmountUnder));
  exports.Set("parseSignal", Napi::Function::New(env, tsrun::ParseSignal));
  exports.Set("procStartTime", Napi::Function::New(env, tsrun::ProcStartTime));
  exports.Set("stateKeys", tsrun::StateKeys(env));
  exports.Set("copyWinsize", Napi::Function::New(env, CopyWinsize));
  exports.Set("terminalSize", Napi::Function::New(env, TerminalSize));
  exports.Set("seccompCompile", Napi::Function::New(env, tsrun::SeccompCompile));
  exports.Set("seccompFlagSupported", Napi::Function::New(env, tsrun::SeccompFlagSupported));
  exports.Set("seccompActionAvailable", Napi::Function::New(env, tsrun::SeccompActionAvailable));
  exports.Set("sendWithFd", Napi::Function::New(env, tsrun::SendWithFd));
  exports.Set("nsType", Napi::Function::New(env, NsType));
  exports.Set("idmapTree", Napi::Function::New(env, tsrun::IdmapTree));
  exports.Set("attachDeviceProgram", Napi::Function::New(env, tsrun::AttachDeviceProgram));
  exports.Set("readInRoot", Napi::Function::New(env, ReadInRoot));
  exports.Set("userName", Napi::Function::New(env, UserName));
  return exports;
}

} // namespace

NODE_API_MODULE(tsrun, Init)
