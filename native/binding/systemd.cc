// systemd.cc — the systemd cgroup driver's D-Bus calls for TypeScript:
// systemdStart/Set/Stop(ref, props?) run native/host/systemd.c on the libuv
// threadpool (a unit's job may take seconds) and return a promise. The
// properties arrive as lib/cgroups/systemd.ts built them ({name, type,
// value}); this file only copies them into C's shape, checking each value
// has the JS type its D-Bus signature needs. Nothing is decided here.
#include <napi.h>

#include <stdint.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

extern "C" {
#include "../host/host.h"
}

#include "binding.h"

namespace tsrun {

namespace {

// A unit reference ({unit, user}) with its own storage.
struct UnitRef {
  std::string name;
  bool user = false;
  struct tsrun_sd_unit c() const {
    return {name.c_str(), user ? 1 : 0};
  }
};

bool ParseRef(Napi::Value v, UnitRef &out) {
  if (!v.IsObject()) return false;
  Napi::Object o = v.As<Napi::Object>();
  Napi::Value unit = o.Get("unit");
  if (!unit.IsString()) return false;
  out.name = unit.As<Napi::String>();
  out.user = o.Get("user").ToBoolean();
  return true;
}

// The properties with the storage their pointers point into (deques: an
// element never moves once added, so neither do short strings' bytes).
struct Props {
  std::deque<std::string> strings; // names, types and string values
  std::deque<std::vector<uint32_t>> u32s;
  std::deque<std::vector<uint8_t>> bytes;
  std::deque<std::vector<const char *>> ptrs;
  std::vector<struct tsrun_sd_prop> c;
};

const char *Keep(Props &p, std::string s) {
  p.strings.push_back(std::move(s));
  return p.strings.back().c_str();
}

// Returns "" or what is wrong with property i.
std::string ParseProps(Napi::Value v, Props &out) {
  if (!v.IsArray()) return "properties: expected an array";
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    if (!a.Get(i).IsObject()) return "property " + std::to_string(i) + ": expected an object";
    Napi::Object o = a.Get(i).As<Napi::Object>();
    Napi::Value name = o.Get("name"), type = o.Get("type"), val = o.Get("value");
    if (!name.IsString() || !type.IsString()) return "property " + std::to_string(i) + ": expected {name, type, value}";
    struct tsrun_sd_prop p = {};
    p.name = Keep(out, name.As<Napi::String>());
    std::string t = type.As<Napi::String>();
    p.type = Keep(out, t);
    std::string bad = std::string("property ") + p.name + ": a value of type " + t + " expected";
    if (t == "s") {
      if (!val.IsString()) return bad;
      p.s = Keep(out, val.As<Napi::String>());
    } else if (t == "b") {
      if (!val.IsBoolean()) return bad;
      p.i = val.As<Napi::Boolean>() ? 1 : 0;
    } else if (t == "t" || t == "x") {
      if (!val.IsBigInt()) return bad;
      bool lossless = true;
      if (t == "t")
        p.u = val.As<Napi::BigInt>().Uint64Value(&lossless);
      else
        p.i = val.As<Napi::BigInt>().Int64Value(&lossless);
      if (!lossless) return bad;
    } else if (t == "u" || t == "i" || t == "d") {
      if (!val.IsNumber()) return bad;
      double d = val.As<Napi::Number>().DoubleValue();
      if (t == "d") {
        p.d = d;
      } else {
        // range: native/host/systemd.c checks it, from these 64-bit members
        if (d != (double)(int64_t)d) return bad;
        if (t == "u") {
          if (d < 0) return bad;
          p.u = (uint64_t)d;
        } else {
          p.i = (int64_t)d;
        }
      }
    } else if (t == "au") {
      if (!val.IsArray()) return bad;
      Napi::Array v2 = val.As<Napi::Array>();
      std::vector<uint32_t> u;
      for (uint32_t k = 0; k < v2.Length(); k++) {
        Napi::Value x = v2.Get(k);
        if (!x.IsNumber()) return bad;
        double d = x.As<Napi::Number>().DoubleValue();
        if (d < 0 || d > UINT32_MAX || d != (double)(uint32_t)d) return bad;
        u.push_back((uint32_t)d);
      }
      out.u32s.push_back(std::move(u));
      p.array = out.u32s.back().data();
      p.count = out.u32s.back().size();
    } else if (t == "ay") {
      if (!val.IsTypedArray() || val.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) return bad;
      Napi::Uint8Array b = val.As<Napi::Uint8Array>();
      out.bytes.emplace_back(b.Data(), b.Data() + b.ElementLength());
      p.array = out.bytes.back().data();
      p.count = out.bytes.back().size();
    } else if (t == "as" || t == "a(ss)") {
      if (!val.IsArray()) return bad;
      Napi::Array v2 = val.As<Napi::Array>();
      std::vector<const char *> s;
      for (uint32_t k = 0; k < v2.Length(); k++) {
        Napi::Value x = v2.Get(k);
        if (t == "as") {
          if (!x.IsString()) return bad;
          s.push_back(Keep(out, x.As<Napi::String>()));
          continue;
        }
        if (!x.IsArray() || x.As<Napi::Array>().Length() != 2) return bad;
        Napi::Value k0 = x.As<Napi::Array>().Get(0u), k1 = x.As<Napi::Array>().Get(1u);
        if (!k0.IsString() || !k1.IsString()) return bad;
        s.push_back(Keep(out, k0.As<Napi::String>()));
        s.push_back(Keep(out, k1.As<Napi::String>()));
      }
      out.ptrs.push_back(std::move(s));
      p.array = out.ptrs.back().data();
      p.count = t == "as" ? out.ptrs.back().size() : out.ptrs.back().size() / 2;
    } else {
      return std::string("property ") + p.name + ": unknown D-Bus type " + t;
    }
    out.c.push_back(p);
  }
  return "";
}

enum class SdOp { kStart, kSet, kStop };

class SystemdWorker : public Napi::AsyncWorker {
 public:
  SystemdWorker(Napi::Env env, SdOp op, UnitRef ref, std::unique_ptr<Props> props)
      : Napi::AsyncWorker(env),
        op_(op),
        ref_(std::move(ref)),
        props_(std::move(props)),
        deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    struct tsrun_sd_unit u = ref_.c();
    const struct tsrun_sd_prop *p = props_ ? props_->c.data() : nullptr;
    size_t n = props_ ? props_->c.size() : 0;
    switch (op_) {
      case SdOp::kStart: rc_ = tsrun_sd_start(&u, p, n, cgroup_, sizeof cgroup_, &err_); break;
      case SdOp::kSet: rc_ = tsrun_sd_set(&u, p, n, &err_); break;
      case SdOp::kStop: rc_ = tsrun_sd_stop(&u, &err_); break;
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (rc_ < 0)
      deferred_.Reject(HostError(env, err_, {}).Value());
    else if (op_ == SdOp::kStart)
      deferred_.Resolve(Napi::String::New(env, cgroup_));
    else
      deferred_.Resolve(env.Undefined());
  }

