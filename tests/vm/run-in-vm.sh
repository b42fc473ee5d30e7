#!/usr/bin/env bash
# Run one command inside a throwaway qemu VM whose kernel has a pure cgroup-v2 hierarchy with
# every controller enabled, sharing this machine's root filesystem over 9p.
#
#   tests/vm/run-in-vm.sh [options] -- COMMAND [ARGS...]
#   tests/vm/run-in-vm.sh --host trixie [options] -- COMMAND [ARGS...]
#
# --host trixie boots a production host instead (Debian 13 with systemd as PID 1, AppArmor and
# the engines): tests/vm/trixie.sh. What follows describes the default lane.
#
# The command's stdout/stderr stream to ours; we exit with its exit code, 124 if it timed out,
# and 125 if the VM failed before the command finished (boot failure, crash, cannot cd).
# See tests/vm/README.md.
#
# How a run goes:
#
#   host (this script)                         guest
#   ------------------                         -----
#   ensure tools, kernel, initramfs (cached)
#   mkdir /var/tmp/tsrun-vm.XXXX (RUN):
#     stage2.sh, cmd.sh, bin/modprobe,
#     empty stdout/stderr
#   qemu -kernel -initrd -append vmscript=RUN/cmd.sh
#                                          ->  /init (initramfs, busybox): insmod virtio + 9p,
#                                              mount 9p root, switch_root -> RUN/stage2.sh
#                                              stage2 (PID 1, on the shared root): mount proc,
#                                              sys, dev, tmpfs /run /tmp, cgroup2; enable
#                                              controllers; run cmd.sh under timeout
#   tail -f RUN/stdout, RUN/stderr         <-  writes RUN/stdout, RUN/stderr, then RUN/rc
#                                              sync; poweroff
#   qemu exits; read RUN/rc; rm -rf RUN
#
# Safety: the guest is root on this machine's real filesystem. Until stage 2 has mounted its own
# proc/sys/dev/run/tmp over them, those paths are the *host's* (seen through 9p): writing
# /proc/sysrq-trigger there would power off this machine. So stage 2 checks the filesystem type
# (statfs) of every kernel path before it writes to it, and aborts the run if a mount fails.
# Apart from the command itself, the guest writes only into RUN.
set -euo pipefail

readonly PROG=run-in-vm.sh
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly HERE
readonly EXIT_TIMEOUT=124 EXIT_VM=125 EXIT_USAGE=2

CACHE=${TSRUN_VM_CACHE:-/var/cache/tsrun-vm}
RUN_PARENT=${TSRUN_VM_RUNDIR:-/var/tmp}
MEM=${TSRUN_VM_MEM:-4096}
SMP=${TSRUN_VM_SMP:-2}
# Time allowed for boot and shutdown on top of --timeout before the host kills qemu. Generous:
# TCG on a loaded 2-core machine boots in ~8 s, but two VMs at once or a busy host slow it a lot.
BOOT_MARGIN=${TSRUN_VM_BOOT_MARGIN:-300}
TIMEOUT=600
CWD=
# A --cwd under /tmp or /run (e.g. a CI checkout in /tmp) is shared on its own and mounted
# at the same path over the guest's fresh tmpfs.
SHARE=
KEEP=0
CONSOLE=0
VERBOSE=0
P9_CACHE=${TSRUN_VM_9P_CACHE:-loose}
ENVS=()
CPU=max
# "" (this machine's root on Debian 12's kernel) or trixie (tests/vm/trixie.sh).
HOST=
LSM=
INFO=0

# shellcheck source=tests/vm/trixie.sh
. "$HERE/trixie.sh"

# The modules the initramfs loads, in this order (their modules.dep closure is added, and any
# that this kernel has built in are skipped). virtio_pci is the transport, 9pnet_virtio + 9p the
# root filesystem; overlay is for container tests (the guest can modprobe anything else).
readonly INITRAMFS_MODULES="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev
virtio_pci netfs fscache 9pnet 9pnet_virtio 9p overlay"

