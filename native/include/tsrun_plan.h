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
 * rejects any other version.
 */
#ifndef TSRUN_PLAN_H
#define TSRUN_PLAN_H

#include <stddef.h>
#include <stdint.h>

#define TSRUN_PLAN_MAGIC 0x50525354u /* "TSRP" */
#define TSRUN_PLAN_VERSION 2u

struct tsrun_str {
  uint32_t off;
  uint32_t len;
};

struct tsrun_vec {
  uint32_t off;
  uint32_t count;
};

/* tsrun_plan_header.flags */
enum {
  TSRUN_PLAN_NO_PIVOT = 1u << 0,      /* --no-pivot: MS_MOVE + chroot */
  TSRUN_PLAN_NO_NEW_PRIVS = 1u << 1,  /* process.noNewPrivileges */
  TSRUN_PLAN_ROOT_READONLY = 1u << 2, /* root.readonly */
  TSRUN_PLAN_TERMINAL = 1u << 3,      /* process.terminal */
  TSRUN_PLAN_NEW_KEYRING = 1u << 4,   /* a fresh session keyring (not --no-new-keyring) */
  TSRUN_PLAN_SET_UMASK = 1u << 5,     /* process.user.umask is set */
  TSRUN_PLAN_SET_CAPS = 1u << 6,      /* process.capabilities is set */
  TSRUN_PLAN_HOOK_SYNC = 1u << 7,     /* stop before pivot_root for the create hooks */
};

/* Indices into tsrun_plan_header.caps */
enum {
  TSRUN_CAPSET_BOUNDING = 0,
  TSRUN_CAPSET_EFFECTIVE = 1,
  TSRUN_CAPSET_INHERITABLE = 2,
  TSRUN_CAPSET_PERMITTED = 3,
  TSRUN_CAPSET_AMBIENT = 4,
  TSRUN_CAPSET_COUNT = 5,
};

/* tsrun_mount.kind */
enum {
  TSRUN_MOUNT_FS = 0,       /* mount(source, dest, fstype, flags, data) */
  TSRUN_MOUNT_BIND = 1,     /* bind (MS_REC for rbind), then remount for flags */
  TSRUN_MOUNT_MASK = 2,     /* maskedPaths: /dev/null over a file, empty ro tmpfs over a dir; skip if absent */
  TSRUN_MOUNT_READONLY = 3, /* readonlyPaths: rbind onto itself, remount ro; skip if absent */
};