 private:
  SdOp op_;
  UnitRef ref_;
  std::unique_ptr<Props> props_;
  char cgroup_[4096] = "";
  int rc_ = 0;
  struct tsrun_err err_ = {"", ""};
  Napi::Promise::Deferred deferred_;
};

Napi::Value Queue(const Napi::CallbackInfo &info, SdOp op, const char *what) {
  Napi::Env env = info.Env();
  UnitRef ref;
  if (!ParseRef(info[0], ref)) {
    Napi::TypeError::New(env, std::string(what) + ": expected {unit, user}").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::unique_ptr<Props> props;
  if (op != SdOp::kStop) {
    props = std::make_unique<Props>();
    std::string bad = ParseProps(info[1], *props);
    if (!bad.empty()) {
      Napi::TypeError::New(env, std::string(what) + ": " + bad).ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  auto *w = new SystemdWorker(env, op, std::move(ref), std::move(props));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

} // namespace

// systemdStart(ref, props) → Promise<string>: the unit's ControlGroup.
Napi::Value SystemdStart(const Napi::CallbackInfo &info) {
  return Queue(info, SdOp::kStart, "systemdStart");
}
// systemdSet(ref, props) → Promise<void>: SetUnitProperties(runtime).
Napi::Value SystemdSet(const Napi::CallbackInfo &info) {
  return Queue(info, SdOp::kSet, "systemdSet");
}
// systemdStop(ref) → Promise<void>: StopUnit and its job, ResetFailedUnit.
Napi::Value SystemdStop(const Napi::CallbackInfo &info) {
  return Queue(info, SdOp::kStop, "systemdStop");
}

// The unit ref of cgroupRemove's second argument (undefined: none), for host.cc.
bool SystemdRefOf(Napi::Value v, std::string &name, bool &user) {
  UnitRef r;
  if (!ParseRef(v, r)) return false;
  name = r.name;
  user = r.user;
  return true;
}

} // namespace tsrun
