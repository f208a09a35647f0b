"""What BMCs do in the field, injected through the simulator's /_lab/faults: busy job queues,
sessions that die, ETag races, slow or overloaded services, TLS and credential mistakes."""
from __future__ import annotations

import threading
import time

import pytest

from redfish_lab import run_module

pytestmark = pytest.mark.lab


def statuses(bmc, cursor, method, path_part):
    return [e["status"] for e in bmc.requests_since(cursor) if e["method"] == method and path_part in e["path"]]


@pytest.mark.parametrize("bmc", ["node1"], indirect=True)
def test_dell_rac0679_busy_job_queue_is_waited_out(bmc):
    storage = bmc.system + "/Storage/RAID.Integrated.1-1"
    drives = [bmc.get(d["@odata.id"]) for d in bmc.get(storage)["Drives"]]
    ready = next(d["Id"] for d in drives if d["Oem"]["Dell"]["DellPhysicalDisk"]["RaidStatus"] == "Ready")
    # Someone else's job on the same controller is running when we start.
    other = bmc.http.post(bmc.endpoint + bmc.system + "/Oem/Dell/DellRaidService/Actions/DellRaidService.ConvertToNonRAID",
                          json={"PDArray": [ready], "@Redfish.OperationApplyTime": "Immediate"},
                          auth=bmc.auth, timeout=30)
    assert other.status_code == 202
    job = other.headers["Location"]

    cursor = bmc.cursor()

    def other_job_finishes():
        # Its owner polls it to completion only after our module has been turned away once,
        # so the test does not depend on how fast this machine is.
        deadline = time.monotonic() + 120
        while not statuses(bmc, cursor, "DELETE", "/Volumes/") and time.monotonic() < deadline:
            time.sleep(0.2)
        for _poll in range(3):
            bmc.get(job)
    threading.Thread(target=other_job_finishes, daemon=True).start()

    result = run_module("bmc_storage_controller", bmc.conn(mode="nonraid", allow_data_loss=True))
    assert not result.get("failed"), result
    deletes = statuses(bmc, cursor, "DELETE", "/Volumes/")
    assert deletes[0] == 400 and deletes[-1] == 202, deletes      # RAC0679 first, then accepted
    facts = run_module("bmc_info", bmc.conn(gather=["storage"]))["bmc"]["storage"][0]
    assert facts["mode"] == "nonraid" and facts["volumes"] == []


@pytest.mark.parametrize("bmc", ["node1"], indirect=True)
def test_busy_beyond_retries_is_a_clear_error(bmc):
    bmc.fault(kind="status", status=503, retry_after=0, method="PATCH", path="Bios/Settings", count=-1)
    result = run_module("bmc_bios", bmc.conn(attributes={"SriovGlobalEnable": "Enabled"}, retries=2))
    assert result["failed"] and result["error_class"] == "RedfishBusyError", result
    assert "still busy after 2 retries" in result["msg"]


@pytest.mark.parametrize("bmc", ["node3"], indirect=True)
def test_session_expires_mid_run_relogin_and_finish(bmc):
    bmc.fault(kind="expire_sessions", method="GET", path="/Bios$", count=1)
    cursor = bmc.cursor()
    result = run_module("bmc_bios", bmc.conn(attributes={"SRIOVEnable": "Enabled"}))
    assert not result.get("failed") and result["changed"], result
    assert result["session_relogins"] == 1
    logins = statuses(bmc, cursor, "POST", "/SessionService/Sessions")
    assert logins == [201, 201]
    assert bmc.state()["sessions"] == 0, "the new session is deleted too"


