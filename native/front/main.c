/* main.c — tsrun's front: the binary bin/tsrun points at. It serves the
 * commands engines call most often (state, list, kill, delete, start,
 * pause, resume, ps --format json) from the state directory with the host
 * library (native/host/), the same code the addon gives TypeScript, so no
 * JavaScript engine starts for them. Everything else — create, run, exec,
 * spec, features, update, events, help, --debug, any flag it does not know —
 * goes to the JavaScript CLI with argv, the environment and every fd
 * untouched (execve). */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "front.h"

static char *const *g_argv;
static int g_argc;

/* Where the JavaScript CLI is: an `engine` file (scripts/postbuild.mjs,
 * scripts/release.mjs) holding the argv prefix that runs it, one element
 * per line. It is looked for relative to this binary's own path, in each
 * layout tsrun ships in:
 *   <dir>/../lib/tsrun/engine  the release: bin/ or sbin/, lib/tsrun/
 *   <dir>/../dist/engine       a checkout: build/, dist/
 *   <dir>/tsrun-engine         the npm package: prebuilds/linux-x64/
 * (the release's first: its bin/ is a directory shared with others) */
static const char *const ENGINE_FILES[] = {"../lib/tsrun/engine", "../dist/engine", "tsrun-engine"};

/* The engine file to use in file, and the directory its relative entries
 * are read from (canonical: they become argv[0]) in dir; -1 when there is
 * none. Both buffers are PATH_MAX long. */
int front_find_engine(char *dir, char *file) {
  char exe[PATH_MAX];
  if (!realpath("/proc/self/exe", exe)) return -1;
  char *slash = strrchr(exe, '/');
  if (!slash) return -1;
  *slash = 0;
  for (size_t i = 0; i < sizeof ENGINE_FILES / sizeof *ENGINE_FILES; i++) {
    char candidate[PATH_MAX + 32];
    int n = snprintf(candidate, sizeof candidate, "%s/%s", exe, ENGINE_FILES[i]);
    if (n < 0 || (size_t)n >= sizeof candidate || access(candidate, R_OK) != 0) continue;
    *strrchr(candidate, '/') = 0;
    if (!realpath(candidate, dir)) return -1;
    /* The compiled CLI's engine (Bun's baseline build) needs SSE4.2 and
     * POPCNT (x86-64-v2): on an older x86-64 (qemu's default qemu64) it
     * dies of SIGILL at once. There, an engine-any-cpu file beside it
     * names the CLI on an engine that runs on any x86-64 (Node). */
    const char *name = strrchr(ENGINE_FILES[i], '/') ? strrchr(ENGINE_FILES[i], '/') + 1 : ENGINE_FILES[i];
#ifdef __x86_64__
    n = snprintf(file, PATH_MAX, "%s/engine-any-cpu", dir);
    if (!(__builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("popcnt")) && n > 0 && n < PATH_MAX &&
        access(file, R_OK) == 0)
      name = "engine-any-cpu";
#endif
    n = snprintf(file, PATH_MAX, "%s/%s", dir, name);
    return n > 0 && n < PATH_MAX ? 0 : -1;
  }
  return -1;
}

/* Where tsrun-init is, beside this binary in each layout (the checkout's
 * build/Release/, the release's lib/tsrun/, the npm package's own dir, the
 * sanitized build's Release/): the one the addon beside it uses. */
int front_init_path(char *out, size_t size) {
  static const char *const where[] = {"Release/tsrun-init", "../lib/tsrun/tsrun-init", "tsrun-init",
                                      "../Release/tsrun-init"};
  char exe[PATH_MAX];
  if (!realpath("/proc/self/exe", exe)) return -1;
  char *slash = strrchr(exe, '/');
  if (!slash) return -1;
  *slash = 0;
  for (size_t i = 0; i < sizeof where / sizeof *where; i++) {
    int n = snprintf(out, size, "%s/%s", exe, where[i]);
    if (n > 0 && (size_t)n < size && access(out, X_OK) == 0) return 0;
  }
  return -1;
}

/* Hands the command line, unchanged, to the JavaScript CLI. An engine
 * entry with a "/" is a path (relative ones from the engine file's dir);
 * one without is a program looked up in PATH (the npm package's "node"). */
