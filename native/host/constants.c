/* constants.c — every constant TypeScript shares with the C side, as one
 * JSON document, each read from the header that defines it:
 *  - the plan's magic, version, flags and kinds, and its byte layout: the
 *    offset, size and C type of every field of the header and of each record;
 *  - the sync message types and the init's step names;
 *  - the state dir's files, state.json's keys and the JSON depth limit;
 *  - the error codes (tsrun_errors.h);
 *  - the systemd driver's job timeout (host.h);
 *  - seccomp's actions (ours), operators (libseccomp's) and filter flags;
 *  - the kernel's numbers the planner writes into a plan: clone and mount
 *    flags, mount attributes, capabilities, rlimits, personality, scheduler,
 *    I/O priority and memory policy values, flock operations.
 *
 * The build turns it into lib/native/constants.gen.ts before tsc runs
 * (build/tsrun-constants, native/tools/constants.c, prints it;
 * scripts/gen-constants.mjs writes the module), so TypeScript has every
 * number without loading the addon, and restates none. The addon exports
 * the same document (constantsJson) for tests/unit/constants.test.ts.
 * Parent side: it allocates. */
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/ioprio.h>
#include <linux/mempolicy.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stddef.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/resource.h>

#include "../init/init.h"
#include "host.h"
#include "tsrun_errors.h"
#include "tsrun_seccomp.h"

/* ---- the plan's byte layout ------------------------------------------------
 * Every field of every struct TypeScript writes, in declaration order:
 * F(T, field) a number, string, nested record or array; V(T, field, element)
 * a tsrun_vec of `element`; P(T, field) padding. The assertions below prove
 * each list names every byte of its struct, so a field added in C and not
 * here fails the build. */
// clang-format off
#define HEADER_FIELDS(T, F, V, P)                                                                              \
  F(T, magic) F(T, version) F(T, size) F(T, flags) F(T, clone_flags) F(T, rootfs_propagation) F(T, caps)       \
  F(T, uid) F(T, gid) F(T, umask) F(T, console_width) F(T, console_height) F(T, console_socket_fd)             \
  F(T, preserve_fds) F(T, pidfd_socket_fd) F(T, rootfs) F(T, hostname) F(T, domainname) F(T, cwd) F(T, state_dir)        \
  F(T, keyring) V(T, args, struct tsrun_str) V(T, env, struct tsrun_str) V(T, additional_gids, uint32_t)      \
  V(T, mounts, struct tsrun_mount) V(T, rlimits, struct tsrun_rlimit) V(T, devices, struct tsrun_device)       \
  V(T, symlinks, struct tsrun_symlink) V(T, seccomp_bpf, struct sock_filter) F(T, seccomp_flags)               \
  F(T, rootfs_parent_propagation) F(T, proc_flags) F(T, personality) F(T, ioprio) F(T, mempolicy_mode)                       \
  F(T, root_propagation) F(T, sched) V(T, mempolicy_nodes, uint64_t) V(T, sysctls, struct tsrun_sysctl)        \
  V(T, mount_attrs, struct tsrun_mount_attr) F(T, unshare_flags) F(T, ns_flags) F(T, keyring_perms)                     \
  V(T, ns_joins, struct tsrun_ns_join) F(T, monotonic_secs) F(T, boottime_secs) F(T, monotonic_nsecs)          \
  F(T, boottime_nsecs) V(T, idmap_mounts, struct tsrun_idmap_mount) V(T, cpu_affinity_initial, uint64_t)       \
  V(T, cpu_affinity_final, uint64_t) V(T, hooks, struct tsrun_hook) F(T, hook_state)          \
  F(T, apparmor_profile)\
  F(T, selinux_label)\
  F(T, mqueue_label)                                                                         \
  F(T, rootfs_overlay)
#define MOUNT_FIELDS(T, F, V, P) \
  F(T, source) F(T, destination) F(T, fstype) F(T, data) F(T, flags) F(T, propagation) F(T, kind) F(T, target_kind)