usage() {
  cat <<'EOF'
Usage: tests/vm/run-in-vm.sh [options] -- COMMAND [ARGS...]

Boot a pure cgroup-v2 kernel under qemu (TCG) with this machine's / shared over 9p, run
COMMAND as root inside it, stream its output, and exit with its exit code.

Options:
  --host trixie      boot a production host instead: a cached Debian 13 root (built on first
                     use) with its own kernel, systemd as PID 1, cgroup v2 only, AppArmor, and
                     podman, docker, containerd, runc, crun, criu; the checkout (--cwd) and
                     /var/tmp are shared at their paths, everything else is the guest's own
  --lsm selinux      (--host trixie) boot with SELinux as the major LSM instead of AppArmor:
                     Debian's reference policy loaded, permissive (setenforce 1 enforces it)
  --info             print the lane's kernel and package versions (building what is missing)
                     instead of booting; no COMMAND
  --timeout SECS     kill the command after SECS seconds (default 600); exit code 124
  --cpu MODEL        qemu's CPU model (default max: every feature TCG has); qemu64 is an
                     x86-64 without SSE4, AVX or AVX2, the oldest a 64-bit distribution runs on
  --cwd DIR          directory to run in (default: the current directory); one under /tmp
                     or /run is shared on its own and mounted at the same path in the VM
  --env NAME=VALUE   set a variable for the command (repeatable); the command otherwise gets
                     PATH, HOME=/root, LANG=C.UTF-8 and TERM=dumb only
  --keep             keep the run directory (/var/tmp/tsrun-vm.*) and print its path
  --9p-cache MODE    cache mode of the shared root in the VM (--host trixie: of the checkout
                     and /var/tmp): loose (default), mmap or none. loose runs programs 3-5x
                     faster (node, runc) but may miss changes the host makes while the VM
                     runs; the run directory is always uncached
  --console          stream the VM's serial console to stderr
  -v, --verbose      report boot/command/total times on stderr
  -h, --help         this text

Exit codes: the command's; 124 on timeout; 125 if the VM failed to boot or ran nothing.
Environment: TSRUN_VM_CACHE (default /var/cache/tsrun-vm), TSRUN_VM_MEM (MiB, 4096),
TSRUN_VM_SMP (2), TSRUN_VM_REFRESH=1 (look up the newest kernel package again; with --host
trixie a new kernel also means a new root), TSRUN_VM_MIRROR (trixie's Debian archive),
TSRUN_VM_BOOT_WATCHDOG (150: seconds before a trixie kernel that has not started its init
is booted again), TSRUN_VM_POWEROFF_GRACE (60: seconds a trixie guest may take to power off),
TSRUN_VM_APPEND (extra kernel arguments), TSRUN_VM_QEMU_OPTS (extra qemu options).
Inside the VM /tmp, /run and /dev/shm are fresh tmpfs: pass files through the shared disk.
EOF
}

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "$*"; exit "$EXIT_VM"; }
usage_error() { log "$*"; log "see --help"; exit "$EXIT_USAGE"; }

