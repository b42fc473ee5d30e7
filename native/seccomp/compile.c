/* compile.c — description → BPF with libseccomp, in the parent (see
 * tsrun_seccomp.h). libseccomp 2.5.4 has no seccomp_export_bpf_mem, so the
 * program is exported into a memfd and read back. */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tsrun_seccomp.h"

static uint32_t scmp_action(uint32_t action, uint32_t ret) {
  switch (action) {
    case TSRUN_SCMP_KILL: return SCMP_ACT_KILL;
    case TSRUN_SCMP_KILL_PROCESS: return SCMP_ACT_KILL_PROCESS;
    case TSRUN_SCMP_KILL_THREAD: return SCMP_ACT_KILL_THREAD;
    case TSRUN_SCMP_TRAP: return SCMP_ACT_TRAP;
    case TSRUN_SCMP_ERRNO: return SCMP_ACT_ERRNO(ret);
    case TSRUN_SCMP_TRACE: return SCMP_ACT_TRACE(ret);
    case TSRUN_SCMP_ALLOW: return SCMP_ACT_ALLOW;
    case TSRUN_SCMP_LOG: return SCMP_ACT_LOG;
    case TSRUN_SCMP_NOTIFY: return SCMP_ACT_NOTIFY;
  }
  return SCMP_ACT_KILL_PROCESS; /* unreachable: TS validated the action */
}

/* The kernel's return value for the action (SECCOMP_GET_ACTION_AVAIL). */
static uint32_t kernel_action(uint32_t action) {
  switch (action) {
    case TSRUN_SCMP_KILL:
    case TSRUN_SCMP_KILL_THREAD: return SECCOMP_RET_KILL_THREAD;
    case TSRUN_SCMP_KILL_PROCESS: return SECCOMP_RET_KILL_PROCESS;
    case TSRUN_SCMP_TRAP: return SECCOMP_RET_TRAP;
    case TSRUN_SCMP_ERRNO: return SECCOMP_RET_ERRNO;
    case TSRUN_SCMP_TRACE: return SECCOMP_RET_TRACE;
    case TSRUN_SCMP_ALLOW: return SECCOMP_RET_ALLOW;
    case TSRUN_SCMP_LOG: return SECCOMP_RET_LOG;
    case TSRUN_SCMP_NOTIFY: return SECCOMP_RET_USER_NOTIF;
  }
  return 0xffffffffu;
}

int tsrun_seccomp_action_available(uint32_t action) {
  if (action >= TSRUN_SCMP_ACTION_COUNT) return 0;
  uint32_t ret = kernel_action(action);
  if (syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &ret) < 0) return 0;
  /* libseccomp 2.5.4 needs API level 3 for KILL_PROCESS/LOG, 5 for NOTIFY */
  unsigned api = seccomp_api_get();
  if ((action == TSRUN_SCMP_KILL_PROCESS || action == TSRUN_SCMP_LOG) && api < 3) return 0;
  if (action == TSRUN_SCMP_NOTIFY && api < 5) return 0;
  return 1;
}

int tsrun_seccomp_flag_supported(uint32_t flag) {
  /* The classic probe: with a NULL program a known flag gets EFAULT (the
   * kernel tried to read the program), an unknown one EINVAL. Nothing is
   * installed either way. */
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flag, NULL) == 0) return 1; /* cannot happen */
  return errno == EFAULT;
}

static int fail(char *err, size_t errlen, int rc, const char *what, const char *name) {
  snprintf(err, errlen, "seccomp: %s%s%s: %s", what, name ? " " : "", name ? name : "", strerror(rc < 0 ? -rc : rc));
  return -1;
}

static int add_rule(scmp_filter_ctx ctx, const struct tsrun_seccomp_rule *r, int nr, char *err, size_t errlen) {
  struct scmp_arg_cmp cmp[TSRUN_SECCOMP_MAX_ARGS];
  for (uint32_t i = 0; i < r->nargs; i++) {
    cmp[i].arg = r->args[i].index;
    cmp[i].op = (enum scmp_compare)r->args[i].op;
    cmp[i].datum_a = r->args[i].value;
    cmp[i].datum_b = r->args[i].value_two;
  }
  int rc = seccomp_rule_add_array(ctx, scmp_action(r->action, r->ret), nr, r->nargs, cmp);
  /* -EACCES: the rule's action is the default action, a no-op rule */
  if (rc < 0 && rc != -EACCES) return fail(err, errlen, rc, "add rule for syscall", r->name);
  return 0;
}

