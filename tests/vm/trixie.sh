# shellcheck shell=bash
# The production lane of run-in-vm.sh (--host trixie), sourced by it: a Debian 13 root with
# trixie's own kernel, booted with systemd as PID 1, cgroup v2 only, AppArmor on and the engines
# as trixie packages them. See tests/vm/README.md.
#
#   host (run-in-vm.sh)                        guest
#   -------------------                        -----
#   cached: trixie kernel (private apt),
#     root (debootstrap + packages), initramfs
#   RUN: root/ (units, masks, fstab),
#     guest.sh, cmd.sh
#   qemu, shares: root (read-only), run,
#     vartmp, cwd                          ->  /init (initramfs): overlay of the root share and a
#                                              tmpfs; run share at /var/lib/tsrun-vm (writes
#                                              RUN/stage1); copy RUN/root/ into the overlay;
#                                              switch_root -> systemd
#                                              systemd: basic.target, dbus, apparmor, then
#                                              vmtest.service (Type=simple) runs guest.sh:
#                                              wait for the boot transaction, mount /var/tmp and
#                                              the checkout, run cmd.sh under timeout
#   watch: no RUN/stage1 in 150 s (a hung
#     kernel) -> kill qemu, boot once more
#   tail RUN/stdout, RUN/stderr            <-  writes stdout, stderr, rc; systemctl poweroff
#   qemu exits (killed if it lingers)
#
# The root is a 9p share qemu exports read-only, under a tmpfs overlay: nothing a run does
# reaches the cache. The host's files the guest can write are the run directory, /var/tmp and
# the --cwd directory, mounted only once the boot transaction is over, so that nothing at boot
# (systemd-tmpfiles above all, which cleans /var/tmp) touches them.

