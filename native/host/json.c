/* json.c — a small JSON reader (a tree of malloc'd nodes) and writer, for
 * the state record and what the host commands print. Parent side only: it
 * allocates. It reads what tsrun itself wrote, and refuses, with a message,
 * anything that is not strict JSON. */
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
  const char *p, *end;
  const char *err;
  int depth;
};

static void ws(struct parser *ps) {
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) ps->p++;
}

static struct tsrun_json *node(enum tsrun_json_type t) {
  struct tsrun_json *n = calloc(1, sizeof *n);
  if (n) n->type = t;
  return n;
}

static struct tsrun_json *value(struct parser *ps);

static int hex4(const char *s, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = s[i];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f')
      v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      v |= (unsigned)(c - 'A' + 10);
    else
      return -1;
  }
  *out = v;
  return 0;
}

static size_t utf8(unsigned cp, char *out) {
  if (cp < 0x80) return (void)(out[0] = (char)cp), 1;
  if (cp < 0x800) return (void)(out[0] = (char)(0xc0 | cp >> 6), out[1] = (char)(0x80 | (cp & 0x3f))), 2;
  if (cp < 0x10000)
    return (void)(out[0] = (char)(0xe0 | cp >> 12), out[1] = (char)(0x80 | ((cp >> 6) & 0x3f)),
                  out[2] = (char)(0x80 | (cp & 0x3f))),
           3;
  out[0] = (char)(0xf0 | cp >> 18);
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
  out[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* A string at ps->p (the opening quote), unescaped into a new buffer. */
static char *string(struct parser *ps, size_t *len) {
  ps->p++;
  const char *start = ps->p;
  /* Unescaped, a string is never longer than its JSON text (\uXXXX: 6
   * characters, at most 4 bytes; a surrogate pair: 12, 4). */
  const char *q = start;
  while (q < ps->end && *q != '"') q += (*q == '\\' && q + 1 < ps->end) ? 2 : 1;
  char *out = malloc((size_t)(q - start) + 1);
  if (!out) return (void)(ps->err = "out of memory"), NULL;
  size_t n = 0;
  while (ps->p < ps->end && *ps->p != '"') {
    unsigned char c = (unsigned char)*ps->p++;
    if (c < 0x20) goto bad;
    if (c != '\\') {
      out[n++] = (char)c;
      continue;
    }
    if (ps->p >= ps->end) goto bad;
    char e = *ps->p++;
    switch (e) {
      case '"': out[n++] = '"'; break;
      case '\\': out[n++] = '\\'; break;
      case '/': out[n++] = '/'; break;
      case 'b': out[n++] = '\b'; break;
      case 'f': out[n++] = '\f'; break;
      case 'n': out[n++] = '\n'; break;
      case 'r': out[n++] = '\r'; break;
      case 't': out[n++] = '\t'; break;
      case 'u': {
        unsigned cp;
        if (ps->end - ps->p < 4 || hex4(ps->p, &cp)) goto bad;
        ps->p += 4;
        if (cp >= 0xd800 && cp < 0xdc00 && ps->end - ps->p >= 6 && ps->p[0] == '\\' && ps->p[1] == 'u') {
          unsigned lo;
          if (!hex4(ps->p + 2, &lo) && lo >= 0xdc00 && lo < 0xe000) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            ps->p += 6;
          }
        }
        n += utf8(cp, out + n);
        break;
      }
      default: goto bad;
    }
  }
  if (ps->p >= ps->end) goto bad;
  ps->p++;
  out[n] = 0;
  *len = n;
  return out;
bad:
  free(out);
  ps->err = "invalid string";
  return NULL;
}

static struct tsrun_json *object(struct parser *ps) {
  struct tsrun_json *o = node(TSRUN_JSON_OBJECT);
  if (!o) return (void)(ps->err = "out of memory"), NULL;
  ps->p++;
  ws(ps);
  if (ps->p < ps->end && *ps->p == '}') return ps->p++, o;
  for (;;) {
    ws(ps);
    if (ps->p >= ps->end || *ps->p != '"') return (void)(ps->err = "expected a key"), tsrun_json_free(o), NULL;
    size_t klen;
    char *key = string(ps, &klen);
    if (!key) return tsrun_json_free(o), NULL;
    ws(ps);
    if (ps->p >= ps->end || *ps->p != ':') return free(key), (void)(ps->err = "expected ':'"), tsrun_json_free(o), NULL;
    ps->p++;
    struct tsrun_json *v = value(ps);
    if (!v) return free(key), tsrun_json_free(o), NULL;
    struct tsrun_json **items = realloc(o->items, (o->count + 1) * sizeof *items);
    char **keys = realloc(o->keys, (o->count + 1) * sizeof *keys);
    if (!items || !keys) {
      if (items) o->items = items;
      if (keys) o->keys = keys;
      free(key);
      tsrun_json_free(v);
      tsrun_json_free(o);
      ps->err = "out of memory";
      return NULL;
    }
    o->items = items;
    o->keys = keys;
    o->keys[o->count] = key;
    o->items[o->count++] = v;
    ws(ps);
    if (ps->p < ps->end && *ps->p == ',') {
      ps->p++;
      continue;
    }
    if (ps->p < ps->end && *ps->p == '}') return ps->p++, o;
    ps->err = "expected ',' or '}'";
    tsrun_json_free(o);
    return NULL;
  }
}

static struct tsrun_json *array(struct parser *ps) {
  struct tsrun_json *a = node(TSRUN_JSON_ARRAY);
  if (!a) return (void)(ps->err = "out of memory"), NULL;
  ps->p++;
  ws(ps);
  if (ps->p < ps->end && *ps->p == ']') return ps->p++, a;
  for (;;) {
    struct tsrun_json *v = value(ps);
    if (!v) return tsrun_json_free(a), NULL;
    struct tsrun_json **items = realloc(a->items, (a->count + 1) * sizeof *items);
    if (!items) return tsrun_json_free(v), tsrun_json_free(a), (void)(ps->err = "out of memory"), NULL;
    a->items = items;
    a->items[a->count++] = v;
    ws(ps);
    if (ps->p < ps->end && *ps->p == ',') {
      ps->p++;
      continue;
    }
    if (ps->p < ps->end && *ps->p == ']') return ps->p++, a;
    ps->err = "expected ',' or ']'";
    tsrun_json_free(a);
    return NULL;
  }
}

static struct tsrun_json *value(struct parser *ps) {
  if (++ps->depth > TSRUN_JSON_MAX_DEPTH) return (void)(ps->err = "nested too deeply"), NULL;
  ws(ps);
  struct tsrun_json *v = NULL;
  if (ps->p >= ps->end) {
    ps->err = "unexpected end";
  } else if (*ps->p == '{') {
    v = object(ps);
  } else if (*ps->p == '[') {
    v = array(ps);
  } else if (*ps->p == '"') {
    size_t len;
    char *s = string(ps, &len);
    if (s && (v = node(TSRUN_JSON_STRING))) {
      v->str = s;
      v->len = len;
    } else {
      free(s);
    }
  } else if (ps->end - ps->p >= 4 && !memcmp(ps->p, "true", 4)) {
    ps->p += 4;
    if ((v = node(TSRUN_JSON_BOOL))) v->boolean = 1;
  } else if (ps->end - ps->p >= 5 && !memcmp(ps->p, "false", 5)) {
    ps->p += 5;
    v = node(TSRUN_JSON_BOOL);
  } else if (ps->end - ps->p >= 4 && !memcmp(ps->p, "null", 4)) {
    ps->p += 4;
    v = node(TSRUN_JSON_NULL);
  } else if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) {
    char buf[64];
    size_t n = 0;
    while (ps->p < ps->end && n < sizeof buf - 1 && strchr("+-.0123456789eE", *ps->p)) buf[n++] = *ps->p++;
    buf[n] = 0;
    char *endp;
    double d = strtod(buf, &endp);
    if (*endp)
      ps->err = "invalid number";
    else if ((v = node(TSRUN_JSON_NUMBER)))
      v->number = d;
  } else {
    ps->err = "unexpected character";
  }
  if (!v && !ps->err) ps->err = "out of memory";
  ps->depth--;
  return v;
}

