"""The server classes issue 12 found on real campuses, each served by the simulator
(tests/lab/redfish/profiles.py CLASS_FLEET, an in-process fleet on free ports beside the lab):

- gen12nvme     HPE DL360 Gen12, iLO 7, Xeon 6 (Granite Rapids): NVMe drives attached to the CPUs,
                one Storage resource per drive, no RAID controller
- r7625nonraid  Dell R7625, EPYC 9005 (Turin): PERC H755 (RAID only) whose drives are already non-RAID
- r660fc        Dell R660, 5th gen Xeon (Emerald Rapids): HBA355i in HBA mode, 1 GbE only, a 2-port 32G FC HBA

bmc_info reports them as they are, the grade agrees with what prepare will do, bmc_storage_controller
and the prepare preflight leave them alone, and both playbooks pass on them (check mode with zero
writes, then twice with the second run changed=0).
"""
from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from lab.redfish.bmc import Config
from lab.redfish.conftest import free_port_range
from lab.redfish.fleet import build, describe
from lab.redfish.profiles import CLASS_FLEET
from lab.redfish.server import Fleet as SimFleet
from redfish_lab import REPO_ROOT, Fleet, run_module

from ansible_collections.reforge.hci.plugins.module_utils.redfish.reuse import REUSABLE, WITH_CHANGES, grade

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def classes(lab):
    pki = lab.get("pki")
    base = free_port_range(len(CLASS_FLEET))
    bmcs = build(len(CLASS_FLEET), base, Config(power_delay=0.2, task_polls=2), hook=REPO_ROOT / "nonexistent",
                 spec=CLASS_FLEET)
    sims = SimFleet(bmcs, pki["cert"], pki["key"]).start()
    try:
        yield Fleet(dict(bmcs=describe(bmcs), ca=pki["ca"], username="root", password="calvin"))
    finally:
        sims.stop()


@pytest.fixture(scope="module")
def facts(classes):
    result = {}
    for sim in classes.bmcs:
        cursor = sim.cursor()
        info = run_module("bmc_info", sim.conn())
        assert not info.get("failed"), info
        assert sim.writes_since(cursor) == []
        result[sim.name] = info["bmc"]
    return result


def test_direct_nvme_is_reported_raw_and_graded_ready(facts):
    storage = facts["gen12nvme"]["storage"]
    assert len(storage) == 4, "one entry per NVMe Storage resource, the one without a controller too"
    assert {s["attachment"] for s in storage} == {"direct"}
    assert all(s["passthrough"] and s["drives"] for s in storage)
    result = grade(facts["gen12nvme"])
    assert result["measured"]["cpu_generation"] == "Granite Rapids"
    assert not [r for r in result["reasons"] if r["area"] == "controller"], result["reasons"]
    assert result["measured"]["drives"] == 4


def test_passthrough_perc11_counts_as_done(facts):
    [ctrl] = facts["r7625nonraid"]["storage"]
    assert (ctrl["mode"], ctrl["supported_modes"], ctrl["passthrough"]) == ("nonraid", ["raid"], True)
    result = grade(facts["r7625nonraid"])
    assert result["grade"] == REUSABLE, result["reasons"]
    assert result["measured"]["cpu_generation"] == "Turin"


def test_fc_ports_are_not_nics(facts):
    r660 = facts["r660fc"]
    assert [p["id"] for p in r660["fc_ports"]] == ["FC.Slot.3-1", "FC.Slot.3-2"]
    assert all(p["protocol"] == "FC" and p["wwpn"] for p in r660["fc_ports"])
    assert all((n["speed_mbps"] or 0) <= 1000 for n in r660["nics"]), r660["nics"]
    result = grade(r660)
    assert result["grade"] == WITH_CHANGES and result["measured"]["fast_ports"] == 0
    assert result["measured"]["cpu_generation"] == "Emerald Rapids"
    [net] = [r for r in result["reasons"] if r["area"] == "network"]
    assert "10/25 GbE" in net["text"], net


@pytest.mark.parametrize("name", ["gen12nvme", "r7625nonraid", "r660fc"])
def test_storage_controller_leaves_pass_through_alone(classes, name):
    sim = classes[name]
    cursor = sim.cursor()
    for check in (True, False):
        result = run_module("bmc_storage_controller", sim.conn(mode="hba"), check=check)
        assert not result.get("failed"), result
        assert (result["changed"], result["reboot_required"]) == (False, False), result
    assert sim.writes_since(cursor) == []


def _playbook(inventory, name: str, *extra: str) -> dict:
    cmd = "source scripts/env.sh && ansible-playbook -i inventories/lab -i %s playbooks/%s %s" % (
        inventory, name, " ".join(extra))
    proc = subprocess.run(["bash", "-c", cmd], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
                          check=False, env=dict(os.environ, ANSIBLE_NOCOLOR="1"))
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    return {host: dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", stats))
            for host, stats in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", proc.stdout, re.M)}


@pytest.mark.slow
def test_playbooks_on_the_classes(classes, tmp_path):
    inventory = tmp_path / "classes.yml"
    inventory.write_text(json.dumps({"classes": {"hosts": {
        b.name: {"bmc_endpoint": b.endpoint} for b in classes.bmcs}}}))
    # Firmware is proven on the six lab servers (test_redfish_playbooks.py); here the storage and BIOS paths.
    limit = "-e reforge_discover_hosts=classes -e reforge_prepare_hosts=classes -e reforge_prepare_batch=3 " \
        "-e '{\"hardware_firmware_baseline\": []}'"
    cursors = {b.name: b.cursor() for b in classes.bmcs}
    # The role's connection options reach the modules: Basic authentication, no session at all.
    _playbook(inventory, "discover.yml", limit, "-e reuse_report_dir=%s" % tmp_path, "-e reuse_report_campus=classes",
              "-e bmc_auth=basic -e bmc_timeout=20 -e bmc_validate_certs=true")
    for sim in classes.bmcs:
        entries = sim.requests_since(cursors[sim.name])
        assert entries and not [e for e in entries if e["method"] == "POST" and "/Sessions" in e["path"]], \
            "auth: basic opens no session"
        assert {e["auth"] for e in entries if e["path"].startswith("/redfish/v1/Systems")} == {"basic"}
    report = json.loads((tmp_path / "classes-reuse.json").read_text())
    assert {h: r["grade"] for h, r in report["servers"].items()} == {
        "gen12nvme": REUSABLE, "r7625nonraid": REUSABLE, "r660fc": WITH_CHANGES}
    assert report["summary"]["counts"] == {"reusable": 2, "reusable_with_changes": 1, "retire": 0}

    recap = _playbook(inventory, "prepare_hardware.yml", limit, "--check", "--diff",
                      "-e hardware_prepare_controller_unsupported=fail")
    assert set(recap) == {b.name for b in classes.bmcs} and all(r["failed"] == 0 for r in recap.values())
    assert {b.name: b.writes_since(cursors[b.name]) for b in classes.bmcs} == {b.name: [] for b in classes.bmcs}
    first = _playbook(inventory, "prepare_hardware.yml", limit, "-e hardware_prepare_controller_unsupported=fail")
    assert all(r["failed"] == 0 for r in first.values()), first
    second = _playbook(inventory, "prepare_hardware.yml", limit, "-e hardware_prepare_controller_unsupported=fail")
    assert {h: r["changed"] for h, r in second.items()} == {b.name: 0 for b in classes.bmcs}, second
