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

# A debootstrap minbase root of Debian $NODE_SUITE with the packages of a list, made into a
# tarball at <out> (with <out>.json: key, suite, mirror, build time, size). <customize> is a
# function called with the root before it is packed. Skipped when <out> exists (--force
# rebuilds). Callers hold the artifact's lock (with_lock).
#   build_root_tar <out> <key> <package-list> <label> <customize> [--force]
build_root_tar() {
  local out="$1" key="$2" packages="$3" label="$4" customize="$5" force="${6:-}" t0 root
  [ -s "$out" ] && [ "$force" != --force ] && return 0
  t0=$(now)
  tmp=$(mktemp -d "$LAB_CACHE/build.XXXXXX")   # global: the EXIT trap needs it
  # Unmount anything debootstrap left mounted if we fail half-way.
  # shellcheck disable=SC2154  # $m is the trap's own loop variable
  trap 'for m in proc sys dev/pts dev; do umount -l "$tmp/root/$m" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT
  root="$tmp/root"
  log "building $label (Debian $NODE_SUITE, key $key) from $NODE_MIRROR"
  heartbeat "$label: debootstrap" debootstrap --variant=minbase --keyring="$NODE_KEYRING" \
    --include="$(pkg_list "$packages" | paste -sd,)" \
    "$NODE_SUITE" "$root" "$NODE_MIRROR" >"$tmp/debootstrap.log" 2>&1 \
    || { tail -20 "$tmp/debootstrap.log" >&2; die "debootstrap failed"; }
  "$customize" "$root"
  tar -C "$root" --numeric-owner --xattrs -cf "$tmp/root.tar" .
  mv "$tmp/root.tar" "$out"
  printf '{"key": "%s", "suite": "%s", "mirror": "%s", "build_seconds": %.1f, "bytes": %s}\n' \
    "$key" "$NODE_SUITE" "$NODE_MIRROR" "$(elapsed "$t0")" "$(stat -c %s "$out")" > "$out.json"
  log "$label built in $(printf %.1f "$(elapsed "$t0")") s: $out"
}

# containers.conf for a podman store of the lab's: the two fixes this host needs
# (docs/research: limits at or below the host's hard limits - no CAP_SYS_RESOURCE - and runc,
# since crun 1.8 refuses the cgroup v1 hybrid; cgroupfs: the host's PID 1 is not systemd).
# Extra [engine] lines after the tmp dir. Written atomically.
#   write_podman_conf <file> <tmp_dir> [engine lines...]
write_podman_conf() {
  local file="$1" tmpdir="$2" line; shift 2
  mkdir -p "$(dirname "$file")" "$tmpdir"
  {
    printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
    printf '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\ntmp_dir = "%s"\n' "$tmpdir"
    for line in "$@"; do printf '%s\n' "$line"; done
  } > "$file.tmp"
  mv "$file.tmp" "$file"
}

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
                  ("ha_cluster", "ha_cluster_packages"), ("migration_wave", "migration_wave_sync_host_packages"),
                  ("mgmt_register", "mgmt_register_agent_packages"), ("burnin", "burnin_packages"),
                  ("microseg", "microseg_packages")):
    names += load(roles / role / "defaults" / "main.yml")[var]
names += load(roles / "migration_wave" / "vars" / "main.yml")["__migration_wave_format_packages"]["rbd"]["copy"]
print("\n".join(sorted(set(names))))
PY
}
