#!/usr/bin/env bash
# Smoke test for the VM test bed: boots it three times (~10 s each under TCG) and checks that it
# is a pure cgroup-v2 host with the controllers tsrun needs, and that exit codes, stdout/stderr,
# --cwd, --env and --timeout come back as documented. Needs root (it may apt-get install).
# `smoke.sh --host trixie` checks the production lane the same way (~1 min a boot).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
vm() { "$here/run-in-vm.sh" "$@"; }
if [[ ${1:-} == --host ]]; then
  host=$2
  vm() { "$here/run-in-vm.sh" --host "$host" "$@"; }
fi
passed=0 failed=0

check() {  # check NAME CONDITION-COMMAND...
  local name=$1; shift
  if "$@"; then
    passed=$((passed + 1)); echo "ok   $name"
  else
    failed=$((failed + 1)); echo "FAIL $name"
  fi
}

out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
runs_before=$(compgen -G '/var/tmp/tsrun-vm.*' | wc -l)

# 1. What kind of host is it?
vm --cwd / --env 'GREETING=hello  "vm"' -- bash -c '
  cat /sys/fs/cgroup/cgroup.controllers; id; uname -r
  echo "fs=$(stat -f -c %T /sys/fs/cgroup)"
  echo "subtree=$(cat /sys/fs/cgroup/cgroup.subtree_control)"
  echo "cwd=$PWD"
  echo "greeting=$GREETING" >&2' >"$out" 2>"$err"
rc=$?
sed 's/^/  | /' "$out"
check "first run exits 0 (got $rc)" test "$rc" -eq 0
check "cgroup2 is mounted at /sys/fs/cgroup" grep -qx 'fs=cgroup2fs' "$out"
check "memory is available" \
  grep -Eq '^([a-z]+ )*memory( [a-z]+)*$' <(head -n1 "$out")
check "pids is available" grep -Eq '^([a-z]+ )*pids( [a-z]+)*$' <(head -n1 "$out")
check "memory and pids are enabled for children" \
  bash -c 'grep "^subtree=" "$1" | grep -qw memory && grep "^subtree=" "$1" | grep -qw pids' _ "$out"
check "runs as root" grep -q '^uid=0(root)' "$out"
check "runs the VM kernel, not the host's" bash -c '! grep -qx "$(uname -r)" "$1"' _ "$out"
check "--cwd is honoured" grep -qx 'cwd=/' "$out"
check "--env is passed verbatim, stderr comes back" grep -qx 'greeting=hello  "vm"' "$err"

# 2. Exit codes come back.
vm -- sh -c 'exit 7' >/dev/null 2>&1
rc=$?
check "exit code of sh -c 'exit 7' is 7 (got $rc)" test "$rc" -eq 7

# 3. Timeouts are 124.
vm --timeout 2 -- sleep 60 >/dev/null 2>&1
rc=$?
check "a command past --timeout exits 124 (got $rc)" test "$rc" -eq 124

runs_after=$(compgen -G '/var/tmp/tsrun-vm.*' | wc -l)
check "no run directory is left behind" test "$runs_after" -le "$runs_before"

echo "$passed passed, $failed failed"
((failed == 0))
