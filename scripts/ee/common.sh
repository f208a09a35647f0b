# shellcheck shell=bash
# Shared by the execution environment's scripts (sourced, not run). The EE's images follow
# the lab's cache conventions (tests/lab/nodes/common.sh): built once per machine under a key
# of their inputs in $REFORGE_LAB_CACHE, built under a lock so parallel sessions build once.
# shellcheck disable=SC2034  # the variables are used by the scripts sourcing this
source "$(dirname "${BASH_SOURCE[0]}")/../../tests/lab/nodes/common.sh"
EE_SRC="$REPO_ROOT/scripts/ee"
log() { printf 'ee: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The EE's podman image store: machine-wide, beside the lab's node images but its own store
# (builds write layers and build containers into it; the nodes' store stays read-only for
# labs). Its own storage.conf/containers.conf, passed to podman - and so to ansible-builder
# and ansible-runner, which call plain `podman` - through CONTAINERS_STORAGE_CONF and
# CONTAINERS_CONF; nothing under /etc or /var/lib/containers.
EE_STORE="$LAB_CACHE/podman-ee"
EE_CONF="$LAB_CACHE/podman-ee.conf"
EE_RUNROOT="/run/reforge-lab/ee"

ee_env() {
  mkdir -p "$EE_STORE" "$EE_CONF" "$EE_RUNROOT/tmp"
  if [ ! -s "$EE_CONF/storage.conf" ]; then
    printf '[storage]\ndriver = "overlay"\ngraphroot = "%s"\nrunroot = "%s"\n' \
      "$EE_STORE" "$EE_RUNROOT" > "$EE_CONF/storage.conf.tmp"
    mv "$EE_CONF/storage.conf.tmp" "$EE_CONF/storage.conf"
  fi
  # runc and cgroupfs as for the lab's nodes (crun 1.8 refuses this host's cgroup v1 hybrid;
  # the host's PID 1 is not systemd); limits at or below the host's hard limits.
  # runc and cgroupfs as for the lab's nodes; limits at or below the host's hard limits.
  [ -s "$EE_CONF/containers.conf" ] || write_podman_conf "$EE_CONF/containers.conf" "$EE_RUNROOT/tmp"
  export CONTAINERS_STORAGE_CONF="$EE_CONF/storage.conf" CONTAINERS_CONF="$EE_CONF/containers.conf"
}

# Podman on the EE store; fd 9 (a cache lock) is not inherited by conmon.
ee_podman() { ee_env; podman "$@" 9>&-; }

EE_BASE_KEY=$(recipe_key "$NODE_SUITE $NODE_MIRROR" "$EE_SRC/base-packages.txt" "$EE_SRC/pkgmgr" "$EE_SRC/base.sh")
EE_BASE_TAR="$LAB_CACHE/ee-base-$NODE_SUITE-$EE_BASE_KEY.tar"
EE_BASE_IMAGE="localhost/reforge-ee-base:$NODE_SUITE-$EE_BASE_KEY"
