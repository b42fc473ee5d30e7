/* plan_dump.c — decodes a plan buffer (file or stdin) with the init's own
 * loader and prints it as JSON. Test support: tests/unit/plan-codec.test.ts
 * proves the TS encoder and this decoder agree. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsrun_plan.h"

/* a C string as a JSON string, or null */
static void json_str(const char *v) {
  if (!v) {
    printf("null");
    return;
  }
  putchar('"');
  for (; *v; v++) {
    if (*v == '"' || *v == '\\')
      printf("\\%c", *v);
    else if ((unsigned char)*v < 0x20)
      printf("\\u%04x", *v);
    else
      putchar(*v);
  }
  putchar('"');
}

/* a NULL-terminated array of C strings as a JSON array */
static void json_strs(char *const *v) {
  putchar('[');
  for (size_t i = 0; v[i]; i++) {
    if (i) putchar(',');
    json_str(v[i]);
  }
  putchar(']');
}

static void str(const struct tsrun_plan *p, const char *key, struct tsrun_str s, int comma) {
  printf("\"%s\":", key);
  json_str(tsrun_plan_str(p, s));
  if (comma) putchar(',');
}

static void strs(const struct tsrun_plan *p, const char *key, struct tsrun_vec v) {
  const struct tsrun_str *s = tsrun_plan_vec(p, v);
  printf("\"%s\":[", key);
  for (uint32_t i = 0; i < v.count; i++) {
    printf("{");
    str(p, "s", s[i], 0);
    printf("}%s", i + 1 < v.count ? "," : "");
  }
  printf("],");
}