#define RLIMIT_FIELDS(T, F, V, P) F(T, resource) P(T, pad) F(T, soft) F(T, hard)
#define DEVICE_FIELDS(T, F, V, P) F(T, path) F(T, type) F(T, major) F(T, minor) F(T, mode) F(T, uid) F(T, gid)
#define SYMLINK_FIELDS(T, F, V, P) F(T, target) F(T, linkpath)
#define SCHED_FIELDS(T, F, V, P) \
  F(T, size) F(T, policy) F(T, flags) F(T, nice) F(T, priority) F(T, runtime) F(T, deadline) F(T, period)
#define SYSCTL_FIELDS(T, F, V, P) F(T, path) F(T, value)
#define MOUNT_ATTR_FIELDS(T, F, V, P) F(T, mount) P(T, pad) F(T, attr_set) F(T, attr_clr)
#define NS_JOIN_FIELDS(T, F, V, P) F(T, fd) F(T, nstype)
#define IDMAP_MOUNT_FIELDS(T, F, V, P) F(T, mount_index) F(T, fd)
#define HOOK_FIELDS(T, F, V, P) \
  F(T, path) V(T, args, struct tsrun_str) V(T, env, struct tsrun_str) F(T, kind) F(T, timeout_ms)
#define STR_FIELDS(T, F, V, P) F(T, off) F(T, len)
#define VEC_FIELDS(T, F, V, P) F(T, off) F(T, count)
// clang-format on

#define MEMBER(T, f) (((T *)0)->f)
#define SUM_F(T, f) +sizeof(MEMBER(T, f))
#define SUM_V(T, f, e) SUM_F(T, f)
#define COVERED(T, LIST) (0 LIST(T, SUM_F, SUM_V, SUM_F) == sizeof(T))

_Static_assert(COVERED(struct tsrun_plan_header, HEADER_FIELDS), "HEADER_FIELDS must name every field");
_Static_assert(COVERED(struct tsrun_mount, MOUNT_FIELDS), "MOUNT_FIELDS must name every field");
_Static_assert(COVERED(struct tsrun_rlimit, RLIMIT_FIELDS), "RLIMIT_FIELDS must name every field");
_Static_assert(COVERED(struct tsrun_device, DEVICE_FIELDS), "DEVICE_FIELDS must name every field");
_Static_assert(COVERED(struct tsrun_symlink, SYMLINK_FIELDS), "SYMLINK_FIELDS must name every field");
_Static_assert(COVERED(struct tsrun_sched, SCHED_FIELDS), "SCHED_FIELDS must name every field");
_Static_assert(COVERED(struct tsrun_sysctl, SYSCTL_FIELDS), "SYSCTL_FIELDS must name every field");
_Static_assert(COVERED(struct tsrun_mount_attr, MOUNT_ATTR_FIELDS), "MOUNT_ATTR_FIELDS must name every field");
_Static_assert(COVERED(struct tsrun_ns_join, NS_JOIN_FIELDS), "NS_JOIN_FIELDS must name every field");
_Static_assert(COVERED(struct tsrun_idmap_mount, IDMAP_MOUNT_FIELDS), "IDMAP_MOUNT_FIELDS must name every field");
_Static_assert(COVERED(struct tsrun_hook, HOOK_FIELDS), "HOOK_FIELDS must name every field");
_Static_assert(COVERED(struct tsrun_str, STR_FIELDS), "STR_FIELDS must name every field");
_Static_assert(COVERED(struct tsrun_vec, VEC_FIELDS), "VEC_FIELDS must name every field");
_Static_assert(sizeof(struct sock_filter) == TSRUN_SOCK_FILTER_SIZE, "struct sock_filter");

/* A field's type as the encoder names it: a number's width and signedness,
 * or the record it is (by its struct's name without "tsrun_"). An array
 * decays to a pointer to its element. A type missing here does not compile. */
