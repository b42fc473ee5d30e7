/* systemd.c — the systemd cgroup driver's D-Bus client: start a transient
 * unit for a container and learn its cgroup, change its properties (update),
 * stop it (delete, a failed create). The wire protocol is libsystemd's
 * sd-bus, loaded with dlopen at the first call, so the front binary maps
 * nothing more for the containers that never meet systemd.
 *
 * A unit's start and stop are jobs: systemd answers the method call with the
 * job's object path, and says how the job ended in a JobRemoved signal. The
 * signal goes to the client that queued the job (systemd tracks it for the
 * job's lifetime), so no Subscribe call is needed; on the bus, a match rule
 * lets the daemon deliver it to us:
 *
 *   tsrun                                   systemd (PID 1, or the user's manager)
 *   ─────                                   ──────────────────────────────────────
 *   AddMatch JobRemoved ──────────────────▶ (the bus daemon: before the call, so
 *                                            no signal can pass unseen)
 *   StartTransientUnit / StopUnit ────────▶ queues the job
 *                       ◀───────────────── reply: the job's path
 *                       ◀───────────────── JobRemoved(id, path, unit, result)
 *                                           (may come right behind the reply:
 *                                            sd_bus_call keeps it queued)
 *   process + wait (bounded) until the JobRemoved of that path is in.
 *
 * Runs on the calling thread and blocks; the addon calls it from the libuv
 * threadpool, one connection per call and thread (an sd_bus is not shared
 * between threads). Parent side: it allocates. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "host.h"

#define SD_DEST "org.freedesktop.systemd1"
#define SD_PATH "/org/freedesktop/systemd1"
#define SD_MANAGER "org.freedesktop.systemd1.Manager"
/* the system manager's own socket: root's way in where no bus daemon runs */
#define SD_PRIVATE "unix:path=/run/systemd/private"

/* ---- libsystemd, loaded once ----------------------------------------------
 * Each pointer has the type of the function <systemd/sd-bus.h> declares, so
 * a call through it is checked as a direct call would be. */
// clang-format off
#define SD_FUNCS(X)                                                                                  \
  X(sd_bus_open_system) X(sd_bus_open_user) X(sd_bus_new) X(sd_bus_set_address) X(sd_bus_start)     \
  X(sd_bus_get_unique_name) X(sd_bus_flush_close_unref) X(sd_bus_match_signal) X(sd_bus_call)       \
  X(sd_bus_call_method) X(sd_bus_process) X(sd_bus_wait) X(sd_bus_get_property_string)             \
  X(sd_bus_message_new_method_call) X(sd_bus_message_append) X(sd_bus_message_append_basic)        \
  X(sd_bus_message_append_array) X(sd_bus_message_open_container)                                   \
  X(sd_bus_message_close_container) X(sd_bus_message_read) X(sd_bus_message_unref)                  \
  X(sd_bus_error_free) X(sd_bus_error_has_name)
// clang-format on

static struct {
#define FN(name) __typeof__(name) *name;
  SD_FUNCS(FN)
#undef FN
} sd;
static pthread_once_t sd_once = PTHREAD_ONCE_INIT;
static char sd_failed[512]; /* why it did not load ("" when it did) */

static void sd_load(void) {
  void *lib = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    snprintf(sd_failed, sizeof sd_failed, "%s", dlerror());
    return;
  }
