/* front.h — what the front's files share (main.c, exec.c). */
#ifndef TSRUN_FRONT_H
#define TSRUN_FRONT_H
#include "host.h"

struct globals {
  const char *root;
  const char *log;
  int json;
};

/* Hands the command line, unchanged, to the JavaScript CLI. */
__attribute__((noreturn)) void to_javascript(void);
/* Prints and logs "<label>: <message>"; returns 1. */
int fail(const struct globals *g, const char *label, const struct tsrun_err *e);
void write_all(int fd, const char *s, size_t n);
/* The CLI's engine file and its directory (PATH_MAX each); -1: none. */
int front_find_engine(char *dir, char *file);
/* The tsrun-init executable beside this binary; -1: none. */
int front_init_path(char *out, size_t size);

/* exec [flags] ID [COMMAND...]: served from the container's plan cache when
 * it holds this exact exec (exec.c); otherwise the JavaScript CLI plans it
 * (and caches it, told the key in TSRUN_EXEC_KEY). Returns the exit status. */
int front_exec(const struct globals *g, struct tsrun_host *h, char **args, int nargs);

#endif
