# shellcheck shell=bash
# Shared by the lab hosts' scripts (sourced, not run).
# shellcheck disable=SC2034  # the variables are used by the scripts sourcing this
source "$(dirname "${BASH_SOURCE[0]}")/../../../scripts/env.sh"
NODES_SRC="$REPO_ROOT/tests/lab/nodes"
# Same suite/mirror for the image and the local apt repository, so the repo's
# dependency closure matches what is already installed in the image.
NODE_SUITE="${REFORGE_LAB_NODE_SUITE:-trixie}"
NODE_MIRROR="${REFORGE_LAB_NODE_MIRROR:-http://deb.debian.org/debian}"
NODE_KEYRING="${REFORGE_LAB_NODE_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}"
# Machine-level cache: survives `down`, new clones and later sessions.
LAB_CACHE="${REFORGE_LAB_CACHE:-/var/cache/reforge-lab}"

log() { printf 'nodes: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Package list without comments/blank lines.
pkg_list() { sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$1" | tr -s '[:space:]' '\n' | sed '/^$/d'; }

# Content hash of the given files (comment lines left out: editing a comment
# must not cost a rebuild) plus extra strings: the cache key of an artifact.
recipe_key() {
  local extra="$1"; shift
  { sed -e '/^[[:space:]]*#/d' "$@"; printf '%s\n' "$extra"; } | sha256sum | cut -c1-16
}

# Exclusive lock on a cache artifact so parallel sessions build it only once.
with_lock() {
  local lock="$1"; shift
  mkdir -p "$(dirname "$lock")"
  ( flock 9; "$@" ) 9>"$lock"
}

# Artifacts are touched whenever a lab uses them; those no lab has used for
# two weeks (older recipes) are removed, the pool of .debs stays.
prune_cache() {
  local keep="$1" pattern="$2" f
  touch "$keep"
  for f in "$LAB_CACHE"/$pattern; do
    [ "$f" = "$keep" ] || [ ! -e "$f" ] || [ -n "$(find "$f" -maxdepth 0 -mtime -14)" ] \
      || rm -rf "$f" "$f.json" "$f.lock"
  done
}

now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc; }

# The Debian packages the cluster roles install on a node (what bake.sh puts
# into the baked image), read from the roles' own defaults and vars so the
# list follows them: ceph, hypervisor, ha_cluster, and the migration sync
# host's packages for copies into RBD.
baked_packages() {
  "$VENV/bin/python" - "$REPO_ROOT/roles" <<'PY'
import sys, yaml
from pathlib import Path
roles = Path(sys.argv[1])
def load(path):
    return yaml.safe_load(path.read_text()) or {}
names = []
for role, var in (("ceph", "ceph_packages"), ("hypervisor", "hypervisor_packages"),
                  ("ha_cluster", "ha_cluster_packages"), ("migration_wave", "migration_wave_sync_host_packages")):
    names += load(roles / role / "defaults" / "main.yml")[var]
names += load(roles / "migration_wave" / "vars" / "main.yml")["__migration_wave_format_packages"]["rbd"]["copy"]
print("\n".join(sorted(set(names))))
PY
}