# Paths the guest mounts its own filesystems over: host files there are invisible inside.
is_shadowed() {
  case $1 in
    /tmp | /tmp/* | /run | /run/* | /proc | /proc/* | /sys | /sys/* | /dev | /dev/*) return 0 ;;
  esac
  return 1
}

# Quote a string for POSIX sh (stage 2 is run by busybox sh).
sh_quote() { local s=${1//\'/\'\\\'\'}; printf "'%s'" "$s"; }

parse_args() {
  while (($#)); do
    case $1 in
      --timeout) (($# >= 2)) || usage_error "--timeout needs a value"; TIMEOUT=$2; shift 2 ;;
      --cpu) (($# >= 2)) || usage_error "--cpu needs a model"; CPU=$2; shift 2 ;;
      --cpu=*) CPU=${1#*=}; shift ;;
      --timeout=*) TIMEOUT=${1#*=}; shift ;;
      --cwd) (($# >= 2)) || usage_error "--cwd needs a value"; CWD=$2; shift 2 ;;
      --cwd=*) CWD=${1#*=}; shift ;;
      --env) (($# >= 2)) || usage_error "--env needs NAME=VALUE"; ENVS+=("$2"); shift 2 ;;
      --env=*) ENVS+=("${1#*=}"); shift ;;
      --9p-cache) (($# >= 2)) || usage_error "--9p-cache needs a value"; P9_CACHE=$2; shift 2 ;;
      --9p-cache=*) P9_CACHE=${1#*=}; shift ;;
      --host) (($# >= 2)) || usage_error "--host needs a value"; HOST=$2; shift 2 ;;
      --host=*) HOST=${1#*=}; shift ;;
      --lsm) (($# >= 2)) || usage_error "--lsm needs a value"; LSM=$2; shift 2 ;;
      --lsm=*) LSM=${1#*=}; shift ;;
      --info) INFO=1; shift ;;
      --keep) KEEP=1; shift ;;
      --console) CONSOLE=1; shift ;;
      -v | --verbose) VERBOSE=1; shift ;;
      -h | --help) usage; exit 0 ;;
      --) shift; break ;;
      -*) usage_error "unknown option: $1" ;;
      *) break ;;
    esac
  done
  [[ -z $HOST || $HOST == trixie ]] || usage_error "--host: unknown host $HOST (trixie is the one there is)"
  [[ -z $LSM || ($LSM == selinux && $HOST == trixie) ]] || usage_error "--lsm: selinux with --host trixie is the one there is"
  if ((INFO)); then
    (($# == 0)) || usage_error "--info takes no command"
  else
    (($#)) || usage_error "no command given"
  fi
  COMMAND=("$@")
  [[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || usage_error "--timeout must be a positive integer: $TIMEOUT"
  [[ $P9_CACHE =~ ^(loose|mmap|none)$ ]] || usage_error "--9p-cache must be loose, mmap or none: $P9_CACHE"
  local e
  for e in ${ENVS[@]+"${ENVS[@]}"}; do
    [[ $e =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || usage_error "--env wants NAME=VALUE: $e"
  done
  if [[ $HOST == trixie ]]; then
    trixie_parse_cwd
  elif [[ -z $CWD ]]; then
    CWD=$PWD
    if is_shadowed "$CWD"; then
      log "note: $CWD is not visible in the VM (fresh tmpfs/proc/sys/dev there); running in /"
      CWD=/
    fi
  else
    [[ $CWD == /* ]] || CWD=$PWD/$CWD
    [[ -d $CWD ]] || usage_error "--cwd: no such directory: $CWD"
    if is_shadowed "$CWD"; then
      case $CWD in
        /tmp/?* | /run/?*) SHARE=$CWD ;;
        *) usage_error "--cwd $CWD is hidden in the VM by its own /tmp, /run, /proc, /sys or /dev" ;;
      esac
      [[ $SHARE != *[[:space:]\',]* ]] || usage_error "--cwd $SHARE: a shared directory must not contain spaces, quotes or commas"
    fi
  fi
  local p
  for p in "$CACHE" "$RUN_PARENT"; do
    [[ $p == /* && $p != *[[:space:]\',]* ]] || usage_error "$p: must be an absolute path without spaces, quotes or commas"
    # The production lane shares these as directories of their own, not as paths of /.
    [[ $HOST == trixie ]] || ! is_shadowed "$p" || usage_error "$p is hidden in the VM; choose a path on the shared disk"
  done
}

# ---------------------------------------------------------------------------------------------
# Host tools, kernel and initramfs: installed and built once, cached in $CACHE.

APT_UPDATED=0
apt_update() {
  ((APT_UPDATED)) && return 0
  log "apt-get update"
  apt-get update -q >&2 || die "apt-get update failed"
  APT_UPDATED=1
}

apt_install() {
  log "installing $*"
  local cmd=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@")
  "${cmd[@]}" >&2 && return 0
  apt_update
  "${cmd[@]}" >&2 || die "apt-get install $* failed"
}

pkg_installed() { [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]; }

ensure_tools() {
  local missing=()
  command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
  pkg_installed busybox-static || missing+=(busybox-static)
  command -v depmod >/dev/null || missing+=(kmod)
  command -v cpio >/dev/null || missing+=(cpio)
  ((${#missing[@]} == 0)) || apt_install "${missing[@]}"
  # The initramfs gets a copy and stage 2 runs the host's /bin/busybox: both need it static.
  BUSYBOX=/bin/busybox
  [[ $(dpkg-query -S "$BUSYBOX" 2>/dev/null) == busybox-static:* ]] ||
    die "$BUSYBOX is not from busybox-static"
}

kernel_package() {
  local pkg
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
    awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9].*-amd64$/ { print $2; exit }')
  if [[ -z $pkg ]]; then
    apt_update
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
      awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9].*-amd64$/ { print $2; exit }')
  fi
  [[ -n $pkg ]] || die "cannot find the kernel package that linux-image-amd64 depends on"
  printf '%s\n' "$pkg"
}

# Sets KVER and KDIR (the extracted package: boot/vmlinuz-KVER, lib/modules/KVER + modules.dep).
ensure_kernel() {
  if [[ -z ${TSRUN_VM_REFRESH:-} && -s $CACHE/current ]]; then
    KVER=$(<"$CACHE/current")
    KDIR=$CACHE/kernel-$KVER
    [[ -f $KDIR/.complete ]] && return 0
  fi
  local pkg tmp
  pkg=$(kernel_package)
  KVER=${pkg#linux-image-}
  KDIR=$CACHE/kernel-$KVER
  if [[ ! -f $KDIR/.complete ]]; then
    log "fetching $pkg"
    tmp=$(mktemp -d "$CACHE/.kernel.XXXXXX")
    # apt-get download drops privileges to _apt: let it write here (else it warns, and runs as root).
    chown _apt "$tmp" 2>/dev/null || chmod 777 "$tmp"
    if ! (cd "$tmp" && apt-get download -q "$pkg" >&2); then
      apt_update
      (cd "$tmp" && apt-get download -q "$pkg" >&2) || { rm -rf "$tmp"; die "apt-get download $pkg failed"; }
    fi
    dpkg -x "$tmp"/*.deb "$tmp/root"
    rm -f "$tmp"/*.deb
    [[ -f $tmp/root/boot/vmlinuz-$KVER && -d $tmp/root/lib/modules/$KVER ]] ||
      { rm -rf "$tmp"; die "$pkg does not hold boot/vmlinuz-$KVER and lib/modules/$KVER"; }
    depmod -b "$tmp/root" "$KVER"
    rm -rf "$KDIR"
    mv "$tmp/root" "$KDIR"
    rmdir "$tmp"
    touch "$KDIR/.complete"
  fi
  printf '%s\n' "$KVER" >"$CACHE/current.tmp"
  mv "$CACHE/current.tmp" "$CACHE/current"
}

# module_load_order MODULES MODDIR: print the .ko paths (relative to MODDIR, a lib/modules/KVER)
# for MODULES plus their dependencies, each after everything it depends on. Built-in ones are
# skipped silently.
module_load_order() {
  local moddir=$2
  awk -v wanted="$1" -v prog="$PROG" '
    function name(p) { sub(/.*\//, "", p); sub(/\.ko(\.[a-z]+)?$/, "", p); gsub(/-/, "_", p); return p }
    function visit(n,   d, k, i) {
      if (n in done) return
      done[n] = 1
      k = split(deps[n], d, " ")
      for (i = 1; i <= k; i++) visit(name(d[i]))
      print path[n]
    }
    FILENAME ~ /modules\.builtin$/ { builtin[name($0)] = 1; next }
    { p = $1; sub(/:$/, "", p); n = name(p); path[n] = p; $1 = ""; deps[n] = $0 }
    END {
      k = split(wanted, w, /[ \n]+/)
      for (i = 1; i <= k; i++) {
        if (w[i] == "" || w[i] in builtin) continue
        if (!(w[i] in path)) { printf "%s: warning: no module %s in this kernel\n", prog, w[i] > "/dev/stderr"; continue }
        visit(w[i])
      }
    }' "$moddir/modules.builtin" "$moddir/modules.dep"
}

# Stage 1, /init in the initramfs (busybox sh, PID 1). Changing it changes the initramfs hash,
# so the next run rebuilds the initramfs.
read -r -d '' INIT_TEMPLATE <<'EOF' || true
#!/bin/busybox sh
# tsrun-vm stage 1: load the virtio/9p modules, mount the shared root, hand over to stage 2.
export PATH=/bin
/bin/busybox --install -s /bin
mount -t proc -o nosuid,nodev,noexec proc /proc
mount -t devtmpfs -o nosuid,mode=755 devtmpfs /dev
exec </dev/console >/dev/console 2>&1

fail() {
  echo "tsrun-vm: stage 1: $*"
  poweroff -f
  sleep 3600
}

for ko in /modules/*.ko; do
  [ -e "$ko" ] || continue
  insmod "$ko" || echo "tsrun-vm: stage 1: insmod ${ko##*/} failed"