#define FN(name)                                                         \
  if (!(sd.name = (__typeof__(name) *)dlsym(lib, #name)) && !*sd_failed) \
    snprintf(sd_failed, sizeof sd_failed, "%s", dlerror());
  SD_FUNCS(FN)
#undef FN
  if (*sd_failed) dlclose(lib); /* an older libsystemd: none of it is used */
}

static int load(struct tsrun_err *e) {
  pthread_once(&sd_once, sd_load);
  if (*sd_failed) return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "systemd: cannot load libsystemd.so.0: %s", sd_failed);
  return 0;
}

static const char *errname(int err) {
  const char *n = strerrorname_np(err);
  return n ? n : "EUNKNOWN";
}

/* What a method call failed with: systemd's message (it names the property
 * it refused), or the error's name, or the local errno. */
static const char *why(const sd_bus_error *err, int r) {
  if (err->message && *err->message) return err->message;
  if (err->name) return err->name;
  return errname(-r);
}

/* ---- the connection ------------------------------------------------------- */

/* A connection to the unit's manager, up and authenticated. The system bus
 * by its daemon ($DBUS_SYSTEM_BUS_ADDRESS or /run/dbus/system_bus_socket);
 * for root, where that fails (a host without a bus daemon), PID 1's own
 * socket, as runc does. The user bus: $DBUS_SESSION_BUS_ADDRESS or
 * $XDG_RUNTIME_DIR/bus. */
static int bus_open(const struct tsrun_sd_unit *u, sd_bus **out, struct tsrun_err *e) {
  sd_bus *b = NULL;
  const char *unique;
  int r = u->user ? sd.sd_bus_open_user(&b) : sd.sd_bus_open_system(&b);
  /* connect, authenticate and Hello now: a refusal (EXTERNAL auth from a
   * user namespace, a daemon gone) shows here, not as a failed method call */
  if (r >= 0) r = sd.sd_bus_get_unique_name(b, &unique);
  if (r >= 0) {
    *out = b;
    return 0;
  }
  sd.sd_bus_flush_close_unref(b);
  if (u->user)
    return tsrun_err_set(
        e, TSRUN_CODE(ESYSTEM),
        "systemd: cannot connect to the user bus ($DBUS_SESSION_BUS_ADDRESS or $XDG_RUNTIME_DIR/bus): %s", errname(-r));
  if (geteuid() == 0) {
    sd_bus *p = NULL;
    int pr = sd.sd_bus_new(&p);
    if (pr >= 0) pr = sd.sd_bus_set_address(p, SD_PRIVATE);
    if (pr >= 0) pr = sd.sd_bus_start(p);
    if (pr >= 0) {
      *out = p;
      return 0;
    }
    sd.sd_bus_flush_close_unref(p);
  }
  return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "systemd: cannot connect to the system bus: %s", errname(-r));
}

/* ---- jobs ----------------------------------------------------------------- */

struct job {
  char path[256]; /* the job's object path, once the method call returned it ("" before) */
  int ended;
  char result[64]; /* "done", "failed", "canceled", "timeout", "dependency", "skipped" */
};

static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
  (void)ret_error;
  struct job *j = userdata;
  uint32_t id;
  const char *path, *unit, *result;
  if (sd.sd_bus_message_read(m, "uoss", &id, &path, &unit, &result) < 0) return 0;
  if (*j->path && !strcmp(path, j->path)) {
    j->ended = 1;
    snprintf(j->result, sizeof j->result, "%s", result);
  }
  return 0;
}

/* Before the call that queues the job: the signal can come right behind the
 * reply. (On PID 1's own socket there is no daemon: the rule only filters.) */
static int watch_jobs(sd_bus *b, struct job *j, const char *unit, struct tsrun_err *e) {
  int r = sd.sd_bus_match_signal(b, NULL, SD_DEST, SD_PATH, SD_MANAGER, "JobRemoved", on_job_removed, j);
  if (r < 0)
    return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "systemd: cannot watch the jobs of unit %s: %s", unit, errname(-r));
  return 0;
}

static long long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

enum { JOB_ENDED, JOB_TIMED_OUT, JOB_LOST };

/* Takes the job's path from the method's reply, then dispatches what comes
 * in until its JobRemoved has, or the time is up. JOB_LOST with e set. */
static int wait_job(sd_bus *b, sd_bus_message *reply, struct job *j, const char *unit, struct tsrun_err *e) {
  const char *path;
  int r = sd.sd_bus_message_read(reply, "o", &path);
  if (r < 0 || strlen(path) >= sizeof j->path) {
    tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "systemd: no job path in the reply about unit %s: %s", unit,
                  r < 0 ? errname(-r) : "too long");
    return JOB_LOST;
  }
  snprintf(j->path, sizeof j->path, "%s", path);
  long long deadline = now_ms() + TSRUN_SYSTEMD_JOB_TIMEOUT_MS;
  while (!j->ended) {
    r = sd.sd_bus_process(b, NULL);
    if (r > 0) continue; /* one message dispatched: maybe more are queued */
    long long left = deadline - now_ms();
    if (r == 0 && left <= 0) return JOB_TIMED_OUT;
    if (r == 0) r = sd.sd_bus_wait(b, (uint64_t)left * 1000);
    if (r < 0 && r != -EINTR) {
      tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "systemd: lost the bus waiting for the job of unit %s: %s", unit,
                    errname(-r));
      return JOB_LOST;
    }
  }
  return JOB_ENDED;
}

