/*
 * tsrun_plan.h — the container plan: the one flat buffer that carries
 * everything the cloned init needs, from the TypeScript planner
 * (lib/native/plan-codec.ts) to the plain-C init (native/init/).
 *
 * Layout rules (the encoder and tests/unit/plan-codec.test.ts rely on them):
 *  - little-endian, every field naturally aligned; the header is fixed size;
 *  - a string is a tsrun_str {off, len}: `len` bytes at `off` followed by a
 *    NUL; off == 0 means "absent";
 *  - a vector is a tsrun_vec {off, count} of fixed-size records at `off`
 *    (8-byte aligned);
 *  - `size` is the whole buffer; every offset is checked against it by
 *    tsrun_plan_load() in the parent, before clone, so the child trusts it.
 *
 * Bump TSRUN_PLAN_VERSION whenever a record changes shape; the loader
 * rejects any other version, and the TypeScript side checks the addon's
 * version when it loads it.
 *
 * Every constant TypeScript needs (flags, kinds, sync types, the byte
 * layout: offset, size and type of each field) is defined here once, as an
 * X-macro list where it is a list, and generated into TypeScript at build
 * time (native/host/constants.c, which lists every field of each struct
 * below and fails to compile when a list misses one): lib/native/constants.ts
 * never restates a number.
 *
 * Two kinds of plan share this format: a container's init (create) and a
 * tenant (exec), a process that joins a running container's namespaces and
 * cgroup. A tenant plan sets TSRUN_PLAN_TENANT and has no rootfs, state dir,
 * mounts or devices; the init's step table says which steps run for which.
 */
#ifndef TSRUN_PLAN_H
#define TSRUN_PLAN_H

#include <stddef.h>
#include <stdint.h>

#define TSRUN_PLAN_MAGIC 0x50525354u /* "TSRP" */
#define TSRUN_PLAN_VERSION 9u

struct tsrun_str {
  uint32_t off;
  uint32_t len;
};

struct tsrun_vec {
  uint32_t off;
  uint32_t count;
};

/* tsrun_plan_header.flags: X(name, bit) */
#define TSRUN_PLAN_FLAGS(X)                                                                  \
  X(NO_PIVOT, 0)       /* --no-pivot: MS_MOVE + chroot */                                    \
  X(NO_NEW_PRIVS, 1)   /* process.noNewPrivileges */                                         \
  X(ROOT_READONLY, 2)  /* root.readonly */                                                   \
  X(TERMINAL, 3)       /* process.terminal */                                                \
  X(NEW_KEYRING, 4)    /* a fresh session keyring (not --no-new-keyring) */                  \
  X(SET_UMASK, 5)      /* process.user.umask is set */                                       \
  X(SET_CAPS, 6)       /* process.capabilities is set */                                     \
  X(HOOK_SYNC, 7)      /* stop before pivot_root for the runtime's create hooks */           \
  X(TENANT, 8)         /* exec: join a running container, set up no rootfs */                \
  X(HOST_MOUNTS, 9)    /* no mount namespace: mounts land in the host's; chroot */           \
  X(NO_SETGROUPS, 10)  /* the user namespace denies setgroups (rootless): keep the groups */ \
  X(WAIT_DUMPABLE, 11) /* unprivileged runtime: dumpable while it must open our /proc/<pid>/ns */

enum {
#define X(name, bit) TSRUN_PLAN_##name = 1u << (bit),
  TSRUN_PLAN_FLAGS(X)
#undef X
};

/* Indices into tsrun_plan_header.caps: X(name, index) */
#define TSRUN_CAPSETS(X) X(BOUNDING, 0) X(EFFECTIVE, 1) X(INHERITABLE, 2) X(PERMITTED, 3) X(AMBIENT, 4)

enum {
#define X(name, i) TSRUN_CAPSET_##name = (i),
  TSRUN_CAPSETS(X)
#undef X
      TSRUN_CAPSET_COUNT = 5,
};