static int export_bpf(scmp_filter_ctx ctx, uint8_t **bpf, size_t *len, char *err, size_t errlen) {
  int fd = (int)syscall(SYS_memfd_create, "tsrun-seccomp", MFD_CLOEXEC);
  if (fd < 0) return fail(err, errlen, errno, "memfd_create", NULL);
  int rc = seccomp_export_bpf(ctx, fd);
  struct stat st;
  if (rc < 0) {
    close(fd);
    return fail(err, errlen, rc, "export the BPF program", NULL);
  }
  if (fstat(fd, &st) < 0 || st.st_size <= 0 || st.st_size % 8) {
    close(fd);
    return fail(err, errlen, EIO, "export the BPF program", NULL);
  }
  uint8_t *out = malloc((size_t)st.st_size);
  if (!out) {
    close(fd);
    return fail(err, errlen, ENOMEM, "export the BPF program", NULL);
  }
  size_t got = 0;
  while (got < (size_t)st.st_size) {
    ssize_t n = pread(fd, out + got, (size_t)st.st_size - got, (off_t)got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      free(out);
      close(fd);
      return fail(err, errlen, n < 0 ? errno : EIO, "read back the BPF program", NULL);
    }
    got += (size_t)n;
  }
  close(fd);
  *bpf = out;
  *len = got;
  return 0;
}

/*
 * The -ENOSYS prologue. A profile whose default action refuses (errno, kill,
 * trap) would refuse syscalls newer than the profile in the same way, and a
 * program probing for, say, clone3 or openat2 then fails instead of falling
 * back to the old call, which it does only on ENOSYS. So, as runc does, every
 * syscall number above the highest one the profile names (per architecture
 * of the profile) returns ENOSYS before the libseccomp program runs. Each
 * architecture gets one block; a syscall of another architecture, or a known
 * one, falls through to the program:
 *
 *     ld  [4]                     arch
 *   blocks, each:
 *     jeq AUDIT_ARCH, 0, skip     not this arch: next block
 *     ld  [0]                     nr
 *     jset 0x40000000, 2, 0       x86_64 only: an x32 call is the program's
 *     jgt MAX, 0, 1
 *     ret ERRNO(ENOSYS)
 *     ja  <the program>
 */
#define ENOSYS_ARCHS_MAX 16
#define X32_SYSCALL_BIT 0x40000000u

static int prologue(const struct tsrun_seccomp_filter *f, struct sock_filter *out, size_t cap) {
  if (f->default_action == TSRUN_SCMP_ALLOW || f->default_action == TSRUN_SCMP_LOG ||
      f->default_action == TSRUN_SCMP_TRACE)
    return 0; /* permissive: a new syscall is allowed anyway */
  if (f->default_action == TSRUN_SCMP_ERRNO && f->default_ret == ENOSYS) return 0;
  uint32_t tokens[ENOSYS_ARCHS_MAX];
  int max[ENOSYS_ARCHS_MAX];
  size_t n = 0;
  for (size_t i = 0; i < f->narchs && n < ENOSYS_ARCHS_MAX; i++) {
    uint32_t arch = seccomp_arch_resolve_name(f->archs[i]);
    /* x32 calls arrive as x86_64 ones with a bit set: left to the program */
    if (arch == 0 || arch == SCMP_ARCH_X32) continue;
    int top = -1;
    for (size_t r = 0; r < f->nrules; r++) {
      int nr = seccomp_syscall_resolve_name_arch(arch, f->rules[r].name);
      if (nr > top) top = nr; /* unknown or pseudo (negative) numbers never win */
    }
    if (top < 0) continue;
    size_t j = 0;
    while (j < n && tokens[j] != arch) j++;
    if (j < n) continue;
    tokens[n] = arch;
    max[n++] = top;
  }
  if (n == 0) return 0;
  size_t total = 1;
  for (size_t i = 0; i < n; i++) total += (tokens[i] == SCMP_ARCH_X86_64 ? 6 : 5);
  if (total > cap) return -1;
  size_t at = 0;
  out[at++] = (struct sock_filter){BPF_LD | BPF_W | BPF_ABS, 0, 0, 4};
  for (size_t i = 0; i < n; i++) {
    int x86_64 = tokens[i] == SCMP_ARCH_X86_64;
    uint8_t body = (uint8_t)(x86_64 ? 5 : 4); /* the block after its jeq */
    out[at++] = (struct sock_filter){BPF_JMP | BPF_JEQ | BPF_K, 0, body, tokens[i]};
    out[at++] = (struct sock_filter){BPF_LD | BPF_W | BPF_ABS, 0, 0, 0};
    if (x86_64) out[at++] = (struct sock_filter){BPF_JMP | BPF_JSET | BPF_K, 2, 0, X32_SYSCALL_BIT};
    out[at++] = (struct sock_filter){BPF_JMP | BPF_JGT | BPF_K, 0, 1, (uint32_t)max[i]};
    out[at++] = (struct sock_filter){BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ERRNO | ENOSYS};
    out[at] = (struct sock_filter){BPF_JMP | BPF_JA, 0, 0, (uint32_t)(total - at - 1)};
    at++;
  }
  return (int)at;
}

