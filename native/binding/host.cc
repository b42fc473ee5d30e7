// host.cc — the addon's door to native/host/: the state record, a
// container's status, start/kill/delete/pause/resume/ps, its cgroup's
// freeze/thaw/pids/signal/destroy, hooks, and unmounting what a container
// without a mount namespace left. The front binary calls the same C
// directly; nothing here decides anything. Every command runs either on the
// calling thread or, through hostAsync, on the libuv threadpool (it may
// wait: delete for the init to die, start for the fifo, hooks for their
// timeout), returning a promise.
#include <napi.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <string>
#include <vector>

extern "C" {
#include "../host/host.h"
}

#include "binding.h"

namespace tsrun {

namespace {

enum class Op { kState, kList, kStatus, kKill, kDelete, kStart, kPause, kResume, kPs };

// One host command: its inputs, what it produced, and what it said.
struct HostCall {
  Op op;
  std::string root, id;
  int sig = 0;
  bool flag = false; // kill --all, delete --force, state pretty
  int rc = 0;
  struct tsrun_err err = {"", ""};
  std::vector<std::string> warnings;
  std::string out;
  std::vector<pid_t> pids;
  enum tsrun_status status = TSRUN_STOPPED;
  struct timespec started = {0, 0};
  std::vector<std::pair<std::string, double>> marks; // step, ms since started

  static void Warn(void *arg, const char *message) { static_cast<HostCall *>(arg)->warnings.emplace_back(message); }
  static void Mark(void *arg, const char *step) {
    auto *c = static_cast<HostCall *>(arg);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    c->marks.emplace_back(
        step, (double)(now.tv_sec - c->started.tv_sec) * 1e3 + (double)(now.tv_nsec - c->started.tv_nsec) / 1e6);
  }

  void Run() {
    clock_gettime(CLOCK_MONOTONIC, &started);
    struct tsrun_host h = {root.c_str(), Warn, this, Mark};
    const char *cid = id.c_str();
    struct tsrun_buf b = {nullptr, 0, 0};
    switch (op) {
      case Op::kState: {
        struct tsrun_state s;
        rc = tsrun_state_load(&h, cid, &s, &err);
        if (rc == 0) {
          rc = tsrun_state_json(&s, flag ? 1 : 0, &b) < 0 ? tsrun_err_set(&err, TSRUN_CODE(ESYSTEM), "out of memory")
                                                          : 0;
          tsrun_state_free(&s);
        }
        break;
      }
      case Op::kList: rc = tsrun_host_list(&h, &b, &err); break;
      case Op::kStatus: rc = tsrun_host_status(&h, cid, &status, &err); break;
      case Op::kKill: rc = tsrun_host_kill(&h, cid, sig, flag, &err); break;
      case Op::kDelete: rc = tsrun_host_delete(&h, cid, flag, &err); break;
      case Op::kStart: rc = tsrun_host_start(&h, cid, &err); break;
      case Op::kPause: rc = tsrun_host_pause(&h, cid, &err); break;
      case Op::kResume: rc = tsrun_host_resume(&h, cid, &err); break;
      case Op::kPs: {
        pid_t *p = nullptr;
        size_t n = 0;
        rc = tsrun_host_ps(&h, cid, &p, &n, &err);
        pids.assign(p, p + n);
        free(p);
        break;
      }
    }
    if (b.data) out.assign(b.data, b.len);
    tsrun_buf_free(&b);
  }