/* tsrun_mount.kind: X(name, value) */
#define TSRUN_MOUNT_KINDS(X)                                                                         \
  X(FS, 0)       /* mount(source, dest, fstype, flags, data) */                                      \
  X(BIND, 1)     /* bind (MS_REC for rbind), then remount for flags */                               \
  X(MASK, 2)     /* maskedPaths: /dev/null over a file, over a dir an empty ro tmpfs (data: its      \
                  * options), one for all: the first made, bound on the others; skip if absent */    \
  X(READONLY, 3) /* readonlyPaths: rbind onto itself, remount ro; skip if absent. With MS_REMOUNT in \
                  * flags: remount the mount there in place with flags (a read-only /dev) */         \
  X(COPYUP, 4)   /* a tmpfs (mount(2) as FS) with tmpcopyup: the target's files copied into it */

enum {
#define X(name, v) TSRUN_MOUNT_##name = (v),
  TSRUN_MOUNT_KINDS(X)
#undef X
};

/* tsrun_mount.target_kind: what to create when the destination is missing */
#define TSRUN_TARGET_KINDS(X) X(DIR, 0) X(FILE, 1)

enum {
#define X(name, v) TSRUN_TARGET_##name = (v),
  TSRUN_TARGET_KINDS(X)
#undef X
};

struct tsrun_mount {
  struct tsrun_str source;      /* host path (bind) or fs source */
  struct tsrun_str destination; /* absolute path inside the container */
  struct tsrun_str fstype;
  struct tsrun_str data; /* fs-specific options, comma separated */
  uint64_t flags;        /* MS_* for the mount (or the bind remount) */
  uint64_t propagation;  /* MS_SHARED|MS_SLAVE|... (| MS_REC), 0: none */
  uint32_t kind;         /* TSRUN_MOUNT_* */
  uint32_t target_kind;  /* TSRUN_TARGET_* */
};

struct tsrun_rlimit {
  uint32_t resource; /* RLIMIT_* */
  uint32_t pad;
  uint64_t soft;
  uint64_t hard;
};

/* tsrun_device.type */
#define TSRUN_DEVICE_TYPES(X) X(CHAR, 0) X(BLOCK, 1) X(FIFO, 2)

enum {
#define X(name, v) TSRUN_DEV_##name = (v),
  TSRUN_DEVICE_TYPES(X)
#undef X
};

struct tsrun_device {
  struct tsrun_str path; /* absolute path inside the container */
  uint32_t type;         /* TSRUN_DEV_* */
  uint32_t major;
  uint32_t minor;
  uint32_t mode; /* permission bits */
  uint32_t uid;
  uint32_t gid;
};

struct tsrun_symlink {
  struct tsrun_str target;   /* what the link points to */
  struct tsrun_str linkpath; /* absolute path inside the container */
};

/* tsrun_plan_header.proc_flags: which records of the process-attribute
 * block below apply. X(name, bit) */
#define TSRUN_PROC_FLAGS(X)                  \
  X(PERSONALITY, 0) /* linux.personality */  \
  X(SCHED, 1)       /* process.scheduler */  \
  X(IOPRIO, 2)      /* process.ioPriority */ \
  X(MEMPOLICY, 3)   /* linux.memoryPolicy */

enum {
#define X(name, bit) TSRUN_PROC_##name = 1u << (bit),
  TSRUN_PROC_FLAGS(X)
#undef X
};

/* The kernel's struct sched_attr up to sched_period (SCHED_ATTR_SIZE_VER0). */
struct tsrun_sched {
  uint32_t size; /* 48 */
  uint32_t policy;
  uint64_t flags;
  int32_t nice;
  uint32_t priority;
  uint64_t runtime;
  uint64_t deadline;
  uint64_t period;
};

/* linux.sysctl: written through the host's procfs before any container
 * mount exists, so the image cannot redirect the write (see sysctl.c). */
struct tsrun_sysctl {
  struct tsrun_str path; /* relative to /proc/sys, e.g. "net/ipv4/ip_forward" */
  struct tsrun_str value;
};

/* Recursive mount attributes (rro, rnosuid, ...) of mounts[mount], applied
 * with mount_setattr(AT_RECURSIVE) right after that mount is made. */