int main(int argc, char **argv) {
  FILE *f = argc > 1 ? fopen(argv[1], "rb") : stdin;
  if (!f) return 2;
  size_t cap = 1 << 16, len = 0;
  uint8_t *raw = NULL;
  if (posix_memalign((void **)&raw, 8, 1 << 20)) return 2;
  cap = 1 << 20;
  size_t n;
  while ((n = fread(raw + len, 1, cap - len, f)) > 0) len += n;
  struct tsrun_plan p;
  char err[256];
  if (tsrun_plan_load(raw, len, &p, err, sizeof err) < 0) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  const struct tsrun_plan_header *h = p.h;
  printf("{\"version\":%u,\"flags\":%u,\"cloneFlags\":\"%" PRIu64 "\",\"rootfsPropagation\":\"%" PRIu64 "\",",
         h->version, h->flags, h->clone_flags, h->rootfs_propagation);
  printf("\"caps\":[");
  for (int i = 0; i < TSRUN_CAPSET_COUNT; i++)
    printf("\"%" PRIu64 "\"%s", h->caps[i], i + 1 < TSRUN_CAPSET_COUNT ? "," : "");
  printf(
      "],\"uid\":%u,\"gid\":%u,\"umask\":%u,\"consoleWidth\":%u,\"consoleHeight\":%u,\"consoleSocketFd\":%d,"
      "\"preserveFds\":%u,\"rootfsParentPropagation\":%u,",
      h->uid, h->gid, h->umask, h->console_width, h->console_height, h->console_socket_fd, h->preserve_fds,
      h->rootfs_parent_propagation);
  str(&p, "rootfs", h->rootfs, 1);
  str(&p, "hostname", h->hostname, 1);
  str(&p, "domainname", h->domainname, 1);
  str(&p, "cwd", h->cwd, 1);
  str(&p, "stateDir", h->state_dir, 1);
  str(&p, "keyring", h->keyring, 1);
  strs(&p, "args", h->args);
  strs(&p, "env", h->env);
  printf("\"argv\":[");
  for (char **a = p.argv; *a; a++) printf("%s\"%s\"", a == p.argv ? "" : ",", *a);
  printf("],\"additionalGids\":[");
  const uint32_t *g = tsrun_plan_vec(&p, h->additional_gids);
  for (uint32_t i = 0; i < h->additional_gids.count; i++) printf("%s%u", i ? "," : "", g[i]);
  printf("],\"mounts\":[");
  const struct tsrun_mount *m = tsrun_plan_vec(&p, h->mounts);
  for (uint32_t i = 0; i < h->mounts.count; i++) {
    printf("%s{", i ? "," : "");
    str(&p, "source", m[i].source, 1);
    str(&p, "destination", m[i].destination, 1);
    str(&p, "fstype", m[i].fstype, 1);
    str(&p, "data", m[i].data, 1);
    printf("\"flags\":\"%" PRIu64 "\",\"propagation\":\"%" PRIu64 "\",\"kind\":%u,\"targetKind\":%u}", m[i].flags,
           m[i].propagation, m[i].kind, m[i].target_kind);
  }
  printf("],\"rlimits\":[");
  const struct tsrun_rlimit *r = tsrun_plan_vec(&p, h->rlimits);
  for (uint32_t i = 0; i < h->rlimits.count; i++)
    printf("%s{\"resource\":%u,\"soft\":\"%" PRIu64 "\",\"hard\":\"%" PRIu64 "\"}", i ? "," : "", r[i].resource,
           r[i].soft, r[i].hard);
  printf("],\"devices\":[");
  const struct tsrun_device *d = tsrun_plan_vec(&p, h->devices);
  for (uint32_t i = 0; i < h->devices.count; i++) {
    printf("%s{", i ? "," : "");
    str(&p, "path", d[i].path, 1);
    printf("\"type\":%u,\"major\":%u,\"minor\":%u,\"mode\":%u,\"uid\":%u,\"gid\":%u}", d[i].type, d[i].major,
           d[i].minor, d[i].mode, d[i].uid, d[i].gid);
  }
  printf("],\"symlinks\":[");
  const struct tsrun_symlink *l = tsrun_plan_vec(&p, h->symlinks);
  for (uint32_t i = 0; i < h->symlinks.count; i++) {
    printf("%s{", i ? "," : "");
    str(&p, "target", l[i].target, 1);
    str(&p, "linkpath", l[i].linkpath, 0);
    printf("}");
  }
  /* seccomp */
  printf("],\"seccomp\":{\"flags\":%u,\"bpf\":\"", h->seccomp_flags);
  const uint8_t *bpf = tsrun_plan_vec(&p, h->seccomp_bpf);
  for (uint32_t i = 0; i < h->seccomp_bpf.count * TSRUN_SOCK_FILTER_SIZE; i++) printf("%02x", bpf[i]);
  printf("\"}");
  /* process attributes */
  printf(
      ",\"procAttrs\":{\"procFlags\":%u,\"personality\":%u,\"ioprio\":%u,\"mempolicyMode\":%u,\"rootPropagation\":"
      "\"%" PRIu64 "\",",
      h->proc_flags, h->personality, h->ioprio, h->mempolicy_mode, h->root_propagation);
  printf("\"sched\":{\"policy\":%u,\"flags\":\"%" PRIu64 "\",\"nice\":%d,\"priority\":%u,\"runtime\":\"%" PRIu64
         "\",\"deadline\":\"%" PRIu64 "\",\"period\":\"%" PRIu64 "\"},\"mempolicyNodes\":[",
         h->sched.policy, h->sched.flags, h->sched.nice, h->sched.priority, h->sched.runtime, h->sched.deadline,
         h->sched.period);
  const uint64_t *nodes = tsrun_plan_vec(&p, h->mempolicy_nodes);
  for (uint32_t i = 0; i < h->mempolicy_nodes.count; i++) printf("%s\"%" PRIu64 "\"", i ? "," : "", nodes[i]);
  printf("],\"sysctls\":[");
  const struct tsrun_sysctl *sc = tsrun_plan_vec(&p, h->sysctls);
  for (uint32_t i = 0; i < h->sysctls.count; i++) {
    printf("%s{", i ? "," : "");
    str(&p, "path", sc[i].path, 1);
    str(&p, "value", sc[i].value, 0);
    printf("}");
  }
  printf("]},\"mountAttrs\":[");
  const struct tsrun_mount_attr *ma = tsrun_plan_vec(&p, h->mount_attrs);
  for (uint32_t i = 0; i < h->mount_attrs.count; i++)
    printf("%s{\"mount\":%u,\"attrSet\":\"%" PRIu64 "\",\"attrClr\":\"%" PRIu64 "\"}", i ? "," : "", ma[i].mount,
           ma[i].attr_set, ma[i].attr_clr);
  /* namespaces */
  printf("],\"unshareFlags\":\"%" PRIu64 "\",\"nsFlags\":%u,\"nsJoins\":[", h->unshare_flags, h->ns_flags);
  const struct tsrun_ns_join *j = tsrun_plan_vec(&p, h->ns_joins);
  for (uint32_t i = 0; i < h->ns_joins.count; i++)
    printf("%s{\"fd\":%d,\"nstype\":%u}", i ? "," : "", j[i].fd, j[i].nstype);
  printf("],\"timeOffsets\":{\"monotonic\":[\"%" PRId64 "\",%u],\"boottime\":[\"%" PRId64 "\",%u]}", h->monotonic_secs,
         h->monotonic_nsecs, h->boottime_secs, h->boottime_nsecs);
  printf(",\"idmapMounts\":[");
  const struct tsrun_idmap_mount *im = tsrun_plan_vec(&p, h->idmap_mounts);
  for (uint32_t i = 0; i < h->idmap_mounts.count; i++)
    printf("%s{\"mountIndex\":%u,\"fd\":%d}", i ? "," : "", im[i].mount_index, im[i].fd);
  printf("],\"cpuAffinity\":{\"initial\":[");
  const uint64_t *ai = tsrun_plan_vec(&p, h->cpu_affinity_initial);
  for (uint32_t i = 0; i < h->cpu_affinity_initial.count; i++) printf("%s\"%" PRIu64 "\"", i ? "," : "", ai[i]);
  printf("],\"final\":[");
  const uint64_t *af = tsrun_plan_vec(&p, h->cpu_affinity_final);
  for (uint32_t i = 0; i < h->cpu_affinity_final.count; i++) printf("%s\"%" PRIu64 "\"", i ? "," : "", af[i]);
  /* the hooks as tsrun_plan_load made them ready: argv (the path when the plan has no args) and envp */
  printf("]},\"hooks\":[");
  for (uint32_t i = 0; i < p.nhooks; i++) {
    printf("%s{\"kind\":%u,\"path\":", i ? "," : "", p.hooks[i].kind);
    json_str(p.hooks[i].path);
    printf(",\"argv\":");
    json_strs(p.hooks[i].argv);
    printf(",\"env\":");
    json_strs(p.hooks[i].envp);
    printf(",\"timeoutMs\":%u}", p.hooks[i].timeout_ms);
  }
  printf("],\"hookState\":");
  json_str(tsrun_plan_str(&p, h->hook_state));
  printf("}\n");
  tsrun_plan_free(&p);
  return 0;
}
