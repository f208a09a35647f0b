"""Writes on a bad network and errors that tell the truth (issue 12), against the simulator's answer faults:
a write applied whose answer is then lost, a session answer without Location, ExtendedInfo-only error
bodies, and endpoints that are wrong rather than slow."""
from __future__ import annotations

import http.server
import socket
import threading
import time

import pytest

from redfish_lab import run_module

pytestmark = pytest.mark.lab


def sent(bmc, cursor, method, path_part):
    return [e for e in bmc.requests_since(cursor) if e["method"] == method and path_part in e["path"]]


# -- a write applied, its answer lost ----------------------------------------------------------
@pytest.mark.parametrize("bmc, component, image, version, tasks", [
    ("node2", "^iLO 5$", "ilo5-3.12.bin", "3.12", True),          # a task in the TaskService
    ("node2", "^iLO 5$", "ilo5-3.12.bin", "3.12", False),         # iLO 5 < 2.30: no task, only Oem.Hpe.State
    ("node1", "^BIOS$", "bios-2.20.1.bin", "2.20.1", True),       # iDRAC job queue (staged until reboot)
], indirect=["bmc"])
def test_firmware_update_whose_answer_is_lost_is_not_posted_twice(bmc, image_server, component, image, version, tasks):
    bmc.lab("POST", "config", {"update_tasks": tasks})
    bmc.fault(kind="lose_answer", method="POST", path="SimpleUpdate", count=1)
    cursor = bmc.cursor()
    baseline = [dict(component=component, version=version, image_uri=f"{image_server}/{image}")]
    result = run_module("bmc_firmware", bmc.conn(baseline=baseline))
    assert len(sent(bmc, cursor, "POST", "SimpleUpdate")) == 1, "the update was posted again"
    updates = [t for t in bmc.state()["tasks"].values() if t["name"].startswith("Firmware Update")]
    assert len(updates) == 1, updates
    # the update it started was found (task, iDRAC job, iLO's Oem.Hpe.State) and followed to its end
    assert not result.get("failed") and result["changed"], result
    assert result["outcomes"][component.strip("^$")] in ("updated", "staged"), result


@pytest.mark.parametrize("bmc", ["node3"], indirect=True)
def test_bios_patch_applied_but_answer_lost_is_sent_once(bmc):
    bmc.fault(kind="lose_answer", method="PATCH", path="Bios/Settings", count=1)
    cursor = bmc.cursor()
    result = run_module("bmc_bios", bmc.conn(attributes={"SRIOVEnable": "Enabled"}))
    assert not result.get("failed") and result["changed"], result
    assert len(sent(bmc, cursor, "PATCH", "Bios/Settings")) == 1
    assert result["pending"].get("SRIOVEnable") == "Enabled" and result["reboot_required"], result
    again = run_module("bmc_bios", bmc.conn(attributes={"SRIOVEnable": "Enabled"}))
    assert not again.get("failed") and again["changed"] is False, again


@pytest.mark.parametrize("bmc", ["node4"], indirect=True)
def test_volume_delete_applied_but_answer_lost_is_not_sent_again(bmc):
    storage = bmc.system + "/Storage/DE00A000"
    volumes = [m["@odata.id"] for m in bmc.get(storage + "/Volumes")["Members"]]
    assert volumes, "the template has a RAID volume"
    bmc.fault(kind="lose_answer", method="DELETE", path="/Volumes/", count=1)
    cursor = bmc.cursor()
    result = run_module("bmc_storage_controller", bmc.conn(mode="nonraid", allow_data_loss=True))
    assert not result.get("failed") and result["changed"], result
    deletes = [e["path"] for e in sent(bmc, cursor, "DELETE", "/Volumes/")]
    assert sorted(deletes) == sorted(volumes), deletes          # each volume once, the lost one not again
    facts = run_module("bmc_info", bmc.conn(gather=["storage"]))["bmc"]["storage"][0]
    assert facts["mode"] == "nonraid", facts


