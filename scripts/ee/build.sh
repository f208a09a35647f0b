#!/usr/bin/env bash
# Builds the collection's execution environment with ansible-builder and podman, on the
# locally made Debian 13 base image (base.sh), from meta/execution-environment.yml:
# ansible-core, ansible-runner, requirements.txt, bindep.txt (via apt) and the collection
# itself from its built tarball. Once per key of its inputs (base image, definition,
# requirement files, the collection's files, ansible-builder's version): a second build with
# the same inputs reuses the image. Prints the image's name; its last log line says "built"
# or "reused".
#   scripts/ee/build.sh [--force]
# Env:
#   REFORGE_EE_COLLECTION  a built collection tarball to put in the EE (a release; the one a
#                          previous build used) instead of building one from this clone
#   REFORGE_EE_CA_BUNDLE   the CA bundle the build's pip trusts (this machine's HTTPS egress);
#                          default the host's /etc/ssl/certs/ca-certificates.crt. Mounted into
#                          the build's RUN steps only, never stored in the image.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"

base=$("$EE_SRC/base.sh")
mkdir -p "$REPO_ROOT/build/ee"
stage=$(mktemp -d "$REPO_ROOT/build/ee/stage.XXXXXX")   # global: the EXIT trap needs it
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/src/collection"

# The definition's paths are relative to the collection root (ansible-builder's introspection
# reads them so in anyone's EE): stage it beside the files it names.
cp meta/execution-environment.yml requirements.txt bindep.txt "$stage/src/"
if [ -n "${REFORGE_EE_COLLECTION:-}" ]; then
  cp "$REFORGE_EE_COLLECTION" "$stage/src/collection/"
else
  # From a snapshot of the clone's files (tracked, and new ones not ignored): a file edited
  # while ansible-galaxy reads it would give a tarball whose checksums do not match its
  # content, and ignored local state (.venv, labs, caches) is not the collection's.
  mkdir -p "$stage/tree"
  git ls-files -z -co --exclude-standard \
    | rsync -a --from0 --ignore-missing-args --files-from=- ./ "$stage/tree/"
  "$VENV/bin/ansible-galaxy" collection build --force --output-path "$stage/src/collection" "$stage/tree" >/dev/null
  rm -rf "$stage/tree"
fi
tarball=$(ls "$stage"/src/collection/*.tar.gz)
# The collection's content, not the tarball's bytes (those carry mtimes): MANIFEST.json holds
# the checksum of FILES.json, which holds every file's checksum.
collection_sum=$(tar -xzOf "$tarball" MANIFEST.json | sha256sum | cut -c1-16)
builder_version=$("$VENV/bin/ansible-builder" --version)
key=$(recipe_key "base=$EE_BASE_KEY builder=$builder_version collection=$collection_sum" \
  "$stage/src/execution-environment.yml" "$stage/src/requirements.txt" "$stage/src/bindep.txt")
image="localhost/reforge-ee:$key"
record="$LAB_CACHE/ee/reforge-ee-$key.json"
buildlog="$REPO_ROOT/build/ee/build-$key.log"

build() {
  if [ "${1:-}" != --force ] && ee_podman image exists "$image"; then
    log "reused $image (same inputs)"
    return 0
  fi
  local t0 ca mounts=()
  t0=$(now)
  ca="${REFORGE_EE_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
  if [ -s "$ca" ]; then
    printf '[global]\ncert = /run/reforge-ee/ca.pem\n' > "$stage/pip.conf"
    mounts=(-v "$ca:/run/reforge-ee/ca.pem:ro,z" -v "$stage/pip.conf:/etc/pip.conf:ro,z")
  fi
  log "building $image on $base (ansible-builder $builder_version)"
  ee_env
  # --network host: the build's apt and pip reach Debian's archive and PyPI the way this host does.
  # Unchanged steps come from podman's layer cache in the EE store: a new collection alone
  # rebuilds only its own layer.
  heartbeat "ee: ansible-builder" "$VENV/bin/ansible-builder" build --file "$stage/src/execution-environment.yml" \
    --context "$stage/context" --tag "$image" --container-runtime podman \
    --build-arg "EE_BASE_IMAGE=$base" \
    --extra-build-cli-args "--network host ${mounts[*]}" -v 3 >"$buildlog" 2>&1 \
    || { tail -40 "$buildlog" >&2; die "ansible-builder failed (whole log: $buildlog)"; }
  mkdir -p "$(dirname "$record")"
  printf '{"image": "%s", "key": "%s", "base": "%s", "collection": "%s", "build_seconds": %.1f}\n' \
    "$image" "$key" "$base" "$collection_sum" "$(elapsed "$t0")" > "$record"
  log "built $image in $(printf %.1f "$(elapsed "$t0")") s"
}

with_lock "$EE_STORE.lock" build "${1:-}"
# The collection this image holds, for a rebuild with exactly these inputs (REFORGE_EE_COLLECTION).
cp "$tarball" "$REPO_ROOT/build/ee/collection-$key.tar.gz"
find "$REPO_ROOT/build/ee" -maxdepth 1 \( -name 'collection-*.tar.gz' -o -name 'build-*.log' \) -mtime +14 -delete
mkdir -p "$(dirname "$record")"
touch "$record"
# EE images of inputs no build has asked for in two weeks go (their own layers with them).
for old in "$LAB_CACHE"/ee/reforge-ee-*.json; do
  if [ ! -e "$old" ] || [ -n "$(find "$old" -maxdepth 0 -mtime -14)" ]; then continue; fi
  ref="localhost/reforge-ee:$(basename "$old" .json | sed 's/^reforge-ee-//')"
  with_lock "$EE_STORE.lock" ee_podman rmi "$ref" >/dev/null 2>&1 || true
  rm -f "$old"
done
echo "$image"