struct tsrun_mount_attr {
  uint32_t mount; /* index into mounts */
  uint32_t pad;
  uint64_t attr_set; /* MOUNT_ATTR_* */
  uint64_t attr_clr;
};

/* tsrun_plan_header.ns_flags. X(name, bit):
 *  STAGE: the namespace step (native/init/namespaces.c) joins ns_joins and
 *    unshares unshare_flags (without it, clone3 made every namespace);
 *  FORK: fork once more after that so the process is inside the new (or
 *    joined) pid or time namespace; the intermediate reports the pid;
 *  TIME_OFFSETS: write monotonic/boottime offsets into the new time namespace. */
#define TSRUN_NS_FLAGS(X) X(STAGE, 0) X(FORK, 1) X(TIME_OFFSETS, 2)

enum {
#define X(name, bit) TSRUN_NS_##name = 1u << (bit),
  TSRUN_NS_FLAGS(X)
#undef X
};

/* A namespace to join with setns(fd, nstype). The fd is opened
 * (and its type checked) by the runtime before clone and inherited.
 * nstype TSRUN_JOIN_ROOT is no namespace: fd is the container init's root
 * directory (/proc/<pid>/root), entered with fchdir + chroot(".") right
 * after the mount namespace (it comes last). Joining a mount namespace
 * puts a process at the namespace's root mount, which is the init's root
 * only when the runtime's own root was that namespace's root: a runtime
 * in a chroot would otherwise hand an exec'd process the host's /. */
#define TSRUN_JOIN_ROOT 0x1u
struct tsrun_ns_join {
  int32_t fd;
  uint32_t nstype; /* CLONE_NEW*, or TSRUN_JOIN_ROOT */
};

/* mounts[mount_index] is attached from `fd`, a detached idmapped
 * tree the runtime prepared (open_tree + mount_setattr), not by mount(2). */
struct tsrun_idmap_mount {
  uint32_t mount_index;
  int32_t fd;
};

/* tsrun_hook.kind: the hooks the init runs itself, as runc's init does,
 * so that what they run is confined as the container is and never holds
 * the runtime's privileges over the host. X(name, value) */
#define TSRUN_HOOK_KINDS(X)                                                                            \
  X(CREATE_CONTAINER, 0) /* after the mounts, before pivot_root: in the container's namespaces, still  \
                            privileged, cwd the rootfs; the path resolves in the runtime's view */     \
  X(START_CONTAINER, 1)  /* once `start` released the init, just before execve: with the program's     \
                            user, capabilities, no_new_privs, seccomp and cgroup; the path resolves in \
                            the container */

enum {
#define X(name, v) TSRUN_HOOK_##name = (v),
  TSRUN_HOOK_KINDS(X)
#undef X
};

/* One hook (config.md "POSIX-platform Hooks"), in config order per kind. */
struct tsrun_hook {
  struct tsrun_str path;
  struct tsrun_vec args; /* of struct tsrun_str: argv (empty: {path}) */
  struct tsrun_vec env;  /* of struct tsrun_str */
  uint32_t kind;         /* TSRUN_HOOK_* */
  uint32_t timeout_ms;   /* 0: none */
};

