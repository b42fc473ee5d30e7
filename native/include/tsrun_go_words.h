/*
 * tsrun_go_words.h — the words runc's Go runtime puts on an errno and on a
 * signal, which runc's messages carry and engines show: "permission denied",
 * "signal: killed". Used by the init (plain C after clone: no allocation, no
 * locale, so only static tables and glibc's untranslated strerrordesc_np)
 * and by native/host alike, hence header-only.
 */
#ifndef TSRUN_GO_WORDS_H
#define TSRUN_GO_WORDS_H

#include <stddef.h>
#include <string.h>

/* Go's syscall.Signal.String on Linux: its own table, glibc's strsignal in
 * lower case; NULL past it (Go then says "signal <n>"). */
static inline const char *tsrun_go_signal_words(int sig) {
  static const char *const words[] = {
      NULL,
      "hangup",
      "interrupt",
      "quit",
      "illegal instruction",
      "trace/breakpoint trap",
      "aborted",
      "bus error",
      "floating point exception",
      "killed",
      "user defined signal 1",
      "segmentation fault",
      "user defined signal 2",
      "broken pipe",
      "alarm clock",
      "terminated",
      "stack fault",
      "child exited",
      "continued",
      "stopped (signal)",
      "stopped",
      "stopped (tty input)",
      "stopped (tty output)",
      "urgent I/O condition",
      "CPU time limit exceeded",
      "file size limit exceeded",
      "virtual timer expired",
      "profiling timer expired",
      "window changed",
      "I/O possible",
      "power failure",
      "bad system call",
  };
  return sig > 0 && (size_t)sig < sizeof words / sizeof words[0] ? words[sig] : NULL;
}

/* Go's syscall.Errno.Error into buf: glibc's description with its first
 * letter lowered, as Go's table was generated ("errno <n>" past it). */
static inline void tsrun_go_errno_words(int err, char *buf, size_t size) {
  if (!size) return;
  const char *desc = err > 0 ? strerrordesc_np(err) : NULL;
  char num[16] = "errno ";
  if (!desc) {
    /* "errno " then the digits, written backwards into a scratch buffer */
    char rev[11];
    size_t n = 0;
    unsigned v = (unsigned)err;
    do rev[n++] = (char)('0' + v % 10);
    while ((v /= 10) && n < sizeof rev);
    size_t at = 6;
    while (n && at < sizeof num - 1) num[at++] = rev[--n];
    num[at] = 0;
    desc = num;
  }
  size_t len = strlen(desc);
  if (len >= size) len = size - 1;
  memcpy(buf, desc, len);
  buf[len] = 0;
  if (buf[0] >= 'A' && buf[0] <= 'Z' && !(buf[1] >= 'A' && buf[1] <= 'Z')) buf[0] = (char)(buf[0] - 'A' + 'a');
}

#endif
