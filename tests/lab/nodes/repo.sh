#!/usr/bin/env bash
# Builds (once per package list, cached machine-wide) the lab hosts' local apt
# repository: every package of node-packages.txt plus the dependencies the
# node image lacks, as a flat repo indexed with dpkg-scanpackages. Nodes get
# it bind-mounted read-only at /srv/reforge-lab-apt and have no other source,
# so installs are fast and offline. Prints the repo directory.
#   tests/lab/nodes/repo.sh [--force]
set -euo pipefail
source "$(dirname "$0")/common.sh"

image=$("$NODES_SRC/image.sh")
key=$(recipe_key "$NODE_SUITE $NODE_MIRROR $(basename "$image")" "$NODES_SRC/node-packages.txt")
out="$LAB_CACHE/apt-$NODE_SUITE-$key"
pool="$LAB_CACHE/debs-$NODE_SUITE"     # shared by every repo version: download each .deb once

# apt on the controller, fully private: its own sources, lists and state, the
# image's dpkg status (so only what the image lacks is fetched), none of the
# host's apt.conf.d hooks.
papt() {
  apt-get -q -o Dir::Etc::main=/dev/null -o Dir::Etc::Parts="$work/empty" \
    -o Dir::Etc::SourceList="$work/sources.list" -o Dir::Etc::SourceParts="$work/empty" \
    -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts="$work/empty" \
    -o Dir::State="$work/state" -o Dir::State::status="$work/status" \
    -o Dir::Cache="$work/cache" -o Dir::Cache::archives="$pool" \
    -o APT::Architecture=amd64 -o APT::Architectures::=amd64 \
    -o APT::Install-Recommends=false -o APT::Install-Suggests=false \
    -o Debug::NoLocking=true -o APT::Sandbox::User=root "$@"
}

build() {
  [ -s "$out/Packages" ] && [ "${1:-}" != --force ] && return 0
  local t0 pkgs
  t0=$(now)
  work=$(mktemp -d "$LAB_CACHE/repo.XXXXXX")    # global: papt and the trap use it
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/empty" "$work/state/lists/partial" "$work/cache" "$pool/partial"
  echo "deb [signed-by=$NODE_KEYRING] $NODE_MIRROR $NODE_SUITE main" > "$work/sources.list"
  tar -xOf "$image" ./var/lib/dpkg/status > "$work/status"
  mapfile -t pkgs < <(pkg_list "$NODES_SRC/node-packages.txt")
  log "building apt repo (key $key): ${#pkgs[@]} packages + dependencies"
  papt update >"$work/update.log" 2>&1 || { cat "$work/update.log" >&2; die "apt-get update failed"; }
  # The exact set of .debs the image lacks (apt names them as in the pool).
  papt install --print-uris -y "${pkgs[@]}" >"$work/uris" 2>"$work/err" \
    || { cat "$work/err" >&2; die "cannot resolve node-packages.txt against $NODE_SUITE"; }
  heartbeat "nodes: downloading .debs" papt install --download-only -y "${pkgs[@]}" >"$work/download.log" 2>&1 \
    || { tail -20 "$work/download.log" >&2; die "download failed"; }
  rm -rf "$work/repo"; mkdir -p "$work/repo"
  # Hard links: the repo costs no extra space over the pool.
  papt install --print-uris -y -o Dir::Cache::archives="$work/empty" "${pkgs[@]}" 2>/dev/null \
    | awk -F"'" '/^'"'"'/ {print $3}' | awk '{print $1}' > "$work/files"
  while read -r f; do ln "$pool/$f" "$work/repo/$f"; done < "$work/files"
  (cd "$work/repo" && dpkg-scanpackages -m . /dev/null > Packages 2>/dev/null && gzip -9k Packages)
  rm -rf "$out"; mv "$work/repo" "$out"
  printf '{"key": "%s", "packages": %s, "debs": %s, "bytes": %s, "build_seconds": %.1f}\n' "$key" \
    "${#pkgs[@]}" "$(wc -l < "$work/files")" "$(du -sb "$out" | cut -f1)" "$(elapsed "$t0")" > "$out.json"
  log "apt repo built in $(printf %.1f "$(elapsed "$t0")") s: $out ($(wc -l < "$work/files") .debs)"
}

with_lock "$out.lock" build "${1:-}"
prune_cache "$out" "apt-*[0-9a-f]"
echo "$out"
