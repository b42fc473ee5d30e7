/* state_fuzz.c — libFuzzer target for the state record: tsrun_state_load
 * (through tsrun_record_load and the JSON reader) and runc's state JSON the
 * front prints from it (tsrun_state_json), over arbitrary state.json bytes.
 *
 * A state.json is written by tsrun itself, but one can be cut short by a
 * full disk, edited by hand, or left by another version: the front must
 * refuse it with a message or print valid JSON, never read out of bounds
 * or convert a number it cannot hold (UBSan's float-cast-overflow).
 *
 * Each input is written to <tmp>/f/state.json (tmpfs when /dev/shm is
 * there) and loaded from there, as the front does.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host.h"

static char g_root[256], g_file[512], g_dir[300];
static volatile size_t sink;

static void must(int ok) {
  if (!ok) __builtin_trap();
}

static void cleanup(void) {
  unlink(g_file);
  rmdir(g_dir);
  rmdir(g_root);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  snprintf(g_root, sizeof g_root, "%s/tsrun-fuzz-state-XXXXXX", tmp);
  if (!mkdtemp(g_root)) abort();
  snprintf(g_dir, sizeof g_dir, "%s/f", g_root);
  if (mkdir(g_dir, 0700) < 0) abort();
  snprintf(g_file, sizeof g_file, "%s/" TSRUN_STATE_FILE, g_dir);
  atexit(cleanup);
  return 0;
}

static void print_and_reparse(const struct tsrun_state *s, int pretty) {
  struct tsrun_buf b = {0};
  if (tsrun_state_json(s, pretty, &b) == 0) {
    const char *err = NULL;
    struct tsrun_json *v = tsrun_json_parse(b.data, b.len, &err);
    /* what the front prints is JSON, whatever the record held */
    must(v && v->type == TSRUN_JSON_OBJECT);
    must(tsrun_json_str(v, "id") && tsrun_json_str(v, "status"));
    tsrun_json_free(v);
  }
  tsrun_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  FILE *f = fopen(g_file, "we");
  if (!f) abort();
  if (size && fwrite(data, 1, size, f) != size) abort();
  if (fclose(f) != 0) abort();

  struct tsrun_host h = {.root = g_root};
  struct tsrun_state s;
  struct tsrun_err e = {0};
  if (tsrun_state_load(&h, "f", &s, &e) < 0) {
    must(e.code && e.message[0]);
    return 0;
  }
  for (size_t i = 0; i < s.cgroup.count; i++) sink += strlen(s.cgroup.keys[i]) + strlen(s.cgroup.paths[i]);
  print_and_reparse(&s, 0);
  print_and_reparse(&s, 1);
  tsrun_state_free(&s);
  return 0;
}