/* tsrun_mount.target_kind: what to create when the destination is missing */
enum {
  TSRUN_TARGET_DIR = 0,
  TSRUN_TARGET_FILE = 1,
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
enum {
  TSRUN_DEV_CHAR = 0,
  TSRUN_DEV_BLOCK = 1,
  TSRUN_DEV_FIFO = 2,
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

/* issue 3 (3proc): records of the process-attribute block below. */
enum {
  TSRUN_PROC_PERSONALITY = 1u << 0, /* linux.personality */
  TSRUN_PROC_SCHED = 1u << 1,       /* process.scheduler */
  TSRUN_PROC_IOPRIO = 1u << 2,      /* process.ioPriority */
  TSRUN_PROC_MEMPOLICY = 1u << 3,   /* linux.memoryPolicy */
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

/* issue 3 (namespaces and ids): tsrun_plan_header.ns_flags */
enum {
  /* The init runs the namespace step (native/init/namespaces.c): joins
   * ns_joins, unshares unshare_flags, and reports TSRUN_SYNC_PID. */
  TSRUN_NS_STAGE = 1u << 0,
  /* Fork once more after unsharing so the init is inside the new (or
   * joined) pid or time namespace; the intermediate reports its pid. */
  TSRUN_NS_FORK = 1u << 1,
  /* Write monotonic/boottime offsets into the new time namespace. */
  TSRUN_NS_TIME_OFFSETS = 1u << 2,
};

/* issue 3: a namespace to join with setns(fd, nstype). The fd is opened
 * (and its type checked) by the runtime before clone and inherited. */
struct tsrun_ns_join {
  int32_t fd;
  uint32_t nstype; /* CLONE_NEW* */
};

/* issue 3: mounts[mount_index] is attached from `fd`, a detached idmapped
 * tree the runtime prepared (open_tree + mount_setattr), not by mount(2). */
struct tsrun_idmap_mount {
  uint32_t mount_index;
  int32_t fd;
};

struct tsrun_plan_header {
  uint32_t magic;                    /* TSRUN_PLAN_MAGIC */
  uint32_t version;                  /* TSRUN_PLAN_VERSION */
  uint32_t size;                     /* bytes in the whole buffer */
  uint32_t flags;                    /* TSRUN_PLAN_* */
  uint64_t clone_flags;              /* CLONE_NEW* the init is created with */
  uint64_t rootfs_propagation;       /* MS_* (| MS_REC) applied to "/" first */
  uint64_t caps[TSRUN_CAPSET_COUNT]; /* bit n = capability n */
  uint32_t uid;
  uint32_t gid;
  uint32_t umask;
  uint32_t console_width;
  uint32_t console_height;
  int32_t console_socket_fd; /* -1: none; else an fd the init inherits */
  uint32_t preserve_fds;     /* fds 3 .. 3+n-1 stay open across execve */
  uint32_t pad0;
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
  /* issue 4: seccomp. The BPF program compiled in the parent
   * (native/seccomp/); count 0 = no filter. With SECCOMP_FILTER_FLAG_NEW_LISTENER
   * in seccomp_flags the init passes the notify fd to the parent. */
  struct tsrun_vec seccomp_bpf; /* of struct sock_filter (8 bytes each) */
  uint32_t seccomp_flags;       /* SECCOMP_FILTER_FLAG_* for seccomp(2) */
  uint32_t seccomp_pad;
  /* issue 3 (3proc): process attributes, sysctls, recursive mount
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
  /* issue 3 (namespaces and ids): joins, unshared namespaces, time offsets */
  uint64_t unshare_flags; /* CLONE_NEW* made by unshare in the namespace step */
  uint32_t ns_flags;      /* TSRUN_NS_* */
  uint32_t pad1;
  struct tsrun_vec ns_joins; /* of struct tsrun_ns_join, user namespace first */
  int64_t monotonic_secs;    /* linux.timeOffsets.monotonic */
  int64_t boottime_secs;     /* linux.timeOffsets.boottime */
  uint32_t monotonic_nsecs;
  uint32_t boottime_nsecs;
  struct tsrun_vec idmap_mounts; /* of struct tsrun_idmap_mount */
};

/* The byte offsets below are part of the wire format: the TS encoder writes
 * them and the static assertions in native/init/plan.c keep C honest. */
#define TSRUN_PLAN_HEADER_SIZE 376u
#define TSRUN_MOUNT_SIZE 56u
#define TSRUN_RLIMIT_SIZE 24u
#define TSRUN_DEVICE_SIZE 32u
#define TSRUN_SYMLINK_SIZE 16u
#define TSRUN_SOCK_FILTER_SIZE 8u /* issue 4: struct sock_filter */
#define TSRUN_SCHED_SIZE 48u
#define TSRUN_SYSCTL_SIZE 16u
#define TSRUN_MOUNT_ATTR_SIZE 24u
#define TSRUN_NS_JOIN_SIZE 8u
#define TSRUN_IDMAP_MOUNT_SIZE 8u

/*
 * A loaded plan: the header plus pointer arrays built before clone (argv and
 * envp for execve need real pointers, and the child may not allocate).
 */
struct tsrun_plan {
  const struct tsrun_plan_header *h;
  const uint8_t *base;
  char **argv; /* NULL-terminated */
  char **envp; /* NULL-terminated */
};

/* Returns the NUL-terminated string, or NULL when absent. */
static inline const char *tsrun_plan_str(const struct tsrun_plan *p, struct tsrun_str s) {
  return s.off ? (const char *)(p->base + s.off) : NULL;
}

static inline const void *tsrun_plan_vec(const struct tsrun_plan *p, struct tsrun_vec v) {
  return p->base + v.off;
}

/*
 * Checks a buffer and fills *out. Runs in the parent before clone: it may
 * allocate (argv/envp). On failure returns -1 and writes a message to err.
 * The buffer must outlive the plan.
 */
int tsrun_plan_load(const void *buf, size_t len, struct tsrun_plan *out, char *err, size_t errlen);
void tsrun_plan_free(struct tsrun_plan *plan);

#endif