TRIXIE_DIR=$CACHE/trixie
TRIXIE_PACKAGES=$HERE/trixie-packages.txt
TRIXIE_MIRROR=${TSRUN_VM_MIRROR:-http://deb.debian.org/debian}
TRIXIE_SECURITY_MIRROR=${TSRUN_VM_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
# trixie's kernel has the virtio drivers and fscache built in (skipped when listed).
readonly TRIXIE_INITRAMFS_MODULES="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev
virtio_pci netfs 9pnet 9pnet_virtio 9p overlay"
# What --info and -v report, as dpkg names them.
readonly TRIXIE_VERSIONS="systemd podman runc crun containerd docker.io criu apparmor conmon
buildah netavark golang-github-containers-common libc6"
# Today's runtimes, beside trixie's own: unstable's packages, unpacked (not installed) under
# /opt/sid in the root, run against trixie's libraries (they need glibc >= 2.38; trixie has 2.41):
# /opt/sid/usr/sbin/runc, and /opt/sid/bin/crun, which runs unstable's crun with the two libraries
# trixie lacks (libblake3-0) or has too old (libjson-c5) from /opt/sid. The reference for today's
# runc and crun behaviour.
readonly TRIXIE_SID_RUNTIMES="runc crun libblake3-0 libjson-c5"

# Units that only slow a TCG boot (udev alone costs 16-19 s of it), would act on the host's
# files (systemd-tmpfiles-clean ages out /var/tmp, which is the host's in the guest), or wait
# for a console login. apparmor.service stays: a production host loads its profiles.
readonly TRIXIE_MASKED="systemd-timesyncd.service systemd-remount-fs.service
systemd-fsck-root.service systemd-hwdb-update.service systemd-journal-catalog-update.service
systemd-update-done.service ldconfig.service systemd-pstore.service systemd-binfmt.service
proc-sys-fs-binfmt_misc.automount getty.target serial-getty@ttyS0.service getty@tty1.service
systemd-firstboot.service apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer
e2scrub_all.timer e2scrub_reap.service fstrim.timer man-db.timer systemd-tmpfiles-clean.timer
systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket
systemd-udev-trigger.service systemd-udev-settle.service systemd-udev-load-credentials.service"

# ---------------------------------------------------------------------------------------------
# The kernel: trixie's linux-image-amd64, through an apt configuration of our own.

# apt-get/apt-cache with no state of this machine's: our own sources, lists, cache, an empty
# dpkg status, and none of /etc/apt's parts (a parts file may act on the machine's own cache).
# TRIXIE_APT picks the configuration: apt (trixie's, the default) or apt-sid (unstable's).
trixie_apt() {
  local tool=$1 a=$TRIXIE_DIR/${TRIXIE_APT:-apt}
  shift
  APT_CONFIG=$a/apt.conf "$tool" -q "$@"
}

# trixie_apt_setup [sid]: trixie's sources, or unstable's with "sid".
trixie_apt_setup() {
  local a=$TRIXIE_DIR/apt key=/usr/share/keyrings/debian-archive-keyring.gpg
  [[ ${1:-} == sid ]] && a=$TRIXIE_DIR/apt-sid
  mkdir -p "$a/empty" "$a/state/lists/partial" "$a/cache/archives/partial"
  if [[ ${1:-} == sid ]]; then
    echo "deb [signed-by=$key] $TRIXIE_MIRROR sid main" >"$a/sources.list"
  else
    cat >"$a/sources.list" <<EOF
deb [signed-by=$key] $TRIXIE_MIRROR trixie main
deb [signed-by=$key] $TRIXIE_MIRROR trixie-updates main
deb [signed-by=$key] $TRIXIE_SECURITY_MIRROR trixie-security main
EOF
  fi
  cat >"$a/apt.conf" <<EOF
Dir::Etc::Parts "$a/empty";
Dir::Etc::SourceList "$a/sources.list";
Dir::Etc::SourceParts "$a/empty";
Dir::Etc::Preferences "$a/preferences";
Dir::Etc::PreferencesParts "$a/empty";
Dir::State "$a/state";
Dir::State::status "/dev/null";
Dir::Cache "$a/cache";
APT::Architecture "amd64";
APT::Architectures { "amd64"; };
APT::Sandbox::User "root";
Acquire::Languages "none";
EOF
  # The mirror this machine reaches serves unstable's Release past its Valid-Until (seen: 31 days);
  # its signature still holds.
  if [[ ${1:-} == sid ]]; then echo 'Acquire::Check-Valid-Until "false";' >>"$a/apt.conf"; fi
}

# Sets TRIXIE_KVER and TRIXIE_KDIR (boot/vmlinuz-KVER, usr/lib/modules/KVER, lib -> usr/lib).
trixie_ensure_kernel() {
  if [[ -z ${TSRUN_VM_REFRESH:-} && -s $TRIXIE_DIR/current-kernel ]]; then
    TRIXIE_KVER=$(<"$TRIXIE_DIR/current-kernel")
    TRIXIE_KDIR=$TRIXIE_DIR/kernel-$TRIXIE_KVER
    [[ -f $TRIXIE_KDIR/.complete ]] && return 0
  fi
  trixie_apt_setup
  log "trixie: apt-get update (private lists in $TRIXIE_DIR/apt)"
  trixie_apt apt-get update >&2 || die "apt-get update of trixie's lists failed"
  local pkg tmp
  pkg=$(trixie_apt apt-cache depends linux-image-amd64 |
    awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9].*-amd64$/ { print $2; exit }')
  [[ -n $pkg ]] || die "cannot find the kernel package that trixie's linux-image-amd64 depends on"
  TRIXIE_KVER=${pkg#linux-image-}
  TRIXIE_KDIR=$TRIXIE_DIR/kernel-$TRIXIE_KVER
  if [[ ! -f $TRIXIE_KDIR/.complete ]]; then
    log "trixie: fetching $pkg"
    tmp=$(mktemp -d "$TRIXIE_DIR/.kernel.XXXXXX")
    (cd "$tmp" && trixie_apt apt-get download "$pkg" >&2) || { rm -rf "$tmp"; die "apt-get download $pkg failed"; }
    dpkg -x "$tmp"/*.deb "$tmp/root"
    rm -f "$tmp"/*.deb
    # Merged /usr: the package has usr/lib/modules only, and Debian 12's depmod -b (like
    # module_load_order) looks in BASE/lib/modules.
    [[ -e $tmp/root/lib ]] || ln -s usr/lib "$tmp/root/lib"
    [[ -f $tmp/root/boot/vmlinuz-$TRIXIE_KVER && -d $tmp/root/lib/modules/$TRIXIE_KVER ]] ||
      { rm -rf "$tmp"; die "$pkg does not hold boot/vmlinuz-$TRIXIE_KVER and usr/lib/modules/$TRIXIE_KVER"; }
    depmod -b "$tmp/root" "$TRIXIE_KVER"
    rm -rf "$TRIXIE_KDIR"
    mv "$tmp/root" "$TRIXIE_KDIR"
    rmdir "$tmp"
    touch "$TRIXIE_KDIR/.complete"
  fi
  printf '%s\n' "$TRIXIE_KVER" >"$TRIXIE_DIR/current-kernel.tmp"
  mv "$TRIXIE_DIR/current-kernel.tmp" "$TRIXIE_DIR/current-kernel"
}

# ---------------------------------------------------------------------------------------------
# The root: debootstrap's minbase plus trixie-packages.txt, the kernel's modules, a machine id.

# The package list without comments, one name a line, sorted: its order does not matter.
trixie_packages() {
  sed -e 's/#.*//' "$TRIXIE_PACKAGES" | tr -s ' \t' '\n\n' | sed '/^$/d' | LC_ALL=C sort -u
}

# The key of a root: the package list, the kernel whose modules it holds, and the code that
# builds it. Any change to one of them is a new directory, built on the next run.
trixie_root_key() {
  { trixie_packages; echo "$TRIXIE_KVER $TRIXIE_SID_RUNTIMES"; declare -f trixie_build_root trixie_chroot trixie_sid_runtimes; } |
    sha256sum | cut -c1-16
}

# Run a command in the root being built, with a clean environment.
trixie_chroot() {
  local root=$1
  shift
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
    chroot "$root" "$@"
}

TRIXIE_BUILD_MOUNTS=()
trixie_unmount_build() {
  local i
  for ((i = ${#TRIXIE_BUILD_MOUNTS[@]} - 1; i >= 0; i--)); do
    umount "${TRIXIE_BUILD_MOUNTS[i]}" 2>/dev/null || umount -l "${TRIXIE_BUILD_MOUNTS[i]}" || true
  done
  TRIXIE_BUILD_MOUNTS=()
}

# trixie_sid_runtimes ROOTFS: unstable's current TRIXIE_SID_RUNTIMES unpacked under ROOTFS/opt/sid,
# their versions in ROOTFS/opt/sid/versions ("runc 1.3.6+ds1-1" a line).
trixie_sid_runtimes() {
  local rootfs=$1 dl deb
  trixie_apt_setup sid
  TRIXIE_APT=apt-sid trixie_apt apt-get update >&2 || die "apt-get update of unstable's lists failed"
  dl=$(mktemp -d "$TRIXIE_DIR/.sid.XXXXXX")
  # shellcheck disable=SC2086 # a list of package names
  (cd "$dl" && TRIXIE_APT=apt-sid trixie_apt apt-get download $TRIXIE_SID_RUNTIMES >&2) ||
    { rm -rf "$dl"; die "apt-get download of unstable's $TRIXIE_SID_RUNTIMES failed"; }
  mkdir -p "$rootfs/opt/sid"
  for deb in "$dl"/*.deb; do
    dpkg -x "$deb" "$rootfs/opt/sid"
    dpkg-deb -f "$deb" Package Version | paste -sd' ' >>"$rootfs/opt/sid/versions"
  done
  rm -rf "$dl"
  mkdir -p "$rootfs/opt/sid/bin"
  printf '#!/bin/sh\nLD_LIBRARY_PATH=/opt/sid/usr/lib/x86_64-linux-gnu exec /opt/sid/usr/bin/crun "$@"\n' >"$rootfs/opt/sid/bin/crun"
  chmod 755 "$rootfs/opt/sid/bin/crun"
}

# trixie_build_root DIR: DIR/rootfs, then DIR/packages and DIR/versions.
trixie_build_root() {
  local dir=$1 rootfs=$1/rootfs m
  local -a packages
  mapfile -t packages < <(trixie_packages)
  ((${#packages[@]})) || die "$TRIXIE_PACKAGES lists no packages"
  command -v debootstrap >/dev/null || apt_install debootstrap
  log "trixie: debootstrap (minbase) into $rootfs"
  debootstrap --variant=minbase trixie "$rootfs" "$TRIXIE_MIRROR" >"$dir/debootstrap.log" 2>&1 ||
    { tail -n 20 "$dir/debootstrap.log" >&2; die "debootstrap trixie failed (log: $dir/debootstrap.log)"; }
  cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $TRIXIE_MIRROR trixie main
deb $TRIXIE_MIRROR trixie-updates main
deb $TRIXIE_SECURITY_MIRROR trixie-security main
EOF
  # Daemons must not start on this machine while their packages install.
  printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
  chmod 755 "$rootfs/usr/sbin/policy-rc.d"
  # No /sys: on a host with AppArmor, the apparmor package would load its profiles into the
  # host's kernel.
  for m in proc dev dev/pts; do
    case $m in
      proc) mount -t proc proc "$rootfs/proc" ;;
      *) mount --bind "/$m" "$rootfs/$m" ;;
    esac || die "cannot mount $rootfs/$m"
    TRIXIE_BUILD_MOUNTS+=("$rootfs/$m")
  done
  log "trixie: installing ${#packages[@]} packages"
  { trixie_chroot "$rootfs" apt-get -q update &&
    trixie_chroot "$rootfs" apt-get -q install -y --no-install-recommends "${packages[@]}"; } \
    >"$dir/apt.log" 2>&1 ||
    { trixie_unmount_build; tail -n 20 "$dir/apt.log" >&2; die "installing the packages failed (log: $dir/apt.log)"; }
  # A machine id, or the first boot runs the first-boot units.
  trixie_chroot "$rootfs" systemd-machine-id-setup >/dev/null
  # The kernel's modules, for the guest's own modprobe (docker's bridge, netavark's nf_tables).
  mkdir -p "$rootfs/usr/lib/modules"
  cp -a "$TRIXIE_KDIR/usr/lib/modules/$TRIXIE_KVER" "$rootfs/usr/lib/modules/"
  trixie_chroot "$rootfs" depmod "$TRIXIE_KVER"
  trixie_sid_runtimes "$rootfs"
  trixie_chroot "$rootfs" dpkg-query -W -f '${Package} ${Version}\n' >"$dir/packages"
  trixie_chroot "$rootfs" apt-get clean
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs/usr/sbin/policy-rc.d"
  trixie_unmount_build
  {
    echo "kernel $TRIXIE_KVER"
    awk -v want="$TRIXIE_VERSIONS" 'BEGIN { n = split(want, w, /[ \n]+/); for (i = 1; i <= n; i++) if (w[i] != "") keep[w[i]] = i }
      $1 in keep { v[keep[$1]] = $0 } END { for (i = 1; i <= n; i++) if (i in v) print v[i] }' "$dir/packages"
    sed 's/^/sid /' "$rootfs/opt/sid/versions"
  } >"$dir/versions"
}

# Sets TRIXIE_ROOT (the directory holding rootfs/, packages, versions).
trixie_ensure_root() {
  local key tmp old
  key=$(trixie_root_key)
  TRIXIE_ROOT=$TRIXIE_DIR/root-$key
  if [[ ! -f $TRIXIE_ROOT/.complete ]]; then
    local t0=$SECONDS
    tmp=$(mktemp -d "$TRIXIE_DIR/.root.XXXXXX")
    trap 'trixie_unmount_build; rm -rf --one-file-system "$tmp"' EXIT
    trixie_build_root "$tmp"
    trap - EXIT
    rm -rf --one-file-system "$TRIXIE_ROOT"
    mv "$tmp" "$TRIXIE_ROOT"
    touch "$TRIXIE_ROOT/.complete"
    log "trixie: built $TRIXIE_ROOT in $((SECONDS - t0)) s ($(du -sh "$TRIXIE_ROOT/rootfs" | cut -f1))"
  fi
  touch "$TRIXIE_ROOT/last-used"
  # Roots of older package lists or kernels: drop those no run has used for a day (one may be
  # the lower layer of a VM that is running now).
  for old in "$TRIXIE_DIR"/root-*; do
    [[ $old != "$TRIXIE_ROOT" && -d $old ]] || continue
    [[ -n $(find "$old/last-used" -mmin -1440 2>/dev/null) ]] && continue
    log "trixie: removing $old (unused for a day)"
    rm -rf --one-file-system "$old"
  done
}

# ---------------------------------------------------------------------------------------------
# Boot: an initramfs that stacks the overlay and starts systemd.

read -r -d '' TRIXIE_INIT_TEMPLATE <<'EOF' || true
#!/bin/busybox sh
# tsrun-vm trixie stage 1: the cached root (9p, read-only) under a tmpfs overlay, the run
# directory beside it, the run's units copied in, then systemd.
export PATH=/bin
/bin/busybox --install -s /bin
mount -t proc -o nosuid,nodev,noexec proc /proc
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
mount -t devtmpfs -o nosuid,mode=755 devtmpfs /dev
exec </dev/console >/dev/console 2>&1

# This /proc is the guest's own: the root below is not this machine's.
fail() {
  echo "tsrun-vm: stage 1: $*"
  [ -d /newroot/var/lib/tsrun-vm/root ] && echo "stage 1: $*" >/newroot/var/lib/tsrun-vm/vm-error
  sync
  poweroff -f
  sleep 3600
}

for ko in /modules/*.ko; do
  [ -e "$ko" ] || continue
  insmod "$ko" || echo "tsrun-vm: stage 1: insmod ${ko##*/} failed"
done

p9=trans=virtio,version=9p2000.L,msize=512000
mkdir -p /lower /rw /newroot
mount -t 9p -o "$p9,cache=loose,ro" root /lower || fail "cannot mount the root share"
mount -t tmpfs -o mode=755 tmpfs /rw && mkdir /rw/upper /rw/work || fail "cannot mount the tmpfs"
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot ||
  fail "cannot mount the overlay"
[ -x /newroot/lib/systemd/systemd ] || fail "no /lib/systemd/systemd in the root"
mkdir -p /newroot/var/lib/tsrun-vm
mount -t 9p -o "$p9" run /newroot/var/lib/tsrun-vm || fail "cannot mount the run directory"
# Tells the host's watchdog that the kernel got this far.
read -r up _ </proc/uptime && echo "$up" >/newroot/var/lib/tsrun-vm/stage1
cp -af /newroot/var/lib/tsrun-vm/root/. /newroot/ || fail "cannot copy the run's units into the root"

mount -o move /proc /newroot/proc && mount -o move /sys /newroot/sys && mount -o move /dev /newroot/dev ||
  fail "cannot move /proc, /sys, /dev"
exec switch_root /newroot /lib/systemd/systemd
EOF

# Sets TRIXIE_INITRD.
trixie_ensure_initramfs() {
  local hash
  hash=$( { printf '%s\n' "$TRIXIE_INIT_TEMPLATE" "$TRIXIE_INITRAMFS_MODULES" "$TRIXIE_KVER"; sha256sum "$BUSYBOX"; } |
    sha256sum | cut -c1-16)
  TRIXIE_INITRD=$TRIXIE_DIR/initramfs-$TRIXIE_KVER-$hash.img
  [[ -s $TRIXIE_INITRD ]] && return 0
  build_initramfs "$TRIXIE_INITRD" "$TRIXIE_INIT_TEMPLATE" "$TRIXIE_INITRAMFS_MODULES" "$TRIXIE_KDIR" "$TRIXIE_KVER"
  find "$TRIXIE_DIR" -maxdepth 1 -name 'initramfs-*.img' ! -path "$TRIXIE_INITRD" -mmin +1440 -delete
}

trixie_prepare() {
  mkdir -p "$TRIXIE_DIR"
  # Its own lock: a root build (minutes) must not hold up runs of the default lane.
  local lock
  exec {lock}>"$TRIXIE_DIR/.lock"
  flock "$lock"
  ensure_tools
  trixie_ensure_kernel
  trixie_ensure_root
  trixie_ensure_initramfs
  exec {lock}>&-
}

trixie_info() {
  echo "root: $TRIXIE_ROOT/rootfs"
  cat "$TRIXIE_ROOT/versions"
}

# ---------------------------------------------------------------------------------------------
# One run: what the guest gets in RUN (the units, guest.sh), and the qemu shares.

# vmtest.service starts the command once the boot transaction is done (guest.sh waits for it).
# Type=simple: the transaction ends as the script starts, so is-system-running can say
# "running" while it runs.
read -r -d '' TRIXIE_TARGET_UNIT <<'EOF' || true
[Unit]
Description=tsrun VM: one command
Requires=basic.target
After=basic.target
Wants=dbus.socket dbus.service vmtest.service
AllowIsolate=yes
EOF

read -r -d '' TRIXIE_SERVICE_UNIT <<'EOF' || true
[Unit]
Description=tsrun VM: the command of run-in-vm.sh
After=basic.target

[Service]
Type=simple
ExecStart=/bin/bash /var/lib/tsrun-vm/guest.sh
StandardOutput=journal+console
StandardError=journal+console
EOF

# Engine storage on tmpfs, as it would be on a disk of its own: not on the overlay root.
read -r -d '' TRIXIE_FSTAB <<'EOF' || true
tmpfs /var/lib/docker tmpfs mode=0710 0 0
tmpfs /var/lib/containers tmpfs mode=0700 0 0
tmpfs /var/lib/containerd tmpfs mode=0711 0 0
EOF

# Run by vmtest.service. A header sets TIMEOUT, P9_CACHE, CWD_SHARE and VERBOSE. The run
# directory is at /var/lib/tsrun-vm in the guest, not at its host path: /var/tmp is mounted over
# that later, and a virtio 9p share can be mounted only once.
read -r -d '' TRIXIE_GUEST_BODY <<'EOF' || true
R=/var/lib/tsrun-vm
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

power_off() {
  sync
  systemctl --no-block poweroff || echo o >/proc/sysrq-trigger
  exit 0
}

abort() {
  echo "tsrun-vm: $*" >&2
  echo "$*" >"$R/vm-error"
  power_off
}

# The command sees a host that has finished starting: "running", or "degraded" with failed units.
state=$(systemctl is-system-running --wait 2>&1)
echo "$state" >"$R/system-state"
read -r up _ </proc/uptime && echo "$up" >"$R/ready"
[ "$state" = running ] || systemctl --failed --no-legend --plain >>"$R/system-state" 2>&1

# Only now the host's directories: nothing that ran at boot saw them.
p9=trans=virtio,version=9p2000.L,msize=512000,cache=$P9_CACHE
mount -t 9p -o "$p9" vartmp /var/tmp || abort "cannot mount the host's /var/tmp"
if [ -n "$CWD_SHARE" ]; then
  mkdir -p "$CWD_SHARE" && mount -t 9p -o "$p9,multidevs=remap" cwd "$CWD_SHARE" ||
    abort "cannot mount $CWD_SHARE"
fi

read -r up _ </proc/uptime && echo "$up" >"$R/started"
cd /
env -i PATH="$PATH" HOME=/root LANG=C.UTF-8 TERM=dumb \
  timeout -k 10 "$TIMEOUT" /bin/bash "$R/cmd.sh" </dev/null >"$R/stdout" 2>"$R/stderr"
rc=$?
read -r up _ </proc/uptime && echo "$up" >"$R/finished"
# After the command, so that it does not delay it (each takes seconds under TCG).
if [ "$VERBOSE" = 1 ]; then
  systemd-analyze time >"$R/boot-time" 2>&1
  systemd-analyze blame 2>/dev/null | head -n 8 >>"$R/boot-time"
fi
echo "$rc" >"$R/rc.tmp" && mv "$R/rc.tmp" "$R/rc"
power_off
EOF

# The guest's mount of the checkout: none for / (the guest's own) or inside the host's /var/tmp
# (already there).
trixie_cwd_share() {
  case $CWD in
    / | /var/tmp | /var/tmp/*) ;;
    *) printf '%s\n' "$CWD" ;;
  esac
}

# Paths of the guest's own system a --cwd must not hide.
trixie_hides_system() {
  case $1 in
    / | /usr | /usr/* | /etc | /etc/* | /bin | /bin/* | /sbin | /sbin/* | /lib | /lib/* | /lib64 | /lib64/* | \
      /boot | /boot/* | /proc | /proc/* | /sys | /sys/* | /dev | /dev/* | /run | /tmp | /var | /var/lib | /var/lib/* | \
      /var/log | /var/log/* | /var/cache | /var/cache/*) return 0 ;;
  esac
  return 1
}

# --cwd in this lane: shared at its own path, unless that would hide the guest's own system.
trixie_parse_cwd() {
  if [[ -z $CWD ]]; then
    CWD=$PWD
    if [[ $CWD != / ]] && trixie_hides_system "$CWD"; then
      log "note: $CWD would hide the guest's own system; running in /"
      CWD=/
    fi
  else
    [[ -d $CWD ]] || usage_error "--cwd: no such directory: $CWD"
    CWD=$(cd -- "$CWD" && pwd)
    [[ $CWD == / ]] || ! trixie_hides_system "$CWD" ||
      usage_error "--cwd $CWD would hide the guest's own system in the trixie VM"
  fi
  [[ $CWD != *[[:space:]\',]* ]] || usage_error "--cwd $CWD: a shared directory must not contain spaces, quotes or commas"
}

trixie_write_run_dir() {
  local r=$RUN/root u m
  u=$r/etc/systemd/system
  install -d -m 755 "$r" "$r/etc" "$r/etc/systemd" "$u"
  printf '%s\n' "$TRIXIE_TARGET_UNIT" >"$u/vmtest.target"
  printf '%s\n' "$TRIXIE_SERVICE_UNIT" >"$u/vmtest.service"
  ln -s vmtest.target "$u/default.target"
  for m in $TRIXIE_MASKED; do ln -s /dev/null "$u/$m"; done
  { cat "$TRIXIE_ROOT/rootfs/etc/fstab" 2>/dev/null; printf '%s\n' "$TRIXIE_FSTAB"; } >"$r/etc/fstab"
  echo tsrun-vm >"$r/etc/hostname"
  chmod 644 "$u/vmtest.target" "$u/vmtest.service" "$r/etc/fstab" "$r/etc/hostname"
  {
    echo '#!/bin/bash'
    echo '# generated by run-in-vm.sh --host trixie'
    echo "TIMEOUT=$TIMEOUT"
    echo "P9_CACHE=$P9_CACHE"
    echo "CWD_SHARE=$(sh_quote "$(trixie_cwd_share)")"
    echo "VERBOSE=$VERBOSE"
    printf '%s\n' "$TRIXIE_GUEST_BODY"
  } >"$RUN/guest.sh"
  chmod 755 "$RUN/guest.sh"
}

# The kernel's LSM arguments: none for AppArmor (trixie's kernel default); for --lsm selinux, the
# default list with SELinux in AppArmor's place (the two are exclusive), permissive at boot: the
# root's files are unlabelled (9p and overlay), which the policy's boot would not survive enforcing.
trixie_lsm_args() {
  [[ ${LSM:-} == selinux ]] || return 0
  printf '%s' 'lsm=lockdown,capability,landlock,yama,selinux,bpf enforcing=0'
}

# qemu's kernel, initrd, command line and shares for this lane, into the array QEMU_BOOT.
trixie_qemu_boot() {
  local cwd_share
  cwd_share=$(trixie_cwd_share)
  QEMU_BOOT=(
    -kernel "$TRIXIE_KDIR/boot/vmlinuz-$TRIXIE_KVER" -initrd "$TRIXIE_INITRD"
    -append "console=ttyS0 loglevel=4 panic=-1 $(trixie_lsm_args) ${TSRUN_VM_APPEND:-}"
    -virtfs local,path="$TRIXIE_ROOT/rootfs",mount_tag=root,security_model=passthrough,id=root,multidevs=remap,readonly=on
    -virtfs local,path="$RUN",mount_tag=run,security_model=passthrough,id=run
    -virtfs local,path=/var/tmp,mount_tag=vartmp,security_model=passthrough,id=vartmp,multidevs=remap
  )
  [[ -z $cwd_share ]] || QEMU_BOOT+=(-virtfs local,path="$cwd_share",mount_tag=cwd,security_model=passthrough,id=cwd,multidevs=remap)
}

# After a run: how the boot ended (always, unless "running"), and with -v how long it took.
trixie_report() {
  local state
  [[ -s $RUN/system-state ]] || return 0
  state=$(head -n 1 "$RUN/system-state")
  if [[ $state != running ]]; then
    log "trixie: the guest's system state was \"$state\" at command start; failed units:"
    tail -n +2 "$RUN/system-state" | sed 's/^/  | /' >&2
  fi
  if ((VERBOSE)) && [[ -s $RUN/boot-time ]]; then
    log "trixie: systemd-analyze in the guest:"
    sed 's/^/  | /' "$RUN/boot-time" >&2
  fi
}

# The host's side of a boot, in the background:
# - The kernel sometimes hangs early under TCG (one boot in about ten: RCU stalls, "timer wakeup
#   didn't happen" on the second vCPU, qemu idle). Stage 1 writes RUN/stage1 once it runs; with
#   none after TSRUN_VM_BOOT_WATCHDOG seconds, mark RUN/boot-hung and kill qemu: main boots again.
# - Once the guest has written its exit code, systemd powers off (qemu exits ~5-10 s later); a
#   shutdown that hangs (a unit that will not stop) must not hold the run: kill qemu after
#   TSRUN_VM_POWEROFF_GRACE seconds.
trixie_watch() {
  local pid=$1 watchdog=${TSRUN_VM_BOOT_WATCHDOG:-150} grace=${TSRUN_VM_POWEROFF_GRACE:-60} t=0 done_at=
  while kill -0 "$pid" 2>/dev/null; do
    if [[ ! -e $RUN/stage1 ]] && ((t >= watchdog)); then
      : >"$RUN/boot-hung"
      kill "$pid"
      return 0
    fi
    if [[ -z $done_at && ( -e $RUN/rc || -e $RUN/vm-error ) ]]; then
      done_at=$t
    elif [[ -n $done_at ]] && ((t - done_at >= grace)); then
      log "the VM did not power off ${grace}s after the command finished; killing it"
      kill "$pid"
      return 0
    fi
    sleep 1
    t=$((t + 1))
  done
}