done

vmscript= vm9popts=
for arg in $(cat /proc/cmdline); do
  case $arg in
    vmscript=*) vmscript=${arg#vmscript=} ;;
    vm9popts=*) vm9popts=,${arg#vm9popts=} ;;
  esac
done
[ -n "$vmscript" ] || fail "no vmscript= on the kernel command line"
stage2=${vmscript%/*}/stage2.sh

mount -t 9p -o "trans=virtio,version=9p2000.L,msize=512000$vm9popts" root /newroot ||
  fail "cannot mount the 9p root"
[ -f "/newroot$stage2" ] || fail "$stage2 is not on the shared root"

[ -x /newroot/bin/busybox ] || fail "no /bin/busybox on the shared root (busybox-static)"

# Hand our proc and devtmpfs (the console is open on it) to stage 2: until it has its own /proc,
# /proc/self/exe there is the *host's* (qemu), and busybox runs its applets through that link.
mount -o move /proc /newroot/proc || fail "cannot move /proc"
mount -o move /dev /newroot/dev || fail "cannot move /dev"
exec switch_root /newroot /bin/busybox sh "$stage2"
EOF

# Stage 2, PID 1 on the shared root. It runs under the host's /bin/busybox (static, and its sh
# prefers its own applets), not /bin/sh: every dynamically linked exec loads its libraries over
# 9p, and util-linux's mount/stat that way made this stage 2.6 s instead of ~0.3 s. Written into
# each run directory after a header that sets RUN and TIMEOUT.
read -r -d '' STAGE2_BODY <<'EOF' || true
# tsrun-vm stage 2: make a clean host out of the shared root, run the command, power off.
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
# busybox runs an applet named without a path by exec'ing /proc/self/exe, which is the host's
# (qemu!) while /proc is still the 9p view of the host's. Until /proc is proven ours, and in
# everything that may run before that, name busybox explicitly.
bb=/bin/busybox

# statfs magic numbers (busybox's stat has no names for cgroup2 and mqueue).
PROC=9fa0 SYSFS=62656572 TMPFS=1021994 DEVPTS=1cd1 MQUEUE=19800202 CGROUP2=63677270
fstype() { $bb stat -f -c %t "$1" 2>/dev/null; }

power_off() {
  $bb sync
  # /proc/sysrq-trigger through 9p would be the host's: only write it once /proc is ours.
  [ "$(fstype /proc)" = $PROC ] && echo o >/proc/sysrq-trigger
  $bb poweroff -f
  while :; do $bb sleep 3600; done
}

abort() {
  echo "tsrun-vm: stage 2: $*" >&2
  echo "$*" >"$RUN/vm-error"
  power_off
}

# must_mount FSTYPE TARGET OPTIONS MAGIC: mount, then prove it is ours and not the host's.
must_mount() {
  $bb mount -i -t "$1" -o "$3" "$1" "$2" || abort "mount -t $1 $2 failed"
  [ "$(fstype "$2")" = "$4" ] || abort "$2 has statfs type $(fstype "$2") after mounting $1, not $4"
}

# Stage 1 moved its /proc and /dev here; mount them if that failed. /run next: tools look there
# for state to read and write.
[ "$(fstype /proc)" = $PROC ] || must_mount proc /proc nosuid,nodev,noexec $PROC
# The run directory is also shared on its own, uncached, so that output streams to the host
# while it is written and the root can be mounted with caching (see --9p-cache).
$bb mount -i -t 9p -o trans=virtio,version=9p2000.L,msize=512000 run "$RUN" ||
  abort "cannot mount the run directory"
must_mount tmpfs /run nosuid,nodev,mode=755 $TMPFS
must_mount sysfs /sys nosuid,nodev,noexec $SYSFS
# devtmpfs reports as tmpfs.
[ "$(fstype /dev)" = $TMPFS ] || must_mount devtmpfs /dev nosuid,mode=755 $TMPFS
mkdir -p /dev/pts /dev/shm /dev/mqueue
must_mount devpts /dev/pts nosuid,noexec,gid=5,mode=620,ptmxmode=666 $DEVPTS
must_mount tmpfs /dev/shm nosuid,nodev,mode=1777 $TMPFS
must_mount mqueue /dev/mqueue nosuid,nodev,noexec $MQUEUE
must_mount tmpfs /tmp nosuid,nodev,mode=1777 $TMPFS
mkdir -p -m 1777 /run/lock
# --cwd under /tmp or /run: its own share, mounted where the command expects it.
if [ -n "$SHARE" ]; then
  mkdir -p "$SHARE" && $bb mount -i -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose share "$SHARE" ||
    abort "cannot mount the shared --cwd $SHARE"
fi
# As on a systemd host: nsdelegate, and every mount shared.
must_mount cgroup2 /sys/fs/cgroup nosuid,nodev,noexec,nsdelegate $CGROUP2
mount -o rshared /

for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
  echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control ||
    echo "tsrun-vm: stage 2: cannot enable the $c controller" >&2
done

# Modules come from the cached kernel tree (the host has none for this kernel); the wrapper
# serves both the kernel's own requests and `modprobe` on the command's PATH.
echo "$RUN/bin/modprobe" >/proc/sys/kernel/modprobe

hostname tsrun-vm
ip link set lo up || echo "tsrun-vm: stage 2: cannot bring up lo" >&2

read -r up _ </proc/uptime && echo "$up" >"$RUN/started"
cd /
env -i PATH="$RUN/bin:$PATH" HOME=/root LANG=C.UTF-8 TERM=dumb \
  /usr/bin/timeout -k 10 "$TIMEOUT" /bin/bash "$RUN/cmd.sh" </dev/null >"$RUN/stdout" 2>"$RUN/stderr"
rc=$?
read -r up _ </proc/uptime && echo "$up" >"$RUN/finished"
echo "$rc" >"$RUN/rc.tmp" && mv "$RUN/rc.tmp" "$RUN/rc"
power_off
EOF

# Sets INITRD. Rebuilt when the init template, the module list, the kernel or busybox changes.
ensure_initramfs() {
  local hash img
  hash=$( { printf '%s\n' "$INIT_TEMPLATE" "$INITRAMFS_MODULES" "$KVER"; sha256sum "$BUSYBOX"; } |
    sha256sum | cut -c1-16)
  img=$CACHE/initramfs-$KVER-$hash.img
  INITRD=$img
  [[ -s $img ]] && return 0
  build_initramfs "$img" "$INIT_TEMPLATE" "$INITRAMFS_MODULES" "$KDIR" "$KVER"
  # Older images may be about to boot in another run: drop only those unused for a day.
  find "$CACHE" -maxdepth 1 -name 'initramfs-*.img' ! -path "$img" -mmin +1440 -delete
}

# build_initramfs IMG INIT MODULES KDIR KVER: busybox, /init and the modules (uncompressed, in
# load order) as a gzipped cpio at IMG.
build_initramfs() {
  local img=$1 init=$2 modules=$3 kdir=$4 kver=$5 stage rel n=0 out
  log "building $img"
  stage=$(mktemp -d "${img%/*}/.initramfs.XXXXXX")
  mkdir -p "$stage"/{bin,dev,proc,sys,newroot,modules}
  cp "$BUSYBOX" "$stage/bin/busybox"
  printf '%s\n' "$init" >"$stage/init"
  chmod 755 "$stage/init"
  while read -r rel; do
    n=$((n + 1))
    out=$(printf '%s/modules/%02d-%s' "$stage" "$n" "${rel##*/}")
    out=${out%.ko*}.ko
    case $rel in
      *.ko.xz) xz -dc "$kdir/lib/modules/$kver/$rel" >"$out" ;;
      *.ko.zst) zstd -qdc "$kdir/lib/modules/$kver/$rel" >"$out" ;;
      *.ko.gz) gzip -dc "$kdir/lib/modules/$kver/$rel" >"$out" ;;
      *) cp "$kdir/lib/modules/$kver/$rel" "$out" ;;
    esac
  done < <(module_load_order "$modules" "$kdir/lib/modules/$kver")
  ((n > 0)) || { rm -rf "$stage"; die "no modules found for the initramfs"; }
  (cd "$stage" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet) | gzip -6 >"$img.tmp"
  rm -rf "$stage"
  mv "$img.tmp" "$img"
}

