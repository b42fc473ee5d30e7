// constants.cc — the constants TypeScript shares with the C side, as the
// addon has them. TypeScript does not read them from here: the build
// generates lib/native/constants.gen.ts from the same function
// (native/host/constants.c), so nothing needs the addon to plan or encode.
// The addon exports its plan version, which lib/native/binding.ts checks
// when it loads the addon, and the whole document for
// tests/unit/constants.test.ts to compare with the generated module.
#include <napi.h>

#include <errno.h>

extern "C" {
#include "host.h"
#include "tsrun_plan.h"
}

#include "binding.h"

namespace tsrun {

Napi::Value PlanVersion(Napi::Env env) {
  return Napi::Number::New(env, TSRUN_PLAN_VERSION);
}

// constantsJson() -> the JSON of tsrun_constants_json (parsed by the caller:
// only a test asks, so no command pays for it).
Napi::Value ConstantsJson(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  struct tsrun_buf b = {};
  if (tsrun_constants_json(&b) < 0) {
    tsrun_buf_free(&b);
    return ThrowErrno(env, ENOMEM, "constantsJson");
  }
  Napi::String s = Napi::String::New(env, b.data, b.len);
  tsrun_buf_free(&b);
  return s;
}

} // namespace tsrun
