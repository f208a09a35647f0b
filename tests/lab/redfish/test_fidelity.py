"""Simulator fidelity (issue 12): time passes on the BMC whether or not anyone polls, updates take
a while and report progress, a BMC reset has downtime, an image fetch does not hold the BMC,
iDRAC jobs can be deleted, SessionTimeout keeps to its schema range."""
from __future__ import annotations

import http.server
import threading
import time

import pytest
import requests

from lab.redfish.client_helpers import LabBMC

DELL = "/redfish/v1/Systems/System.Embedded.1"
DELL_ST = f"{DELL}/Storage/RAID.Integrated.1-1"
DISK = "Disk.Bay.{}:Enclosure.Internal.0-1:RAID.Integrated.1-1"
RAID_SVC = f"{DELL}/Oem/Dell/DellRaidService/Actions/DellRaidService"
JOBS = "/redfish/v1/Managers/iDRAC.Embedded.1/Jobs"
FW = "/redfish/v1/UpdateService/FirmwareInventory"
SIMPLE = "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate"


def _image(tmp_path, name: str) -> str:
    path = tmp_path / name
    path.write_bytes(b"\x7fELF firmware payload")
    return f"file://{path}"


def _raid_status(c: LabBMC, bay: int) -> str:
    return c.json(f"{DELL_ST}/Drives/{DISK.format(bay)}")["Oem"]["Dell"]["DellPhysicalDisk"]["RaidStatus"]


def test_tasks_advance_with_nobody_polling(bmc):
    c = bmc("node1")
    c.config(task_seconds=0.5)
    r = c.post(f"{RAID_SVC}.ConvertToNonRAID", {"PDArray": [DISK.format(2)], "@Redfish.OperationApplyTime": "Immediate"})
    assert r.status_code == 202
    time.sleep(0.8)
    # the job was never polled: the drive still changed, and the job reads Completed at first sight
    assert _raid_status(c, 2) == "NonRAID"
    assert c.json(r.headers["Location"])["JobState"] == "Completed"


def test_ilo_update_takes_time_and_reports_progress(bmc, tmp_path):
    c = bmc("node2")
    c.config(update_seconds=1.5)
    r = c.post(SIMPLE, {"ImageURI": _image(tmp_path, "ilo5-3.12.bin")})
    assert r.status_code == 202
    time.sleep(0.5)
    oem = c.json("/redfish/v1/UpdateService")["Oem"]["Hpe"]
    assert oem["State"] in ("Verifying", "Writing") and 0 < oem["FlashProgressPercent"] < 100, oem
    ilo = c.json(f"{FW}/1")
    assert ilo["Version"].startswith("3.11") and ilo["Status"]["State"] == "Updating"
    # however often it is polled, the task does not finish before its time
    assert all(c.json(r.headers["Location"])["TaskState"] == "Running" for _poll in range(5))
    time.sleep(1.3)
    assert c.json("/redfish/v1/UpdateService")["Oem"]["Hpe"]["State"] == "Complete"
    assert c.json(f"{FW}/1")["Version"] == "3.12"


def test_ilo_update_without_task_monitor(bmc, tmp_path):
    """iLO 5 before 2.30 answers SimpleUpdate 200 with no task: progress is only in Oem.Hpe."""
    c = bmc("node2")
    c.config(update_seconds=0.5, update_tasks=False)
    c.fault("task_fail", path="SimpleUpdate", message="Flash write error at block 7")
    r = c.post(SIMPLE, {"ImageURI": _image(tmp_path, "ilo5-3.12.bin")})
    assert r.status_code == 200 and "Location" not in r.headers
    time.sleep(0.8)
    oem = c.json("/redfish/v1/UpdateService")["Oem"]["Hpe"]
    assert oem["State"] == "Error" and "block 7" in oem["Result"]["MessageArgs"][-1]
    assert c.json(f"{FW}/1")["Version"].startswith("3.11")


def test_dell_update_job_downloads_then_schedules(bmc, tmp_path):
    c = bmc("node1")
    c.config(update_seconds=1.0)
    r = c.post(SIMPLE, {"ImageURI": _image(tmp_path, "bios-2.20.1.bin")})
    job = r.headers["Location"]
    first = c.json(job)
    assert first["JobState"] in ("Downloading", "Running") and first["PercentComplete"] < 100
    time.sleep(1.2)
    assert c.json(job)["JobState"] == "Scheduled"


