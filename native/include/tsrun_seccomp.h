/*
 * tsrun_seccomp.h — the seccomp compiler: a plain struct description of a
 * filter (already validated by lib/config/validate-seccomp.ts) in, classic
 * BPF out. Runs in the PARENT before clone (it allocates and uses
 * libseccomp); the child only hands the bytes to seccomp(2). Plain C with
 * no Node dependency, so a standalone front binary can use it too.
 */
#ifndef TSRUN_SECCOMP_H
#define TSRUN_SECCOMP_H

#include <stddef.h>
#include <stdint.h>

/* The actions of the runtime-spec's list, in its order: X(name, value), the
 * config's SCMP_ACT_<name>. TypeScript gets them from the build
 * (native/host/constants.c); nothing restates the numbers. */
#define TSRUN_SECCOMP_ACTIONS(X)                           \
  X(KILL, 0) /* = KILL_THREAD, as libseccomp defines it */ \
  X(KILL_PROCESS, 1)                                       \
  X(KILL_THREAD, 2)                                        \
  X(TRAP, 3)                                               \
  X(ERRNO, 4) /* ret = the errno */                        \
  X(TRACE, 5) /* ret = the tracer's message */             \
  X(ALLOW, 6)                                              \
  X(LOG, 7)                                                \
  X(NOTIFY, 8)

enum tsrun_seccomp_action {
#define X(name, v) TSRUN_SCMP_##name = (v),
  TSRUN_SECCOMP_ACTIONS(X)
#undef X
      TSRUN_SCMP_ACTION_COUNT = 9,
};

#define TSRUN_SECCOMP_MAX_ARGS 6

struct tsrun_seccomp_arg {
  uint32_t index; /* 0..5 */
  uint32_t op;    /* libseccomp's enum scmp_compare (SCMP_CMP_*) */
  uint64_t value;
  uint64_t value_two; /* MASKED_EQ: the datum compared after masking with value */
};

/* One syscall name with one action; the args are ANDed (distinct indices). */
struct tsrun_seccomp_rule {
  const char *name;
  uint32_t action; /* enum tsrun_seccomp_action */
  uint32_t ret;
  uint32_t nargs;
  struct tsrun_seccomp_arg args[TSRUN_SECCOMP_MAX_ARGS];
};

struct tsrun_seccomp_filter {
  uint32_t default_action;
  uint32_t default_ret;
  size_t narchs;
  const char *const *archs; /* libseccomp names: "x86_64", "x86", "x32", "aarch64", ... */
  size_t nrules;
  const struct tsrun_seccomp_rule *rules;
};

/*
 * Compiles the filter. On success returns 0, *bpf is a malloc'd array of
 * struct sock_filter (*len bytes), and skipped[i] is 1 for every rule whose
 * syscall libseccomp does not know (runc skips those too). On failure
 * returns -1 with a message in err.
 */
int tsrun_seccomp_compile(const struct tsrun_seccomp_filter *f, uint8_t **bpf, size_t *len, uint8_t *skipped, char *err,
                          size_t errlen);

/* 1 if this kernel accepts SECCOMP_FILTER_FLAG_<flag> (a bit), else 0. */
int tsrun_seccomp_flag_supported(uint32_t flag);

/* 1 if this kernel (and libseccomp) can carry out the action, else 0. */
int tsrun_seccomp_action_available(uint32_t action);

#endif
