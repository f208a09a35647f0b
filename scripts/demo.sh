#!/usr/bin/env bash
# The README's first command: set up a fresh machine, bring the local lab up,
# and run the main job against it (a campus build-out, then a VM migration).
set -euo pipefail
source "$(dirname "$0")/env.sh"
"$REPO_ROOT/scripts/setup.sh"
"$REPO_ROOT/tests/lab/lab.sh" up
cd "$REPO_ROOT"
ansible-playbook -i inventories/lab playbooks/site.yml "$@"
echo "demo: done. Reports: $REFORGE_LAB_DIR/reports/ (hardware reuse) and $REFORGE_LAB_DIR/migration/reports/ (migration wave)."
echo "demo: the lab keeps running; 'make lab-down' destroys it (the cluster, its Ceph data and the migrated VMs)."
