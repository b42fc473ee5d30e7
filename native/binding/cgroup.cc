// cgroup.cc — the one thing about cgroups the TS layer cannot do itself:
// bpf(2). The device program is generated as plain instructions in
// lib/cgroups/devices.ts; here it is only loaded and attached.
#include <napi.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/bpf.h>

#include "binding.h"

namespace tsrun {

// attachDeviceProgram(cgroupDir, insns: Uint8Array)
// BPF_F_ALLOW_MULTI: programs attached by others (or an earlier update) stay;
// a device must then pass all of them, so an attach can only narrow access.
Napi::Value AttachDeviceProgram(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string dir = info[0].As<Napi::String>();
  Napi::Uint8Array insns = info[1].As<Napi::Uint8Array>();
  static const char license[] = "Apache-2.0";
  char log[4096];
  log[0] = 0;

  union bpf_attr load;
  memset(&load, 0, sizeof load);
  load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  load.insns = (uint64_t)(uintptr_t)insns.Data();
  load.insn_cnt = (uint32_t)(insns.ByteLength() / sizeof(struct bpf_insn));
  load.license = (uint64_t)(uintptr_t)license;
  // no verifier log at first: a log that does not fit fails even a good
  // program with ENOSPC. Only a refused program is loaded again, for the reason.
  int prog = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof load);
  if (prog < 0) {
    int e = errno;
    load.log_buf = (uint64_t)(uintptr_t)log;
    load.log_size = sizeof log;
    load.log_level = 1;
    (void)syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof load);
    if (log[0]) {
      Napi::Error err = Napi::Error::New(env, std::string("bpf(BPF_PROG_LOAD): ") + strerror(e) + ": " + log);
      err.Set("errno", Napi::Number::New(env, e));
      err.Set("code", Napi::String::New(env, strerrorname_np(e) ? strerrorname_np(e) : "EUNKNOWN"));
      err.Set("syscall", Napi::String::New(env, "bpf"));
      err.ThrowAsJavaScriptException();
      return env.Undefined();
    }
    return ThrowErrno(env, e, "bpf(BPF_PROG_LOAD)");
  }
  int cg = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cg < 0) {
    int e = errno;
    close(prog);
    return ThrowErrno(env, e, "open cgroup");
  }
  union bpf_attr attach;
  memset(&attach, 0, sizeof attach);
  attach.target_fd = cg;
  attach.attach_bpf_fd = prog;
  attach.attach_type = BPF_CGROUP_DEVICE;
  attach.attach_flags = BPF_F_ALLOW_MULTI;
  int rc = (int)syscall(SYS_bpf, BPF_PROG_ATTACH, &attach, sizeof attach);
  int e = errno;
  close(cg);
  close(prog); // the attachment holds its own reference
  if (rc < 0) return ThrowErrno(env, e, "bpf(BPF_PROG_ATTACH)");
  return env.Undefined();
}

} // namespace tsrun
