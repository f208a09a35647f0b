"""playbooks/segment.yml (role microseg, module microseg_policy) run by ansible-playbook against this host, with the
table in a private network namespace: check mode shows the diff and writes nothing, the apply changes, the rerun is
changed=0, a policy change is previewed as a ruleset diff, and a bad policy is refused before anything changes.
The role's topology step reads the counters twice and draws the page: nothing in check mode, a rerun on a quiet
campus changed=0.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.lab,
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nft"), reason="needs root and nft (nftables)")]

REPO_ROOT = Path(__file__).resolve().parents[3]
NS = "%s%dr" % (os.environ.get("REFORGE_MICROSEG_NS_PREFIX", "rs"), os.getpid() % 100000)
TIERS = [{"name": "tier1", "description": "HIS/EMR"}, {"name": "tier2", "description": "ESB/integration"},
         {"name": "intranet", "description": "payment/nursing"}, {"name": "training", "description": "training/office"}]
VMS = [{"name": "his-db", "tier": "tier1", "macs": ["52:54:00:aa:00:01"], "interfaces": ["vm-his-db"]},
       {"name": "esb", "tier": "tier2", "macs": ["52:54:00:aa:00:02"]},
       {"name": "pay", "tier": "intranet", "macs": ["52:54:00:aa:00:03"]},
       {"name": "office", "tier": "training", "macs": ["52:54:00:aa:00:04"]}]
FLOWS = [{"from": "tier2", "to": "tier1", "proto": "tcp", "ports": [5432]}]


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    work = tmp_path_factory.mktemp("microseg-role")
    subprocess.run(["ip", "netns", "del", NS], capture_output=True, check=False)
    subprocess.run(["ip", "netns", "add", NS], check=True)
    inventory = work / "hosts.yml"
    inventory.write_text(json.dumps({"all": {"hosts": {"seg-node": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable, "ansible_become": False,
        "microseg_netns": NS, "microseg_install_packages": False, "microseg_persist": False,
        "microseg_tiers": TIERS}}}}))
    try:
        yield work
    finally:
        subprocess.run(["ip", "netns", "del", NS], capture_output=True, check=False)


def segment(work, vms, flows, *extra, expect_rc=0, without_nft=False):
    policy = work / "policy.json"
    policy.write_text(json.dumps({"microseg_vms": vms, "microseg_flows": flows}))
    script = "source scripts/env.sh && ansible-playbook -i %s playbooks/segment.yml -e microseg_hosts=all -e @%s %s" % (
        work / "hosts.yml", policy, " ".join(extra))
    if without_nft:  # a node before the role's install task: nft hidden in a private mount namespace
        script = "mount --bind /dev/null %s && %s" % (shutil.which("nft"), script)
    cmd = ["unshare", "--mount", "bash", "-c", script] if without_nft else ["bash", "-c", script]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False,
                          env=dict(os.environ, ANSIBLE_NOCOLOR="1"))
    assert proc.returncode == expect_rc, proc.stdout[-6000:] + proc.stderr[-3000:]
    recap = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", re.search(r"^seg-node\s+:\s+(ok=.*)$", proc.stdout, re.M).group(1)))
    return proc.stdout + proc.stderr, recap


def table_listing():
    proc = subprocess.run(["ip", "netns", "exec", NS, "nft", "list", "tables", "bridge"], capture_output=True, text=True, check=True)
    return proc.stdout


def test_check_apply_rerun_and_a_previewed_change(node):
    out, recap = segment(node, VMS, FLOWS, "--check", "--diff")
    assert recap["changed"] == 1 and recap["failed"] == 0
    assert "+set tier_tier1 (ether_addr)" in out and "+    element 52:54:00:aa:00:01" in out
    assert table_listing() == "", "check mode created the table"

    _out, recap = segment(node, VMS, FLOWS)
    assert recap["changed"] == 1
    assert "reforge_microseg" in table_listing()
    _out, recap = segment(node, VMS, FLOWS)
    assert recap["changed"] == 0, "a rerun must change nothing"

    wider = FLOWS + [{"from": "intranet", "to": "tier2", "proto": "udp", "ports": ["8000-8010"]}]
    out, recap = segment(node, VMS, wider, "--check", "--diff")
    assert recap["changed"] == 1
    assert re.search(r"^\+\s+udp dport \{ 8000-8010 \} counter name allow_intranet__tier2 accept", out, re.M), out[-4000:]
    assert re.search(r"^\+\s+udp sport \{ 8000-8010 \} counter name allow_intranet__tier2 accept", out, re.M)
    _out, recap = segment(node, VMS, FLOWS)
    assert recap["changed"] == 0, "the check run changed the table"


@pytest.mark.refusal(area="micro-segmentation (microseg_policy, roles/microseg)", field="vms[].tier",
                     message="microseg policy vms[4].tier: VM stray is in no tier (set tier to one of: tier1, tier2, intranet, training)",
                     fix="give every VM exactly one tier")
def test_a_vm_in_no_tier_is_refused_by_the_playbook_before_any_change(node, proves_refusal):
    before = subprocess.run(["ip", "netns", "exec", NS, "nft", "list", "ruleset"], capture_output=True, text=True, check=True).stdout
    out, recap = segment(node, VMS + [{"name": "stray", "macs": ["52:54:00:aa:00:09"]}], FLOWS, expect_rc=2)
    assert recap["failed"] == 1
    proves_refusal(out)
    after = subprocess.run(["ip", "netns", "exec", NS, "nft", "list", "ruleset"], capture_output=True, text=True, check=True).stdout
    assert after == before


def test_dry_run_on_a_node_without_nft_previews_the_whole_table(node):
    before = table_listing()
    out, recap = segment(node, VMS, FLOWS, "--check", "--diff", without_nft=True)
    assert recap["changed"] == 1 and recap["failed"] == 0
    assert "nft is not installed (yet)" in out and "+set tier_tier1 (ether_addr)" in out
    assert table_listing() == before
    out, recap = segment(node, VMS, FLOWS, without_nft=True, expect_rc=2)
    assert "nft is not installed (Debian package nftables)" in out


def test_the_topology_step_writes_nothing_in_check_mode_and_a_quiet_rerun_changes_nothing(node):
    topo = node / "topology"
    extra = ["-e", "microseg_topology_dir=%s" % topo, "-e", "microseg_topology_campus=lab", "-e", "microseg_topology_window=0"]
    segment(node, VMS, FLOWS)  # the table is there (the counters the step reads)
    out, recap = segment(node, VMS, FLOWS, "--check", "--diff", *extra)
    assert recap["changed"] == 1 and recap["failed"] == 0, out[-3000:]
    assert not topo.exists(), "check mode wrote the topology page"
    out, recap = segment(node, VMS, FLOWS, *extra)
    assert recap["changed"] == 1, out[-3000:]
    page = (topo / "lab-topology.html").read_text()
    assert "Topology: lab" in page and "<svg" in page and "Flows from " in page
    flows = json.loads((topo / "lab-flows.json").read_text())
    assert flows["window"]["complete"] and len(flows["window"]["pairs"]) == 12
    # no traffic in this namespace: the next window counts nothing, and the page of the first one stays
    out, recap = segment(node, VMS, FLOWS, *extra)
    assert recap["changed"] == 0, out[-3000:]
    assert (topo / "lab-topology.html").read_text() == page


def test_the_evidence_step_writes_a_dated_record_with_the_table_in_force_and_nothing_in_check_mode(node, tmp_path):
    ev = node / "evidence"
    probes = tmp_path / "probes.json"
    probes.write_text(json.dumps([{"src_vm": "esb", "src_tier": "tier2", "dst_vm": "his-db", "dst_tier": "tier1",
                                   "proto": "tcp", "port": 5432, "expected": "allow", "passed": True}]))
    extra = ["-e", "microseg_evidence_dir=%s" % ev, "-e", "microseg_topology_campus=lab", "-e", "microseg_topology_window=0"]
    segment(node, VMS, FLOWS)
    out, recap = segment(node, VMS, FLOWS, "--check", *extra)
    assert recap["changed"] == 1 and recap["failed"] == 0, out[-3000:]
    assert not ev.exists(), "check mode wrote the evidence"
    out, recap = segment(node, VMS, FLOWS, *extra)
    assert recap["changed"] == 1, out[-3000:]
    doc = json.loads((ev / "lab-segmentation-evidence.json").read_text())
    assert doc["verdict"] == "INCOMPLETE" and "tier_tier1" in doc["rules_in_force"][0]["rules_in_force"]
    assert len(list(ev.glob("lab-segmentation-evidence-*.json"))) == 1
    out, recap = segment(node, VMS, FLOWS, *extra, "-e", "microseg_evidence_probes=%s" % probes)
    assert recap["failed"] == 0, out[-3000:]
    doc = json.loads((ev / "lab-segmentation-evidence.json").read_text())
    assert doc["verdict"] == "PASS" and doc["summary"]["probes"] == 1
    assert "Verdict: PASS" in (ev / "lab-segmentation-evidence.html").read_text()