struct tsrun_json *tsrun_json_parse(const char *text, size_t len, const char **err) {
  struct parser ps = {text, text + len, NULL, 0};
  struct tsrun_json *v = value(&ps);
  if (v) {
    ws(&ps);
    if (ps.p != ps.end) {
      tsrun_json_free(v);
      v = NULL;
      ps.err = "trailing characters";
    }
  }
  if (err) *err = ps.err;
  return v;
}

void tsrun_json_free(struct tsrun_json *v) {
  if (!v) return;
  for (size_t i = 0; i < v->count; i++) {
    tsrun_json_free(v->items[i]);
    if (v->keys) free(v->keys[i]);
  }
  free(v->items);
  free(v->keys);
  free(v->str);
  free(v);
}

const struct tsrun_json *tsrun_json_get(const struct tsrun_json *o, const char *key) {
  if (!o || o->type != TSRUN_JSON_OBJECT) return NULL;
  for (size_t i = 0; i < o->count; i++)
    if (!strcmp(o->keys[i], key)) return o->items[i];
  return NULL;
}

const char *tsrun_json_str(const struct tsrun_json *o, const char *key) {
  const struct tsrun_json *v = tsrun_json_get(o, key);
  return v && v->type == TSRUN_JSON_STRING ? v->str : NULL;
}

