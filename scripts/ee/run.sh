#!/usr/bin/env bash
# Runs a job in the execution environment the way AWX does: ansible-runner in container mode
# (podman), the private data dir mounted at /runner. The container shares the host's network
# (the lab's simulators listen on 127.0.0.1) and runs as the container's root: rootful podman
# here, where ansible-runner's private data dir belongs to the host's root with mode 0700 (an
# AWX node's rootless podman maps the container's user to the awx user the same way).
#   scripts/ee/run.sh <image> <private_data_dir> [ansible-runner run options...]
# e.g. scripts/ee/run.sh "$(scripts/ee/build.sh)" /tmp/job -p discover.yml \
#        --container-volume-mount "$REFORGE_LAB_DIR/pki/ca.pem:$REFORGE_LAB_DIR/pki/ca.pem:ro"
set -euo pipefail
source "$(dirname "$0")/common.sh"
[ $# -ge 2 ] || { echo "usage: $0 <image> <private_data_dir> [ansible-runner run options...]" >&2; exit 2; }
image="$1" pdd="$2"; shift 2
ee_env   # podman, called by ansible-runner, finds the EE's image store through the environment
exec "$VENV/bin/ansible-runner" run "$pdd" --process-isolation --process-isolation-executable podman \
  --container-image "$image" --container-option=--network=host --container-option=--user=0 "$@"