struct tsrun_plan_header {
  uint32_t magic;                    /* TSRUN_PLAN_MAGIC */
  uint32_t version;                  /* TSRUN_PLAN_VERSION */
  uint32_t size;                     /* bytes in the whole buffer */
  uint32_t flags;                    /* TSRUN_PLAN_* */
  uint64_t clone_flags;              /* CLONE_NEW* the init is created with */
  uint64_t rootfs_propagation;       /* MS_* (| MS_REC) applied to "/" first: linux.rootfsPropagation, or rslave */
  uint64_t caps[TSRUN_CAPSET_COUNT]; /* bit n = capability n */
  uint32_t uid;
  uint32_t gid;
  uint32_t umask;
  uint32_t console_width;
  uint32_t console_height;
  int32_t console_socket_fd; /* -1: none; else an fd the init inherits */
  uint32_t preserve_fds;     /* fds 3 .. 3+n-1 stay open across execve */
  /* --pidfd-socket: -1 none; else a connected socket the process sends a
   * pidfd of itself over ("standard" for the init, "setns" for a tenant,
   * runc's words), then closes */
  int32_t pidfd_socket_fd;
  struct tsrun_str rootfs; /* absolute host path of the root filesystem */
  struct tsrun_str hostname;
  struct tsrun_str domainname;
  struct tsrun_str cwd;             /* absolute path inside the container */
  struct tsrun_str state_dir;       /* host dir holding exec.fifo */
  struct tsrun_str keyring;         /* session keyring name */
  struct tsrun_vec args;            /* of struct tsrun_str */
  struct tsrun_vec env;             /* of struct tsrun_str, "K=V" */
  struct tsrun_vec additional_gids; /* of uint32_t */
  struct tsrun_vec mounts;          /* of struct tsrun_mount, in order */
  struct tsrun_vec rlimits;         /* of struct tsrun_rlimit */
  struct tsrun_vec devices;         /* of struct tsrun_device */
  struct tsrun_vec symlinks;        /* of struct tsrun_symlink */
  /* Seccomp: the BPF program compiled in the parent
   * (native/seccomp/); count 0 = no filter. With SECCOMP_FILTER_FLAG_NEW_LISTENER
   * in seccomp_flags the init passes the notify fd to the parent. */
  struct tsrun_vec seccomp_bpf;       /* of struct sock_filter (8 bytes each) */
  uint32_t seccomp_flags;             /* SECCOMP_FILTER_FLAG_* for seccomp(2) */
  uint32_t rootfs_parent_propagation; /* MS_PRIVATE or MS_SLAVE: the mount the rootfs is on, before its bind */
  /* Process attributes, sysctls, recursive mount
   * attributes and the rootfs propagation applied after pivot_root. */
  uint32_t proc_flags;              /* TSRUN_PROC_* */
  uint32_t personality;             /* personality(2) persona, with TSRUN_PROC_PERSONALITY */
  uint32_t ioprio;                  /* ioprio_set(2) value, with TSRUN_PROC_IOPRIO */
  uint32_t mempolicy_mode;          /* set_mempolicy(2) mode | MPOL_F_*, with TSRUN_PROC_MEMPOLICY */
  uint64_t root_propagation;        /* MS_* for the new "/" after pivot_root; 0: none */
  struct tsrun_sched sched;         /* sched_setattr(2), with TSRUN_PROC_SCHED */
  struct tsrun_vec mempolicy_nodes; /* of uint64_t: the node mask, bit n = node n */
  struct tsrun_vec sysctls;         /* of struct tsrun_sysctl */
  struct tsrun_vec mount_attrs;     /* of struct tsrun_mount_attr */
  /* joins, unshared namespaces, time offsets */
  uint64_t unshare_flags; /* CLONE_NEW* made by unshare in the namespace step */
  uint32_t ns_flags;      /* TSRUN_NS_* */
  /* Bits the init adds to its new session keyring's permissions, so a
   * tenant (exec) joins that keyring by name instead of making its own:
   * search for the keyring's user, or for others in a user namespace
   * (runc's); 0: leave them. */
  uint32_t keyring_perms;
  struct tsrun_vec ns_joins; /* of struct tsrun_ns_join, user namespace first */
  int64_t monotonic_secs;    /* linux.timeOffsets.monotonic */
  int64_t boottime_secs;     /* linux.timeOffsets.boottime */
  uint32_t monotonic_nsecs;
  uint32_t boottime_nsecs;
  struct tsrun_vec idmap_mounts; /* of struct tsrun_idmap_mount */
  /* process.execCPUAffinity (tenants): CPU masks of uint64_t words, bit n =
   * CPU n; count 0 = leave the affinity alone. `initial` is set before the
   * runtime moves the process into the container's cgroup, `final` after. */
  struct tsrun_vec cpu_affinity_initial;
  struct tsrun_vec cpu_affinity_final;
  /* The hooks the init runs (createContainer, startContainer), and the
   * state JSON they read on stdin up to its pid: the init appends
   * `<pid>,"status":"<creating|created>"}` with the pid the runtime sends
   * with GO after PID (the host's view of it, as runtime.md asks). */
  struct tsrun_vec hooks; /* of struct tsrun_hook */
  struct tsrun_str hook_state;
  /* process.apparmorProfile: written as "exec <profile>" to the process's
   * own AppArmor exec attribute, through the runtime's procfs, before its
   * execve (native/init/lsm.c); off 0: none. */
  struct tsrun_str apparmor_profile;
  /* process.selinuxLabel: written to the process's own exec attribute
   * before its execve, and to its keycreate attribute around the session
   * keyring's creation (native/init/lsm.c); off 0: none. */
  struct tsrun_str selinux_label;
  /* linux.mountLabel, where SELinux is on: set as the security.selinux
   * attribute of the root of each mqueue mount, whose superblock is the IPC
   * namespace's (made before the mount, so a context= option would not
   * apply; the planner puts context= in the data of the other mounts);
   * off 0: none. */
  struct tsrun_str mqueue_label;
  /* An overlay filesystem mounted on the rootfs path in the container's
   * mount namespace instead of the rootfs's bind (the API's clean
   * containers: a writable layer of their own over an image's layers):
   * mount(2)'s data, "lowerdir=…,upperdir=…,workdir=…[,userxattr]". It
   * lives and dies with that namespace. Never from a config: only the API
   * sets it. Off 0: a bind. */
  struct tsrun_str rootfs_overlay;
};

