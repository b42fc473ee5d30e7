// idmap.cc — idmapped mounts, prepared by the runtime (parent side).
//
// MOUNT_ATTR_IDMAP needs privilege over the filesystem's user namespace (the
// host's), which the init no longer has inside a user namespace: so the
// runtime builds a detached, idmapped copy of the bind source here, and the
// init only attaches it with move_mount (native/init/namespaces.c).
#include <napi.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "binding.h"

namespace {

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
constexpr unsigned kOpenTreeClone = 1;
constexpr unsigned kAtRecursive = 0x8000;
constexpr uint64_t kMountAttrIdmap = 0x00100000;

struct MountAttr {
  uint64_t attr_set;
  uint64_t attr_clr;
  uint64_t propagation;
  uint64_t userns_fd;
};

bool WriteFile(const std::string &path, const std::string &data) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = write(fd, data.data(), data.size()); // one write: the kernel's rule for id maps
  int e = errno;
  close(fd);
  errno = e;
  return n == (ssize_t)data.size();
}

// A user namespace with the given maps, as an fd: a child that only waits
// (raw clone: no Node code runs in it) owns it while we write its maps.
int UsernsWithMaps(const std::string &uid_map, const std::string &gid_map, const char **what) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) < 0) {
    *what = "pipe2";
    return -1;
  }
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  long pid = syscall(SYS_clone, (unsigned long)(CLONE_NEWUSER | SIGCHLD), 0, 0, 0, 0);
  if (pid == 0) {
    char c;
    close(pipefd[1]);
    while (read(pipefd[0], &c, 1) < 0 && errno == EINTR) {
    }
    _exit(0);
  }
  int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  close(pipefd[0]);
  if (pid < 0) {
    close(pipefd[1]);
    errno = clone_errno;
    *what = "clone user namespace";
    return -1;
  }
  std::string proc = "/proc/" + std::to_string(pid) + "/";
  int fd = -1;
  if (!WriteFile(proc + "uid_map", uid_map))
    *what = "write uid_map";
  else if (!WriteFile(proc + "gid_map", gid_map))
    *what = "write gid_map";
  else if ((fd = open((proc + "ns/user").c_str(), O_RDONLY | O_CLOEXEC)) < 0)
    *what = "open user namespace";
  int e = errno;
  close(pipefd[1]); // the child exits
  while (waitpid((pid_t)pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  errno = e;
  return fd;
}

} // namespace

namespace tsrun {

// idmapTree(source, rbind, ridmap, uidMap, gidMap) -> fd of a detached copy
// of `source` (rbind: with its submounts) whose ids are mapped (ridmap: on
// the submounts too) through a user namespace with those maps
// ("containerID hostID size\n" lines).
Napi::Value IdmapTree(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string source = info[0].As<Napi::String>();
  bool rbind = info[1].As<Napi::Boolean>();
  bool ridmap = info[2].As<Napi::Boolean>();
  std::string uid_map = info[3].As<Napi::String>();
  std::string gid_map = info[4].As<Napi::String>();
  const char *what = "";
  int userns = UsernsWithMaps(uid_map, gid_map, &what);
  if (userns < 0) return ThrowErrno(env, errno, what);
  int tree =
      (int)syscall(SYS_open_tree, AT_FDCWD, source.c_str(), kOpenTreeClone | O_CLOEXEC | (rbind ? kAtRecursive : 0));
  if (tree < 0) {
    int e = errno;
    close(userns);
    return ThrowErrno(env, e, "open_tree");
  }
  MountAttr attr;
  memset(&attr, 0, sizeof attr);
  attr.attr_set = kMountAttrIdmap;
  attr.userns_fd = (uint64_t)userns;
  int rc = (int)syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | (ridmap ? kAtRecursive : 0), &attr, sizeof attr);
  int e = errno;
  close(userns);
  if (rc < 0) {
    close(tree);
    return ThrowErrno(env, e, "mount_setattr MOUNT_ATTR_IDMAP");
  }
  return Napi::Number::New(env, tree);
}

// bindTree(source, rbind) -> fd of a detached copy of `source` (rbind: with
// its submounts), opened with the runtime's own access for an init in a user
// namespace to attach (lib/container/mount-trees.ts).
Napi::Value BindTree(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string source = info[0].As<Napi::String>();
  bool rbind = info[1].As<Napi::Boolean>();
  int tree =
      (int)syscall(SYS_open_tree, AT_FDCWD, source.c_str(), kOpenTreeClone | O_CLOEXEC | (rbind ? kAtRecursive : 0));
  if (tree < 0) return ThrowErrno(env, errno, "open_tree");
  return Napi::Number::New(env, tree);
}

} // namespace tsrun