/* Prepends the -ENOSYS prologue to an exported program (*bpf, *len bytes). */
static int add_prologue(const struct tsrun_seccomp_filter *f, uint8_t **bpf, size_t *len, char *err, size_t errlen) {
  struct sock_filter pro[1 + ENOSYS_ARCHS_MAX * 6];
  int n = prologue(f, pro, sizeof pro / sizeof pro[0]);
  if (n < 0) return fail(err, errlen, E2BIG, "the -ENOSYS prologue", NULL);
  if (n == 0) return 0;
  size_t add = (size_t)n * sizeof pro[0];
  if ((*len + add) / 8 > 0xffff) return fail(err, errlen, E2BIG, "the program with its -ENOSYS prologue", NULL);
  uint8_t *out = malloc(*len + add);
  if (!out) return fail(err, errlen, ENOMEM, "the -ENOSYS prologue", NULL);
  memcpy(out, pro, add);
  memcpy(out + add, *bpf, *len);
  free(*bpf);
  *bpf = out;
  *len += add;
  return 0;
}

int tsrun_seccomp_compile(const struct tsrun_seccomp_filter *f, uint8_t **bpf, size_t *len, uint8_t *skipped, char *err,
                          size_t errlen) {
  *bpf = NULL;
  *len = 0;
  scmp_filter_ctx ctx = seccomp_init(scmp_action(f->default_action, f->default_ret));
  if (!ctx) return fail(err, errlen, ENOMEM, "seccomp_init", NULL);
  int rc = 0;
  /* We load the program ourselves (init.c): libseccomp's NNP attribute only
   * matters for seccomp_load, but say what we mean. */
  seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
  for (size_t i = 0; i < f->narchs; i++) {
    uint32_t arch = seccomp_arch_resolve_name(f->archs[i]);
    if (arch == 0) {
      rc = fail(err, errlen, EINVAL, "unknown architecture", f->archs[i]);
      goto out;
    }
    int r = seccomp_arch_add(ctx, arch);
    if (r < 0 && r != -EEXIST) { /* the native arch is always there */
      rc = fail(err, errlen, r, "add architecture", f->archs[i]);
      goto out;
    }
  }
  for (size_t i = 0; i < f->nrules; i++) {
    const struct tsrun_seccomp_rule *r = &f->rules[i];
    /* Resolved across every architecture of the filter: a name that exists
     * only on x86 (socketcall) still resolves, to a pseudo number that
     * libseccomp maps per architecture. */
    int nr = seccomp_syscall_resolve_name(r->name);
    skipped[i] = nr == __NR_SCMP_ERROR;
    if (skipped[i]) continue;
    if (add_rule(ctx, r, nr, err, errlen) < 0) {
      rc = -1;
      goto out;
    }
  }
  rc = export_bpf(ctx, bpf, len, err, errlen);
  if (rc == 0 && add_prologue(f, bpf, len, err, errlen) < 0) {
    free(*bpf);
    *bpf = NULL;
    *len = 0;
    rc = -1;
  }
out:
  seccomp_release(ctx);
  return rc;
}
