#!/usr/bin/env bash
# The execution environment's base image, made here from Debian 13 packages since no
# registry is reachable: a debootstrap minbase root with base-packages.txt and the
# package-manager shim ansible-builder calls (pkgmgr), imported into the EE's podman
# store. Built once per machine and recipe (cached in $REFORGE_LAB_CACHE); prints the
# image's name.
#   scripts/ee/base.sh [--force]
set -euo pipefail
source "$(dirname "$0")/common.sh"

files() {
  local root="$1"
  install -m 755 "$EE_SRC/pkgmgr" "$root/usr/local/sbin/pkgmgr"
  # apt in the image: no recommends, no stale lists or .debs (pkgmgr fetches lists per install).
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' > "$root/etc/apt/apt.conf.d/90reforge-ee"
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/var/log/*.log "$root"/var/log/apt/*
  : > "$root/etc/machine-id"
}
build() { build_root_tar "$EE_BASE_TAR" "$EE_BASE_KEY" "$EE_SRC/base-packages.txt" "the EE base image" files "$@"; }

import() {
  ee_podman image exists "$EE_BASE_IMAGE" && return 0
  log "importing $(basename "$EE_BASE_TAR") into the EE image store as $EE_BASE_IMAGE"
  ee_podman import -q --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' \
    "$EE_BASE_TAR" "$EE_BASE_IMAGE" >/dev/null
}

# The name meta/execution-environment.yml gives (for ansible-builder run by hand): this recipe's image.
tag() { ee_podman tag "$EE_BASE_IMAGE" "localhost/reforge-ee-base:$NODE_SUITE"; }

mkdir -p "$LAB_CACHE"
with_lock "$EE_BASE_TAR.lock" build "${1:-}"
with_lock "$EE_STORE.lock" import
with_lock "$EE_STORE.lock" tag
prune_cache "$EE_BASE_TAR" "ee-base-*.tar"
echo "$EE_BASE_IMAGE"
