/*
 * host.h — the runtime's parent-side host operations, in plain C, shared by
 * the addon (which wraps them for TypeScript) and the front binary
 * (native/front/, which serves the hot commands without starting a
 * JavaScript engine): the state record, a container's status, releasing
 * the exec fifo, signalling, freezing and removing its cgroup, its
 * resctrl groups, running hooks, and the commands built from those (state, list, kill, delete,
 * start, pause, resume, ps). One implementation, two front doors.
 *
 * Parent side only: these allocate. Errors come back as a tsrun_err with
 * a stable code of tsrun_errors.h and the message the CLI prints.
 */
#ifndef TSRUN_HOST_H
#define TSRUN_HOST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "json.h"
#include "tsrun_errors.h"
#include "tsrun_sync.h"

/* The files of a container's state dir, <root>/<id>/ (TypeScript's come
 * from here: constants.c). A create claims the dir, then writes the intent
 * record ahead of everything it makes on the host (the cgroup directories
 * it is about to create, the init's pid once it has one, whether the init
 * mounts in the host's mount namespace), so that a delete of a create that
 * died at any moment removes exactly that; state.json comes last. */
#define TSRUN_STATE_FILE "state.json"
#define TSRUN_INTENT_FILE "creating.json"
#define TSRUN_FIFO_FILE "exec.fifo"
#define TSRUN_SECCOMP_FILE "seccomp.bpf" /* the compiled linux.seccomp, for exec */

/* What a user who may not use the state root is told (after "running as
 * uid N: "): the default root is /run/tsrun unless XDG_RUNTIME_DIR is set. */
#define TSRUN_ROOT_HINT "set XDG_RUNTIME_DIR, or pass --root a directory of yours"

/* The keys of state.json (lib/container/state.ts writes them; the build
 * exports this list, constants.c, so TypeScript writes no other). X(key) */
#define TSRUN_STATE_KEYS(X)                                                  \
  X(ociVersion)   /* the config's */                                         \
  X(id)           /* the container's */                                      \
  X(pid)          /* the init's host pid */                                  \
  X(pidStartTime) /* its /proc/<pid>/stat start time: against pid reuse */   \
  X(bundle)       /* absolute */                                             \
  X(rootfs)       /* absolute */                                             \
  X(created)      /* RFC 3339, nanoseconds, UTC */                           \
  X(owner)        /* user name of the creator */                             \
  X(annotations)  /* the config's */                                         \
  X(pidNamespace) /* the init has its own pid namespace */                   \
  X(hooks)        /* the config's poststart and poststop hooks */            \
  X(cgroup)       /* {version, paths, owned: [dir], systemd?} */             \
  X(hostMounts)   /* no mount namespace: mounts to undo at delete */         \
  X(noNewKeyring) /* create --no-new-keyring */                              \
  X(seccomp)      /* {flags, listenerPath, listenerMetadata}; seccomp.bpf */ \
  X(intelRdt)     /* {root, clos, mon?, owned}: resctrl.c */

struct tsrun_err {
  const char *code; /* TSRUN_CODE(ENOTFOUND), ...: one of tsrun_errors.h */
  char message[1024];
};