// clang-format off
#define TYPE_NAME(v) _Generic((v),                                                                  \
    uint32_t: "u32", int32_t: "i32", uint64_t: "u64", int64_t: "i64",                               \
    uint32_t *: "u32", uint64_t *: "u64",                                                           \
    struct tsrun_str: "str", struct tsrun_vec: "vec",                                               \
    struct tsrun_mount: "mount", struct tsrun_rlimit: "rlimit", struct tsrun_device: "device",     \
    struct tsrun_symlink: "symlink", struct tsrun_sched: "sched", struct tsrun_sysctl: "sysctl",   \
    struct tsrun_mount_attr: "mount_attr", struct tsrun_ns_join: "ns_join",                         \
    struct tsrun_idmap_mount: "idmap_mount", struct tsrun_hook: "hook",                             \
    struct sock_filter: "sock_filter")
/* "vec", and a compile error for a V() entry that is no tsrun_vec */
#define VEC_TYPE(v) _Generic((v), struct tsrun_vec: "vec")
/* How many elements an array field has (1: not an array). */
#define COUNT(v) _Generic((v),                                                                      \
    uint32_t *: sizeof(v) / (sizeof(uint32_t)), uint64_t *: sizeof(v) / (sizeof(uint64_t)), default: 1)

/* ---- the kernel's numbers the planner uses ----------------------------------
 * X(name as TypeScript knows it, value); NAMED(X, n) when that is the C name. */
#define NAMED(X, n) X(#n, n)
#define CLONE_FLAGS(X)                                                                              \
  NAMED(X, CLONE_NEWTIME) NAMED(X, CLONE_NEWNS) NAMED(X, CLONE_NEWCGROUP) NAMED(X, CLONE_NEWUTS)    \
  NAMED(X, CLONE_NEWIPC) NAMED(X, CLONE_NEWUSER) NAMED(X, CLONE_NEWPID) NAMED(X, CLONE_NEWNET)
/* mount(2)'s MS_*, without the prefix */
#define MOUNT_FLAGS(X)                                                                              \
  X("RDONLY", MS_RDONLY) X("NOSUID", MS_NOSUID) X("NODEV", MS_NODEV) X("NOEXEC", MS_NOEXEC)         \
  X("SYNCHRONOUS", MS_SYNCHRONOUS) X("REMOUNT", MS_REMOUNT) X("MANDLOCK", MS_MANDLOCK)              \
  X("DIRSYNC", MS_DIRSYNC) X("NOSYMFOLLOW", MS_NOSYMFOLLOW) X("NOATIME", MS_NOATIME)                \
  X("NODIRATIME", MS_NODIRATIME) X("BIND", MS_BIND) X("MOVE", MS_MOVE) X("REC", MS_REC)             \
  X("SILENT", MS_SILENT) X("UNBINDABLE", MS_UNBINDABLE) X("PRIVATE", MS_PRIVATE)                    \
  X("SLAVE", MS_SLAVE) X("SHARED", MS_SHARED) X("RELATIME", MS_RELATIME)                            \
  X("I_VERSION", MS_I_VERSION) X("STRICTATIME", MS_STRICTATIME) X("LAZYTIME", MS_LAZYTIME)
/* mount_setattr(2)'s MOUNT_ATTR_*, without the prefix */
#define MOUNT_ATTRS(X)                                                                              \
  X("RDONLY", MOUNT_ATTR_RDONLY) X("NOSUID", MOUNT_ATTR_NOSUID) X("NODEV", MOUNT_ATTR_NODEV)        \
  X("NOEXEC", MOUNT_ATTR_NOEXEC) X("ATIME_MASK", MOUNT_ATTR__ATIME)                                 \
  X("RELATIME", MOUNT_ATTR_RELATIME) X("NOATIME", MOUNT_ATTR_NOATIME)                               \
  X("STRICTATIME", MOUNT_ATTR_STRICTATIME) X("NODIRATIME", MOUNT_ATTR_NODIRATIME)                   \
  X("NOSYMFOLLOW", MOUNT_ATTR_NOSYMFOLLOW)
