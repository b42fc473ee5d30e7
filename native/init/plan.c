/* plan.c — checks a plan buffer and prepares it for the init: in the
 * runtime before it spawns anything, and in tsrun-init before its first step
 * (it allocates the argv/envp pointer arrays), never during the steps. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsrun_plan.h"

_Static_assert(sizeof(struct tsrun_plan_header) == TSRUN_PLAN_HEADER_SIZE, "plan header layout");
_Static_assert(offsetof(struct tsrun_plan_header, clone_flags) == 16, "plan header layout");
_Static_assert(offsetof(struct tsrun_plan_header, caps) == 32, "plan header layout");
_Static_assert(offsetof(struct tsrun_plan_header, uid) == 72, "plan header layout");
_Static_assert(offsetof(struct tsrun_plan_header, rootfs) == 104, "plan header layout");
_Static_assert(offsetof(struct tsrun_plan_header, args) == 152, "plan header layout");
_Static_assert(sizeof(struct tsrun_mount) == TSRUN_MOUNT_SIZE, "mount record layout");
_Static_assert(sizeof(struct tsrun_rlimit) == TSRUN_RLIMIT_SIZE, "rlimit record layout");
_Static_assert(sizeof(struct tsrun_device) == TSRUN_DEVICE_SIZE, "device record layout");
_Static_assert(sizeof(struct tsrun_symlink) == TSRUN_SYMLINK_SIZE, "symlink record layout");
_Static_assert(offsetof(struct tsrun_plan_header, seccomp_bpf) == 208, "plan header layout");
_Static_assert(offsetof(struct tsrun_plan_header, proc_flags) == 224, "plan header layout");
_Static_assert(offsetof(struct tsrun_plan_header, sched) == 248, "plan header layout");
_Static_assert(sizeof(struct tsrun_sched) == TSRUN_SCHED_SIZE, "sched record layout");
_Static_assert(sizeof(struct tsrun_sysctl) == TSRUN_SYSCTL_SIZE, "sysctl record layout");
_Static_assert(sizeof(struct tsrun_mount_attr) == TSRUN_MOUNT_ATTR_SIZE, "mount attr record layout");
_Static_assert(offsetof(struct tsrun_plan_header, unshare_flags) == 320, "plan header layout");
_Static_assert(offsetof(struct tsrun_plan_header, ns_joins) == 336, "plan header layout");
_Static_assert(sizeof(struct tsrun_ns_join) == TSRUN_NS_JOIN_SIZE, "ns join record layout");
_Static_assert(offsetof(struct tsrun_plan_header, idmap_mounts) == 368, "plan header layout");
_Static_assert(sizeof(struct tsrun_idmap_mount) == TSRUN_IDMAP_MOUNT_SIZE, "idmap mount record layout");
_Static_assert(offsetof(struct tsrun_plan_header, cpu_affinity_initial) == 376, "plan header layout");
_Static_assert(offsetof(struct tsrun_plan_header, hooks) == 392, "plan header layout");
_Static_assert(sizeof(struct tsrun_hook) == TSRUN_HOOK_SIZE, "hook record layout");

struct checker {
  const uint8_t *base;
  size_t len;
  char *err;
  size_t errlen;
};

static int bad(struct checker *c, const char *what) {
  snprintf(c->err, c->errlen, "invalid plan buffer: %s", what);
  return -1;
}

static int check_str(struct checker *c, struct tsrun_str s, const char *what) {
  if (s.off == 0) return 0;
  if ((size_t)s.off + s.len + 1 > c->len || s.off < TSRUN_PLAN_HEADER_SIZE) return bad(c, what);
  if (c->base[s.off + s.len] != 0 || memchr(c->base + s.off, 0, s.len)) return bad(c, what);
  return 0;
}

static int check_vec(struct checker *c, struct tsrun_vec v, size_t rec, const char *what) {
  if (v.count == 0) return 0;
  if (v.off % 8 || v.off < TSRUN_PLAN_HEADER_SIZE || (size_t)v.off + (size_t)v.count * rec > c->len)
    return bad(c, what);
  return 0;
}

static int check_strs(struct checker *c, struct tsrun_vec v, const char *what) {
  if (check_vec(c, v, sizeof(struct tsrun_str), what)) return -1;
  const struct tsrun_str *s = (const void *)(c->base + v.off);
  for (uint32_t i = 0; i < v.count; i++)
    if (s[i].off == 0 || check_str(c, s[i], what)) return bad(c, what);
  return 0;
}

static char **pointers(const uint8_t *base, struct tsrun_vec v) {
  char **out = calloc(v.count + 1, sizeof(char *));
  if (!out) return NULL;
  const struct tsrun_str *s = (const void *)(base + v.off);
  for (uint32_t i = 0; i < v.count; i++) out[i] = (char *)(base + s[i].off);
  return out;
}

int tsrun_plan_load(const void *buf, size_t len, struct tsrun_plan *out, char *err, size_t errlen) {
  struct checker c = {buf, len, err, errlen};
  const struct tsrun_plan_header *h = buf;
  memset(out, 0, sizeof *out);
  if (len < TSRUN_PLAN_HEADER_SIZE || ((uintptr_t)buf & 7)) return bad(&c, "too short or misaligned");
  if (h->magic != TSRUN_PLAN_MAGIC) return bad(&c, "bad magic");
  if (h->version != TSRUN_PLAN_VERSION) {
    snprintf(err, errlen, "plan version %u is not the init's version %u", h->version, TSRUN_PLAN_VERSION);
    return -1;
  }
  if (h->size != len) return bad(&c, "size mismatch");
  if (check_str(&c, h->rootfs, "rootfs") || check_str(&c, h->hostname, "hostname") ||
      check_str(&c, h->domainname, "domainname") || check_str(&c, h->cwd, "cwd") ||
      check_str(&c, h->state_dir, "state_dir") || check_str(&c, h->keyring, "keyring") ||
      check_strs(&c, h->args, "args") || check_strs(&c, h->env, "env") ||
      check_vec(&c, h->additional_gids, sizeof(uint32_t), "additional_gids") ||
      check_vec(&c, h->mounts, sizeof(struct tsrun_mount), "mounts") ||
      check_vec(&c, h->rlimits, sizeof(struct tsrun_rlimit), "rlimits") ||
      check_vec(&c, h->devices, sizeof(struct tsrun_device), "devices") ||
      check_vec(&c, h->symlinks, sizeof(struct tsrun_symlink), "symlinks") ||
      check_vec(&c, h->seccomp_bpf, TSRUN_SOCK_FILTER_SIZE, "seccomp_bpf") ||
      check_vec(&c, h->ns_joins, sizeof(struct tsrun_ns_join), "ns_joins") ||
      check_vec(&c, h->idmap_mounts, sizeof(struct tsrun_idmap_mount), "idmap_mounts"))
    return -1;
  const struct tsrun_idmap_mount *im = (const void *)(c.base + h->idmap_mounts.off);
  for (uint32_t i = 0; i < h->idmap_mounts.count; i++)
    if (im[i].mount_index >= h->mounts.count) return bad(&c, "idmap mount index");
  if (h->seccomp_bpf.count > 0xffff) return bad(&c, "seccomp_bpf: longer than a sock_fprog can say");
  if (!h->cwd.off || h->args.count == 0) return bad(&c, "cwd and args are required");
  /* An init sets up a root filesystem and waits on the exec fifo of its
   * state dir; a tenant does neither, and brings nothing to mount. */
  if (h->flags & TSRUN_PLAN_TENANT) {
    if (h->rootfs.off || h->state_dir.off || h->mounts.count || h->devices.count || h->symlinks.count ||
        h->sysctls.count || h->unshare_flags || (h->flags & TSRUN_PLAN_HOOK_SYNC))
      return bad(&c, "a tenant plan sets up no root filesystem");
  } else if (!h->rootfs.off || !h->state_dir.off) {
    return bad(&c, "rootfs and state_dir are required");
  }
  const struct tsrun_mount *m = (const void *)(c.base + h->mounts.off);
  for (uint32_t i = 0; i < h->mounts.count; i++) {
    if (!m[i].destination.off) return bad(&c, "mount destination");
    if (check_str(&c, m[i].source, "mount source") || check_str(&c, m[i].destination, "mount destination") ||
        check_str(&c, m[i].fstype, "mount type") || check_str(&c, m[i].data, "mount data"))
      return -1;
  }
  const struct tsrun_device *d = (const void *)(c.base + h->devices.off);
  for (uint32_t i = 0; i < h->devices.count; i++)
    if (!d[i].path.off || check_str(&c, d[i].path, "device path")) return bad(&c, "device path");
  const struct tsrun_symlink *l = (const void *)(c.base + h->symlinks.off);
  for (uint32_t i = 0; i < h->symlinks.count; i++)
    if (!l[i].target.off || !l[i].linkpath.off || check_str(&c, l[i].target, "symlink") ||
        check_str(&c, l[i].linkpath, "symlink"))
      return bad(&c, "symlink");
  if (check_vec(&c, h->mempolicy_nodes, sizeof(uint64_t), "mempolicy_nodes") ||
      check_vec(&c, h->sysctls, sizeof(struct tsrun_sysctl), "sysctls") ||
      check_vec(&c, h->mount_attrs, sizeof(struct tsrun_mount_attr), "mount_attrs") ||
      check_vec(&c, h->cpu_affinity_initial, sizeof(uint64_t), "cpu_affinity_initial") ||
      check_vec(&c, h->cpu_affinity_final, sizeof(uint64_t), "cpu_affinity_final"))
    return -1;
  const struct tsrun_sysctl *sc = (const void *)(c.base + h->sysctls.off);
  for (uint32_t i = 0; i < h->sysctls.count; i++)
    if (!sc[i].path.off || !sc[i].value.off || check_str(&c, sc[i].path, "sysctl") ||
        check_str(&c, sc[i].value, "sysctl"))
      return bad(&c, "sysctl");
  const struct tsrun_mount_attr *ma = (const void *)(c.base + h->mount_attrs.off);
  for (uint32_t i = 0; i < h->mount_attrs.count; i++)
    if (ma[i].mount >= h->mounts.count) return bad(&c, "mount attr index");
  if ((h->proc_flags & TSRUN_PROC_SCHED) && h->sched.size != TSRUN_SCHED_SIZE) return bad(&c, "sched size");
  if (check_vec(&c, h->hooks, sizeof(struct tsrun_hook), "hooks") || check_str(&c, h->hook_state, "hook_state") ||
      check_str(&c, h->apparmor_profile, "apparmor_profile") || check_str(&c, h->selinux_label, "selinux_label") ||
      check_str(&c, h->mqueue_label, "mqueue_label") || check_str(&c, h->rootfs_overlay, "rootfs_overlay"))
    return -1;
  const struct tsrun_hook *hk = (const void *)(c.base + h->hooks.off);
  for (uint32_t i = 0; i < h->hooks.count; i++) {
    if (!hk[i].path.off || check_str(&c, hk[i].path, "hook path") || check_strs(&c, hk[i].args, "hook args") ||
        check_strs(&c, hk[i].env, "hook env"))
      return bad(&c, "hook");
    if (hk[i].kind != TSRUN_HOOK_CREATE_CONTAINER && hk[i].kind != TSRUN_HOOK_START_CONTAINER)
      return bad(&c, "hook kind");
  }
  if (h->hooks.count && !h->hook_state.off) return bad(&c, "hooks without hook_state");
  if (h->hooks.count && (h->flags & TSRUN_PLAN_TENANT)) return bad(&c, "a tenant plan runs no hooks");
  out->h = h;
  out->base = c.base;
  out->argv = pointers(c.base, h->args);
  out->envp = pointers(c.base, h->env);
  int ok = out->argv && out->envp;
  if (ok && h->hooks.count) {
    out->hooks = calloc(h->hooks.count, sizeof *out->hooks);
    ok = out->hooks != NULL;
    for (uint32_t i = 0; ok && i < h->hooks.count; i++) {
      struct tsrun_plan_hook *ph = &out->hooks[i];
      out->nhooks++;
      ph->path = (const char *)(c.base + hk[i].path.off);
      ph->kind = hk[i].kind;
      ph->timeout_ms = hk[i].timeout_ms;
      if (hk[i].args.count) {
        ph->argv = pointers(c.base, hk[i].args);
      } else if ((ph->argv = calloc(2, sizeof(char *)))) {
        ph->argv[0] = (char *)ph->path;
      }
      ph->envp = pointers(c.base, hk[i].env);
      ok = ph->argv && ph->envp;
    }
  }
  if (!ok) {
    tsrun_plan_free(out);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  return 0;
}

void tsrun_plan_free(struct tsrun_plan *plan) {
  free(plan->argv);
  free(plan->envp);
  for (uint32_t i = 0; i < plan->nhooks; i++) {
    free(plan->hooks[i].argv);
    free(plan->hooks[i].envp);
  }
  free(plan->hooks);
  plan->argv = plan->envp = NULL;
  plan->hooks = NULL;
  plan->nhooks = 0;
}