# --info for the default lane: its kernel, and the engines this machine has.
info() {
  echo "root: / (this machine's, over 9p)"
  echo "kernel $KVER"
  dpkg-query -W -f '${Package} ${Version}\n' systemd podman runc crun containerd docker.io criu apparmor \
    conmon buildah libc6 2>/dev/null | awk 'NF == 2'
}

prepare_host() {
  mkdir -p "$CACHE"
  # Two first runs at once must not both install and extract: serialise on a lock.
  local lock
  exec {lock}>"$CACHE/.lock"
  flock "$lock"
  ensure_tools
  ensure_kernel
  ensure_initramfs
  exec {lock}>&-
}

# ---------------------------------------------------------------------------------------------
# One run.

write_run_dir() {
  local e
  if [[ $HOST == trixie ]]; then
    trixie_write_run_dir
  else
    write_stage2
  fi
  {
    echo '# generated by run-in-vm.sh'
    for e in ${ENVS[@]+"${ENVS[@]}"}; do
      printf 'export %s=%q\n' "${e%%=*}" "${e#*=}"
    done
    printf 'cd -- %q || { echo "run-in-vm.sh: cannot cd to %q in the VM" >&2; exit %d; }\n' \
      "$CWD" "$CWD" "$EXIT_VM"
    printf 'exec'
    printf ' %q' "${COMMAND[@]}"
    printf '\n'
  } >"$RUN/cmd.sh"
  chmod 755 "$RUN/cmd.sh"
  : >"$RUN/stdout"
  : >"$RUN/stderr"
}