#define CAPABILITIES(X)                                                                             \
  NAMED(X, CAP_CHOWN) NAMED(X, CAP_DAC_OVERRIDE) NAMED(X, CAP_DAC_READ_SEARCH) NAMED(X, CAP_FOWNER) \
  NAMED(X, CAP_FSETID) NAMED(X, CAP_KILL) NAMED(X, CAP_SETGID) NAMED(X, CAP_SETUID)                 \
  NAMED(X, CAP_SETPCAP) NAMED(X, CAP_LINUX_IMMUTABLE) NAMED(X, CAP_NET_BIND_SERVICE)                \
  NAMED(X, CAP_NET_BROADCAST) NAMED(X, CAP_NET_ADMIN) NAMED(X, CAP_NET_RAW) NAMED(X, CAP_IPC_LOCK)  \
  NAMED(X, CAP_IPC_OWNER) NAMED(X, CAP_SYS_MODULE) NAMED(X, CAP_SYS_RAWIO) NAMED(X, CAP_SYS_CHROOT) \
  NAMED(X, CAP_SYS_PTRACE) NAMED(X, CAP_SYS_PACCT) NAMED(X, CAP_SYS_ADMIN) NAMED(X, CAP_SYS_BOOT)   \
  NAMED(X, CAP_SYS_NICE) NAMED(X, CAP_SYS_RESOURCE) NAMED(X, CAP_SYS_TIME)                          \
  NAMED(X, CAP_SYS_TTY_CONFIG) NAMED(X, CAP_MKNOD) NAMED(X, CAP_LEASE) NAMED(X, CAP_AUDIT_WRITE)    \
  NAMED(X, CAP_AUDIT_CONTROL) NAMED(X, CAP_SETFCAP) NAMED(X, CAP_MAC_OVERRIDE)                      \
  NAMED(X, CAP_MAC_ADMIN) NAMED(X, CAP_SYSLOG) NAMED(X, CAP_WAKE_ALARM) NAMED(X, CAP_BLOCK_SUSPEND) \
  NAMED(X, CAP_AUDIT_READ) NAMED(X, CAP_PERFMON) NAMED(X, CAP_BPF) NAMED(X, CAP_CHECKPOINT_RESTORE)
#define RLIMITS(X)                                                                                  \
  NAMED(X, RLIMIT_CPU) NAMED(X, RLIMIT_FSIZE) NAMED(X, RLIMIT_DATA) NAMED(X, RLIMIT_STACK)          \
  NAMED(X, RLIMIT_CORE) NAMED(X, RLIMIT_RSS) NAMED(X, RLIMIT_NPROC) NAMED(X, RLIMIT_NOFILE)         \
  NAMED(X, RLIMIT_MEMLOCK) NAMED(X, RLIMIT_AS) NAMED(X, RLIMIT_LOCKS) NAMED(X, RLIMIT_SIGPENDING)   \
  NAMED(X, RLIMIT_MSGQUEUE) NAMED(X, RLIMIT_NICE) NAMED(X, RLIMIT_RTPRIO) NAMED(X, RLIMIT_RTTIME)
/* linux.personality's domains, as the runtime-spec names them */
#define PERSONALITY_DOMAINS(X) X("LINUX", PER_LINUX) X("LINUX32", PER_LINUX32)
#define PERSONALITY_FLAGS(X)                                                                        \
  NAMED(X, UNAME26) NAMED(X, ADDR_NO_RANDOMIZE) NAMED(X, FDPIC_FUNCPTRS) NAMED(X, MMAP_PAGE_ZERO)   \
  NAMED(X, ADDR_COMPAT_LAYOUT) NAMED(X, READ_IMPLIES_EXEC) NAMED(X, ADDR_LIMIT_32BIT)               \
  NAMED(X, SHORT_INODE) NAMED(X, WHOLE_SECONDS) NAMED(X, STICKY_TIMEOUTS) NAMED(X, ADDR_LIMIT_3GB)
/* The runtime-spec's names: SCHED_OTHER is the kernel's SCHED_NORMAL; SCHED_ISO
 * is reserved in the kernel's uapi/linux/sched.h but never defined ("reserved
 * but not implemented yet"), so its number is written here. */
