/* plan_fuzz.c — libFuzzer target for the plan decoder (native/init/plan.c).
 *
 * tsrun_plan_load runs in the parent, before clone, and is the only check
 * between the buffer and a child that trusts it: whatever it accepts, the
 * init reads without looking again. So a corrupt buffer must be refused,
 * and an accepted one must be readable the way the init reads it. This
 * target loads arbitrary bytes and, when the load succeeds, walks every
 * string and vector through the header's accessors as native/init/ does
 * (mounts[idmap.mount_index], strlen of each string, every record's bytes),
 * so an out-of-bounds read in the loader or in what it lets through is an
 * ASan report, and a broken promise (a string whose NUL is not at its len)
 * is a crash.
 *
 * The bytes are copied into a buffer of exactly their length (8-aligned,
 * as the runtime's is), so ASan sees the first byte past the end. The
 * header's `size` is set to that length: a length change by the fuzzer
 * would otherwise end at the size check every time (which the unit tests
 * cover), never reaching the offsets.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tsrun_plan.h"

static volatile uint64_t sink;

static void must(int ok) {
  if (!ok) __builtin_trap();
}

static void read_bytes(const void *p, size_t n) {
  const uint8_t *b = p;
  uint64_t x = 0;
  for (size_t i = 0; i < n; i++) x += b[i];
  sink += x;
}

/* An optional string: absent, or exactly len bytes then a NUL. */
static void read_str(const struct tsrun_plan *p, struct tsrun_str s) {
  const char *v = tsrun_plan_str(p, s);
  if (!v) return;
  must(strlen(v) == s.len);
}

static void read_req(const struct tsrun_plan *p, struct tsrun_str s) {
  must(s.off != 0);
  read_str(p, s);
}

static void walk(const struct tsrun_plan *p) {
  const struct tsrun_plan_header *h = p->h;
  read_bytes(h, TSRUN_PLAN_HEADER_SIZE);
  read_str(p, h->rootfs);
  read_str(p, h->hostname);
  read_str(p, h->domainname);
  read_req(p, h->cwd);
  read_str(p, h->state_dir);
  read_str(p, h->keyring);

  /* execve's argv and envp: what the init hands the kernel */
  size_t n = 0;
  for (char **a = p->argv; *a; a++, n++) sink += strlen(*a);
  must(n == h->args.count && n > 0);
  n = 0;
  for (char **e = p->envp; *e; e++, n++) sink += strlen(*e);
  must(n == h->env.count);
  const struct tsrun_str *args = tsrun_plan_vec(p, h->args);
  for (uint32_t i = 0; i < h->args.count; i++) read_req(p, args[i]);
  const struct tsrun_str *env = tsrun_plan_vec(p, h->env);
  for (uint32_t i = 0; i < h->env.count; i++) read_req(p, env[i]);

  read_bytes(tsrun_plan_vec(p, h->additional_gids), (size_t)h->additional_gids.count * sizeof(uint32_t));
  const struct tsrun_mount *m = tsrun_plan_vec(p, h->mounts);
  for (uint32_t i = 0; i < h->mounts.count; i++) {
    read_bytes(&m[i], sizeof m[i]);
    read_str(p, m[i].source);
    read_req(p, m[i].destination);
    read_str(p, m[i].fstype);
    read_str(p, m[i].data);
  }
  read_bytes(tsrun_plan_vec(p, h->rlimits), (size_t)h->rlimits.count * sizeof(struct tsrun_rlimit));
  const struct tsrun_device *d = tsrun_plan_vec(p, h->devices);
  for (uint32_t i = 0; i < h->devices.count; i++) {
    read_bytes(&d[i], sizeof d[i]);
    read_req(p, d[i].path);
  }
  const struct tsrun_symlink *l = tsrun_plan_vec(p, h->symlinks);
  for (uint32_t i = 0; i < h->symlinks.count; i++) {
    read_req(p, l[i].target);
    read_req(p, l[i].linkpath);
  }
  /* seccomp.c hands the kernel a sock_fprog whose len is a u16 */
  must(h->seccomp_bpf.count <= 0xffff);
  read_bytes(tsrun_plan_vec(p, h->seccomp_bpf), (size_t)h->seccomp_bpf.count * TSRUN_SOCK_FILTER_SIZE);
  read_bytes(tsrun_plan_vec(p, h->mempolicy_nodes), (size_t)h->mempolicy_nodes.count * sizeof(uint64_t));
  const struct tsrun_sysctl *sc = tsrun_plan_vec(p, h->sysctls);
  for (uint32_t i = 0; i < h->sysctls.count; i++) {
    read_req(p, sc[i].path);
    read_req(p, sc[i].value);
  }
  /* mount_attr.c and namespaces.c index mounts with these */
  const struct tsrun_mount_attr *ma = tsrun_plan_vec(p, h->mount_attrs);
  for (uint32_t i = 0; i < h->mount_attrs.count; i++) read_bytes(&m[ma[i].mount], sizeof m[0]);
  const struct tsrun_idmap_mount *im = tsrun_plan_vec(p, h->idmap_mounts);
  for (uint32_t i = 0; i < h->idmap_mounts.count; i++) read_bytes(&m[im[i].mount_index], sizeof m[0]);
  read_bytes(tsrun_plan_vec(p, h->ns_joins), (size_t)h->ns_joins.count * sizeof(struct tsrun_ns_join));
  read_bytes(tsrun_plan_vec(p, h->cpu_affinity_initial), (size_t)h->cpu_affinity_initial.count * sizeof(uint64_t));
  read_bytes(tsrun_plan_vec(p, h->cpu_affinity_final), (size_t)h->cpu_affinity_final.count * sizeof(uint64_t));

  /* the hooks the init execs, ready as argv/envp arrays */
  must(p->nhooks == h->hooks.count);
  for (uint32_t i = 0; i < p->nhooks; i++) {
    sink += strlen(p->hooks[i].path);
    must(p->hooks[i].argv[0] != NULL);
    for (char **a = p->hooks[i].argv; *a; a++) sink += strlen(*a);
    for (char **e = p->hooks[i].envp; *e; e++) sink += strlen(*e);
  }
  if (h->hooks.count) must(tsrun_plan_str(p, h->hook_state) != NULL);

  /* a tenant brings no root filesystem; an init brings one and a state dir */
  if (h->flags & TSRUN_PLAN_TENANT)
    must(!h->rootfs.off && !h->state_dir.off && !h->mounts.count && !h->devices.count);
  else
    must(h->rootfs.off && h->state_dir.off);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* malloc's alignment (16) is the runtime's (a Node Buffer's, 8) or better */
  uint8_t *buf = malloc(size ? size : 1);
  if (!buf) return 0;
  memcpy(buf, data, size);
  if (size >= offsetof(struct tsrun_plan_header, flags)) {
    uint32_t len = (uint32_t)size;
    memcpy(buf + offsetof(struct tsrun_plan_header, size), &len, sizeof len);
  }
  struct tsrun_plan plan;
  char err[256];
  err[0] = 0;
  if (tsrun_plan_load(buf, size, &plan, err, sizeof err) == 0) {
    walk(&plan);
    tsrun_plan_free(&plan);
  } else {
    must(err[0] != 0); /* a refusal always says why */
  }
  free(buf);
  return 0;
}