write_stage2() {
  mkdir -p "$RUN/bin"
  {
    echo '#!/bin/busybox sh'
    echo "RUN=$(sh_quote "$RUN")"
    echo "TIMEOUT=$TIMEOUT"
    echo "SHARE=$(sh_quote "$SHARE")"
    printf '%s\n' "$STAGE2_BODY"
  } >"$RUN/stage2.sh"
  {
    echo '#!/bin/sh'
    echo "exec /sbin/modprobe -d $(sh_quote "$KDIR") \"\$@\""
  } >"$RUN/bin/modprobe"
  chmod 755 "$RUN/stage2.sh" "$RUN/bin/modprobe"
}

QEMU_PID=
TAIL_PIDS=()
cleanup() {
  local pid
  [[ -n $QEMU_PID ]] && kill "$QEMU_PID" 2>/dev/null && wait "$QEMU_PID" 2>/dev/null
  for pid in ${TAIL_PIDS[@]+"${TAIL_PIDS[@]}"}; do kill "$pid" 2>/dev/null || true; done
  if [[ -n ${RUN:-} && -d $RUN ]]; then
    if ((KEEP)); then log "kept $RUN"; else rm -rf "$RUN"; fi
  fi
}

show_console_tail() {
  [[ -s $RUN/console.log ]] || return 0
  log "last lines of the VM console:"
  tail -n 30 "$RUN/console.log" | tr -d '\r' | sed 's/^/  | /' >&2
}