static void reset_failed(sd_bus *b, const char *unit) {
  sd_bus_error err = SD_BUS_ERROR_NULL;
  sd.sd_bus_call_method(b, SD_DEST, SD_PATH, SD_MANAGER, "ResetFailedUnit", &err, NULL, "s", unit);
  sd.sd_bus_error_free(&err);
}

/* ---- properties ----------------------------------------------------------- */

static const char *const TYPES[] = {"s", "b", "t", "x", "u", "i", "d", "au", "as", "ay", "a(ss)"};

/* Every property is one this file can marshal, with a value its type
 * holds: checked before anything is sent. */
static int check_props(const struct tsrun_sd_unit *u, const struct tsrun_sd_prop *props, size_t n,
                       struct tsrun_err *e) {
  for (size_t i = 0; i < n; i++) {
    const struct tsrun_sd_prop *p = &props[i];
    int known = 0;
    for (size_t k = 0; p->type && k < sizeof TYPES / sizeof TYPES[0]; k++) known |= !strcmp(p->type, TYPES[k]);
    if (!p->name || !*p->name || !known)
      return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "systemd: unit %s: property %s has no D-Bus type tsrun sends (%s)",
                           u->name, p->name ? p->name : "(unnamed)", p->type ? p->type : "none");
    int range = 1;
    if (!strcmp(p->type, "u")) range = p->u <= UINT32_MAX;
    if (!strcmp(p->type, "i")) range = p->i >= INT32_MIN && p->i <= INT32_MAX;
    if (!strcmp(p->type, "s")) range = p->s != NULL;
    if (p->type[0] == 'a') range = p->array != NULL || p->count == 0;
    if (!range)
      return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "systemd: unit %s: property %s: the value does not fit type %s",
                           u->name, p->name, p->type);
  }
  return 0;
}

/* One (sv) of an a(sv). */
static int append_prop(sd_bus_message *m, const struct tsrun_sd_prop *p) {
  const char *t = p->type;
  int r = sd.sd_bus_message_open_container(m, 'r', "sv");
  if (r >= 0) r = sd.sd_bus_message_append_basic(m, 's', p->name);
  if (r >= 0) r = sd.sd_bus_message_open_container(m, 'v', t);
  if (r < 0) return r;
  if (!strcmp(t, "s")) {
    r = sd.sd_bus_message_append_basic(m, 's', p->s);
  } else if (!strcmp(t, "b")) {
    int v = p->i != 0; /* D-Bus booleans are 32 bits */
    r = sd.sd_bus_message_append_basic(m, 'b', &v);
  } else if (!strcmp(t, "t")) {
    r = sd.sd_bus_message_append_basic(m, 't', &p->u);
  } else if (!strcmp(t, "x")) {
    r = sd.sd_bus_message_append_basic(m, 'x', &p->i);
  } else if (!strcmp(t, "u")) {
    uint32_t v = (uint32_t)p->u;
    r = sd.sd_bus_message_append_basic(m, 'u', &v);
  } else if (!strcmp(t, "i")) {
    int32_t v = (int32_t)p->i;
    r = sd.sd_bus_message_append_basic(m, 'i', &v);
  } else if (!strcmp(t, "d")) {
    r = sd.sd_bus_message_append_basic(m, 'd', &p->d);
  } else if (!strcmp(t, "au")) {
    r = sd.sd_bus_message_append_array(m, 'u', p->array, p->count * sizeof(uint32_t));
  } else if (!strcmp(t, "ay")) {
    r = sd.sd_bus_message_append_array(m, 'y', p->array, p->count);
  } else if (!strcmp(t, "as")) {
    const char *const *v = p->array;
    r = sd.sd_bus_message_open_container(m, 'a', "s");
    for (size_t i = 0; r >= 0 && i < p->count; i++) r = sd.sd_bus_message_append_basic(m, 's', v[i]);
    if (r >= 0) r = sd.sd_bus_message_close_container(m);
  } else { /* a(ss) */
    const char *const *v = p->array;
    r = sd.sd_bus_message_open_container(m, 'a', "(ss)");
    for (size_t i = 0; r >= 0 && i < p->count; i++) r = sd.sd_bus_message_append(m, "(ss)", v[2 * i], v[2 * i + 1]);
    if (r >= 0) r = sd.sd_bus_message_close_container(m);
  }
  if (r >= 0) r = sd.sd_bus_message_close_container(m);
  if (r >= 0) r = sd.sd_bus_message_close_container(m);
  return r;
}