__attribute__((noreturn)) void to_javascript(void) {
  char dir[PATH_MAX], file[PATH_MAX];
  static char prefix[8192], paths[8][PATH_MAX + 8192 + 2];
  if (front_find_engine(dir, file) < 0) {
    fprintf(stderr, "tsrun: no engine file found from /proc/self/exe: build tsrun first (npm run build)\n");
    _exit(1);
  }
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  ssize_t n = fd >= 0 ? read(fd, prefix, sizeof prefix - 1) : -1;
  if (fd >= 0) close(fd);
  if (n <= 0) {
    fprintf(stderr, "tsrun: cannot read %s: build tsrun first (npm run build)\n", file);
    _exit(1);
  }
  prefix[n] = 0;
  char *parts[8];
  int np = 0;
  for (char *line = prefix; *line && np < 8;) {
    char *nl = strchr(line, '\n');
    if (nl) *nl = 0;
    if (*line) {
      if (*line != '/' && strchr(line, '/')) {
        snprintf(paths[np], sizeof paths[np], "%s/%s", dir, strncmp(line, "./", 2) ? line : line + 2);
        line = paths[np];
      }
      parts[np++] = line;
    }
    if (!nl) break;
    line = nl + 1;
  }
  if (np == 0) {
    fprintf(stderr, "tsrun: %s is empty: build tsrun first (npm run build)\n", file);
    _exit(1);
  }
  char **argv = calloc((size_t)g_argc + (size_t)np + 1, sizeof *argv);
  if (!argv) _exit(1);
  for (int i = 0; i < np; i++) argv[i] = parts[i];
  for (int i = 1; i < g_argc; i++) argv[np + i - 1] = g_argv[i];
  execvp(parts[0], argv);
  fprintf(stderr, "tsrun: cannot run %s (from %s): %s\n", parts[0], file, strerror(errno));
  _exit(1);
}

static void log_line(const struct globals *g, const char *level, const char *msg) {
  if (!g->log) return;
  char when[32];
  time_t now = time(NULL);
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
  struct tsrun_buf b = {0};
  if (g->json) {
    tsrun_buf_str(&b, "{\"level\":");
    tsrun_buf_json_string(&b, level);
    tsrun_buf_str(&b, ",\"msg\":");
    tsrun_buf_json_string(&b, msg);
    tsrun_buf_str(&b, ",\"time\":");
    tsrun_buf_json_string(&b, when);
    tsrun_buf_str(&b, "}\n");
  } else {
    tsrun_buf_str(&b, "time=\"");
    tsrun_buf_str(&b, when);
    tsrun_buf_str(&b, "\" level=");
    tsrun_buf_str(&b, level);
    tsrun_buf_str(&b, " msg=");
    tsrun_buf_json_string(&b, msg);
    tsrun_buf_str(&b, "\n");
  }
  int fd = open(g->log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd >= 0 && b.data) {
    ssize_t ignored = write(fd, b.data, b.len);
    (void)ignored;
  }
  if (fd >= 0) close(fd);
  tsrun_buf_free(&b);
}