@pytest.mark.parametrize("bmc", ["node4"], indirect=True)
def test_failure_after_a_destructive_step_says_so_first(bmc):
    bmc.fault(kind="status", status=503, retry_after=0, method="PATCH", path="/Storage/DE00A000$", count=-1)
    result = run_module("bmc_storage_controller", bmc.conn(mode="nonraid", allow_data_loss=True, retries=1))
    assert result["failed"], result
    msg = result["msg"]
    assert msg.startswith("DATA ALREADY DESTROYED: volume"), msg
    assert "State now:" in msg and "mode raid" in msg and "0 volume(s) left" in msg, msg
    assert msg.index("DESTROYED") < msg.index("HTTP 503")
    outcomes = [(w["method"], w["outcome"]) for w in result["writes"]]
    assert ("DELETE", "acknowledged (HTTP 204)") in outcomes, outcomes
    assert outcomes.count(("PATCH", "rejected (HTTP 503)")) == 2, outcomes    # first try and one retry
    assert result["writes_count"] == len(result["writes"]) == len(outcomes)


# -- errors that tell the truth ---------------------------------------------------------------
@pytest.mark.parametrize("bmc", ["node2"], indirect=True)
def test_extended_info_message_and_id_are_shown(bmc):
    bmc.fault(kind="extended_error", status=400, method="PATCH", path="(?i)bios/settings",
              message_id="Base.1.4.PropertyValueNotInList", args=["Virtualisation", "WorkloadProfile"])
    result = run_module("bmc_bios", bmc.conn(attributes={"WorkloadProfile": "Virtualization-MaxPerformance"}, retries=0))
    assert result.get("failed"), result
    assert "Base.1.4.PropertyValueNotInList (Virtualisation, WorkloadProfile)" in result["msg"], result["msg"]
    assert "See @Message.ExtendedInfo" not in result["msg"]
    bmc.fault(kind="extended_error", status=400, method="PATCH", path="(?i)bios/settings",
              message_id="iLO.2.15.PropertyValueBadType", message="The value for WorkloadProfile has the wrong type.")
    result = run_module("bmc_bios", bmc.conn(attributes={"WorkloadProfile": "Virtualization-MaxPerformance"}, retries=0))
    assert "The value for WorkloadProfile has the wrong type. [iLO.2.15.PropertyValueBadType]" in result["msg"], result["msg"]


@pytest.mark.parametrize("bmc", ["node2"], indirect=True)
@pytest.mark.parametrize("body_id", [True, False])
def test_session_answer_without_location(bmc, body_id):
    bmc.fault(kind="session_no_location", method="POST", path="SessionService/Sessions$", body_id=body_id)
    result = run_module("bmc_info", bmc.conn(gather=["system"]))
    assert not result.get("failed"), result
    if body_id:     # the answer's @odata.id names the session: deleted at the end
        assert bmc.state()["sessions"] == 0
    else:           # nothing names it: used through X-Auth-Token, and the result says it stays open
        assert "SessionTimeout" in str(result.get("warnings")), result
        assert bmc.state()["sessions"] == 1


# -- endpoints that are wrong, not slow: fail at once with the cause ---------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def plain_http_port():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


@pytest.mark.parametrize("bmc", ["node2"], indirect=True)
def test_configuration_errors_fail_fast_with_the_cause(bmc, plain_http_port):
    port = bmc.endpoint.rsplit(":", 1)[1]
    cases = [
        ("https://127.0.0.1:%d" % _free_port(), {}, "refused the connection"),
        ("htps://127.0.0.1:%s" % port, {}, "scheme 'htps://' is not http or https"),
        ("ftp://127.0.0.1:%s" % port, {}, "scheme 'ftp://' is not http or https"),
        ("http://127.0.0.1:%s" % port, {}, "plain HTTP was sent to a TLS port; use https://"),
        ("https://127.0.0.1:%d" % plain_http_port, {}, "answers in plain HTTP, not TLS"),
        ("https://127.0.0.1:%d" % plain_http_port, {"validate_certs": False}, "answers in plain HTTP, not TLS"),
    ]
    for endpoint, extra, cause in cases:
        start = time.monotonic()
        result = run_module("bmc_info", dict(bmc.conn(endpoint=endpoint, gather=["system"]), **extra))
        elapsed = time.monotonic() - start
        assert result.get("failed") and cause in result["msg"], (endpoint, result)
        assert result["error_class"] == "RedfishEndpointError", (endpoint, result)
        assert "certificate" not in result["msg"].replace("not a certificate problem", ""), result["msg"]
        assert elapsed < 5, (endpoint, elapsed)
