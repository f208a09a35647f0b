#!/usr/bin/env bash
# Builds (once per package list, cached machine-wide) the "baked" lab host
# image: the base image (image.sh) with the packages the cluster roles
# install already installed from the lab's apt repository (repo.sh). Nodes
# booted from it let the roles' install tasks run and find nothing to do,
# which takes the longest, most repetitive minutes out of every cluster build.
# The package list is read from the roles themselves (ceph_packages,
# hypervisor_packages, ha_cluster_packages, the migration sync host's), so it
# follows them; it is the cache key together with the base image and repo.
# Prints the path of the cached root tarball.
#   tests/lab/nodes/bake.sh [--force]
set -euo pipefail
source "$(dirname "$0")/common.sh"

image=$("$NODES_SRC/image.sh")
repo=$("$NODES_SRC/repo.sh")
mapfile -t pkgs < <(baked_packages)
((${#pkgs[@]})) || die "no packages found in the roles' defaults"
key=$(recipe_key "$NODE_SUITE $(basename "$image") $(basename "$repo") ${pkgs[*]}" "$NODES_SRC/bake.sh")
out="$LAB_CACHE/baked-$NODE_SUITE-$key.tar"

build() {
  [ -s "$out" ] && [ "${1:-}" != --force ] && return 0
  local t0 root m
  t0=$(now)
  tmp=$(mktemp -d "$LAB_CACHE/bake.XXXXXX")   # global: the EXIT trap needs it
  # shellcheck disable=SC2154  # $m is the trap's own loop variable
  trap 'for m in srv/reforge-lab-apt dev/pts dev sys proc; do umount -l "$tmp/root/$m" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT
  root="$tmp/root"
  mkdir -p "$root"
  log "baking ${#pkgs[@]} cluster packages into the image (key $key)"
  tar -C "$root" --numeric-owner --xattrs -xf "$image"
  mount -t proc proc "$root/proc"
  mount -t sysfs sysfs "$root/sys"
  mount --bind /dev "$root/dev"
  mount --bind /dev/pts "$root/dev/pts"
  mkdir -p "$root/srv/reforge-lab-apt"
  mount --bind -o ro "$repo" "$root/srv/reforge-lab-apt"
  # No daemon may start in the build root: what a node runs is decided when it boots.
  printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
  chmod 755 "$root/usr/sbin/policy-rc.d"
  chroot "$root" apt-get -q update >"$tmp/bake.log" 2>&1 \
    || { tail -30 "$tmp/bake.log" >&2; die "apt-get update in the image failed"; }
  # The same command a role's apt task runs (no recommends), so the node ends where a role would leave it.
  heartbeat "nodes: baking" env DEBIAN_FRONTEND=noninteractive chroot "$root" \
      apt-get -q install -y --no-install-recommends "${pkgs[@]}" >>"$tmp/bake.log" 2>&1 \
    || { tail -30 "$tmp/bake.log" >&2; die "installing the cluster packages failed"; }
  rm -f "$root/usr/sbin/policy-rc.d"
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
  for m in srv/reforge-lab-apt dev/pts dev sys proc; do umount "$root/$m"; done
  # Installed packages the roles never asked for may not appear: a node's dpkg state is the one a role leaves.
  printf '%s\n' "${pkgs[@]}" > "$root/etc/reforge-lab/baked-packages"
  tar -C "$root" --numeric-owner --xattrs -cf "$tmp/image.tar" .
  mv "$tmp/image.tar" "$out"
  printf '{"key": "%s", "base": "%s", "packages": %s, "build_seconds": %.1f, "bytes": %s}\n' \
    "$key" "$(basename "$image")" "$(printf '%s\n' "${pkgs[@]}" | jq -Rsc 'split("\n") | map(select(length>0))')" \
    "$(elapsed "$t0")" "$(stat -c %s "$out")" > "$out.json"
  log "baked image built in $(printf %.1f "$(elapsed "$t0")") s: $out"
}

mkdir -p "$LAB_CACHE"
with_lock "$out.lock" build "${1:-}"
prune_cache "$out" "baked-*.tar"
echo "$out"
