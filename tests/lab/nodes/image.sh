#!/usr/bin/env bash
# Builds (once per recipe, cached machine-wide) the Debian 13 lab host image:
# a debootstrap minbase root + image-packages.txt, prepared to boot systemd
# as PID 1 in a container. Prints the path of the cached root tarball.
#   tests/lab/nodes/image.sh [--force]
set -euo pipefail
source "$(dirname "$0")/common.sh"

key=$(recipe_key "$NODE_SUITE $NODE_MIRROR" "$NODES_SRC/image-packages.txt" "$NODES_SRC/image-files.sh")
out="$LAB_CACHE/image-$NODE_SUITE-$key.tar"

files() { ROOT="$1" bash "$NODES_SRC/image-files.sh"; }
build() { build_root_tar "$out" "$key" "$NODES_SRC/image-packages.txt" "the lab host image" files "$@"; }

mkdir -p "$LAB_CACHE"
with_lock "$out.lock" build "${1:-}"
prune_cache "$out" "image-*.tar"
echo "$out"
