// binding.h — shared helpers of the addon's translation units.
#ifndef TSRUN_BINDING_H
#define TSRUN_BINDING_H

#include <napi.h>

#include <time.h>

#include <string>
#include <vector>

struct tsrun_err;

namespace tsrun {

// Throws a SystemError-shaped JS error {message, code, errno, syscall}.
Napi::Value ThrowErrno(Napi::Env env, int err, const char *syscall_name);
// The same error with a message of the caller's (syscall_name may be null: not set), not thrown.
Napi::Error ErrnoError(Napi::Env env, int err, const char *syscall_name, const std::string &message);

// [fds[0], fds[1]] as a JS array (a pipe's, a socketpair's).
Napi::Value FdPair(Napi::Env env, const int fds[2]);

// packet.cc: SOCK_SEQPACKET pairs and whole messages (criu swrk)
void InitPacket(Napi::Env env, Napi::Object exports);

// constants.cc: TSRUN_PLAN_VERSION, and every shared constant as JSON.
Napi::Value PlanVersion(Napi::Env env);
Napi::Value ConstantsJson(const Napi::CallbackInfo &info);

// host.cc: native/host/ for TypeScript
Napi::Value Host(const Napi::CallbackInfo &info);
Napi::Value HostAsync(const Napi::CallbackInfo &info);
Napi::Value CgroupRemove(const Napi::CallbackInfo &info);
Napi::Value Rdt(const Napi::CallbackInfo &info); // resctrl groups (native/host/resctrl.c)
// The error of a host call, {message, hostCode, warnings}.
Napi::Error HostError(Napi::Env env, const struct tsrun_err &e, const std::vector<std::string> &warnings);

// systemd.cc: the systemd driver's unit start/set/stop, on the threadpool
Napi::Value SystemdStart(const Napi::CallbackInfo &info);
Napi::Value SystemdSet(const Napi::CallbackInfo &info);
Napi::Value SystemdStop(const Napi::CallbackInfo &info);
bool SystemdRefOf(Napi::Value v, std::string &name, bool &user);
Napi::Value RunHooks(const Napi::CallbackInfo &info);
Napi::Value UnmountUnder(const Napi::CallbackInfo &info);
Napi::Value ParseSignal(const Napi::CallbackInfo &info);
Napi::Value Rootless(const Napi::CallbackInfo &info);
Napi::Value ProcStartTime(const Napi::CallbackInfo &info);
Napi::Value Prlimit(const Napi::CallbackInfo &info); // host.cc
Napi::Value CheckId(const Napi::CallbackInfo &info);
Napi::Value PidAlive(const Napi::CallbackInfo &info);
Napi::Value CanExec(const Napi::CallbackInfo &info);
Napi::Value IdmapTree(const Napi::CallbackInfo &info); // idmap.cc
Napi::Value BindTree(const Napi::CallbackInfo &info);  // idmap.cc

// seccomp.cc
Napi::Value SeccompCompile(const Napi::CallbackInfo &info);
Napi::Value SeccompFlagSupported(const Napi::CallbackInfo &info);
Napi::Value SeccompActionAvailable(const Napi::CallbackInfo &info);
Napi::Value SendWithFd(const Napi::CallbackInfo &info);

// relay.cc: a foreground process's stdio pipes to and from our fds 0-2
Napi::Value RelayPipes(const Napi::CallbackInfo &info);

// cgroup.cc
Napi::Value AttachDeviceProgram(const Napi::CallbackInfo &info);

// layer.cc: unpacking an image layer's tar entries (native/host/layer.c)
Napi::Value LayerRoot(const Napi::CallbackInfo &info);
Napi::Value LayerEntry(const Napi::CallbackInfo &info);
Napi::Value LayerFinish(const Napi::CallbackInfo &info);
Napi::Value LayerTimes(const Napi::CallbackInfo &info);

// Milliseconds on CLOCK_MONOTONIC since `start` (for poll loops with a deadline).
long ElapsedMs(const struct timespec &start);

} // namespace tsrun

#endif
