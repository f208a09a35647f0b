"""The reforge.hci.redfish inventory plugin against the lab's BMCs."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from redfish_lab import REPO_ROOT

pytestmark = pytest.mark.lab


def plain(value):
    """ansible-inventory marks strings read from BMCs as unsafe (never templated): unwrap them."""
    if isinstance(value, dict):
        return value["__ansible_unsafe"] if "__ansible_unsafe" in value else {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def inventory(tmp_path, config: str, env: dict | None = None) -> tuple[dict, str]:
    path = tmp_path / "lab.redfish.yml"
    path.write_text(config)
    cmd = "source scripts/env.sh && ansible-inventory -i %s --list" % path
    proc = subprocess.run(["bash", "-c", cmd], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False,
                          env=dict(os.environ, ANSIBLE_INVENTORY_ENABLED="reforge.hci.redfish", **(env or {})))
    assert proc.returncode == 0, proc.stderr
    return plain(json.loads(proc.stdout)), proc.stderr


def test_range_scan_groups_by_vendor_model_and_readiness(fleet, tmp_path):
    first, last = fleet.info["bmcs"][0]["port"], fleet.info["bmcs"][-1]["port"]   # this lab's ports
    data, _err = inventory(tmp_path, """
plugin: reforge.hci.redfish
ranges: [127.0.0.1/32]
ports: ["%d-%d", 18298]
ca_path: %s
""" % (first, last, fleet.info["ca"]), env=dict(REDFISH_USERNAME=fleet.info["username"], REDFISH_PASSWORD=fleet.info["password"]))
    hostvars = data["_meta"]["hostvars"]
    assert sorted(v["bmc_endpoint"] for v in hostvars.values()) == sorted(b.endpoint for b in fleet.bmcs)
    assert len(data["vendor_dell"]["hosts"]) == 2 and len(data["vendor_hpe"]["hosts"]) == 2
    assert data["vendor_xfusion"]["hosts"] and data["vendor_generic"]["hosts"]
    assert "model_poweredge_r750" in data
    graded = set()
    for group in ("readiness_reusable", "readiness_reusable_with_changes", "readiness_retire"):
        graded |= set(data.get(group, {}).get("hosts", []))
    assert graded == set(hostvars)
    perc11 = next(h for h, v in hostvars.items() if v["bmc_model"] == "PowerEdge R750")
    assert hostvars[perc11]["reuse_grade"] == "reusable_with_changes"


def test_unreachable_and_rejected_bmcs_are_skipped_with_a_warning(fleet, tmp_path):
    data, err = inventory(tmp_path, """
plugin: reforge.hci.redfish
endpoints: [%s, https://127.0.0.1:18299]
username: %s
password: not-the-password
ca_path: %s
readiness: false
""" % (fleet.bmcs[0].endpoint, fleet.info["username"], fleet.info["ca"]))
    assert data["_meta"]["hostvars"] == {}
    assert "rejected the credentials" in err and "18299" in err
    assert "not-the-password" not in err


def test_a_bmc_that_fails_is_skipped_and_the_others_still_load(fleet, lab, tmp_path):
    """Whatever one BMC does wrong, the rest of the source loads: here a BMC that reports its core count
    as a word (the grading used to raise a TypeError outside the plugin's error handling, and the whole
    source came back empty) and an endpoint that is not a URL."""
    from lab.redfish.bmc import Config
    from lab.redfish.conftest import free_port_range
    from lab.redfish.fleet import build
    from lab.redfish.server import Fleet as SimFleet

    pki = lab.get("pki")
    [odd] = build(1, free_port_range(1), Config(), hook=REPO_ROOT / "nonexistent",
                  spec=[("odd", "dmtf-rackmount1", None)])
    sims = SimFleet([odd], pki["cert"], pki["key"]).start()
    try:
        odd.get("/redfish/v1/Systems/437XR1138R2/Processors/CPU1")["TotalCores"] = "eight"
        data, err = inventory(tmp_path, """
plugin: reforge.hci.redfish
endpoints: ["%s", "https://127.0.0.1:%d", "https://[bad"]
ca_path: %s
auth: basic
timeout: 5
""" % (fleet.bmcs[0].endpoint, odd.port, fleet.info["ca"]),
            env=dict(REDFISH_USERNAME=fleet.info["username"], REDFISH_PASSWORD=fleet.info["password"]))
    finally:
        sims.stop()
    assert [v["bmc_endpoint"] for v in data["_meta"]["hostvars"].values()] == [fleet.bmcs[0].endpoint]
    assert "skipping https://127.0.0.1:%d: TypeError" % odd.port in err and "skipping https://[bad" in err