def test_dell_job_delete(bmc):
    c = bmc("spare5")
    r = c.patch(f"{DELL}/Bios/Settings", {"Attributes": {"LogicalProc": "Disabled"},
                                          "@Redfish.SettingsApplyTime": {"ApplyTime": "OnReset"}})
    job = r.headers["Location"]
    jid = job.rsplit("/", 1)[-1]
    assert c.request("DELETE", job).status_code == 200
    assert c.get(job).status_code == 404
    assert all(not m["@odata.id"].endswith(jid) for m in c.json(JOBS)["Members"])
    assert c.json(f"{DELL}/Bios/Settings")["Attributes"] == {}, "the staged values go with the job"
    # iDRAC's Tasks are views of the jobs: not deleted there
    c.config(task_seconds=30)
    r = c.post(f"{RAID_SVC}.ConvertToNonRAID", {"PDArray": [DISK.format(2)], "@Redfish.OperationApplyTime": "Immediate"})
    running = r.headers["Location"]
    assert c.request("DELETE", f"/redfish/v1/TaskService/Tasks/{running.rsplit('/', 1)[-1]}").status_code == 405
    refused = c.request("DELETE", running)
    assert refused.status_code == 400 and "running" in refused.text.lower()


def test_bmc_reset_has_downtime(bmc):
    c = bmc("node3")
    c.config(bmc_reset_seconds=1.0)
    assert c.post("/redfish/v1/Managers/1/Actions/Manager.Reset", {"ResetType": "GracefulRestart"}).status_code == 204
    with pytest.raises(requests.ConnectionError):
        c.get("/redfish/v1/", timeout=2)
    time.sleep(1.1)
    assert c.get("/redfish/v1/", timeout=2).status_code == 200


def test_silence_fault_answers_the_write_then_nothing(bmc):
    c = bmc("node3")
    c.fault("silence", method="PATCH", path="Managers/1$", seconds=0.8)
    r = c.patch("/redfish/v1/Managers/1", {"DateTimeLocalOffset": "+01:00"})
    assert r.status_code == 200
    with pytest.raises(requests.ConnectionError):
        c.get("/redfish/v1/Managers/1", timeout=2)
    time.sleep(0.9)
    assert c.json("/redfish/v1/Managers/1")["DateTimeLocalOffset"] == "+01:00"


class _HeldImages(http.server.BaseHTTPRequestHandler):
    """An image server that answers only once the test releases it (no race with the machine's load)."""
    release = threading.Event()
    asked = threading.Event()

    def do_GET(self):  # noqa: N802 (stdlib name)
        type(self).asked.set()
        type(self).release.wait(60)
        data = b"\x7fELF firmware payload"
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_simple_update_fetch_does_not_hold_the_bmc(bmc):
    c = bmc("node2")
    _HeldImages.release.clear()
    _HeldImages.asked.clear()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HeldImages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        # The image server holds its answer until released: a BMC that fetched the image inside
        # the request (or under its lock) could answer neither the POST nor the GET meanwhile.
        r = c.post(SIMPLE, {"ImageURI": f"http://127.0.0.1:{server.server_address[1]}/ilo5-3.12.bin"}, timeout=20)
        assert r.status_code == 202, "accepted before the image is fetched"
        assert c.get("/redfish/v1/Systems/1", timeout=20).status_code == 200, "answered while the image downloads"
        assert _HeldImages.asked.wait(20), "the BMC never asked for the image"
        assert not _HeldImages.release.is_set()
        _HeldImages.release.set()
        assert c.wait_task(r.headers["Location"], max_polls=400)["TaskState"] == "Completed"
        assert c.json(f"{FW}/1")["Version"] == "3.12"
    finally:
        _HeldImages.release.set()
        server.shutdown()


def test_session_timeout_schema_range_and_session_limit(bmc):
    c = bmc("node4")
    for bad in (10, 86401):
        r = c.patch("/redfish/v1/SessionService", {"SessionTimeout": bad})
        assert r.status_code == 400, bad
    assert c.patch("/redfish/v1/SessionService", {"SessionTimeout": 30}).status_code == 200
    c.config(max_sessions=2)
    login = dict(UserName="root", Password="calvin")
    tokens = [c.http.post(c.endpoint + "/redfish/v1/SessionService/Sessions", json=login, timeout=5) for _i in range(3)]
    assert [t.status_code for t in tokens] == [201, 201, 503]
    assert "SessionLimitExceeded" in tokens[-1].text
