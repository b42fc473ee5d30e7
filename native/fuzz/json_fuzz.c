/* json_fuzz.c — libFuzzer target for the host library's JSON reader
 * (native/host/json.c), which reads every state.json the front and the
 * addon load: a record left half-written by a killed create, or edited by
 * hand, reaches it.
 *
 * Arbitrary bytes are parsed; a refusal must say why, and a tree must be
 * whole: every string NUL-terminated at its length, every object with a key
 * per value, lookups answering, and the writer able to escape every string
 * back into something the reader takes again (the front prints state JSON
 * built from these strings).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static volatile size_t sink;
static volatile double dsink;

static void must(int ok) {
  if (!ok) __builtin_trap();
}

/* A string as the writer escapes it (up to its first NUL, as C sees it)
 * parses back to those bytes. */
static void round_trip(const char *s) {
  struct tsrun_buf b = {0};
  if (tsrun_buf_json_string(&b, s) < 0) return tsrun_buf_free(&b);
  const char *err = NULL;
  struct tsrun_json *v = tsrun_json_parse(b.data, b.len, &err);
  must(v && v->type == TSRUN_JSON_STRING && !strcmp(v->str, s));
  tsrun_json_free(v);
  tsrun_buf_free(&b);
}

static void walk(const struct tsrun_json *v, int depth) {
  must(depth <= 64);
  switch (v->type) {
    case TSRUN_JSON_STRING:
      must(v->str && v->str[v->len] == 0);
      sink += strlen(v->str);
      round_trip(v->str);
      break;
    case TSRUN_JSON_OBJECT:
      for (size_t i = 0; i < v->count; i++) {
        must(v->keys[i] != NULL);
        sink += strlen(v->keys[i]);
        /* the first member of that name is what a lookup finds */
        const struct tsrun_json *found = tsrun_json_get(v, v->keys[i]);
        must(found != NULL);
        dsink += tsrun_json_num(v, v->keys[i], 0) + tsrun_json_bool(v, v->keys[i]);
        long long n = tsrun_json_int(v, v->keys[i], -(1LL << 53), 1LL << 53, 7);
        must(n == 7 || (double)n == tsrun_json_num(v, v->keys[i], 0));
        const char *s = tsrun_json_str(v, v->keys[i]);
        if (s) sink += strlen(s);
      }
      /* fall through: the values */
    case TSRUN_JSON_ARRAY:
      for (size_t i = 0; i < v->count; i++) walk(v->items[i], depth + 1);
      break;
    default: break;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* exactly `size` bytes, no NUL after: the reader must stop at the end */
  char *text = malloc(size ? size : 1);
  if (!text) return 0;
  memcpy(text, data, size);
  const char *err = NULL;
  struct tsrun_json *v = tsrun_json_parse(text, size, &err);
  if (v) {
    must(err == NULL);
    walk(v, 1);
    tsrun_json_free(v);
  } else {
    must(err != NULL);
  }
  free(text);
  return 0;
}
