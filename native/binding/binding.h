// binding.h — shared helpers of the addon's translation units.
#ifndef TSRUN_BINDING_H
#define TSRUN_BINDING_H

#include <napi.h>

#include <time.h>

namespace tsrun {

// Throws a SystemError-shaped JS error {message, code, errno, syscall}.
Napi::Value ThrowErrno(Napi::Env env, int err, const char *syscall_name);

// The constants and byte layout TypeScript shares with C (constants.cc).
Napi::Object Constants(Napi::Env env);

// host.cc: native/host/ for TypeScript
Napi::Value Host(const Napi::CallbackInfo &info);
Napi::Value HostAsync(const Napi::CallbackInfo &info);
Napi::Value CgroupRemove(const Napi::CallbackInfo &info);
Napi::Value RunHooks(const Napi::CallbackInfo &info);
Napi::Value UnmountUnder(const Napi::CallbackInfo &info);
Napi::Value ParseSignal(const Napi::CallbackInfo &info);
Napi::Value Rootless(const Napi::CallbackInfo &info);
Napi::Value ProcStartTime(const Napi::CallbackInfo &info);
Napi::Value CheckId(const Napi::CallbackInfo &info);
Napi::Value PidAlive(const Napi::CallbackInfo &info);
Napi::Value CanExec(const Napi::CallbackInfo &info);
Napi::Value StateKeys(Napi::Env env);
Napi::Value StateFiles(Napi::Env env);
Napi::Value IdmapTree(const Napi::CallbackInfo &info); // issue 3: idmap.cc

// issue 4: seccomp.cc
Napi::Value SeccompCompile(const Napi::CallbackInfo &info);
Napi::Value SeccompFlagSupported(const Napi::CallbackInfo &info);
Napi::Value SeccompActionAvailable(const Napi::CallbackInfo &info);
Napi::Value SendWithFd(const Napi::CallbackInfo &info);

// issue 5: cgroup.cc
Napi::Value AttachDeviceProgram(const Napi::CallbackInfo &info);

// Milliseconds on CLOCK_MONOTONIC since `start` (for poll loops with a deadline).
long ElapsedMs(const struct timespec &start);

} // namespace tsrun

#endif
