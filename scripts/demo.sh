#!/usr/bin/env bash
# The README's first command: set up a fresh machine, bring the local lab up (its container nodes and its metal
# machines), and run the main job against it: install and network on the metal machines (stages 2-3), then the
# campus build-out and a VM migration on the container nodes (stages 0-1, 4-7).
set -euo pipefail
source "$(dirname "$0")/env.sh"
"$REPO_ROOT/scripts/setup.sh"
"$REPO_ROOT/tests/lab/lab.sh" up
"$REPO_ROOT/tests/lab/lab.sh" up metal
cd "$REPO_ROOT"
check=no
case " $* " in *" --check "*|*" -C "*) check=yes ;; esac
# Stages 2 and 3 on bare metal: the metal lab's two QEMU machines (UEFI, empty boot disks, four NICs on two switches)
# are node1 and node2 of the example campus (inventories/lab-metal). Debian 13 through their BMCs' virtual media,
# then the campus's LACP bonds, VLANs, VM bridge and jumbo frames, checked over LLDP first and under a rollback timer;
# each node's bonds, LACP partner, MTUs and addresses are read back into a report.
network_reports="$REFORGE_LAB_DIR/reports/network"
if [ "$check" = yes ]; then
  ansible-playbook -i inventories/lab-metal playbooks/install_os.yml "$@"
  echo "demo: dry run - stage 3 on the metal nodes needs them installed; not run"
else
  mkdir -p "$network_reports"
  ansible-playbook -i inventories/lab-metal playbooks/install_os.yml playbooks/network.yml \
    -e "host_network_report_dir=$network_reports" "$@"
fi
# The lab campus's segmentation policy (stage 6) comes with it: the wave's VMs go into their tiers.
ansible-playbook -i inventories/lab playbooks/site.yml -e @tests/lab/microseg/lab-policy.yml "$@"
evidence="$REFORGE_LAB_DIR/microseg/evidence"
case "$check" in
  yes) echo "demo: dry run - no probe matrix, no evidence" ;;
  *)
    # Stage 6's compliance evidence and topology page: the probe matrix on node1's VM bridge (one probe
    # host per tier), then the evidence of all nodes with it, and the page with a window of flows.
    mkdir -p "$evidence"
    "$VENV/bin/python" tests/lab/microseg/node_probes.py node1 "$REFORGE_LAB_DIR/microseg/probes.json" \
      || echo "demo: some probes did not behave as the policy says; the evidence (verdict FAIL) shows which"
    # The page's flows are the counters of a 20 s window: the probe matrix runs again and again meanwhile,
    # so every tier pair has traffic in it, allowed and dropped (the evidence keeps the first run's matrix).
    # Each run removes its probe hosts, so the loop is stopped between runs, not killed in one.
    stop="$REFORGE_LAB_DIR/microseg/traffic.stop"; rm -f "$stop"
    ( until [ -e "$stop" ]; do "$VENV/bin/python" tests/lab/microseg/node_probes.py node1 \
        "$REFORGE_LAB_DIR/microseg/traffic.json" >/dev/null 2>&1 || true; done ) &
    traffic=$!
    trap 'touch "$stop"; wait "$traffic" 2>/dev/null || true' EXIT
    ansible-playbook -i inventories/lab playbooks/segment.yml -e @tests/lab/microseg/lab-policy.yml \
      -e "microseg_evidence_dir=$evidence microseg_evidence_probes=$REFORGE_LAB_DIR/microseg/probes.json" \
      -e "microseg_topology_dir=$evidence microseg_topology_campus=lab microseg_topology_window=20" \
      -e '{"microseg_topology_ceph": true, "microseg_topology_networks": {"lab": {"cidr": "10.250.0.0/24", "mtu": 1500}}}'
    touch "$stop"; wait "$traffic" 2>/dev/null || true; trap - EXIT
    ;;
esac
echo "demo: done. Reports: $REFORGE_LAB_DIR/reports/ (hardware reuse), $REFORGE_LAB_DIR/migration/reports/ (migration wave)"
echo "demo: $network_reports/ (the metal nodes' bonds, LACP partners, MTUs and addresses against the plan)."
echo "demo: and $evidence/ (segmentation evidence lab-segmentation-evidence.html, topology lab-topology.html)."
echo "demo: the lab keeps running; 'make lab-down' destroys it (the cluster, its Ceph data and the migrated VMs)."
