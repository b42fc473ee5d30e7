/*
 * rootless.c — runc's rules for --rootless and the default --root, in one
 * place for both front doors (the front serves state/list/kill/delete
 * itself, the JavaScript CLI the rest: they must agree on where the
 * containers are).
 *
 *   rootless: --rootless true|false, or auto: euid != 0, or euid 0 in a
 *   user namespace that is not the initial one (runc's cgroupfs driver
 *   cannot tell whether the cgroups are ours, so it assumes they are not).
 *
 *   default root: $XDG_RUNTIME_DIR/tsrun when XDG_RUNTIME_DIR is set and
 *   the caller is not the real root: euid != 0, or euid 0 in a user
 *   namespace with $USER unset or not "root" (runc's
 *   shouldHonorXDGRuntimeDir); /run/tsrun otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host.h"

int tsrun_in_initial_userns(void) {
  char buf[256];
  int fd = open("/proc/self/uid_map", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 1; /* no user namespaces in this kernel: the initial one */
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 1;
  buf[n] = 0;
  /* the identity map of the whole 32-bit range, whatever the padding */
  unsigned long inside, outside, count;
  char extra;
  if (sscanf(buf, "%lu %lu %lu %c", &inside, &outside, &count, &extra) != 3) return 0;
  return inside == 0 && outside == 0 && count == 4294967295UL;
}

int tsrun_rootless_mode(const char *text) {
  if (!text || !strcmp(text, "auto")) return TSRUN_ROOTLESS_AUTO;
  if (!strcmp(text, "true")) return TSRUN_ROOTLESS_TRUE;
  if (!strcmp(text, "false")) return TSRUN_ROOTLESS_FALSE;
  return -1;
}

int tsrun_rootless(int mode) {
  if (mode == TSRUN_ROOTLESS_TRUE) return 1;
  if (mode == TSRUN_ROOTLESS_FALSE) return 0;
  return geteuid() != 0 || !tsrun_in_initial_userns();
}

int tsrun_default_root(char *buf, size_t size) {
  const char *xdg = getenv("XDG_RUNTIME_DIR");
  int honor = 0;
  if (xdg && *xdg) {
    if (geteuid() != 0) {
      honor = 1;
    } else if (!tsrun_in_initial_userns()) {
      const char *user = getenv("USER");
      honor = !user || strcmp(user, "root");
    }
  }
  int n = honor ? snprintf(buf, size, "%s/tsrun", xdg) : snprintf(buf, size, "%s", TSRUN_SYSTEM_ROOT);
  if (n < 0 || (size_t)n >= size) {
    errno = ENAMETOOLONG;
    return -1;
  }
  return honor;
}