/* A Manager method call: (name, `mode` or runtime=true, a(sv) props[, a(sa(sv)) none]). */
static int new_call(sd_bus *b, const char *method, const struct tsrun_sd_unit *u, const struct tsrun_sd_prop *props,
                    size_t n, sd_bus_message **out, struct tsrun_err *e) {
  sd_bus_message *m = NULL;
  int start = !strcmp(method, "StartTransientUnit");
  const char *failed = NULL;
  int r = sd.sd_bus_message_new_method_call(b, &m, SD_DEST, SD_PATH, SD_MANAGER, method);
  if (r >= 0)
    r = start ? sd.sd_bus_message_append(m, "ss", u->name, "replace") : sd.sd_bus_message_append(m, "sb", u->name, 1);
  if (r >= 0) r = sd.sd_bus_message_open_container(m, 'a', "(sv)");
  for (size_t i = 0; r >= 0 && i < n; i++)
    if ((r = append_prop(m, &props[i])) < 0) failed = props[i].name;
  if (r >= 0) r = sd.sd_bus_message_close_container(m);
  if (r >= 0 && start) r = sd.sd_bus_message_append(m, "a(sa(sv))", 0); /* no auxiliary units */
  if (r >= 0) {
    *out = m;
    return 0;
  }
  sd.sd_bus_message_unref(m);
  if (failed)
    return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "systemd: unit %s: cannot encode property %s: %s", u->name, failed,
                         errname(-r));
  return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "systemd: unit %s: cannot build %s: %s", u->name, method, errname(-r));
}

/* ---- the unit's cgroup ------------------------------------------------------ */

/* The unit's name ends in `suffix` (".scope", ".slice") after a name of its own. */
static int kind_is(const struct tsrun_sd_unit *u, const char *suffix) {
  size_t len = u->name ? strlen(u->name) : 0, n = strlen(suffix);
  return len > n && !strcmp(u->name + len - n, suffix);
}

static int control_group(sd_bus *b, const struct tsrun_sd_unit *u, char *cgroup, size_t size, struct tsrun_err *e) {
  sd_bus_error err = SD_BUS_ERROR_NULL;
  sd_bus_message *reply = NULL;
  const char *object;
  char *cg = NULL;
  const char *iface = kind_is(u, ".slice") ? "org.freedesktop.systemd1.Slice" : "org.freedesktop.systemd1.Scope";
  int r = sd.sd_bus_call_method(b, SD_DEST, SD_PATH, SD_MANAGER, "GetUnit", &err, &reply, "s", u->name);
  if (r >= 0) r = sd.sd_bus_message_read(reply, "o", &object);
  if (r >= 0) r = sd.sd_bus_get_property_string(b, SD_DEST, object, iface, "ControlGroup", &err, &cg);
  int rc = 0;
  if (r < 0)
    rc = tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "systemd: cannot read the cgroup of unit %s: %s", u->name, why(&err, r));
  else if (!*cg)
    rc = tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "systemd: unit %s has no cgroup", u->name);
  else if (strlen(cg) >= size)
    rc = tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "systemd: the cgroup of unit %s is too long: %s", u->name, cg);
  else
    snprintf(cgroup, size, "%s", cg);
  free(cg);
  sd.sd_bus_message_unref(reply);
  sd.sd_bus_error_free(&err);
  return rc;
}

/* ---- the operations ------------------------------------------------------- */

static int check_unit(const struct tsrun_sd_unit *u, int scope_or_slice, struct tsrun_err *e) {
  size_t len = u->name ? strlen(u->name) : 0;
  int ok = len > 0;
  if (ok && scope_or_slice) ok = kind_is(u, ".scope") || kind_is(u, ".slice");
  if (!ok)
    return tsrun_err_set(e, TSRUN_CODE(ESYSTEM),
                         "systemd: \"%s\" is not a unit tsrun starts (NAME.scope or NAME.slice)",
                         u->name ? u->name : "");
  return 0;
}

static int job_error(sd_bus *b, const struct tsrun_sd_unit *u, int how, const struct job *j, const char *verb,
                     struct tsrun_err *e) {
  reset_failed(b, u->name); /* a failed unit stays loaded, and its name taken, until reset */
  if (how == JOB_TIMED_OUT)
    return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "systemd: unit %s did not %s within %d s", u->name, verb,
                         TSRUN_SYSTEMD_JOB_TIMEOUT_MS / 1000);
  if (how == JOB_ENDED)
    return tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "systemd: unit %s did not %s: its job ended \"%s\"", u->name, verb,
                         j->result);
  return -1; /* JOB_LOST: e is set */
}

