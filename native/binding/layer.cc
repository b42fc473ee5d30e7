// layer.cc — the layer writer of native/host/layer.c for TypeScript
// (lib/image/ parses a layer's tar stream and hands over each entry). Only
// the conversion of a LayerEntry object lives here; every check that keeps
// the layer inside its directory is layer.c's. An entry's strings are read
// into stack buffers: a layer has tens of thousands of entries.
#include <napi.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include <string>
#include <vector>

extern "C" {
#include "../host/host.h"
}

#include "binding.h"

namespace {

const struct {
  const char *name;
  enum tsrun_layer_type type;
} kTypes[] = {
    {"file", TSRUN_LAYER_FILE},         {"dir", TSRUN_LAYER_DIR},           {"symlink", TSRUN_LAYER_SYMLINK},
    {"hardlink", TSRUN_LAYER_HARDLINK}, {"char", TSRUN_LAYER_CHAR},         {"block", TSRUN_LAYER_BLOCK},
    {"fifo", TSRUN_LAYER_FIFO},         {"whiteout", TSRUN_LAYER_WHITEOUT}, {"opaque", TSRUN_LAYER_OPAQUE},
};

Napi::Value ThrowType(Napi::Env env, const std::string &msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

// The error of layer.c (rc: a negative errno): {message, errno, code, path}.
Napi::Value ThrowLayer(Napi::Env env, int rc, const struct tsrun_err &e, const char *path) {
  Napi::Error x = tsrun::ErrnoError(env, -rc, nullptr, e.message);
  if (path) x.Set("path", Napi::String::New(env, path));
  x.ThrowAsJavaScriptException();
  return env.Undefined();
}

// A JS string into buf: 0, -1 when v is no string, -ENAMETOOLONG when it does
// not fit, -EINVAL when it holds a NUL (C would see only what precedes it).
int CString(Napi::Value v, char *buf, size_t size) {
  if (!v.IsString()) return -1;
  size_t len = 0;
  if (napi_get_value_string_utf8(v.Env(), v, nullptr, 0, &len) != napi_ok) return -1;
  if (len >= size) return -ENAMETOOLONG;
  if (napi_get_value_string_utf8(v.Env(), v, buf, size, &len) != napi_ok) return -1;
  return strlen(buf) == len ? 0 : -EINVAL;
}

// Seconds since the epoch, maybe fractional, as a timespec.
bool Seconds(Napi::Value v, struct timespec *ts) {
  if (!v.IsNumber()) return false;
  double m = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(m) || fabs(m) > 1e15) return false;
  double s = floor(m);
  long ns = lround((m - s) * 1e9);
  ts->tv_sec = (time_t)s;
  if (ns >= 1000000000L) {
    ts->tv_sec++;
    ns -= 1000000000L;
  }
  ts->tv_nsec = ns;
  return true;
}

bool Uint(Napi::Object o, const char *key, unsigned *out, bool optional) {
  Napi::Value v = o.Get(key);
  if (optional && v.IsUndefined()) {
    *out = 0;
    return true;
  }
  if (!v.IsNumber()) return false;
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 4294967295.0) || d != floor(d)) return false;
  *out = (unsigned)d;
  return true;
}

// A LayerEntry object, converted: its strings live here.
struct Entry {
  struct tsrun_layer_entry c;
  char path[PATH_MAX];
  char link[PATH_MAX];
  std::vector<std::string> names;
  std::vector<struct tsrun_layer_xattr> xattrs;
};

