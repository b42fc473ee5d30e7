// binding.h — shared helpers of the addon's translation units.
#ifndef TSRUN_BINDING_H
#define TSRUN_BINDING_H

#include <napi.h>

namespace tsrun {

// Throws a SystemError-shaped JS error {message, code, errno, syscall}.
Napi::Value ThrowErrno(Napi::Env env, int err, const char *syscall_name);

Napi::Value RunHook(const Napi::CallbackInfo &info);

}  // namespace tsrun

#endif