double tsrun_json_num(const struct tsrun_json *o, const char *key, double fallback) {
  const struct tsrun_json *v = tsrun_json_get(o, key);
  return v && v->type == TSRUN_JSON_NUMBER ? v->number : fallback;
}

int tsrun_json_bool(const struct tsrun_json *o, const char *key) {
  const struct tsrun_json *v = tsrun_json_get(o, key);
  return v && v->type == TSRUN_JSON_BOOL && v->boolean;
}

long long tsrun_json_int(const struct tsrun_json *o, const char *key, long long lo, long long hi, long long fallback) {
  const struct tsrun_json *v = tsrun_json_get(o, key);
  if (!v || v->type != TSRUN_JSON_NUMBER) return fallback;
  double d = v->number;
  /* the range first (NaN fails it too): only then is the cast defined */
  if (!(d >= (double)lo && d <= (double)hi)) return fallback;
  long long n = (long long)d;
  return (double)n == d ? n : fallback;
}

/* ---- writing ------------------------------------------------------------ */

int tsrun_buf_add(struct tsrun_buf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) return -1;
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = 0;
  return 0;
}

int tsrun_buf_str(struct tsrun_buf *b, const char *s) {
  return tsrun_buf_add(b, s, strlen(s));
}

/* As JSON.stringify escapes: quote, backslash and control characters;
 * everything else (UTF-8 included) as it is. */
int tsrun_buf_json_string(struct tsrun_buf *b, const char *s) {
  int rc = tsrun_buf_add(b, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)s; rc == 0 && *p; p++) {
    char esc[8];
    switch (*p) {
      case '"': rc = tsrun_buf_add(b, "\\\"", 2); break;
      case '\\': rc = tsrun_buf_add(b, "\\\\", 2); break;
      case '\b': rc = tsrun_buf_add(b, "\\b", 2); break;
      case '\f': rc = tsrun_buf_add(b, "\\f", 2); break;
      case '\n': rc = tsrun_buf_add(b, "\\n", 2); break;
      case '\r': rc = tsrun_buf_add(b, "\\r", 2); break;
      case '\t': rc = tsrun_buf_add(b, "\\t", 2); break;
      default:
        if (*p < 0x20) {
          snprintf(esc, sizeof esc, "\\u%04x", *p);
          rc = tsrun_buf_add(b, esc, 6);
        } else {
          rc = tsrun_buf_add(b, (const char *)p, 1);
        }
    }
  }
  return rc ? rc : tsrun_buf_add(b, "\"", 1);
}

int tsrun_buf_int(struct tsrun_buf *b, long long v) {
  char num[32];
  int n = snprintf(num, sizeof num, "%lld", v);
  return tsrun_buf_add(b, num, (size_t)n);
}

void tsrun_buf_free(struct tsrun_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}
