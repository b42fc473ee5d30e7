// hook.cc — runHook(): runs one OCI hook program, optionally inside the
// namespaces of a container process, with the state JSON on stdin and its
// output captured. Parent side only; the forked child does nothing but
// setns/dup2/execve (async-signal-safe) since Node is multi-threaded.
#include <napi.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "binding.h"

namespace tsrun {

namespace {

// The namespaces a hook joins, in the order they are entered. The mount
// namespace comes after the others (their /proc files were opened before
// fork, so order only matters for pid, which needs one more fork).
// The user namespace first, as in the init: it is what lets the
// hook join the namespaces it owns with the container's view of ids.
const char *const kNamespaces[] = {"user", "cgroup", "ipc", "uts", "net", "pid", "mnt"};

long RawFork() {
  return syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
}

struct Child {
  std::vector<int> ns_fds;
  bool join_pid = false;
  bool join_user = false;
  int stdin_fd = -1;
  int out_fd = -1;
  const char *cwd = nullptr;                // entered after the joins (createContainer: the container's rootfs)
  struct sock_fprog seccomp = {0, nullptr}; // loaded last, before execve (startContainer)
  unsigned seccomp_flags = 0;
};

[[noreturn]] void RunChild(const Child &c, const char *path, char *const argv[], char *const envp[]) {
  setpgid(0, 0); // the parent kills the whole group on timeout
  for (int fd : c.ns_fds)
    if (setns(fd, 0) < 0) _exit(126);
  // In the container's user namespace, run as its root (the init
  // is that during setup), not as the unmapped host root.
  if (c.join_user && (syscall(SYS_setresgid, 0, 0, 0) < 0 || syscall(SYS_setresuid, 0, 0, 0) < 0)) _exit(126);
  if (c.join_pid) {
    // setns(pid) affects children only: fork once more so the hook itself
    // lives in the container's pid namespace.
    long pid = RawFork();
    if (pid < 0) _exit(126);
    if (pid > 0) {
      int status = 0;
      while (waitpid((pid_t)pid, &status, 0) < 0 && errno == EINTR) {
      }
      if (WIFSIGNALED(status)) {
        // die of the same signal, so the runtime reports the hook's death
        // ("killed by signal 31"), not an exit status it never had
        signal(WTERMSIG(status), SIG_DFL);
        sigset_t one;
        sigemptyset(&one);
        sigaddset(&one, WTERMSIG(status));
        sigprocmask(SIG_UNBLOCK, &one, nullptr);
        raise(WTERMSIG(status));
        _exit(128 + WTERMSIG(status));
      }
      _exit(WEXITSTATUS(status));
    }
  }
  // Where runc's own hook processes stand: createContainer runs from the
  // container's rootfs (still a path in its mount namespace, before
  // pivot_root), so a relative path names the container's files, never
  // the host's /.
  if (c.cwd && chdir(c.cwd) < 0) _exit(126);
  dup2(c.stdin_fd, 0);
  dup2(c.out_fd, 1);
  dup2(c.out_fd, 2);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  // startContainer runs under the container's seccomp filter, as runc runs
  // it from its init after the filter is loaded. We are root with every
  // capability here, so no_new_privs is not needed to load it.
  if (c.seccomp.len && syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, c.seccomp_flags, &c.seccomp) < 0) _exit(126);
  execve(path, argv, envp);
  _exit(127);
}

int MemfdWith(const std::string &data) {
  int fd = (int)syscall(SYS_memfd_create, "tsrun-hook", MFD_CLOEXEC);
  if (fd < 0) return -1;
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      close(fd);
      return -1;
    }
    off += (size_t)n;
  }
  lseek(fd, 0, SEEK_SET);
  return fd;
}

std::vector<std::string> Strings(Napi::Value v) {
  std::vector<std::string> out;
  if (!v.IsArray()) return out;
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) out.push_back(a.Get(i).As<Napi::String>().Utf8Value());
  return out;
}

} // namespace

