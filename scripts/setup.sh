#!/bin/bash
# Installs what tsrun needs on Debian 12 and builds it. Idempotent: fast
# when everything is already there. Run as root (apt-get).
set -euo pipefail
cd "$(dirname "$0")/.."

# cmake/g++/pkg-config/libseccomp-dev build the addon, libsystemd-dev gives
# native/host/systemd.c sd-bus's headers (libsystemd itself is dlopen'ed
# when a container uses the systemd cgroup driver); clang-format checks
# the C and C++ (npm run lint); busybox-static makes
# test and demo rootfs; runc is the reference the tests compare against;
# python3 and util-linux (script) drive the console tests; podman, conmon
# and buildah, and containerd (with ctr), are the real engines the engine
# tests drive tsrun with.
# iproute2 moves linux.netDevices (lib/container/netdev.ts) and makes the
# tests' dummy links; procps gives `ps` for `tsrun ps --format table`.
# strace checks what the front binary executes (tests/integration/front.test.ts);
# crun is the third runtime `npm run bench` compares in the cgroup-v2 VM (it
# refuses this hybrid host).
# qemu-system-x86, kmod and cpio boot the cgroup-v2 VM (tests/vm/run-in-vm.sh, which
# fetches the kernel package itself on first use).
# clang, libclang-rt-14-dev (the ASan/UBSan runtimes) and libfuzzer-14-dev
# build build-san/: the sanitized build and the fuzz targets (npm test -- fuzz-c).
# python3-fusepy (with libfuse2) serves the resctrl filesystem the Intel RDT tests
# use where the CPU has no RDT (tests/helpers/fake-resctrl.py). debootstrap makes the
# clean Debian root the install suite puts the release and the npm package on.
# docker-registry (distribution 2.8) is the real registry lib/image/registry.ts pulls from in
# the tests, and skopeo pushes the test images to it (tests/helpers/registry.ts); openssl makes its
# token service's certificate there, and zstd a zstd layer (tests/integration/images.test.ts).
PACKAGES=(cmake g++ make pkg-config libseccomp-dev libsystemd-dev clang-format attr busybox-static runc uidmap python3 util-linux podman conmon buildah golang-github-containers-common catatonit containerd docker.io iproute2 procps strace crun qemu-system-x86 kmod cpio clang libclang-rt-14-dev libfuzzer-14-dev python3-fusepy debootstrap docker-registry skopeo openssl zstd)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The tests start their own registries on private ports: the package's service (port 5000, on a host
# where systemd runs) is not wanted.
if [ -d /run/systemd/system ] && systemctl is-enabled --quiet docker-registry 2>/dev/null; then
  systemctl disable --now --quiet docker-registry || true
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

npm run --silent build
