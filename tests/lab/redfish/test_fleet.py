"""The fleet as a whole: the lab component (ctl.sh + redfish.json + sushy-tools) and a
200-BMC fleet answering in parallel from one process."""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from lab.redfish.client_helpers import LabBMC
from lab.redfish.conftest import start_fleet
from lab.redfish.fleet import fleet_spec

# A second lab (another REFORGE_LAB_DIR) serves the same six servers from another base port.
BASE = int(os.environ.get("REFORGE_LAB_BMC_BASE_PORT", "18001"))
EXPECTED = [("node1", "dell", BASE, "node1"), ("node2", "hpe", BASE + 1, "node2"), ("node3", "xfusion", BASE + 2, "node3"),
            ("node4", "hpe", BASE + 3, "node4"), ("spare5", "dell", BASE + 4, None), ("spare6", "dmtf", BASE + 5, None)]


@pytest.mark.lab
def test_lab_component_describes_and_serves_the_six_servers(lab):
    info = lab.get("redfish")
    got = [(b["name"], b["vendor"], b["port"], b["bound_node"]) for b in info["bmcs"]]
    assert got[:6] == EXPECTED
    assert info["username"] and info["ca"].endswith("ca.pem")
    for b in info["bmcs"][:6]:
        c = LabBMC(b["endpoint"], info["ca"], info["username"], info["password"])
        root = c.get("/redfish/v1/")
        assert root.status_code == 200
        system = c.json(b["system"])
        assert system["PowerState"] in ("On", "Off", "PoweringOn", "PoweringOff")
    sushy = LabBMC(info["sushy"]["endpoint"], info["ca"], info["username"], info["password"])
    systems = sushy.json("/redfish/v1/Systems")
    assert systems["Members"], "sushy-tools fake driver serves systems"
    assert sushy.get("/redfish/v1/Systems", auth=None).status_code == 401


def test_fleet_spec_cycles_templates_beyond_six():
    spec = fleet_spec(14)
    assert [s[1] for s in spec[6:12]] == [s[1] for s in spec[:6]]
    assert spec[13][0] == "bmc014" and spec[13][2] is None


def test_two_hundred_bmcs_answer_in_parallel(pki):
    start = time.monotonic()
    fleet = start_fleet(200, pki)
    started = time.monotonic() - start
    try:
        def fetch(b):
            c = LabBMC(f"https://127.0.0.1:{b.port}", pki["ca"])
            r = c.get(b.profile.system)
            return r.status_code, r.json().get("SerialNumber") or r.json().get("SKU")

        t0 = time.monotonic()
        with ThreadPoolExecutor(max_workers=20) as pool:
            results = list(pool.map(fetch, fleet.bmcs))
        elapsed = time.monotonic() - t0
    finally:
        fleet.stop()
    assert [status for status, _serial in results] == [200] * 200
    assert len({serial for _status, serial in results}) == 200, "every BMC has its own serial"
    print(f"\n200 BMCs: started in {started:.2f}s, one GET each in {elapsed:.2f}s")
    assert started < 20


def test_latency_is_per_request_and_does_not_serialise(pki):
    """`latency` (POST /_lab/config, `fleet --latency`) delays every Redfish answer, as a real BMC's 0.2-2 s do;
    the wait is outside the BMC's lock, so 20 BMCs (and two connections to one BMC) wait side by side."""
    fleet = start_fleet(20, pki)
    try:
        clients = [LabBMC(f"https://127.0.0.1:{b.port}", pki["ca"]) for b in fleet.bmcs]
        for c in clients:
            assert c.config(latency=0.5)["latency"] == 0.5
        t0 = time.monotonic()
        clients[0].get("/redfish/v1/")
        one = time.monotonic() - t0
        t0 = time.monotonic()
        with ThreadPoolExecutor(max_workers=21) as pool:
            statuses = list(pool.map(lambda c: c.get("/redfish/v1/").status_code, clients + clients[:1]))
        many = time.monotonic() - t0
    finally:
        fleet.stop()
    assert statuses == [200] * 21
    assert one >= 0.5, one
    assert many < 4 * 0.5, f"21 requests took {many:.2f}s: the latency is served in a queue"