#define SCHED_POLICIES(X)                                                                           \
  X("SCHED_OTHER", SCHED_NORMAL) NAMED(X, SCHED_FIFO) NAMED(X, SCHED_RR) NAMED(X, SCHED_BATCH)      \
  X("SCHED_ISO", 4) NAMED(X, SCHED_IDLE) NAMED(X, SCHED_DEADLINE)
#define SCHED_FLAGS(X)                                                                              \
  NAMED(X, SCHED_FLAG_RESET_ON_FORK) NAMED(X, SCHED_FLAG_RECLAIM) NAMED(X, SCHED_FLAG_DL_OVERRUN)   \
  NAMED(X, SCHED_FLAG_KEEP_POLICY) NAMED(X, SCHED_FLAG_KEEP_PARAMS)                                 \
  NAMED(X, SCHED_FLAG_UTIL_CLAMP_MIN) NAMED(X, SCHED_FLAG_UTIL_CLAMP_MAX)
#define IOPRIO_CLASSES(X) NAMED(X, IOPRIO_CLASS_RT) NAMED(X, IOPRIO_CLASS_BE) NAMED(X, IOPRIO_CLASS_IDLE)
/* MPOL_WEIGHTED_INTERLEAVE (linux 6.9) is the enum member after
 * MPOL_PREFERRED_MANY, and newer than the build host's headers may be. */
#define MEMPOLICY_MODES(X)                                                                          \
  NAMED(X, MPOL_DEFAULT) NAMED(X, MPOL_PREFERRED) NAMED(X, MPOL_BIND) NAMED(X, MPOL_INTERLEAVE)     \
  NAMED(X, MPOL_LOCAL) NAMED(X, MPOL_PREFERRED_MANY)                                                \
  X("MPOL_WEIGHTED_INTERLEAVE", MPOL_PREFERRED_MANY + 1)
#define MEMPOLICY_FLAGS(X)                                                                          \
  NAMED(X, MPOL_F_NUMA_BALANCING) NAMED(X, MPOL_F_RELATIVE_NODES) NAMED(X, MPOL_F_STATIC_NODES)
#define FLOCK_OPS(X) NAMED(X, LOCK_SH) NAMED(X, LOCK_EX) NAMED(X, LOCK_NB) NAMED(X, LOCK_UN)
/* libseccomp's enum scmp_compare, and seccomp(2)'s SECCOMP_FILTER_FLAG_* */
#define SECCOMP_OPERATORS(X)                                                                        \
  NAMED(X, SCMP_CMP_NE) NAMED(X, SCMP_CMP_LT) NAMED(X, SCMP_CMP_LE) NAMED(X, SCMP_CMP_EQ)           \
  NAMED(X, SCMP_CMP_GE) NAMED(X, SCMP_CMP_GT) NAMED(X, SCMP_CMP_MASKED_EQ)
#define SECCOMP_FILTER_FLAGS(X)                                                                     \
  NAMED(X, SECCOMP_FILTER_FLAG_TSYNC) NAMED(X, SECCOMP_FILTER_FLAG_LOG)                             \
  NAMED(X, SECCOMP_FILTER_FLAG_SPEC_ALLOW) NAMED(X, SECCOMP_FILTER_FLAG_NEW_LISTENER)               \
  NAMED(X, SECCOMP_FILTER_FLAG_TSYNC_ESRCH) NAMED(X, SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV)
// clang-format on

/* ---- the JSON writer --------------------------------------------------------- */

struct out {
  struct tsrun_buf *b;
  int failed; /* out of memory */
  int first;  /* the next member is the first of its object or array */
};

static void raw(struct out *o, const char *s) {
  if (!o->failed && tsrun_buf_str(o->b, s) < 0) o->failed = 1;
}

/* `"k":` (k NULL: an array element), after a comma unless it is the first */
static void key(struct out *o, const char *k) {
  if (!o->first) raw(o, ",");
  o->first = 0;
  if (!k) return;
  if (!o->failed && tsrun_buf_json_string(o->b, k) < 0) o->failed = 1;
  raw(o, ":");
}

