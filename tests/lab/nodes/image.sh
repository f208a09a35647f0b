#!/usr/bin/env bash
# Builds (once per recipe, cached machine-wide) the Debian 13 lab host image:
# a debootstrap minbase root + image-packages.txt, prepared to boot systemd
# as PID 1 in a container. Prints the path of the cached root tarball.
#   tests/lab/nodes/image.sh [--force]
set -euo pipefail
source "$(dirname "$0")/common.sh"

key=$(recipe_key "$NODE_SUITE $NODE_MIRROR" "$NODES_SRC/image-packages.txt" "$NODES_SRC/image-files.sh")
out="$LAB_CACHE/image-$NODE_SUITE-$key.tar"

build() {
  [ -s "$out" ] && [ "${1:-}" != --force ] && return 0
  local t0 root
  t0=$(now)
  tmp=$(mktemp -d "$LAB_CACHE/build.XXXXXX")   # global: the EXIT trap needs it
  # Unmount anything debootstrap left mounted if we fail half-way.
  # shellcheck disable=SC2154  # $m is the trap's own loop variable
  trap 'for m in proc sys dev/pts dev; do umount -l "$tmp/root/$m" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT
  root="$tmp/root"
  log "building $NODE_SUITE image (key $key) from $NODE_MIRROR"
  heartbeat "nodes: debootstrap" debootstrap --variant=minbase --keyring="$NODE_KEYRING" \
    --include="$(pkg_list "$NODES_SRC/image-packages.txt" | paste -sd,)" \
    "$NODE_SUITE" "$root" "$NODE_MIRROR" >"$tmp/debootstrap.log" 2>&1 \
    || { tail -20 "$tmp/debootstrap.log" >&2; die "debootstrap failed"; }
  ROOT="$root" bash "$NODES_SRC/image-files.sh"
  tar -C "$root" --numeric-owner --xattrs -cf "$tmp/image.tar" .
  mv "$tmp/image.tar" "$out"
  printf '{"key": "%s", "suite": "%s", "mirror": "%s", "build_seconds": %.1f, "bytes": %s}\n' \
    "$key" "$NODE_SUITE" "$NODE_MIRROR" "$(elapsed "$t0")" "$(stat -c %s "$out")" > "$out.json"
  log "image built in $(printf %.1f "$(elapsed "$t0")") s: $out"
}

mkdir -p "$LAB_CACHE"
with_lock "$out.lock" build "${1:-}"
prune_cache "$out" "image-*.tar"
echo "$out"