void write_all(int fd, const char *s, size_t n) {
  while (n) {
    ssize_t w = write(fd, s, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    s += w;
    n -= (size_t)w;
  }
}

static void on_warning(void *arg, const char *msg) {
  const struct globals *g = arg;
  log_line(g, "warning", msg);
  dprintf(2, "tsrun: warning: %s\n", msg);
}

int fail(const struct globals *g, const char *cmd, const struct tsrun_err *e) {
  char msg[1200];
  snprintf(msg, sizeof msg, "%s: %s", cmd, e->message);
  log_line(g, "error", msg);
  dprintf(2, "tsrun: %s\n", msg);
  return 1;
}

/* One flag of a command: its names and whether it takes a value. */
struct flag {
  const char *name, *alias;
  int value;
};

/* The command's flags → values (NULL: absent; "true"/"false" for booleans),
 * its positionals → pos[]; 0, or -1 for anything unknown (the JavaScript CLI
 * then says what is wrong). Flags only before the first positional when
 * flags_first (ps). */
static int parse(char **args, int n, const struct flag *flags, const char **values, const char **pos, int max_pos,
                 int *npos, int flags_first) {
  *npos = 0;
  int only_pos = 0;
  for (int i = 0; i < n; i++) {
    const char *a = args[i];
    if (only_pos || a[0] != '-' || !strcmp(a, "-")) {
      if (*npos == max_pos) return -1;
      pos[(*npos)++] = a;
      if (flags_first) only_pos = 1;
      continue;
    }
    if (!strcmp(a, "--")) {
      only_pos = 1;
      continue;
    }
    const char *name = a + (a[1] == '-' ? 2 : 1);
    const char *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    int k = -1;
    for (int j = 0; flags[j].name; j++)
      if ((strlen(flags[j].name) == len && !strncmp(flags[j].name, name, len)) ||
          (flags[j].alias && strlen(flags[j].alias) == len && !strncmp(flags[j].alias, name, len)))
        k = j;
    if (k < 0) return -1;
    if (!flags[k].value) {
      if (eq && strcmp(eq + 1, "true") && strcmp(eq + 1, "false")) return -1;
      values[k] = eq ? eq + 1 : "true";
      continue;
    }
    if (eq)
      values[k] = eq + 1;
    else if (i + 1 < n)
      values[k] = args[++i];
    else
      return -1;
  }
  return 0;
}

static int is_true(const char *v) {
  return v && !strcmp(v, "true");
}

/* list --format table: runc's columns, each padded to its widest cell + 3. */
static void print_table(const struct tsrun_json *states) {
  static const char *const heads[6] = {"ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"};
  static const char *const keys[6] = {"id", "pid", "status", "bundle", "created", "owner"};
  size_t widths[6];
  for (int c = 0; c < 6; c++) widths[c] = strlen(heads[c]);
  char num[32];
  for (size_t r = 0; r < states->count; r++)
    for (int c = 0; c < 6; c++) {
      const char *v = c == 1 ? (snprintf(num, sizeof num, "%.0f", tsrun_json_num(states->items[r], "pid", 0)), num)
                             : tsrun_json_str(states->items[r], keys[c]);
      size_t l = v ? strlen(v) : 0;
      if (l > widths[c]) widths[c] = l;
    }
  struct tsrun_buf b = {0};
  for (size_t r = 0; r <= states->count; r++) {
    for (int c = 0; c < 6; c++) {
      const char *v = r == 0 ? heads[c]
                      : c == 1
                          ? (snprintf(num, sizeof num, "%.0f", tsrun_json_num(states->items[r - 1], "pid", 0)), num)
                          : tsrun_json_str(states->items[r - 1], keys[c]);
      if (!v) v = "";
      tsrun_buf_str(&b, v);
      if (c < 5)
        for (size_t pad = strlen(v); pad < widths[c] + 3; pad++) tsrun_buf_str(&b, " ");
    }
    tsrun_buf_str(&b, "\n");
  }
  if (b.data) write_all(1, b.data, b.len);
  tsrun_buf_free(&b);
}

int main(int argc, char **argv) {
  g_argv = argv;
  g_argc = argc;
  struct globals g = {NULL, NULL, 0};
  int i = 1;
  /* runc's global flags; anything else (-h, -v, --debug, …) is the JavaScript CLI's */
  for (; i < argc && argv[i][0] == '-'; i++) {
    const char *a = argv[i] + (argv[i][1] == '-' ? 2 : 1);
    const char *eq = strchr(a, '=');
    size_t len = eq ? (size_t)(eq - a) : strlen(a);
    const char *value = eq ? eq + 1 : NULL;
#define IS(n) (len == strlen(n) && !strncmp(a, n, len))
    if (IS("root") || IS("log") || IS("log-format") || IS("rootless") || IS("criu")) {
      if (!value && i + 1 >= argc) to_javascript();
      if (!value) value = argv[++i];
      if (IS("root"))
        g.root = value;
      else if (IS("rootless")) {
        /* only cgroup permission errors depend on it, and the front makes no cgroup */
        if (tsrun_rootless_mode(value) < 0) to_javascript();
      } else if (IS("log"))
        g.log = value;
      else if (IS("log-format")) {
        if (strcmp(value, "json") && strcmp(value, "text")) to_javascript();
        g.json = !strcmp(value, "json");
      }
    } else if (IS("systemd-cgroup")) {
      if (value && strcmp(value, "true") && strcmp(value, "false")) to_javascript();
    } else {
      to_javascript();
    }
#undef IS
  }
  if (i >= argc) to_javascript();
  /* the JavaScript CLI computes the same default (native/host/rootless.c) */
  char default_root[4096];
  if (!g.root) {
    if (tsrun_default_root(default_root, sizeof default_root) < 0) to_javascript();
    g.root = default_root;
  }
  const char *cmd = argv[i];
  char **args = argv + i + 1;
  int nargs = argc - i - 1;
  struct tsrun_host h = {g.root, on_warning, &g, NULL};
  struct tsrun_err e = {"", ""};
  const char *values[4] = {0};
  const char *pos[3] = {0};
  int npos;

  if (!strcmp(cmd, "state") || !strcmp(cmd, "start") || !strcmp(cmd, "pause") || !strcmp(cmd, "resume")) {
    static const struct flag none[] = {{0, 0, 0}};
    if (parse(args, nargs, none, values, pos, 1, &npos, 0) < 0 || npos != 1) to_javascript();
    int rc;
    if (!strcmp(cmd, "state")) {
      struct tsrun_buf out = {0};
      rc = tsrun_host_state(&h, pos[0], &out, &e);
      if (rc == 0) write_all(1, out.data, out.len);
      tsrun_buf_free(&out);
    } else if (!strcmp(cmd, "start")) {
      rc = tsrun_host_start(&h, pos[0], &e);
    } else if (!strcmp(cmd, "pause")) {
      rc = tsrun_host_pause(&h, pos[0], &e);
    } else {
      rc = tsrun_host_resume(&h, pos[0], &e);
    }
    return rc < 0 ? fail(&g, cmd, &e) : 0;
  }
  if (!strcmp(cmd, "kill")) {
    static const struct flag flags[] = {{"all", "a", 0}, {0, 0, 0}};
    if (parse(args, nargs, flags, values, pos, 2, &npos, 0) < 0 || npos < 1) to_javascript();
    int sig = tsrun_parse_signal(npos > 1 ? pos[1] : "TERM");
    if (sig < 0) to_javascript(); /* the JavaScript CLI words the usage error */
    return tsrun_host_kill(&h, pos[0], sig, is_true(values[0]), &e) < 0 ? fail(&g, cmd, &e) : 0;
  }
  if (!strcmp(cmd, "delete")) {
    static const struct flag flags[] = {{"force", "f", 0}, {0, 0, 0}};
    if (parse(args, nargs, flags, values, pos, 1, &npos, 0) < 0 || npos != 1) to_javascript();
    return tsrun_host_delete(&h, pos[0], is_true(values[0]), &e) < 0 ? fail(&g, cmd, &e) : 0;
  }
  if (!strcmp(cmd, "list")) {
    static const struct flag flags[] = {{"format", "f", 1}, {"quiet", "q", 0}, {0, 0, 0}};
    if (parse(args, nargs, flags, values, pos, 0, &npos, 0) < 0) to_javascript();
    const char *format = values[0] ? values[0] : "table";
    if (strcmp(format, "table") && strcmp(format, "json")) to_javascript();
    struct tsrun_buf out = {0};
    if (tsrun_host_list(&h, &out, &e) < 0) return fail(&g, cmd, &e);
    if (!strcmp(format, "json") && !is_true(values[1])) {
      tsrun_buf_str(&out, "\n");
      write_all(1, out.data, out.len);
    } else {
      const char *err = NULL;
      struct tsrun_json *states = tsrun_json_parse(out.data, out.len, &err);
      if (!states) return fail(&g, cmd, &(struct tsrun_err){TSRUN_CODE(ESYSTEM), "out of memory"});
      if (is_true(values[1])) {
        for (size_t k = 0; k < states->count; k++) dprintf(1, "%s\n", tsrun_json_str(states->items[k], "id"));
      } else {
        print_table(states);
      }
      tsrun_json_free(states);
    }
    tsrun_buf_free(&out);
    return 0;
  }
  if (!strcmp(cmd, "exec")) return front_exec(&g, &h, args, nargs);
  if (!strcmp(cmd, "ps")) {
    static const struct flag flags[] = {{"format", "f", 1}, {0, 0, 0}};
    /* the table runs ps(1): the JavaScript CLI's; json is what engines ask for */
    if (parse(args, nargs, flags, values, pos, 1, &npos, 1) < 0 || npos != 1 || !values[0] || strcmp(values[0], "json"))
      to_javascript();
    pid_t *pids;
    size_t n;
    if (tsrun_host_ps(&h, pos[0], &pids, &n, &e) < 0) return fail(&g, cmd, &e);
    struct tsrun_buf out = {0};
    tsrun_buf_str(&out, "[");
    for (size_t k = 0; k < n; k++) {
      if (k) tsrun_buf_str(&out, ",");
      tsrun_buf_int(&out, pids[k]);
    }
    tsrun_buf_str(&out, "]\n");
    write_all(1, out.data, out.len);
    tsrun_buf_free(&out);
    free(pids);
    return 0;
  }
  to_javascript();
}