static void num(struct out *o, const char *k, long long v) {
  key(o, k);
  if (!o->failed && tsrun_buf_int(o->b, v) < 0) o->failed = 1;
}

static void str(struct out *o, const char *k, const char *v) {
  key(o, k);
  if (!o->failed && tsrun_buf_json_string(o->b, v) < 0) o->failed = 1;
}

static void begin(struct out *o, const char *k, const char *bracket) {
  key(o, k);
  raw(o, bracket);
  o->first = 1;
}

static void end(struct out *o, const char *bracket) {
  raw(o, bracket);
  o->first = 0;
}

static void field(struct out *o, const char *name, size_t off, size_t size, const char *type, size_t count,
                  const char *elem, size_t elem_size) {
  begin(o, name, "{");
  num(o, "off", (long long)off);
  num(o, "size", (long long)size);
  str(o, "type", type);
  if (count > 1) num(o, "count", (long long)count);
  if (elem) {
    str(o, "elem", elem);
    num(o, "elemSize", (long long)elem_size);
  }
  end(o, "}");
}

#define EMIT_F(T, f) \
  field(o, #f, offsetof(T, f), sizeof(MEMBER(T, f)), TYPE_NAME(MEMBER(T, f)), COUNT(MEMBER(T, f)), NULL, 0);
#define EMIT_V(T, f, e) \
  field(o, #f, offsetof(T, f), sizeof(MEMBER(T, f)), VEC_TYPE(MEMBER(T, f)), 1, TYPE_NAME(*(e *)0), sizeof(e));
#define EMIT_P(T, f) field(o, #f, offsetof(T, f), sizeof(MEMBER(T, f)), "pad", 1, NULL, 0);
#define RECORD(name, T, LIST)            \
  begin(o, name, "{");                   \
  num(o, "bytes", (long long)sizeof(T)); \
  begin(o, "fields", "{");               \
  LIST(T, EMIT_F, EMIT_V, EMIT_P)        \
  end(o, "}");                           \
  end(o, "}");

/* An object of an X-macro list: X(name, bit) as 1 << bit, X(name, value) as the value. */
#define BIT(name, bit) num(o, #name, 1LL << (bit));
#define VAL(name, v) num(o, #name, (long long)(v));
#define NUM(key, v) num(o, key, (long long)(v));
#define GROUP(key, LIST, X) \
  begin(o, key, "{");       \
  LIST(X)                   \
  end(o, "}");

int tsrun_constants_json(struct tsrun_buf *b) {
  struct out out = {b, 0, 1}, *o = &out;
  begin(o, NULL, "{");
  num(o, "planMagic", TSRUN_PLAN_MAGIC);
  num(o, "planVersion", TSRUN_PLAN_VERSION);

  GROUP("planFlags", TSRUN_PLAN_FLAGS, BIT)
  GROUP("procFlags", TSRUN_PROC_FLAGS, BIT)
  GROUP("nsFlags", TSRUN_NS_FLAGS, BIT)
  num(o, "joinRoot", TSRUN_JOIN_ROOT);
  GROUP("capSets", TSRUN_CAPSETS, VAL)
  GROUP("mountKinds", TSRUN_MOUNT_KINDS, VAL)
  GROUP("targetKinds", TSRUN_TARGET_KINDS, VAL)
  GROUP("deviceTypes", TSRUN_DEVICE_TYPES, VAL)
  GROUP("syncTypes", TSRUN_SYNC_TYPES, VAL)
  GROUP("hookKinds", TSRUN_HOOK_KINDS, VAL)

  begin(o, "stepNames", "[");
#define STEP(id, name) str(o, NULL, name);
  TSRUN_STEPS(STEP)
#undef STEP
  end(o, "]");

  begin(o, "layout", "{");
  RECORD("plan_header", struct tsrun_plan_header, HEADER_FIELDS)
  RECORD("mount", struct tsrun_mount, MOUNT_FIELDS)
  RECORD("rlimit", struct tsrun_rlimit, RLIMIT_FIELDS)
  RECORD("device", struct tsrun_device, DEVICE_FIELDS)
  RECORD("symlink", struct tsrun_symlink, SYMLINK_FIELDS)
  RECORD("sched", struct tsrun_sched, SCHED_FIELDS)
  RECORD("sysctl", struct tsrun_sysctl, SYSCTL_FIELDS)
  RECORD("mount_attr", struct tsrun_mount_attr, MOUNT_ATTR_FIELDS)
  RECORD("ns_join", struct tsrun_ns_join, NS_JOIN_FIELDS)
  RECORD("idmap_mount", struct tsrun_idmap_mount, IDMAP_MOUNT_FIELDS)
  RECORD("hook", struct tsrun_hook, HOOK_FIELDS)
  RECORD("str", struct tsrun_str, STR_FIELDS)
  RECORD("vec", struct tsrun_vec, VEC_FIELDS)
  /* a seccomp program's instructions: bytes the encoder copies as they are */
  begin(o, "sock_filter", "{");
  num(o, "bytes", TSRUN_SOCK_FILTER_SIZE);
  begin(o, "fields", "{");
  end(o, "}");
  end(o, "}");
  end(o, "}");

  begin(o, "stateFiles", "{");
  str(o, "state", TSRUN_STATE_FILE);
  str(o, "intent", TSRUN_INTENT_FILE);
  str(o, "fifo", TSRUN_FIFO_FILE);
  str(o, "seccomp", TSRUN_SECCOMP_FILE);
  num(o, "maxDepth", TSRUN_JSON_MAX_DEPTH);
  str(o, "rootHint", TSRUN_ROOT_HINT);
  end(o, "}");
  begin(o, "stateKeys", "[");
#define KEY(k) str(o, NULL, #k);
  TSRUN_STATE_KEYS(KEY)
#undef KEY
  end(o, "]");

  begin(o, "errorCodes", "{");
#define CODE(code, meaning) str(o, #code, meaning);
  TSRUN_ERROR_CODES(CODE)
#undef CODE
  end(o, "}");

  begin(o, "systemd", "{");
  num(o, "jobTimeoutMs", TSRUN_SYSTEMD_JOB_TIMEOUT_MS);
  end(o, "}");

  begin(o, "seccomp", "{");
#define ACTION(name, v) num(o, "SCMP_ACT_" #name, v);
  GROUP("actions", TSRUN_SECCOMP_ACTIONS, ACTION)
#undef ACTION
  GROUP("operators", SECCOMP_OPERATORS, NUM)
  GROUP("filterFlags", SECCOMP_FILTER_FLAGS, NUM)
  end(o, "}");

  begin(o, "kernel", "{");
  GROUP("cloneFlags", CLONE_FLAGS, NUM)
  GROUP("mountFlags", MOUNT_FLAGS, NUM)
  GROUP("mountAttrs", MOUNT_ATTRS, NUM)
  GROUP("capabilities", CAPABILITIES, NUM)
  GROUP("rlimits", RLIMITS, NUM)
  GROUP("personalityDomains", PERSONALITY_DOMAINS, NUM)
  GROUP("personalityFlags", PERSONALITY_FLAGS, NUM)
  GROUP("schedPolicies", SCHED_POLICIES, NUM)
  GROUP("schedFlags", SCHED_FLAGS, NUM)
  GROUP("ioprioClasses", IOPRIO_CLASSES, NUM)
  num(o, "ioprioClassShift", IOPRIO_CLASS_SHIFT);
  GROUP("mempolicyModes", MEMPOLICY_MODES, NUM)
  GROUP("mempolicyFlags", MEMPOLICY_FLAGS, NUM)
  GROUP("flock", FLOCK_OPS, NUM)
  GROUP("keyPerms", TSRUN_KEY_PERMS, NUM)
  num(o, "openPath", O_PATH); /* Node's fs.constants has no O_PATH */
  end(o, "}");

  end(o, "}");
  return o->failed ? -1 : 0;
}