  // {warnings, out?, status?, pids?}: what the TypeScript side reads.
  Napi::Value Result(Napi::Env env) const {
    Napi::Object o = Napi::Object::New(env);
    Napi::Array w = Napi::Array::New(env, warnings.size());
    for (size_t i = 0; i < warnings.size(); i++) w.Set(i, Napi::String::New(env, warnings[i]));
    o.Set("warnings", w);
    Napi::Array m = Napi::Array::New(env, marks.size());
    for (size_t i = 0; i < marks.size(); i++) {
      Napi::Object e = Napi::Object::New(env);
      e.Set("step", Napi::String::New(env, marks[i].first));
      e.Set("ms", Napi::Number::New(env, marks[i].second));
      m.Set(i, e);
    }
    o.Set("marks", m);
    if (op == Op::kState || op == Op::kList) o.Set("out", Napi::String::New(env, out));
    if (op == Op::kStatus) o.Set("status", Napi::String::New(env, tsrun_status_names[status]));
    if (op == Op::kPs) {
      Napi::Array a = Napi::Array::New(env, pids.size());
      for (size_t i = 0; i < pids.size(); i++) a.Set(i, Napi::Number::New(env, pids[i]));
      o.Set("pids", a);
    }
    return o;
  }
};

} // namespace

// The error of a host call: its message, and its stable code
// (tsrun_errors.h) in `hostCode` (lib/native/host.ts makes it a TsrunError).
Napi::Error HostError(Napi::Env env, const struct tsrun_err &e, const std::vector<std::string> &warnings) {
  Napi::Error x = Napi::Error::New(env, e.message);
  x.Set("hostCode", Napi::String::New(env, e.code));
  Napi::Array w = Napi::Array::New(env, warnings.size());
  for (size_t i = 0; i < warnings.size(); i++) w.Set(i, Napi::String::New(env, warnings[i]));
  x.Set("warnings", w);
  return x;
}

namespace {

bool ParseCall(const Napi::CallbackInfo &info, size_t first, HostCall &c) {
  std::string op = info[first].As<Napi::String>();
  static const struct {
    const char *name;
    Op op;
  } ops[] = {{"state", Op::kState}, {"list", Op::kList},     {"status", Op::kStatus},
             {"kill", Op::kKill},   {"delete", Op::kDelete}, {"start", Op::kStart},
             {"pause", Op::kPause}, {"resume", Op::kResume}, {"ps", Op::kPs}};
  bool found = false;
  for (const auto &o : ops)
    if (op == o.name) {
      c.op = o.op;
      found = true;
    }
  if (!found) return false;
  c.root = info[first + 1].As<Napi::String>().Utf8Value();
  if (info.Length() > first + 2 && info[first + 2].IsString()) c.id = info[first + 2].As<Napi::String>().Utf8Value();
  if (info.Length() > first + 3 && info[first + 3].IsNumber()) c.sig = info[first + 3].As<Napi::Number>().Int32Value();
  if (info.Length() > first + 4 && info[first + 4].IsBoolean()) c.flag = info[first + 4].As<Napi::Boolean>();
  return true;
}

class HostWorker : public Napi::AsyncWorker {
 public:
  HostWorker(Napi::Env env, HostCall call)
      : Napi::AsyncWorker(env), call_(std::move(call)), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override { call_.Run(); }
  void OnOK() override {
    Napi::Env env = Env();
    if (call_.rc < 0)
      deferred_.Reject(HostError(env, call_.err, call_.warnings).Value());
    else
      deferred_.Resolve(call_.Result(env));
  }

 private:
  HostCall call_;
  Napi::Promise::Deferred deferred_;
};

void CollectWarning(void *arg, const char *m) {
  static_cast<std::vector<std::string> *>(arg)->emplace_back(m);
}

// cgroupRemove's work: tsrun_cgroup_remove on the threadpool (it waits for
// killed processes to leave, and retries a busy rmdir).
class CgroupRemoveWorker : public Napi::AsyncWorker {
 public:
  CgroupRemoveWorker(Napi::Env env, std::vector<std::string> dirs, std::string unit, bool user)
      : Napi::AsyncWorker(env),
        dirs_(std::move(dirs)),
        unit_(std::move(unit)),
        user_(user),
        deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    std::vector<const char *> p;
    for (const std::string &d : dirs_) p.push_back(d.c_str());
    struct tsrun_sd_unit u = {unit_.c_str(), user_ ? 1 : 0};
    rc_ = tsrun_cgroup_remove(p.data(), p.size(), unit_.empty() ? nullptr : &u, &err_);
  }
  void OnOK() override {
    if (rc_ < 0)
      deferred_.Reject(HostError(Env(), err_, {}).Value());
    else
      deferred_.Resolve(Env().Undefined());
  }

 private:
  std::vector<std::string> dirs_;
  std::string unit_; // "": no systemd unit
  bool user_;
  int rc_ = 0;
  struct tsrun_err err_ = {"", ""};
  Napi::Promise::Deferred deferred_;
};

} // namespace