// runHook(path, argv[], env[], stdin, timeoutMs, nsPid, cwd?, seccompBpf?, seccompFlags?) ->
//   { code, signal, timedOut, output }
// nsPid > 0: join every namespace of that process that differs from ours;
// cwd: enter it after the joins; seccompBpf: load it last, before execve.
Napi::Value RunHook(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>();
  std::vector<std::string> args = Strings(info[1]);
  std::vector<std::string> envs = Strings(info[2]);
  std::string input = info[3].As<Napi::String>();
  int timeout_ms = info[4].As<Napi::Number>().Int32Value();
  int ns_pid = info[5].IsNumber() ? info[5].As<Napi::Number>().Int32Value() : 0;
  std::string cwd = info[6].IsString() ? info[6].As<Napi::String>().Utf8Value() : std::string();

  if (args.empty()) args.push_back(path);
  std::vector<char *> argv, envp;
  for (auto &s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  for (auto &s : envs) envp.push_back(s.data());
  envp.push_back(nullptr);

  Child c;
  if (!cwd.empty()) c.cwd = cwd.c_str();
  if (info[7].IsTypedArray()) {
    Napi::Uint8Array bpf = info[7].As<Napi::Uint8Array>();
    if (bpf.ByteLength() % sizeof(struct sock_filter) || bpf.ByteLength() / sizeof(struct sock_filter) > 0xffff)
      return ThrowErrno(env, EINVAL, "seccomp filter");
    c.seccomp.len = (unsigned short)(bpf.ByteLength() / sizeof(struct sock_filter));
    c.seccomp.filter = reinterpret_cast<struct sock_filter *>(bpf.Data());
    // a listener needs someone to hand it to: a hook gets no notify fd
    c.seccomp_flags = (info[8].IsNumber() ? info[8].As<Napi::Number>().Uint32Value() : 0) & ~(1u << 3);
  }
  auto cleanup = [&]() {
    for (int fd : c.ns_fds) close(fd);
    if (c.stdin_fd >= 0) close(c.stdin_fd);
    if (c.out_fd >= 0) close(c.out_fd);
  };
  if (ns_pid > 0) {
    for (const char *ns : kNamespaces) {
      char mine[128] = {0}, theirs[128] = {0};
      std::string self_link = std::string("/proc/self/ns/") + ns;
      std::string their_link = "/proc/" + std::to_string(ns_pid) + "/ns/" + ns;
      if (readlink(self_link.c_str(), mine, sizeof mine - 1) < 0) continue; // kernel lacks it
      if (readlink(their_link.c_str(), theirs, sizeof theirs - 1) < 0) {
        int e = errno;
        cleanup();
        return ThrowErrno(env, e, "readlink container namespace");
      }
      if (strcmp(mine, theirs) == 0) continue;
      int fd = open(their_link.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        int e = errno;
        cleanup();
        return ThrowErrno(env, e, "open container namespace");
      }
      c.ns_fds.push_back(fd);
      if (strcmp(ns, "pid") == 0) c.join_pid = true;
      if (strcmp(ns, "user") == 0) c.join_user = true;
    }
  }
  c.stdin_fd = MemfdWith(input);
  c.out_fd = (int)syscall(SYS_memfd_create, "tsrun-hook-out", MFD_CLOEXEC);
  if (c.stdin_fd < 0 || c.out_fd < 0) {
    int e = errno;
    cleanup();
    return ThrowErrno(env, e, "memfd_create");
  }

  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  long pid = RawFork();
  if (pid == 0) RunChild(c, path.c_str(), argv.data(), envp.data());
  int fork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) {
    cleanup();
    return ThrowErrno(env, fork_errno, "fork");
  }

  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  int status = 0;
  bool timed_out = false;
  for (;;) {
    int rc = waitpid((pid_t)pid, &status, WNOHANG);
    if (rc == (int)pid) break;
    if (rc < 0 && errno != EINTR) break;
    if (timeout_ms > 0 && ElapsedMs(start) > timeout_ms && !timed_out) {
      timed_out = true;
      kill(-(pid_t)pid, SIGKILL);
      kill((pid_t)pid, SIGKILL);
    }
    struct timespec nap = {0, 2 * 1000 * 1000};
    nanosleep(&nap, nullptr);
  }
  std::string output;
  char buf[4096];
  off_t off = 0;
  ssize_t n;
  while ((n = pread(c.out_fd, buf, sizeof buf, off)) > 0 && output.size() < 65536) {
    output.append(buf, (size_t)n);
    off += n;
  }
  cleanup();
  Napi::Object out = Napi::Object::New(env);
  out.Set("code", WIFEXITED(status) ? Napi::Value(Napi::Number::New(env, WEXITSTATUS(status))) : env.Null());
  out.Set("signal", WIFSIGNALED(status) ? Napi::Value(Napi::Number::New(env, WTERMSIG(status))) : env.Null());
  out.Set("timedOut", Napi::Boolean::New(env, timed_out));
  out.Set("output", Napi::String::New(env, output));
  return out;
}

} // namespace tsrun