main() {
  parse_args "$@"
  local t0 t1 qemu_rc=0 rc serial
  t0=$(date +%s.%N)
  if [[ $HOST == trixie ]]; then
    trixie_prepare
    if ((INFO)); then trixie_info; exit 0; fi
    ((VERBOSE)) && log "trixie: $(awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2 }' "$TRIXIE_ROOT/versions")"
  else
    prepare_host
    if ((INFO)); then info; exit 0; fi
  fi

  RUN=$(mktemp -d "$RUN_PARENT/tsrun-vm.XXXXXXXX")
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  write_run_dir

  if ((CONSOLE)); then serial=stdio; else serial=file:$RUN/console.log; fi
  local qemu=(
    timeout -k 10 $((TIMEOUT + BOOT_MARGIN))
    qemu-system-x86_64
    -accel tcg,thread=multi -cpu "$CPU" -m "$MEM" -smp "$SMP"
    -nodefaults -nographic -no-reboot -serial "$serial"
  )
  if [[ $HOST == trixie ]]; then
    trixie_qemu_boot
    qemu+=("${QEMU_BOOT[@]}")
  else
    qemu+=(
      -kernel "$KDIR/boot/vmlinuz-$KVER" -initrd "$INITRD"
      -append "console=ttyS0 quiet panic=-1 cgroup_no_v1=all ${TSRUN_VM_APPEND:-} vm9popts=cache=$P9_CACHE vmscript=$RUN/cmd.sh"
      -virtfs local,path=/,mount_tag=root,security_model=passthrough,id=root,multidevs=remap
      -virtfs local,path="$RUN",mount_tag=run,security_model=passthrough,id=run
    )
    [[ -z $SHARE ]] || qemu+=(-virtfs local,path="$SHARE",mount_tag=share,security_model=passthrough,id=share,multidevs=remap)
  fi
  # Extra qemu options for experiments, split on spaces.
  [[ -z ${TSRUN_VM_QEMU_OPTS:-} ]] || qemu+=(${TSRUN_VM_QEMU_OPTS})
  local boots=0
  while :; do
    boots=$((boots + 1))
    qemu_rc=0
    if ((CONSOLE)); then "${qemu[@]}" </dev/null >&2 & else "${qemu[@]}" </dev/null >/dev/null 2>"$RUN/qemu.log" & fi
    QEMU_PID=$!
    # Stream the command's output as the guest writes it; tail exits once qemu has and it has
    # read what is left.
    tail -c +1 -s 0.2 -f --pid="$QEMU_PID" "$RUN/stdout" &
    TAIL_PIDS+=($!)
    tail -c +1 -s 0.2 -f --pid="$QEMU_PID" "$RUN/stderr" >&2 &
    TAIL_PIDS+=($!)
    if [[ $HOST == trixie ]]; then
      trixie_watch "$QEMU_PID" &
      TAIL_PIDS+=($!)
    fi
    wait "$QEMU_PID" || qemu_rc=$?
    QEMU_PID=
    wait "${TAIL_PIDS[@]}" 2>/dev/null || true
    TAIL_PIDS=()
    # A trixie kernel that died before its init ran (a panic at boot under TCG: once in a few
    # dozen boots here, an int3 or a bad opcode in the scheduler) has run nothing, as a hung one.
    [[ $HOST == trixie && ! -e $RUN/stage1 ]] && : >"$RUN/boot-hung"
    # A kernel that hung (or died) before its init ran has run nothing: booting again is safe.
    [[ -e $RUN/boot-hung ]] && ((boots < 2)) || break
    log "the kernel hung or died before its init ran; booting again (console: $RUN/console.hung)"
    mv "$RUN/console.log" "$RUN/console.hung" 2>/dev/null || true
    rm -f "$RUN/boot-hung"
  done
  t1=$(date +%s.%N)

  if ((VERBOSE)) && [[ -s $RUN/started ]]; then
    local fin=
    [[ -s $RUN/finished ]] && fin=$(<"$RUN/finished")
    awk -v t0="$t0" -v t1="$t1" -v s="$(<"$RUN/started")" -v f="$fin" -v p="$PROG" 'BEGIN {
      printf "%s: boot %.1fs (guest uptime at command start)", p, s
      if (f != "") printf ", command %.1fs", f - s
      printf ", total %.1fs\n", t1 - t0 }' >&2
  fi
  [[ $HOST != trixie ]] || trixie_report

  if [[ -s $RUN/rc ]]; then
    rc=$(<"$RUN/rc")
    [[ $rc == "$EXIT_TIMEOUT" ]] && log "the command timed out after ${TIMEOUT}s"
    exit "$rc"
  fi
  if [[ -s $RUN/vm-error ]]; then
    log "the VM could not set up: $(<"$RUN/vm-error")"
    show_console_tail
    exit "$EXIT_VM"
  fi
  if ((qemu_rc == 124)); then
    if [[ -s $RUN/started ]]; then
      log "the VM did not finish within ${TIMEOUT}s + ${BOOT_MARGIN}s; killed it"
      show_console_tail
      exit "$EXIT_TIMEOUT"
    fi
    log "the VM did not boot within $((TIMEOUT + BOOT_MARGIN))s; killed it"
  elif [[ -e $RUN/boot-hung ]]; then
    log "the kernel hung or died before its init ran, twice"
  elif [[ -s $RUN/started ]]; then
    log "the VM stopped before the command finished (qemu exit $qemu_rc)"
  else
    log "the VM failed to boot or ran nothing (qemu exit $qemu_rc)"
  fi
  [[ -s $RUN/qemu.log ]] && sed 's/^/  qemu: /' "$RUN/qemu.log" >&2
  show_console_tail
  exit "$EXIT_VM"
}

main "$@"