/* Sets e and returns -1. */
int tsrun_err_set(struct tsrun_err *e, const char *code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "<what> <path>: <strerror(err)>", and TSRUN_ROOT_HINT where an unprivileged
 * user is refused a path of the state root. */
int tsrun_root_err(struct tsrun_err *e, const char *what, const char *path, int err);

typedef void (*tsrun_warn_fn)(void *arg, const char *message);

typedef void (*tsrun_mark_fn)(void *arg, const char *step);

/* Where the containers live, who hears warnings (failed poststart and
 * poststop hooks, cleanup trouble: they do not fail the command), and who
 * hears each step end (--debug's timeline; NULL: nobody). */
struct tsrun_host {
  const char *root;
  tsrun_warn_fn warn;
  void *warn_arg;
  tsrun_mark_fn mark;
};

void tsrun_warn(const struct tsrun_host *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A step of the command has ended. */
void tsrun_mark(const struct tsrun_host *h, const char *step);

/* ---- the state record --------------------------------------------------- */

/* A container's cgroup. `owned` says which of its directories the
 * container's create made (state.json's cgroup.owned lists them): only in
 * those is every process the container's, and only those (with the cgroups
 * below them) are removed at delete. One that existed before, named by
 * linux.cgroupsPath, may hold anybody's processes and cgroups. */
/* A systemd unit (the systemd cgroup driver, systemd.c): "tsrun-x.scope"
 * or a slice; user: the calling user's manager over the user bus (a
 * rootless container), else the system manager over the system bus. */
struct tsrun_sd_unit {
  const char *name;
  int user;
};

struct tsrun_cgroup {
  int version;                /* 0: none recorded, 1, 2 */
  size_t count;               /* v1: one path per controller ("" = the hybrid's unified dir); v2: one, "" */
  const char **keys;          /* controllers */
  const char **paths;         /* their directories */
  const unsigned char *owned; /* per path, 1: made by the create (NULL: none was) */
  /* cgroup.systemd {unit, user}: the unit the create started, which delete
   * stops (name NULL: none; the cgroupfs driver, or a record without it) */
  struct tsrun_sd_unit systemd;
};

/* A container's resctrl groups (linux.intelRdt; resctrl.c): the CTRL_MON
 * group clos ("": the root, default group) beneath the mount point root,
 * and the MON group mon_groups/<mon> in it (NULL: no monitoring). owned:
 * the create made clos and no closID named it, so delete removes it (with
 * its MON groups); else delete removes only the MON group. */
struct tsrun_rdt {
  const char *root; /* NULL: the container has no resctrl group */
  const char *clos;
  const char *mon;
  int owned;
};

struct tsrun_state {
  struct tsrun_json *doc; /* owns everything below */
  char dir[4096];         /* <root>/<id> */
  const char *oci_version, *id, *bundle, *rootfs, *created, *owner;
  pid_t pid;
  unsigned long long pid_start_time;
  int pid_namespace, host_mounts;
  const struct tsrun_json *annotations; /* object or NULL */
  const struct tsrun_json *hooks;       /* object or NULL */
  const struct tsrun_json *seccomp;     /* object or NULL: {flags, listenerPath, listenerMetadata} */
  struct tsrun_cgroup cgroup;
  struct tsrun_rdt rdt;
};

enum tsrun_status { TSRUN_CREATED, TSRUN_RUNNING, TSRUN_PAUSED, TSRUN_STOPPED };
extern const char *const tsrun_status_names[4];

/* runc's id charset; EID otherwise. */
int tsrun_check_id(const char *id, struct tsrun_err *e);
/* Reads <root>/<id>/state.json; ENOTFOUND when there is none. */
int tsrun_state_load(const struct tsrun_host *h, const char *id, struct tsrun_state *s, struct tsrun_err *e);
void tsrun_state_free(struct tsrun_state *s);
/* Reads a record with state.json's keys, any of them missing (the intent
 * record); ENOTFOUND when the file does not exist. */
int tsrun_record_load(const char *dir, const char *name, struct tsrun_state *s, struct tsrun_err *e);
enum tsrun_status tsrun_state_status(const struct tsrun_state *s);
/* The liveness rule (status.c): pid is still the process that had this start
 * time, and neither a zombie nor dead. */
int tsrun_pid_alive(pid_t pid, unsigned long long start_time);
/* The guards (status.c): 0, or -1 with runc's ESTATE error. tsrun_can_kill
 * returns 1 to signal, 0 for "nothing to do" (kill --all of a stopped
 * container), -1 for the error. */
int tsrun_can_start(enum tsrun_status st, const char *id, struct tsrun_err *e);
int tsrun_can_kill(enum tsrun_status st, int all, struct tsrun_err *e);
int tsrun_can_delete(enum tsrun_status st, const char *id, int force, struct tsrun_err *e);
int tsrun_can_exec(enum tsrun_status st, int ignore_paused, struct tsrun_err *e);
int tsrun_can_pause(enum tsrun_status st, struct tsrun_err *e);
int tsrun_can_resume(enum tsrun_status st, struct tsrun_err *e);
/* The /proc/<pid>/stat start time (field 22), 0 when the process is gone. */
unsigned long long tsrun_proc_start_time(pid_t pid, char *state_letter);
/* runc's state JSON: compact, or pretty with 2-space indents (`state`). */
int tsrun_state_json(const struct tsrun_state *s, int pretty, struct tsrun_buf *out);

/* flock(LOCK_EX or LOCK_SH) of a container's dir: the returned fd is the lock,
 * and the dir it holds, checked with the root to be ours alone (another
 * user could otherwise change what the commands trust). */
int tsrun_lock(const struct tsrun_host *h, const char *id, int shared, struct tsrun_err *e);

/* ---- cgroups -------------------------------------------------------------- */

int tsrun_cgroup_frozen(const struct tsrun_cgroup *cg);
int tsrun_cgroup_freeze(const struct tsrun_cgroup *cg, struct tsrun_err *e);
int tsrun_cgroup_thaw(const struct tsrun_cgroup *cg, struct tsrun_err *e);
/* Host pids of every process in the cgroup and below (malloc'd, sorted),
 * listed from one directory: one the create made, where there is one. */
int tsrun_cgroup_pids(const struct tsrun_cgroup *cg, pid_t **pids, size_t *n);
/* 1 when the directory tsrun_cgroup_pids lists was made by the create:
 * every process in it is the container's. */
int tsrun_cgroup_owned(const struct tsrun_cgroup *cg);
/* Signals every process of a cgroup the create made (tsrun_cgroup_owned;
 * refused otherwise): cgroup.kill where there is one, else each pid (v1:
 * frozen meanwhile, when the freezer cgroup is the container's too). */
int tsrun_cgroup_signal(const struct tsrun_cgroup *cg, int sig, struct tsrun_err *e);
/* Kills what is left in the directories the create made, stops its systemd
 * unit if it started one, and removes what is left of the directories, with
 * the cgroups below them (EBUSY retried briefly). A unit that cannot be
 * stopped (no bus) is a warning: the directories still go through the
 * cgroupfs, and systemd drops a scope it finds empty. A directory that
 * existed before is left alone, with whatever runs in it. */
int tsrun_cgroup_destroy(const struct tsrun_host *h, const struct tsrun_cgroup *cg, struct tsrun_err *e);
/* What a create made, whoever's process runs in it now (a failed create's,
 * the directories of state.json's cgroup.owned at delete): every process in
 * each directory and below is killed, then the unit (NULL: none) stopped,
 * then each subtree removed, deepest first. Directories already gone are
 * skipped. A unit that would not stop is the error, once the directories
 * are gone. */
int tsrun_cgroup_remove(const char *const *dirs, size_t count, const struct tsrun_sd_unit *unit, struct tsrun_err *e);

/* ---- the systemd cgroup driver's D-Bus client (systemd.c) ------------------
 * libsystemd's sd-bus, dlopen'ed at the first call (a command that meets no
 * systemd unit loads nothing). Each call opens its own connection and
 * closes it: callers run on several threads (the addon's threadpool), and
 * an sd_bus is never shared between threads. Errors: ESYSTEM, one line
 * naming the unit and the cause (systemd's own message where it gave one). */

/* How long a unit's start or stop job may take (runc's 30 s). */
#define TSRUN_SYSTEMD_JOB_TIMEOUT_MS 30000

/* A unit property as D-Bus marshals it: `type` is its signature, one of s b
 * t x u i d au as ay a(ss), and the value is in the member of that shape. */
struct tsrun_sd_prop {
  const char *name;
  const char *type;
  const char *s;     /* s */
  int64_t i;         /* b (0/1), x, i */
  uint64_t u;        /* t, u */
  double d;          /* d */
  const void *array; /* au: uint32_t[]; as: char *[]; ay: uint8_t[]; a(ss): char *[2 * count] */
  size_t count;
};

/* StartTransientUnit(name, "replace", props) and waits for its job (at most
 * TSRUN_SYSTEMD_JOB_TIMEOUT_MS). A unit of that name already there
 * (UnitExists): ResetFailedUnit and once more, as runc. A job that ends other
 * than "done", or does not end in time: ResetFailedUnit, then the error. On
 * success the unit's ControlGroup ("/system.slice/tsrun-x.scope", from the
 * cgroup root, the user manager's too) is written into cgroup. Only .scope
 * and .slice units. */
int tsrun_sd_start(const struct tsrun_sd_unit *u, const struct tsrun_sd_prop *props, size_t n, char *cgroup,
                   size_t cgroup_size, struct tsrun_err *e);
/* SetUnitProperties(name, runtime, props). */
int tsrun_sd_set(const struct tsrun_sd_unit *u, const struct tsrun_sd_prop *props, size_t n, struct tsrun_err *e);
/* StopUnit(name, "replace") and waits for its job (a unit systemd does not
 * know is already stopped), then ResetFailedUnit (its error ignored), as
 * runc. Processes still in the unit get systemd's SIGTERM and up to its stop
 * timeout: kill them first. */
int tsrun_sd_stop(const struct tsrun_sd_unit *u, struct tsrun_err *e);

/* ---- the container's resctrl groups (resctrl.c) -------------------------- */

/* make: clos made (unless "" or already there; must_exist: a closID without
 * schemata names a group someone configured, which must be there), the
 * schemata written (NULL: none; named: a closID named clos, and a group
 * that was there keeps its own), the MON group made. *made: clos is new (a
 * failed make removes it again). schemata: update's write. join: pid into
 * clos, then into its MON group. remove: what owned says (tsrun_rdt); a
 * group already gone, or resctrl unmounted, is no error. */
int tsrun_rdt_make(const struct tsrun_rdt *r, const char *schemata, int must_exist, int named, int *made,
                   struct tsrun_err *e);
int tsrun_rdt_schemata(const struct tsrun_rdt *r, const char *schemata, struct tsrun_err *e);
int tsrun_rdt_join(const struct tsrun_rdt *r, pid_t pid, struct tsrun_err *e);
int tsrun_rdt_remove(const struct tsrun_rdt *r, struct tsrun_err *e);

/* ---- which processes are the container's (members.c) --------------------- */

/* Host pids of the container's processes (malloc'd, sorted): every process
 * of a cgroup the create made; in a cgroup that existed before, only those
 * of the container's own pid namespace or, without one, its init and what
 * descends from it; without a cgroup, its pid namespace's or its init. */
int tsrun_container_pids(const struct tsrun_state *s, pid_t **pids, size_t *n);
/* Sends sig to each of them (kill --all, delete): through the cgroup when
 * the create made it, else pid by pid, never to a process that is not the
 * container's. */
int tsrun_container_signal(const struct tsrun_state *s, int sig, struct tsrun_err *e);

/* ---- hooks and the exec fifo ---------------------------------------------- */

struct tsrun_hook_result {
  int code;   /* exit status, -1 when killed */
  int signal; /* the signal that killed it, 0 if none */
  int core_dumped;
  int timed_out;
  int exec_errno; /* the execve's errno when the program could not be started, else 0 */
  char *output;   /* stdout and stderr, interleaved, at most 64 KiB (malloc'd) */
};

/* Runs one hook program with `input` on stdin. -1 (errno) when it could not be started at all. */
int tsrun_run_hook(const char *path, char *const argv[], char *const envp[], const char *input, int timeout_ms,
                   struct tsrun_hook_result *r);
/* The hooks of `kind` in a config's hooks object, each with `input` (the
 * state JSON) on stdin: a failure is an ECHILD error naming the hook, or
 * only a warning with warn_only. */
int tsrun_run_hook_list(const struct tsrun_host *h, const struct tsrun_json *hooks, const char *kind, const char *input,
                        int warn_only, struct tsrun_err *e);
/* The runtime-spec hooks of `kind` in the state record, each with the state
 * JSON (`status`) on stdin; failures are errors, or only warnings with warn_only. */
int tsrun_run_hooks(const struct tsrun_host *h, const struct tsrun_state *s, const char *kind, const char *status,
                    int warn_only, struct tsrun_err *e);

/* Opens exec.fifo for reading, takes the init's byte (within timeout_ms) and
 * waits for EOF (its execve closed the fifo): 1, or 0 when the init died
 * before taking it. What the init writes after the byte is an error (a
 * startContainer hook failed, or the execve): -1 with ECHILD and its words. */
int tsrun_release_fifo(const char *path, pid_t pid, int timeout_ms, struct tsrun_err *e);

/* ---- starting a container process (spawn.c) ------------------------------ */

/* The init executable at `path` as an fd to execveat: a detached read-only
 * mount of it, or (where we may not mount) a sealed memfd copy; made once
 * per process. *how names which. -1 and e on failure. */
int tsrun_init_exe(const char *path, const char **how, struct tsrun_err *e);

struct tsrun_spawn_req {
  const char *init_path; /* the tsrun-init executable */
  const void *plan;      /* the encoded plan (checked by the caller) */
  size_t plan_len;
  uint64_t clone_flags;  /* CLONE_NEW* to create the process with */
  int cgroup_fd;         /* a cgroup v2 dir to be born in (CLONE_INTO_CGROUP), -1: none */
  int stdio[3];          /* the process's fds 0-2; -1: ours */
  unsigned preserve_fds; /* fds 3 .. 3+n-1 pass at their numbers too */
  const int *keep;       /* the fds the plan names (namespaces, idmapped trees, console socket) */
  size_t nkeep;
  const char *const *env; /* the init's environment: empty but for a sanitized build's settings (at most 3) */
  size_t nenv;
};

/* Clones a process that execs tsrun-init with the plan; its pid and our end
 * of the sync socket (close-on-exec) come back. The child waits for the
 * sync protocol of tsrun_sync.h. */
int tsrun_spawn(const struct tsrun_spawn_req *r, pid_t *pid, int *sync_fd, struct tsrun_err *e);

/* ---- launching it (launch.c): spawn, the sync loop, cleanup ------------- */

struct tsrun_launch_req {
  const char *init_path; /* the tsrun-init executable */
  const void *plan;      /* the encoded plan: checked here before anything exists */
  size_t plan_len;
  int cgroup_fd;          /* a cgroup v2 dir to be born in, -1: none */
  int stdio[3];           /* the process's fds 0-2; -1: ours */
  int timeout_ms;         /* the longest wait for one sync message; -1: none */
  const char *const *env; /* the init's environment (a sanitized build's settings) */
  size_t nenv;
};

struct tsrun_launch {
  pid_t pid;                     /* the process (after PID: its real pid) */
  pid_t intermediate;            /* internal: the fork's intermediate until reaped */
  unsigned long long start_time; /* /proc/<pid>/stat's, read at PID */
  int sync_fd, pty_master, tenant, timeout_ms;
};

/* What the sync loop stops at for the caller: TSRUN_SYNC_IDMAP, _PID (the
 * host steps: cgroup, oom_score_adj, rlimits, then tsrun_launch_go),
 * _HOOKS, _SECCOMP (fd: the notify fd, the caller's to close), _READY (done;
 * message: the init's step times), _ERROR (a step failed: step, err,
 * message; abort). */
struct tsrun_launch_event {
  int type;
  int fd;
  uint32_t step;
  int err;
  char message[TSRUN_SYNC_MSG_MAX];
};

int tsrun_launch_start(struct tsrun_launch *L, const struct tsrun_launch_req *r, struct tsrun_err *e);
/* Blocks until the next event; -1 and e when the runtime's side fails
 * (timeout, a child dead without a message): abort then. */
int tsrun_launch_next(struct tsrun_launch *L, struct tsrun_launch_event *ev, struct tsrun_err *e);
int tsrun_launch_go(struct tsrun_launch *L, pid_t pid, struct tsrun_err *e);
/* An ERROR event as the user reads it, code ECHILD: "<message>: <ERRNO> (<step>)",
 * or "<message> (<step>)" for the exec step or without an errno. */
int tsrun_launch_error(const struct tsrun_launch_event *ev, struct tsrun_err *e);
/* SIGKILL and reap what was started, close what is held. */
void tsrun_launch_abort(struct tsrun_launch *L);
/* Done: the sync socket closes; the process and the pty master are the caller's. */
void tsrun_launch_close(struct tsrun_launch *L);
/* Writes pid into each of cg's directories (on v2 after CLONE_INTO_CGROUP
 * too: a no-op then, and the move when clone3 fell back); the hybrid's
 * unified tree may refuse. */
int tsrun_cgroup_join(const struct tsrun_cgroup *cg, pid_t pid, struct tsrun_err *e);
int tsrun_write_oom_score_adj(pid_t pid, int value, struct tsrun_err *e);
/* Starts the RCU grace period a v1 cgroup join waits for, on a detached
 * thread (a no-op move of ourselves), so the join shares it (launch.c). */
void tsrun_cgroup_warm(void);

/* ---- the stdio relay of a foreground process (relay.c) ------------------- */

struct tsrun_relay_flow {
  int src, dst, owns_src, open, eof; /* eof: src is done; what is in buf still goes */
  char buf[65536];
  size_t off, len;
};
struct tsrun_relay {
  struct tsrun_relay_flow flow[3]; /* our fd 0 → stdin pipe, stdout pipe → our 1, stderr pipe → our 2 */
  int ctl[2];                      /* commands, a byte each: TSRUN_RELAY_* */
  int err;                         /* the loop's failure (poll), 0: none */
  const char *syscall;
};
enum { TSRUN_RELAY_END_INPUT = 'i', TSRUN_RELAY_STOP = 's' };
/* pipes: our ends (the stdin pipe's write end, the others' read ends), the
 * relay's from here on, even on failure; ours: our fds (-1: closed). */
int tsrun_relay_init(struct tsrun_relay *r, const int pipes[3], const int ours[3]);
/* Copies until every flow is over or STOP (blocking: a thread of its own). */
void tsrun_relay_loop(struct tsrun_relay *r);
void tsrun_relay_command(struct tsrun_relay *r, char c);
void tsrun_relay_free(struct tsrun_relay *r);

/* ---- fds and files both front doors need (files.c) ------------------------ */

/* fd moved to a number >= min, close-on-exec (the original closed); fd as it is when already there. */
int tsrun_fd_lift(int fd, int min);
/* A connected AF_UNIX stream socket (not close-on-exec: the init inherits it); -1 and errno. */
int tsrun_connect_unix(const char *path);
/* runc's pid file, replaced whole without following a symlink planted beside it. */
int tsrun_write_pid_file(const char *file, pid_t pid, struct tsrun_err *e);

/* ---- the commands --------------------------------------------------------- */

int tsrun_host_status(const struct tsrun_host *h, const char *id, enum tsrun_status *status, struct tsrun_err *e);
int tsrun_host_state(const struct tsrun_host *h, const char *id, struct tsrun_buf *out, struct tsrun_err *e);
/* Every container's state JSON, as a JSON array (raced deletes skipped). */
int tsrun_host_list(const struct tsrun_host *h, struct tsrun_buf *out, struct tsrun_err *e);
int tsrun_host_kill(const struct tsrun_host *h, const char *id, int sig, int all, struct tsrun_err *e);
int tsrun_host_delete(const struct tsrun_host *h, const char *id, int force, struct tsrun_err *e);
int tsrun_host_start(const struct tsrun_host *h, const char *id, struct tsrun_err *e);
int tsrun_host_pause(const struct tsrun_host *h, const char *id, struct tsrun_err *e);
int tsrun_host_resume(const struct tsrun_host *h, const char *id, struct tsrun_err *e);
/* Host pids of the container's processes (sorted, malloc'd); none once stopped. */
int tsrun_host_ps(const struct tsrun_host *h, const char *id, pid_t **pids, size_t *n, struct tsrun_err *e);
/* Detaches every mount at or below rootfs in our mount namespace, deepest
 * first: what the init of a container without a mount namespace mounted. */
void tsrun_unmount_under(const struct tsrun_host *h, const char *rootfs);
/* ---- rootless (rootless.c: runc's rules, shared by both front doors) ------- */

#define TSRUN_SYSTEM_ROOT "/run/tsrun"
enum { TSRUN_ROOTLESS_AUTO, TSRUN_ROOTLESS_TRUE, TSRUN_ROOTLESS_FALSE };

/* 1 when /proc/self/uid_map is the identity map of every id ("0 0 4294967295"). */
int tsrun_in_initial_userns(void);
/* --rootless's value ("true", "false", "auto"; NULL: auto), -1 when it is none of those. */
int tsrun_rootless_mode(const char *text);
/* Whether to run rootless: the mode, or for auto euid != 0 or a non-initial user namespace. */
int tsrun_rootless(int mode);
/* The default --root into buf: $XDG_RUNTIME_DIR/tsrun (returns 1) or
 * /run/tsrun (returns 0) by runc's rule; -1 (ENAMETOOLONG). */
int tsrun_default_root(char *buf, size_t size);

/* runc's signal names and numbers ("9", "KILL", "SIGKILL", "RTMIN+2"); -1 when unknown. */
int tsrun_parse_signal(const char *text);

/* ---- unpacking an image layer (layer.c) ----------------------------------- */

/* One tar entry of a layer: TypeScript (lib/image/) parses the tar stream and
 * hands over each entry; layer.c makes it beneath the layer's root fd so that
 * no path, symlink or hardlink of the (hostile) layer reaches outside it. */
enum tsrun_layer_type {
  TSRUN_LAYER_FILE,     /* an empty file: the caller writes it, then tsrun_layer_finish */
  TSRUN_LAYER_DIR,      /* made, or an existing dir kept with its metadata updated */
  TSRUN_LAYER_SYMLINK,  /* linkname stored as is: never resolved here */
  TSRUN_LAYER_HARDLINK, /* linkname: a path below the root, like path */
  TSRUN_LAYER_CHAR,
  TSRUN_LAYER_BLOCK,
  TSRUN_LAYER_FIFO,
  TSRUN_LAYER_WHITEOUT, /* an overlayfs whiteout: a 0/0 char device */
  TSRUN_LAYER_OPAQUE,   /* the dir at path gets <overlay_xattr>.overlay.opaque = "y" */
};

struct tsrun_layer_xattr {
  const char *name;
  const void *value;
  size_t size;
};

struct tsrun_layer_entry {
  const char *path; /* relative, below the root; "..", absolute and empty paths are refused */
  enum tsrun_layer_type type;
  unsigned mode; /* the permission bits (& 07777) */
  uid_t uid;
  gid_t gid;
  struct timespec mtime; /* atime too */
  const char *linkname;  /* symlink, hardlink */
  unsigned devmajor, devminor;
  const struct tsrun_layer_xattr *xattrs; /* names under trusted.overlay. or user.overlay. are refused */
  size_t nxattrs;
  int chown;                 /* set uid and gid (0: rootless, owners left as ours) */
  const char *overlay_xattr; /* "trusted" or "user": the namespace of the opaque marker */
};

/* Each returns 0 (tsrun_layer_root: the fd), or a negative errno with e's
 * message: `layer entry "<path>": <what failed>`. */

/* An O_PATH fd of the directory dir (not a symlink): the root of one layer. */
int tsrun_layer_root(const char *dir, struct tsrun_err *e);
/* Makes one entry beneath root: missing parents as 0755 dirs (owned by 0:0
 * when chown), whatever is at the path replaced (a dir kept for a dir or an
 * opaque entry; a non-empty dir in the way is ENOTEMPTY). A file entry
 * leaves *file_fd open O_WRONLY on the new empty file (0600) for the caller
 * to write and hand to tsrun_layer_finish; every other entry is complete,
 * metadata and all, and *file_fd is -1. */
int tsrun_layer_entry(int root, const struct tsrun_layer_entry *en, int *file_fd, struct tsrun_err *e);
/* A file entry's metadata on its fd, then close(fd): closed whatever fails. */
int tsrun_layer_finish(int fd, const struct tsrun_layer_entry *en, struct tsrun_err *e);
/* Sets the mtime (and atime) of the entry at path, a final symlink not
 * followed: a directory's, once its children are written. */
int tsrun_layer_times(int root, const char *path, struct timespec mtime, struct tsrun_err *e);

/* ---- constants.c ---------------------------------------------------------- */

/* Every constant TypeScript shares with the C side, as one JSON object:
 * what the build generates lib/native/constants.gen.ts from. */
int tsrun_constants_json(struct tsrun_buf *out);

#endif
