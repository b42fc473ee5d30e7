#!/bin/bash
# Quick start, part one: set up, build a busybox bundle, run it with tsrun.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

bundle=$(mktemp -d /tmp/tsrun-demo.XXXXXX)
trap 'rm -rf "$bundle"' EXIT
mkdir -p "$bundle/rootfs/bin"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
for applet in sh echo hostname id ls cat uname ps; do ln -s busybox "$bundle/rootfs/bin/$applet"; done
./bin/tsrun spec --bundle "$bundle"
# no terminal, and a short program instead of an interactive shell
node -e '
const fs = require("fs"), f = process.argv[1], c = JSON.parse(fs.readFileSync(f, "utf8"));
c.process.terminal = false;
c.process.args = ["sh", "-c", "echo \"hello from a tsrun container\"; echo \"hostname: $(hostname)\"; id; echo processes:; ps"];
fs.writeFileSync(f, JSON.stringify(c, null, 2));' "$bundle/config.json"
echo "+ tsrun run -b $bundle demo"
./bin/tsrun run -b "$bundle" "demo-$$"