// false with a JS exception pending when the object is malformed.
bool ReadEntry(Napi::Env env, Napi::Value v, Entry *en) {
  memset(&en->c, 0, sizeof en->c);
  if (!v.IsObject()) return ThrowType(env, "layer entry: not an object"), false;
  Napi::Object o = v.As<Napi::Object>();
  int rc = CString(o.Get("path"), en->path, sizeof en->path);
  if (rc == -1) return ThrowType(env, "layer entry: path must be a string"), false;
  if (rc < 0) {
    struct tsrun_err e;
    snprintf(e.message, sizeof e.message, "layer entry: %s",
             rc == -EINVAL ? "not a relative path below the layer (a NUL byte)" : "path too long");
    return ThrowLayer(env, rc, e, nullptr), false;
  }
  en->c.path = en->path;
  // (the prefix of a message: made only when there is one)
  auto where = [en]() { return std::string("layer entry \"") + en->path + "\": "; };
  Napi::Value type = o.Get("type");
  std::string t = type.IsString() ? type.As<Napi::String>().Utf8Value() : "";
  bool found = false;
  for (const auto &k : kTypes)
    if (t == k.name) {
      en->c.type = k.type;
      found = true;
    }
  if (!found) return ThrowType(env, where() + "unknown type '" + t + "'"), false;
  unsigned mode, uid, gid;
  if (!Uint(o, "mode", &mode, false) || !Uint(o, "uid", &uid, false) || !Uint(o, "gid", &gid, false) ||
      !Uint(o, "devmajor", &en->c.devmajor, true) || !Uint(o, "devminor", &en->c.devminor, true))
    return ThrowType(env, where() + "mode, uid, gid, devmajor and devminor must be unsigned 32-bit integers"), false;
  en->c.mode = mode;
  en->c.uid = uid;
  en->c.gid = gid;
  if (!Seconds(o.Get("mtime"), &en->c.mtime))
    return ThrowType(env, where() + "mtime must be a finite number of seconds"), false;
  Napi::Value link = o.Get("linkname");
  if (!link.IsUndefined() && !link.IsNull()) {
    rc = CString(link, en->link, sizeof en->link);
    if (rc == -1) return ThrowType(env, where() + "linkname must be a string"), false;
    if (rc < 0) {
      struct tsrun_err e;
      snprintf(e.message, sizeof e.message, "%slinkname %s", where().c_str(),
               rc == -EINVAL ? "holds a NUL byte" : "too long");
      return ThrowLayer(env, rc, e, en->path), false;
    }
    en->c.linkname = en->link;
  }
  Napi::Value xattrs = o.Get("xattrs");
  if (!xattrs.IsUndefined() && !xattrs.IsNull()) {
    if (!xattrs.IsObject()) return ThrowType(env, where() + "xattrs must be an object"), false;
    Napi::Object x = xattrs.As<Napi::Object>();
    Napi::Array keys = x.GetPropertyNames();
    en->names.reserve(keys.Length());
    for (uint32_t i = 0; i < keys.Length(); i++) {
      std::string name = keys.Get(i).ToString().Utf8Value();
      Napi::Value value = x.Get(name);
      if (name.empty() || name.find('\0') != std::string::npos)
        return ThrowType(env, where() + "an xattr name is empty or holds a NUL byte"), false;
      if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
        return ThrowType(env, where() + "xattr " + name + " must be a Buffer"), false;
      Napi::Uint8Array bytes = value.As<Napi::Uint8Array>();
      en->names.push_back(std::move(name));
      en->xattrs.push_back({nullptr, bytes.Data(), bytes.ByteLength()});
    }
    // (only now: a std::string's c_str() may move while the vector grows)
    for (size_t i = 0; i < en->xattrs.size(); i++) en->xattrs[i].name = en->names[i].c_str();
    en->c.xattrs = en->xattrs.data();
    en->c.nxattrs = en->xattrs.size();
  }
  en->c.chown = o.Get("chown").ToBoolean();
  Napi::Value ov = o.Get("overlayXattr");
  std::string overlay = ov.IsString() ? ov.As<Napi::String>().Utf8Value() : "";
  if (overlay == "trusted")
    en->c.overlay_xattr = "trusted";
  else if (overlay == "user")
    en->c.overlay_xattr = "user";
  else
    return ThrowType(env, where() + "overlayXattr must be 'trusted' or 'user'"), false;
  return true;
}

bool Fd(Napi::Value v, int *fd) {
  if (!v.IsNumber()) return false;
  *fd = v.As<Napi::Number>().Int32Value();
  return *fd >= 0;
}

} // namespace

namespace tsrun {

// layerRoot(dir) -> an O_PATH|O_DIRECTORY fd of dir (not followed if a symlink)
Napi::Value LayerRoot(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  char dir[PATH_MAX];
  int rc = CString(info[0], dir, sizeof dir);
  if (rc == -1) return ThrowType(env, "layerRoot: dir must be a string");
  if (rc < 0) return ThrowErrno(env, -rc, "open");
  struct tsrun_err e;
  int fd = tsrun_layer_root(dir, &e);
  if (fd < 0) return ThrowLayer(env, fd, e, dir);
  return Napi::Number::New(env, fd);
}

// layerEntry(rootFd, entry) -> the fd of a new empty file for 'file' (to be
// written, then layerFinish), else -1: the entry is complete.
Napi::Value LayerEntry(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int root;
  if (!Fd(info[0], &root)) return ThrowType(env, "layerEntry: rootFd must be an fd");
  Entry en;
  if (!ReadEntry(env, info[1], &en)) return env.Undefined();
  struct tsrun_err e;
  int fd = -1;
  int rc = tsrun_layer_entry(root, &en.c, &fd, &e);
  if (rc < 0) return ThrowLayer(env, rc, e, en.path);
  return Napi::Number::New(env, fd);
}

// layerFinish(fd, entry): a file entry's metadata, then close(fd), always.
Napi::Value LayerFinish(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd;
  if (!Fd(info[0], &fd)) return ThrowType(env, "layerFinish: fd must be an fd");
  Entry en;
  if (!ReadEntry(env, info[1], &en)) {
    close(fd);
    return env.Undefined();
  }
  struct tsrun_err e;
  int rc = tsrun_layer_finish(fd, &en.c, &e);
  if (rc < 0) return ThrowLayer(env, rc, e, en.path);
  return env.Undefined();
}

// layerTimes(rootFd, path, mtime): mtime and atime of an entry, a final symlink not followed.
Napi::Value LayerTimes(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int root;
  if (!Fd(info[0], &root)) return ThrowType(env, "layerTimes: rootFd must be an fd");
  char path[PATH_MAX];
  int rc = CString(info[1], path, sizeof path);
  if (rc == -1) return ThrowType(env, "layerTimes: path must be a string");
  if (rc < 0) {
    struct tsrun_err e;
    snprintf(e.message, sizeof e.message, "layer entry: %s",
             rc == -EINVAL ? "not a relative path below the layer (a NUL byte)" : "path too long");
    return ThrowLayer(env, rc, e, nullptr);
  }
  struct timespec ts;
  if (!Seconds(info[2], &ts)) return ThrowType(env, "layerTimes: mtime must be a finite number of seconds");
  struct tsrun_err e;
  rc = tsrun_layer_times(root, path, ts, &e);
  if (rc < 0) return ThrowLayer(env, rc, e, path);
  return env.Undefined();
}

} // namespace tsrun
