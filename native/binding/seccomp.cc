// seccomp.cc — the addon's seccomp surface: compile a checked
// filter description to BPF with native/seccomp/, probe what the kernel
// supports, and hand a notify fd to a listener. Parent side only.
#include <napi.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <string>
#include <vector>

extern "C" {
#include "../init/init.h"
#include "tsrun_seccomp.h"
}

#include "binding.h"

namespace tsrun {

namespace {

uint64_t U64(const Napi::Value &v) {
  if (v.IsBigInt()) {
    bool lossless;
    return v.As<Napi::BigInt>().Uint64Value(&lossless);
  }
  return (uint64_t)v.As<Napi::Number>().Int64Value();
}

} // namespace

// seccompCompile(defaultAction, defaultRet, archs: string[],
//                rules: [name, action, ret, [index, op, value: bigint, valueTwo: bigint][]][])
//   -> { bpf: Buffer, skipped: string[] }
// The description was validated in TS (lib/config/validate-seccomp.ts); a
// libseccomp refusal still comes back as an Error naming the syscall.
Napi::Value SeccompCompile(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::vector<std::string> arch_names, names;
  Napi::Array archs = info[2].As<Napi::Array>();
  for (uint32_t i = 0; i < archs.Length(); i++) arch_names.push_back(archs.Get(i).As<Napi::String>());
  Napi::Array rules = info[3].As<Napi::Array>();
  std::vector<struct tsrun_seccomp_rule> out(rules.Length());
  names.resize(rules.Length());
  for (uint32_t i = 0; i < rules.Length(); i++) {
    Napi::Array r = rules.Get(i).As<Napi::Array>();
    struct tsrun_seccomp_rule &rule = out[i];
    memset(&rule, 0, sizeof rule);
    names[i] = r.Get(0u).As<Napi::String>();
    rule.action = r.Get(1u).As<Napi::Number>().Uint32Value();
    rule.ret = r.Get(2u).As<Napi::Number>().Uint32Value();
    Napi::Array args = r.Get(3u).As<Napi::Array>();
    if (args.Length() > TSRUN_SECCOMP_MAX_ARGS) {
      Napi::Error::New(env, "seccompCompile: more than 6 args in one rule").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    rule.nargs = args.Length();
    for (uint32_t j = 0; j < args.Length(); j++) {
      Napi::Array a = args.Get(j).As<Napi::Array>();
      rule.args[j].index = a.Get(0u).As<Napi::Number>().Uint32Value();
      rule.args[j].op = a.Get(1u).As<Napi::Number>().Uint32Value();
      rule.args[j].value = U64(a.Get(2u));
      rule.args[j].value_two = U64(a.Get(3u));
    }
  }
  std::vector<const char *> arch_ptrs;
  for (auto &a : arch_names) arch_ptrs.push_back(a.c_str());
  for (size_t i = 0; i < out.size(); i++) out[i].name = names[i].c_str();
  struct tsrun_seccomp_filter f;
  f.default_action = info[0].As<Napi::Number>().Uint32Value();
  f.default_ret = info[1].As<Napi::Number>().Uint32Value();
  f.narchs = arch_ptrs.size();
  f.archs = arch_ptrs.data();
  f.nrules = out.size();
  f.rules = out.data();
  std::vector<uint8_t> skipped(out.size() + 1, 0);
  uint8_t *bpf = nullptr;
  size_t len = 0;
  char err[512];
  if (tsrun_seccomp_compile(&f, &bpf, &len, skipped.data(), err, sizeof err) < 0) {
    Napi::Error::New(env, err).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("bpf", Napi::Buffer<uint8_t>::Copy(env, bpf, len));
  free(bpf);
  Napi::Array sk = Napi::Array::New(env);
  for (size_t i = 0; i < out.size(); i++)
    if (skipped[i]) sk.Set(sk.Length(), Napi::String::New(env, names[i]));
  result.Set("skipped", sk);
  return result;
}

// seccompFlagSupported(flagBit) -> boolean (this kernel)
Napi::Value SeccompFlagSupported(const Napi::CallbackInfo &info) {
  return Napi::Boolean::New(info.Env(), tsrun_seccomp_flag_supported(info[0].As<Napi::Number>().Uint32Value()));
}

// seccompActionAvailable(action) -> boolean (this kernel and libseccomp)
Napi::Value SeccompActionAvailable(const Napi::CallbackInfo &info) {
  return Napi::Boolean::New(info.Env(), tsrun_seccomp_action_available(info[0].As<Napi::Number>().Uint32Value()));
}

// sendWithFd(sock, data: string, fd): one sendmsg of `data` with `fd` as
// SCM_RIGHTS (the container process state + seccompFd for a listener).
Napi::Value SendWithFd(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int sock = info[0].As<Napi::Number>().Int32Value();
  std::string data = info[1].As<Napi::String>();
  int fd = info[2].As<Napi::Number>().Int32Value();
  ssize_t n = tsrun_send_with_fd(sock, data.data(), data.size(), fd);
  if (n < 0) return ThrowErrno(env, errno, "sendmsg");
  if ((size_t)n != data.size()) return ThrowErrno(env, EMSGSIZE, "sendmsg");
  return env.Undefined();
}

} // namespace tsrun
