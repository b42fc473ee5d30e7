/* json.h — a small JSON reader and writer for the host library (parent side,
 * allocating). */
#ifndef TSRUN_JSON_H
#define TSRUN_JSON_H

#include <stddef.h>

enum tsrun_json_type {
  TSRUN_JSON_NULL,
  TSRUN_JSON_BOOL,
  TSRUN_JSON_NUMBER,
  TSRUN_JSON_STRING,
  TSRUN_JSON_ARRAY,
  TSRUN_JSON_OBJECT,
};

struct tsrun_json {
  enum tsrun_json_type type;
  int boolean;
  double number;
  char *str; /* STRING: NUL-terminated (may hold NULs before len) */
  size_t len;
  size_t count;              /* ARRAY, OBJECT */
  struct tsrun_json **items; /* ARRAY, OBJECT: the values */
  char **keys;               /* OBJECT: the keys, in order */
};

/* The deepest nesting the reader takes (arrays and objects): the state
 * records' one limit, which TypeScript's reader and writer of them use too
 * (TypeScript's comes from here: constants.c). */
#define TSRUN_JSON_MAX_DEPTH 64

/* Parses `len` bytes; NULL with *err set on malformed input. */
struct tsrun_json *tsrun_json_parse(const char *text, size_t len, const char **err);
void tsrun_json_free(struct tsrun_json *v);
/* Object member lookups; NULL / fallback / 0 when absent or of another type. */
const struct tsrun_json *tsrun_json_get(const struct tsrun_json *o, const char *key);
const char *tsrun_json_str(const struct tsrun_json *o, const char *key);
double tsrun_json_num(const struct tsrun_json *o, const char *key, double fallback);
int tsrun_json_bool(const struct tsrun_json *o, const char *key);
/* A whole-number member within [lo, hi] (|lo|, |hi| <= 2^53); fallback when
 * absent, of another type, fractional or out of range. Use it for anything
 * that becomes an integer: converting a double that does not fit (a record
 * holding 1e99 as a pid) is undefined behaviour. */
long long tsrun_json_int(const struct tsrun_json *o, const char *key, long long lo, long long hi, long long fallback);

/* A growing output buffer. Each call returns 0, or -1 when out of memory. */
struct tsrun_buf {
  char *data;
  size_t len, cap;
};
int tsrun_buf_add(struct tsrun_buf *b, const char *s, size_t n);
int tsrun_buf_str(struct tsrun_buf *b, const char *s);
/* A JSON string literal, escaped as JSON.stringify does. */
int tsrun_buf_json_string(struct tsrun_buf *b, const char *s);
int tsrun_buf_int(struct tsrun_buf *b, long long v);
void tsrun_buf_free(struct tsrun_buf *b);

#endif
