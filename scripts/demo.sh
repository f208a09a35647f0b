#!/usr/bin/env bash
# The README's first command: set up a fresh machine, bring the local lab up,
# and run the main job against it (a campus build-out, then a VM migration).
set -euo pipefail
source "$(dirname "$0")/env.sh"
"$REPO_ROOT/scripts/setup.sh"
"$REPO_ROOT/tests/lab/lab.sh" up
cd "$REPO_ROOT"
# The lab campus's segmentation policy (stage 6) comes with it: the wave's VMs go into their tiers.
ansible-playbook -i inventories/lab playbooks/site.yml -e @tests/lab/microseg/lab-policy.yml "$@"
evidence="$REFORGE_LAB_DIR/microseg/evidence"
case " $* " in
  *" --check "*|*" -C "*) echo "demo: dry run - no probe matrix, no evidence" ;;
  *)
    # Stage 6's compliance evidence and topology page: the probe matrix on node1's VM bridge (one probe
    # host per tier), then the evidence of all nodes with it, and the page with a 10 s window of flows.
    mkdir -p "$evidence"
    "$VENV/bin/python" tests/lab/microseg/node_probes.py node1 "$REFORGE_LAB_DIR/microseg/probes.json" \
      || echo "demo: some probes did not behave as the policy says; the evidence (verdict FAIL) shows which"
    ansible-playbook -i inventories/lab playbooks/segment.yml -e @tests/lab/microseg/lab-policy.yml \
      -e "microseg_evidence_dir=$evidence microseg_evidence_probes=$REFORGE_LAB_DIR/microseg/probes.json" \
      -e "microseg_topology_dir=$evidence microseg_topology_campus=lab microseg_topology_window=10" \
      -e '{"microseg_topology_ceph": true}'
    ;;
esac
echo "demo: done. Reports: $REFORGE_LAB_DIR/reports/ (hardware reuse), $REFORGE_LAB_DIR/migration/reports/ (migration wave)"
echo "demo: and $evidence/ (segmentation evidence lab-segmentation-evidence.html, topology lab-topology.html)."
echo "demo: the lab keeps running; 'make lab-down' destroys it (the cluster, its Ceph data and the migrated VMs)."