int tsrun_sd_start(const struct tsrun_sd_unit *u, const struct tsrun_sd_prop *props, size_t n, char *cgroup,
                   size_t cgroup_size, struct tsrun_err *e) {
  if (load(e) < 0 || check_unit(u, 1, e) < 0 || check_props(u, props, n, e) < 0) return -1;
  sd_bus *b = NULL;
  if (bus_open(u, &b, e) < 0) return -1;
  struct job j = {"", 0, ""};
  sd_bus_message *m = NULL, *reply = NULL;
  sd_bus_error err = SD_BUS_ERROR_NULL;
  int rc = watch_jobs(b, &j, u->name, e);
  for (int attempt = 0; rc == 0; attempt++) {
    /* a message once sent keeps its serial: a retry is a new one */
    rc = new_call(b, "StartTransientUnit", u, props, n, &m, e);
    if (rc < 0) break;
    int r = sd.sd_bus_call(b, m, 0, &err, &reply);
    m = sd.sd_bus_message_unref(m);
    if (r >= 0) break;
    /* runc's rule: a unit of that name may be a failed leftover, which a
     * reset lets systemd unload; once */
    if (attempt == 0 && sd.sd_bus_error_has_name(&err, "org.freedesktop.systemd1.UnitExists")) {
      sd.sd_bus_error_free(&err);
      reset_failed(b, u->name);
      continue;
    }
    rc = tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "systemd: cannot start unit %s: %s", u->name, why(&err, r));
  }
  if (rc == 0) {
    int how = wait_job(b, reply, &j, u->name, e);
    if (how != JOB_ENDED || strcmp(j.result, "done"))
      rc = job_error(b, u, how, &j, "start", e);
    else
      rc = control_group(b, u, cgroup, cgroup_size, e);
  }
  sd.sd_bus_message_unref(reply);
  sd.sd_bus_error_free(&err);
  sd.sd_bus_flush_close_unref(b);
  return rc;
}

int tsrun_sd_set(const struct tsrun_sd_unit *u, const struct tsrun_sd_prop *props, size_t n, struct tsrun_err *e) {
  if (load(e) < 0 || check_unit(u, 0, e) < 0 || check_props(u, props, n, e) < 0) return -1;
  sd_bus *b = NULL;
  if (bus_open(u, &b, e) < 0) return -1;
  sd_bus_message *m = NULL;
  sd_bus_error err = SD_BUS_ERROR_NULL;
  int rc = new_call(b, "SetUnitProperties", u, props, n, &m, e);
  if (rc == 0) {
    int r = sd.sd_bus_call(b, m, 0, &err, NULL);
    if (r < 0)
      rc =
          tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "systemd: cannot set properties of unit %s: %s", u->name, why(&err, r));
  }
  sd.sd_bus_message_unref(m);
  sd.sd_bus_error_free(&err);
  sd.sd_bus_flush_close_unref(b);
  return rc;
}

int tsrun_sd_stop(const struct tsrun_sd_unit *u, struct tsrun_err *e) {
  if (load(e) < 0 || check_unit(u, 0, e) < 0) return -1;
  sd_bus *b = NULL;
  if (bus_open(u, &b, e) < 0) return -1;
  struct job j = {"", 0, ""};
  sd_bus_message *reply = NULL;
  sd_bus_error err = SD_BUS_ERROR_NULL;
  int rc = watch_jobs(b, &j, u->name, e);
  if (rc == 0) {
    int r = sd.sd_bus_call_method(b, SD_DEST, SD_PATH, SD_MANAGER, "StopUnit", &err, &reply, "ss", u->name, "replace");
    if (r >= 0) {
      int how = wait_job(b, reply, &j, u->name, e);
      if (how != JOB_ENDED || strcmp(j.result, "done")) rc = job_error(b, u, how, &j, "stop", e);
    } else if (!sd.sd_bus_error_has_name(&err, "org.freedesktop.systemd1.NoSuchUnit")) {
      rc = tsrun_err_set(e, TSRUN_CODE(ESYSTEM), "systemd: cannot stop unit %s: %s", u->name, why(&err, r));
    }
  }
  /* a unit that failed stays loaded (its name taken) until this */
  if (rc == 0) reset_failed(b, u->name);
  sd.sd_bus_message_unref(reply);
  sd.sd_bus_error_free(&err);
  sd.sd_bus_flush_close_unref(b);
  return rc;
}
