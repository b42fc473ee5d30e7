// constants.cc — every number TypeScript shares with the C side, exported
// from the headers that define it (tsrun_plan.h, tsrun_sync.h, init.h), so
// lib/native/constants.ts restates none: plan flags and kinds, sync message
// types, step names and the byte layout of the plan buffer (offsetof and
// sizeof of every field the encoder writes).
#include <napi.h>

#include <stddef.h>

extern "C" {
#include "../init/init.h"
}

#include "binding.h"

namespace tsrun {

namespace {

#define N(v) Napi::Number::New(env, (double)(v))

// The byte offset of every field the encoder writes, by its C name; each
// record also says its size as "bytes" (not "size": two records have a
// field of that name).
// (clang-format's macro layout does not settle on this list)
// clang-format off
#define HEADER_FIELDS(X)                                                                                    \
  X(magic) X(version) X(size) X(flags) X(clone_flags) X(rootfs_propagation) X(caps) X(uid) X(gid) X(umask) \
  X(console_width) X(console_height) X(console_socket_fd) X(preserve_fds) X(rootfs) X(hostname)             \
  X(domainname) X(cwd) X(state_dir) X(keyring) X(args) X(env) X(additional_gids) X(mounts) X(rlimits)       \
  X(devices) X(symlinks) X(seccomp_bpf) X(seccomp_flags) X(proc_flags) X(personality) X(ioprio)             \
  X(mempolicy_mode) X(root_propagation) X(sched) X(mempolicy_nodes) X(sysctls) X(mount_attrs)               \
  X(unshare_flags) X(ns_flags) X(ns_joins) X(monotonic_secs) X(boottime_secs) X(monotonic_nsecs)            \
  X(boottime_nsecs) X(idmap_mounts) X(cpu_affinity_initial) X(cpu_affinity_final) X(hooks) X(hook_state)
// clang-format on

#define RECORD(obj, type, FIELDS)                 \
  do {                                            \
    Napi::Object r = Napi::Object::New(env);      \
    r.Set("bytes", N(sizeof(struct type)));       \
    FIELDS(r, type)                               \
    obj.Set(&#type[6] /* without "tsrun_" */, r); \
  } while (0)
#define OFF(r, type, f) r.Set(#f, N(offsetof(struct type, f)));

#define MOUNT_FIELDS(r, t) \
  OFF(r, t, source)        \
  OFF(r, t, destination)   \
  OFF(r, t, fstype) OFF(r, t, data) OFF(r, t, flags) OFF(r, t, propagation) OFF(r, t, kind) OFF(r, t, target_kind)
#define RLIMIT_FIELDS(r, t) OFF(r, t, resource) OFF(r, t, soft) OFF(r, t, hard)
#define DEVICE_FIELDS(r, t) \
  OFF(r, t, path) OFF(r, t, type) OFF(r, t, major) OFF(r, t, minor) OFF(r, t, mode) OFF(r, t, uid) OFF(r, t, gid)
#define SYMLINK_FIELDS(r, t) OFF(r, t, target) OFF(r, t, linkpath)
#define SCHED_FIELDS(r, t) \
  OFF(r, t, size)          \
  OFF(r, t, policy)        \
  OFF(r, t, flags) OFF(r, t, nice) OFF(r, t, priority) OFF(r, t, runtime) OFF(r, t, deadline) OFF(r, t, period)
#define SYSCTL_FIELDS(r, t) OFF(r, t, path) OFF(r, t, value)
#define MOUNT_ATTR_FIELDS(r, t) OFF(r, t, mount) OFF(r, t, attr_set) OFF(r, t, attr_clr)
#define NS_JOIN_FIELDS(r, t) OFF(r, t, fd) OFF(r, t, nstype)
#define IDMAP_MOUNT_FIELDS(r, t) OFF(r, t, mount_index) OFF(r, t, fd)
#define HOOK_FIELDS(r, t) OFF(r, t, path) OFF(r, t, args) OFF(r, t, env) OFF(r, t, kind) OFF(r, t, timeout_ms)

} // namespace

Napi::Object Constants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
  c.Set("planMagic", N(TSRUN_PLAN_MAGIC));
  c.Set("planVersion", N(TSRUN_PLAN_VERSION));

  Napi::Object o;
#define BIT(name, bit) o.Set(#name, N(1u << (bit)));
#define VAL(name, v) o.Set(#name, N(v));
  o = Napi::Object::New(env);
  TSRUN_PLAN_FLAGS(BIT)
  c.Set("planFlags", o);
  o = Napi::Object::New(env);
  TSRUN_PROC_FLAGS(BIT)
  c.Set("procFlags", o);
  o = Napi::Object::New(env);
  TSRUN_NS_FLAGS(BIT)
  c.Set("nsFlags", o);
  o = Napi::Object::New(env);
  TSRUN_CAPSETS(VAL)
  c.Set("capSets", o);
  o = Napi::Object::New(env);
  TSRUN_MOUNT_KINDS(VAL)
  c.Set("mountKinds", o);
  o = Napi::Object::New(env);
  TSRUN_TARGET_KINDS(VAL)
  c.Set("targetKinds", o);
  o = Napi::Object::New(env);
  TSRUN_DEVICE_TYPES(VAL)
  c.Set("deviceTypes", o);
  o = Napi::Object::New(env);
  TSRUN_SYNC_TYPES(VAL)
  c.Set("syncTypes", o);
  o = Napi::Object::New(env);
  TSRUN_HOOK_KINDS(VAL)
  c.Set("hookKinds", o);
#undef BIT
#undef VAL

  Napi::Array steps = Napi::Array::New(env, TSRUN_STEP_COUNT);
  for (uint32_t i = 0; i < TSRUN_STEP_COUNT; i++) steps.Set(i, Napi::String::New(env, tsrun_step_names[i]));
  c.Set("stepNames", steps);

  Napi::Object layout = Napi::Object::New(env);
  Napi::Object header = Napi::Object::New(env);
  header.Set("bytes", N(sizeof(struct tsrun_plan_header)));
#define HDR(f) header.Set(#f, N(offsetof(struct tsrun_plan_header, f)));
  HEADER_FIELDS(HDR)
#undef HDR
  layout.Set("plan_header", header);
  RECORD(layout, tsrun_mount, MOUNT_FIELDS);
  RECORD(layout, tsrun_rlimit, RLIMIT_FIELDS);
  RECORD(layout, tsrun_device, DEVICE_FIELDS);
  RECORD(layout, tsrun_symlink, SYMLINK_FIELDS);
  RECORD(layout, tsrun_sched, SCHED_FIELDS);
  RECORD(layout, tsrun_sysctl, SYSCTL_FIELDS);
  RECORD(layout, tsrun_mount_attr, MOUNT_ATTR_FIELDS);
  RECORD(layout, tsrun_ns_join, NS_JOIN_FIELDS);
  RECORD(layout, tsrun_idmap_mount, IDMAP_MOUNT_FIELDS);
  RECORD(layout, tsrun_hook, HOOK_FIELDS);
  layout.Set("str_size", N(sizeof(struct tsrun_str)));
  layout.Set("sock_filter_size", N(TSRUN_SOCK_FILTER_SIZE));
  c.Set("layout", layout);
  return c;
}

} // namespace tsrun
