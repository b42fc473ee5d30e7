/* main.c — tsrun-init, the executable every container process starts as.
 *
 * The runtime (native/host/spawn.c) clones and at once execs this small
 * static program, from a read-only detached mount of it or a sealed memfd
 * copy, never from a file a container could reach and rewrite. So the
 * process that joins the container's namespaces and waits there for `start`
 * is a fresh single-threaded image: its /proc/<pid>/exe opens nothing the
 * container may write (CVE-2019-5736, even with CAP_SYS_PTRACE in the
 * container), and its memory holds nothing of the runtime's (no heap, no
 * environment: the runtime execs it with an empty one).
 *
 *   tsrun-init PLAN_FD SYNC_FD
 *
 * PLAN_FD: a memfd holding the encoded plan (native/include/tsrun_plan.h),
 * checked again here with the same loader the runtime used; SYNC_FD: the
 * child's end of the sync socket (tsrun_sync.h). Every other fd the plan
 * names (namespaces to join, idmapped trees, the console socket, stdio and
 * preserved fds) was inherited at its number.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "init.h"

static int parse_fd(const char *s) {
  long v = 0;
  if (!s || !*s) return -1;
  for (; *s; s++) {
    if (*s < '0' || *s > '9' || v > 65535) return -1;
    v = v * 10 + (*s - '0');
  }
  return (int)v;
}

/* Close-on-exec from now on: the fds arrived without the flag so that they
 * would survive our own execve, and none of them may reach the program or a
 * hook (a tenant's sync socket must close at execve: its EOF is how the
 * runtime learns the program runs). */
static void cloexec(int fd) {
  if (fd >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);
}

int main(int argc, char **argv) {
  int plan_fd = argc == 3 ? parse_fd(argv[1]) : -1;
  int sync_fd = argc == 3 ? parse_fd(argv[2]) : -1;
  if (plan_fd < 3 || sync_fd < 3) {
    static const char usage[] = "tsrun-init: started by the tsrun runtime only (tsrun-init PLAN_FD SYNC_FD)\n";
    ssize_t ignored = write(2, usage, sizeof usage - 1);
    (void)ignored;
    return 2;
  }
  cloexec(sync_fd);
  struct stat st;
  void *map = MAP_FAILED;
  char err[TSRUN_SYNC_MSG_MAX] = "read the plan";
  int saved = 0;
  if (fstat(plan_fd, &st) == 0 && st.st_size > 0)
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, plan_fd, 0);
  if (map == MAP_FAILED) saved = errno ? errno : EINVAL;
  close(plan_fd);
  struct tsrun_plan plan;
  if (map != MAP_FAILED && tsrun_plan_load(map, (size_t)st.st_size, &plan, err, sizeof err) == 0) {
    const struct tsrun_plan_header *h = plan.h;
    cloexec(h->console_socket_fd);
    cloexec(h->pidfd_socket_fd);
    const struct tsrun_ns_join *joins = tsrun_plan_vec(&plan, h->ns_joins);
    for (uint32_t i = 0; i < h->ns_joins.count; i++) cloexec(joins[i].fd);
    const struct tsrun_idmap_mount *idm = tsrun_plan_vec(&plan, h->idmap_mounts);
    for (uint32_t i = 0; i < h->idmap_mounts.count; i++) cloexec(idm[i].fd);
    tsrun_init_main(&plan, sync_fd); /* never returns */
  }
  tsrun_sync_send(sync_fd, TSRUN_SYNC_ERROR, TSRUN_STEP_SIGNALS, saved, err, -1);
  return 1;
}