// host(op, root, id?, signal?, flag?) → {warnings, out?, status?, pids?}; throws with hostCode.
Napi::Value Host(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  HostCall c;
  if (!ParseCall(info, 0, c)) {
    Napi::TypeError::New(env, "host: unknown operation").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  c.Run();
  if (c.rc < 0) {
    HostError(env, c.err, c.warnings).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return c.Result(env);
}

// hostAsync(op, root, id?, signal?, flag?) → Promise of host()'s result, run on the threadpool.
Napi::Value HostAsync(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  HostCall c;
  if (!ParseCall(info, 0, c)) {
    Napi::TypeError::New(env, "hostAsync: unknown operation").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto *w = new HostWorker(env, std::move(c));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// cgroupRemove(dirs, systemd?) → Promise: what a failed create made goes,
// with whatever runs in it, and the systemd unit ({unit, user}) it started
// is stopped (native/host/cgroup.c tsrun_cgroup_remove, the routine delete
// uses for what it owns), off the event loop.
Napi::Value CgroupRemove(const Napi::CallbackInfo &info) {
  Napi::Array a = info[0].As<Napi::Array>();
  std::vector<std::string> dirs;
  for (uint32_t i = 0; i < a.Length(); i++) dirs.push_back(a.Get(i).As<Napi::String>());
  std::string unit;
  bool user = false;
  if (!info[1].IsUndefined() && !SystemdRefOf(info[1], unit, user)) {
    Napi::TypeError::New(info.Env(), "cgroupRemove: expected {unit, user}").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  auto *w = new CgroupRemoveWorker(info.Env(), std::move(dirs), std::move(unit), user);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// The runtime's hooks of one kind, run on the threadpool: a hook may take
// its whole timeout, and an API user's event loop must go on meanwhile.
class HooksWorker : public Napi::AsyncWorker {
 public:
  HooksWorker(Napi::Env env, struct tsrun_json *hooks, std::string kind, std::string input, bool warn_only)
      : Napi::AsyncWorker(env),
        hooks_(hooks),
        kind_(std::move(kind)),
        input_(std::move(input)),
        warn_only_(warn_only),
        deferred_(Napi::Promise::Deferred::New(env)) {}
  ~HooksWorker() override { tsrun_json_free(hooks_); }
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    struct tsrun_host h = {"", CollectWarning, &warnings_, nullptr};
    rc_ = tsrun_run_hook_list(&h, hooks_, kind_.c_str(), input_.c_str(), warn_only_, &err_);
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (rc_ < 0) {
      deferred_.Reject(HostError(env, err_, warnings_).Value());
      return;
    }
    Napi::Array w = Napi::Array::New(env, warnings_.size());
    for (size_t i = 0; i < warnings_.size(); i++) w.Set(i, Napi::String::New(env, warnings_[i]));
    deferred_.Resolve(w);
  }

 private:
  struct tsrun_json *hooks_;
  std::string kind_, input_;
  bool warn_only_;
  std::vector<std::string> warnings_;
  int rc_ = 0;
  struct tsrun_err err_ = {"", ""};
  Napi::Promise::Deferred deferred_;
};

// runHooks(hooksJson, kind, input, warnOnly) → Promise<warnings[]>: the
// runtime's hooks (prestart, createRuntime, poststart, poststop), in our
// namespaces, on the threadpool. A failure (not warnOnly) rejects with
// hostCode ECHILD and the hook named.
Napi::Value RunHooks(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string hooks_json = info[0].As<Napi::String>();
  const char *perr = nullptr;
  struct tsrun_json *hooks = tsrun_json_parse(hooks_json.data(), hooks_json.size(), &perr);
  if (!hooks) {
    Napi::TypeError::New(env, std::string("runHooks: ") + (perr ? perr : "bad JSON")).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto *w =
      new HooksWorker(env, hooks, info[1].As<Napi::String>(), info[2].As<Napi::String>(), info[3].As<Napi::Boolean>());
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// unmountUnder(rootfs) → warnings[]
Napi::Value UnmountUnder(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string rootfs = info[0].As<Napi::String>();
  std::vector<std::string> warnings;
  struct tsrun_host h = {"", CollectWarning, &warnings, nullptr};
  tsrun_unmount_under(&h, rootfs.c_str());
  Napi::Array w = Napi::Array::New(env, warnings.size());
  for (size_t i = 0; i < warnings.size(); i++) w.Set(i, Napi::String::New(env, warnings[i]));
  return w;
}

// parseSignal(text) → the number, or -1 when it names no signal.
Napi::Value ParseSignal(const Napi::CallbackInfo &info) {
  std::string text = info[0].As<Napi::String>();
  return Napi::Number::New(info.Env(), tsrun_parse_signal(text.c_str()));
}

// rootless(mode) → {rootless: boolean | null (mode is not true/false/auto),
// defaultRoot, xdg: defaultRoot is under $XDG_RUNTIME_DIR}: rootless.c's
// rules, which the front follows too.
Napi::Value Rootless(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string text = info[0].As<Napi::String>();
  int mode = tsrun_rootless_mode(text.c_str());
  char root[4096];
  int xdg = tsrun_default_root(root, sizeof root);
  if (xdg < 0) {
    Napi::Error::New(env, "$XDG_RUNTIME_DIR is too long").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("rootless", mode < 0 ? env.Null() : Napi::Boolean::New(env, tsrun_rootless(mode) != 0));
  o.Set("defaultRoot", Napi::String::New(env, root));
  o.Set("xdg", Napi::Boolean::New(env, xdg == 1));
  return o;
}

// checkId(id): throws (hostCode EID, runc's rule and words) when a container
// may not have that id.
Napi::Value CheckId(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string id = info[0].As<Napi::String>();
  struct tsrun_err e = {"", ""};
  if (tsrun_check_id(id.c_str(), &e) < 0) HostError(env, e, {}).ThrowAsJavaScriptException();
  return env.Undefined();
}

// pidAlive(pid, startTime) → the liveness rule of native/host/status.c.
Napi::Value PidAlive(const Napi::CallbackInfo &info) {
  pid_t pid = info[0].As<Napi::Number>().Int32Value();
  unsigned long long start = (unsigned long long)info[1].As<Napi::Number>().DoubleValue();
  return Napi::Boolean::New(info.Env(), tsrun_pid_alive(pid, start) != 0);
}

// canExec(status, ignorePaused): throws (hostCode ESTATE) where runc refuses
// an exec into a container in that status (native/host/status.c).
Napi::Value CanExec(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>();
  enum tsrun_status st = TSRUN_STOPPED;
  for (int i = 0; i < 4; i++)
    if (name == tsrun_status_names[i]) st = (enum tsrun_status)i;
  struct tsrun_err e = {"", ""};
  if (tsrun_can_exec(st, info[1].ToBoolean(), &e) < 0) HostError(env, e, {}).ThrowAsJavaScriptException();
  return env.Undefined();
}

// procStartTime(pid) → {startTime, state} | null (gone).
Napi::Value ProcStartTime(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  char st = 0;
  unsigned long long t = tsrun_proc_start_time(info[0].As<Napi::Number>().Int32Value(), &st);
  if (!t) return env.Null();
  Napi::Object o = Napi::Object::New(env);
  o.Set("startTime", Napi::Number::New(env, (double)t));
  o.Set("state", Napi::String::New(env, std::string(1, st)));
  return o;
}

// prlimit(pid, resource, soft, hard): prlimit64 of another process, the
// limits as bigints (RLIM_INFINITY is 2^64-1). Throws with the errno.
Napi::Value Prlimit(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  bool lossless = true;
  struct rlimit64 lim;
  lim.rlim_cur = info[2].As<Napi::BigInt>().Uint64Value(&lossless);
  lim.rlim_max = info[3].As<Napi::BigInt>().Uint64Value(&lossless);
  if (syscall(SYS_prlimit64, info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int32Value(), &lim,
              nullptr) < 0)
    return ThrowErrno(env, errno, "prlimit");
  return env.Undefined();
}

// A resctrl group reference {root, clos, mon?, owned?} (native/host/resctrl.c);
// the strings live in `keep`.
static bool RdtOf(Napi::Value v, struct tsrun_rdt &r, std::vector<std::string> &keep) {
  if (!v.IsObject()) return false;
  Napi::Object o = v.As<Napi::Object>();
  if (!o.Get("root").IsString() || !o.Get("clos").IsString()) return false;
  keep.reserve(3);
  keep.push_back(o.Get("root").As<Napi::String>());
  keep.push_back(o.Get("clos").As<Napi::String>());
  bool mon = o.Get("mon").IsString();
  if (mon) keep.push_back(o.Get("mon").As<Napi::String>());
  // a NUL would cut a name short in C: another group than the one validated
  for (const std::string &s : keep)
    if (s.find('\0') != std::string::npos) return false;
  r.root = keep[0].c_str();
  r.clos = keep[1].c_str();
  r.mon = mon ? keep[2].c_str() : nullptr;
  r.owned = o.Get("owned").ToBoolean();
  return true;
}

// rdt(op, group, arg?) → op "make" (arg: {schemata, mustExist, named}): whether the
// group is new; "schemata" (arg: the text), "join" (arg: pid), "remove":
// undefined. Throws with hostCode.
Napi::Value Rdt(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string op = info[0].As<Napi::String>();
  struct tsrun_rdt r;
  std::vector<std::string> keep;
  if (!RdtOf(info[1], r, keep)) {
    Napi::TypeError::New(env, "rdt: expected {root, clos, mon?, owned?}").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  struct tsrun_err e = {"", ""};
  int rc = -1, made = 0;
  if (op == "make") {
    Napi::Object a = info[2].As<Napi::Object>();
    std::string schemata = a.Get("schemata").IsString() ? a.Get("schemata").As<Napi::String>().Utf8Value() : "";
    rc = tsrun_rdt_make(&r, schemata.empty() ? nullptr : schemata.c_str(), a.Get("mustExist").ToBoolean(),
                        a.Get("named").ToBoolean(), &made, &e);
  } else if (op == "schemata") {
    rc = tsrun_rdt_schemata(&r, info[2].As<Napi::String>().Utf8Value().c_str(), &e);
  } else if (op == "join") {
    rc = tsrun_rdt_join(&r, info[2].As<Napi::Number>().Int32Value(), &e);
  } else if (op == "remove") {
    rc = tsrun_rdt_remove(&r, &e);
  } else {
    Napi::TypeError::New(env, "rdt: unknown operation").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (rc < 0) {
    HostError(env, e, {}).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return op == "make" ? Napi::Boolean::New(env, made != 0) : env.Undefined();
}

} // namespace tsrun