@pytest.mark.parametrize("bmc", ["node3"], indirect=True)
def test_412_rereads_etag_and_retries_once(bmc):
    bmc.fault(kind="precondition", method="PATCH", path="Bios/Settings", count=1)
    cursor = bmc.cursor()
    result = run_module("bmc_bios", bmc.conn(attributes={"SRIOVEnable": "Enabled"}))
    assert not result.get("failed") and result["changed"], result
    patches = statuses(bmc, cursor, "PATCH", "Bios/Settings")
    assert patches[0] == 412 and len(patches) == 2 and 200 <= patches[1] < 300, patches
    assert bmc.state()["pending"], "the retried PATCH landed"


@pytest.mark.parametrize("bmc", ["node3"], indirect=True)
def test_412_twice_is_reported_not_looped(bmc):
    bmc.fault(kind="precondition", method="PATCH", path="Bios/Settings", count=2)
    cursor = bmc.cursor()
    result = run_module("bmc_bios", bmc.conn(attributes={"SRIOVEnable": "Enabled"}))
    assert result["failed"] and result["error_class"] == "RedfishPreconditionFailed", result
    assert statuses(bmc, cursor, "PATCH", "Bios/Settings") == [412, 412]


@pytest.mark.parametrize("bmc", ["node2"], indirect=True)
def test_503_with_retry_after_is_honoured(bmc):
    bmc.fault(kind="status", status=503, retry_after=1, method="GET", path="/Systems/1$", count=2)
    cursor = bmc.cursor()
    start = time.monotonic()
    result = run_module("bmc_power", bmc.conn(state="on"))
    elapsed = time.monotonic() - start
    assert not result.get("failed") and result["changed"] is False, result
    assert statuses(bmc, cursor, "GET", "/Systems/1")[:3] == [503, 503, 200]
    assert elapsed >= 2, "two Retry-After: 1 waits"


@pytest.mark.parametrize("bmc", ["node2"], indirect=True)
def test_dropped_connection_is_retried(bmc):
    bmc.fault(kind="drop", method="GET", path="/Systems/1$", count=1)
    result = run_module("bmc_power", bmc.conn(state="on"))
    assert not result.get("failed"), result


@pytest.mark.parametrize("bmc", ["node2"], indirect=True)
def test_timeout_is_a_clear_error(bmc):
    bmc.fault(kind="delay", seconds=4, method="GET", path="/Systems/1$", count=-1)
    result = run_module("bmc_power", bmc.conn(state="on", timeout=1, retries=1))
    assert result["failed"] and result["error_class"] == "RedfishTimeoutError", result
    assert "did not answer GET /redfish/v1/Systems/1 within 1 s" in result["msg"]


@pytest.mark.parametrize("bmc", ["node2"], indirect=True)
def test_tls_is_verified_by_default(bmc):
    args = bmc.conn()
    del args["ca_path"]     # the system trust store does not know the lab CA
    result = run_module("bmc_info", dict(args, gather=["system"]))
    assert result["failed"] and result["error_class"] == "RedfishTLSError", result
    assert "ca_path" in result["msg"]
    insecure = run_module("bmc_info", dict(args, gather=["system"], validate_certs=False))
    assert not insecure.get("failed"), insecure


@pytest.mark.parametrize("bmc", ["node2"], indirect=True)
def test_bad_password_is_an_auth_error_without_the_password(bmc):
    result = run_module("bmc_info", bmc.conn(password="Wr0ng-s3cret"))
    assert result["failed"] and result["error_class"] == "RedfishAuthError", result
    assert "Wr0ng-s3cret" not in result["msg"] and "root" in result["msg"]


@pytest.mark.parametrize("bmc", ["node4"], indirect=True)
def test_server_error_on_a_collection_is_an_error_not_an_empty_list(bmc):
    """A 500 on the Storage collection fails the read; it never comes back as "no storage"."""
    bmc.fault(kind="status", status=500, method="GET", path="/Storage$", count=-1)
    result = run_module("bmc_info", bmc.conn(gather=["storage"], retries=1))
    assert result["failed"], result
    assert "/Storage" in result["msg"] and "500" in result["msg"], result
    assert "storage" not in (result.get("bmc") or {}), result