/* keyctl(2) permission bits for keyring_perms: <keyutils.h>'s
 * KEY_USR_SEARCH and KEY_OTH_SEARCH, which no kernel uapi header has. */
#define TSRUN_KEY_PERMS(X) X("USR_SEARCH", 0x00080000u) X("OTH_SEARCH", 0x00000008u)

/* The sizes below are part of the wire format: the TS encoder writes the
 * layout the C compiler gives (native/host/constants.c) and the static
 * assertions in native/init/plan.c keep it from moving unnoticed. */
#define TSRUN_PLAN_HEADER_SIZE 440u
#define TSRUN_MOUNT_SIZE 56u
#define TSRUN_RLIMIT_SIZE 24u
#define TSRUN_DEVICE_SIZE 32u
#define TSRUN_SYMLINK_SIZE 16u
#define TSRUN_SOCK_FILTER_SIZE 8u /* struct sock_filter */
#define TSRUN_SCHED_SIZE 48u
#define TSRUN_SYSCTL_SIZE 16u
#define TSRUN_MOUNT_ATTR_SIZE 24u
#define TSRUN_NS_JOIN_SIZE 8u
#define TSRUN_IDMAP_MOUNT_SIZE 8u
#define TSRUN_HOOK_SIZE 32u

/* A hook ready to execve. */
struct tsrun_plan_hook {
  const char *path;
  char **argv; /* NULL-terminated */
  char **envp; /* NULL-terminated */
  uint32_t kind;
  uint32_t timeout_ms;
};

/*
 * A loaded plan: the header plus the pointer arrays execve needs (argv and
 * envp of the program and of each hook), built by tsrun_plan_load when the
 * init starts, before its first step (the steps allocate nothing).
 */
struct tsrun_plan {
  const struct tsrun_plan_header *h;
  const uint8_t *base;
  char **argv; /* NULL-terminated */
  char **envp; /* NULL-terminated */
  struct tsrun_plan_hook *hooks;
  uint32_t nhooks;
};

/* Returns the NUL-terminated string, or NULL when absent. */
static inline const char *tsrun_plan_str(const struct tsrun_plan *p, struct tsrun_str s) {
  return s.off ? (const char *)(p->base + s.off) : NULL;
}

static inline const void *tsrun_plan_vec(const struct tsrun_plan *p, struct tsrun_vec v) {
  return p->base + v.off;
}

/*
 * Checks a buffer and fills *out: in the runtime before it spawns anything,
 * and again in tsrun-init (native/init/main.c) on the copy it was handed.
 * It allocates (the pointer arrays). On failure returns -1 and writes a
 * message to err. The buffer must outlive the plan.
 */
int tsrun_plan_load(const void *buf, size_t len, struct tsrun_plan *out, char *err, size_t errlen);
void tsrun_plan_free(struct tsrun_plan *plan);

#endif
