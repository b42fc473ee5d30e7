/**
 * The default seccomp profile `tsrun spec` writes: an allow-list in the
 * spirit of the profiles container engines ship (containers-common,
 * moby), folded for the capabilities `tsrun spec` grants
 * (CAP_AUDIT_WRITE, CAP_KILL, CAP_NET_BIND_SERVICE) — none of which unlock
 * a syscall group, so the CAP_SYS_ADMIN, CAP_SYS_PTRACE, CAP_SYS_MODULE, …
 * groups (mount, unshare, setns, ptrace, bpf, keyctl, …) stay denied.
 * Everything not listed fails with EPERM. Names this libseccomp does not
 * know are skipped when the filter is compiled.
 */
import { constants as osConstants } from 'node:os';

import { KERNEL } from '../native/constants.js';
import { CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUSER, CLONE_NEWUTS } from '../plan/linux.js';
import type { LinuxSeccomp, LinuxSyscall } from './types.js';

/** Always allowed: ordinary process, file, memory, signal, socket, time, IPC calls. */
const ALLOWED = `
accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown chown32
clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3
epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old
eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate
fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchown32 fchownat fcntl fcntl64 fdatasync
fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync
ftruncate ftruncate64 futex futex_requeue futex_time64 futex_wait futex_waitv futex_wake futimesat
getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups
getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid
getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage getsid getsockname getsockopt
get_thread_area gettid gettimeofday getuid getuid32 getxattr inotify_add_watch inotify_init
inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents io_pgetevents
io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit ipc kill landlock_add_rule
landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link linkat listen listxattr
llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise map_shadow_stack membarrier
memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2
mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend
mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall munmap
name_to_handle_at nanosleep newfstatat _newselect open openat openat2 pause pidfd_getfd pidfd_open
pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl pread64
preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read
readahead readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages
removexattr rename renameat renameat2 restart_syscall rmdir rseq rt_sigaction rt_sigpending
rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64
rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam sched_get_priority_max
sched_get_priority_min sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64
sched_setaffinity sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select semctl
semget semop semtimedop semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid
setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid setpriority
setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit
set_robust_list setsid setsockopt set_thread_area set_tid_address setuid setuid32 setxattr shmat
shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn socket socketcall
socketpair splice stat stat64 statfs statfs64 statx symlink symlinkat sync sync_file_range syncfs
sysinfo tee tgkill time timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64
timer_settime timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime
timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat utime
utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev
`
  .split(/\s+/)
  .filter(Boolean);

/** Namespace-creating clone flags (all but CLONE_NEWTIME, which clone(2) cannot take). */
const CLONE_NS_FLAGS = Number(CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET);

/** The personas a program may switch to: PER_LINUX, PER_LINUX32, with
 * UNAME26, and the query 0xffffffff (what `uname -m` tools and setarch ask). */
const { LINUX, LINUX32 } = KERNEL.personalityDomains;
const { UNAME26 } = KERNEL.personalityFlags;
const PERSONALITIES = [LINUX, LINUX32, LINUX | UNAME26, LINUX32 | UNAME26, 0xffffffff];

function archFamily(arch: string): string[] {
  switch (arch) {
    case 'x64':
      return ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'];
    case 'arm64':
      return ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'];
    case 'ppc64':
      return ['SCMP_ARCH_PPC64LE'];
    case 's390x':
      return ['SCMP_ARCH_S390X', 'SCMP_ARCH_S390'];
    case 'riscv64':
      return ['SCMP_ARCH_RISCV64'];
    default:
      return [];
  }
}

export function defaultSeccompProfile(arch: string = process.arch): LinuxSeccomp {
  const syscalls: LinuxSyscall[] = [
    { names: ALLOWED, action: 'SCMP_ACT_ALLOW' },
    ...PERSONALITIES.map((p) => ({ names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: p, op: 'SCMP_CMP_EQ' }] })),
    // threads and fork, but no new namespaces (that is CAP_SYS_ADMIN's group)
    {
      names: ['clone'],
      action: 'SCMP_ACT_ALLOW',
      args: [{ index: arch === 's390x' ? 1 : 0, value: CLONE_NS_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
    },
    // clone3 passes its flags in memory a filter cannot read: make libc fall back to clone
    { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: osConstants.errno.ENOSYS },
  ];
  if (arch === 'x64') syscalls.push({ names: ['arch_prctl', 'modify_ldt'], action: 'SCMP_ACT_ALLOW' });
  if (arch === 'arm64' || arch === 'arm')
    syscalls.push({
      names: ['arm_fadvise64_64', 'arm_sync_file_range', 'sync_file_range2', 'breakpoint', 'cacheflush', 'set_tls'],
      action: 'SCMP_ACT_ALLOW',
    });
  if (arch === 's390x')
    syscalls.push({ names: ['s390_pci_mmio_read', 's390_pci_mmio_write', 's390_runtime_instr'], action: 'SCMP_ACT_ALLOW' });
  return {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: osConstants.errno.EPERM,
    architectures: archFamily(arch),
    syscalls,
  };
}
