"""bmc_firmware against the simulator: SimpleUpdate from an HTTPS repo, multipart push of a local file,
the BMC restarting under us, staged host firmware, and a failing update."""
from __future__ import annotations

import threading
import time

import pytest

from redfish_lab import FIRMWARE_DIR, lifecycle, reboot, run_module

pytestmark = pytest.mark.lab


def versions(bmc) -> dict:
    return bmc.state()["firmware"]


@pytest.mark.parametrize("bmc", ["node1"], indirect=True)
def test_dell_idrac_and_bios(bmc, image_server):
    baseline = [
        # the iDRAC restarts into its new firmware and drops our session
        dict(component="Remote Access Controller", version="7.00.00.00",
             image_uri=image_server + "/idrac-7.00.00.00.bin"),
        # fetched by the BMC from the repo (SimpleUpdate); staged as a job until the host reboots
        dict(component="^BIOS$", version="2.20.1", image_uri=image_server + "/bios-2.20.1.bin"),
        dict(component="^BIOS$", version="9.9.9", image_uri=image_server + "/x.bin", vendor="hpe"),
    ]
    checked, applied, again = lifecycle(bmc, "bmc_firmware", bmc.conn(baseline=baseline))
    assert [(p["from"], p["to"]) for p in checked["plan"]] == [("6.10.30.00", "7.00.00.00"), ("2.19.1", "2.20.1")]
    assert applied["session_relogins"] >= 1          # iDRAC reset itself: re-login and finish
    assert applied["reboot_required"]
    assert "7.00.00.00" in versions(bmc).values()
    assert again["staged"] and again["reboot_required"] and again["plan"] == []
    reboot(bmc)
    done = run_module("bmc_firmware", bmc.conn(baseline=baseline))
    assert (done["changed"], done["reboot_required"]) == (False, False), done
    assert "2.20.1" in versions(bmc).values()


@pytest.mark.parametrize("bmc", ["node2"], indirect=True)
def test_ilo5_simple_update(bmc, image_server):
    baseline = [dict(component="^iLO 5$", version="3.12", image_uri=image_server + "/ilo5-3.12.bin")]
    _c, applied, _a = lifecycle(bmc, "bmc_firmware", bmc.conn(baseline=baseline))
    assert applied["versions"]["1"] == "3.12" and not applied["reboot_required"]


@pytest.mark.parametrize("bmc", ["node2"], indirect=True)
@pytest.mark.refusal(area="firmware (bmc_firmware, hardware_prepare)", field="baseline[].version",
                     message="cannot compare installed firmware with the baseline, nothing was sent: ",
                     fix="write the version as the BMC's firmware inventory shows it (e.g. 3.12), for the right component")
def test_a_baseline_version_that_cannot_be_compared_is_refused_before_any_write(bmc, image_server, proves_refusal):
    baseline = [dict(component="^iLO 5$", version="latest", image_uri=image_server + "/ilo5-3.12.bin")]
    for check in (True, False):
        cursor = bmc.cursor()
        result = run_module("bmc_firmware", bmc.conn(baseline=baseline), check=check)
        assert result["failed"] and "'latest' is not a version this module can compare" in result["msg"], result
        proves_refusal(result["msg"])
        assert bmc.writes_since(cursor) == []


@pytest.mark.parametrize("bmc", ["node3"], indirect=True)
def test_xfusion_bios_staged_until_reset(bmc):
    baseline = [dict(component="^Bios$", version="1.90", image_uri="file://" + str(FIRMWARE_DIR / "bios-1.90.bin"))]
    # file:// is a URI for the BMC to fetch (the lab simulator reads it; real BMCs want http/https/nfs).
    _c, applied, again = lifecycle(bmc, "bmc_firmware", bmc.conn(baseline=baseline))
    assert applied["reboot_required"] and again["staged"]
    reboot(bmc)
    assert versions(bmc)["/redfish/v1/UpdateService/FirmwareInventory/Bios"] == "1.90"


@pytest.mark.parametrize("bmc", ["node2"], indirect=True)
def test_failed_update_names_the_component(bmc, image_server):
    bmc.fault(kind="task_fail", method="POST", path="SimpleUpdate", message="Flash write error at block 7")
    baseline = [dict(component="^iLO 5$", version="3.12", image_uri=image_server + "/ilo5-3.12.bin")]
    result = run_module("bmc_firmware", bmc.conn(baseline=baseline))
    assert result["failed"] and result["error_class"] == "RedfishTaskFailed", result
    assert "iLO 5" in result["msg"] and "Flash write error" in result["msg"]
    assert result["component"] == "iLO 5"


@pytest.mark.parametrize("bmc", ["node3"], indirect=True)
def test_multipart_push_of_a_local_file(bmc):
    baseline = [dict(component="^Bios$", version="1.90", image_uri=str(FIRMWARE_DIR / "bios-1.90.bin"))]
    _c, applied, _a = lifecycle(bmc, "bmc_firmware", bmc.conn(baseline=baseline))
    assert applied["reboot_required"]
    assert ("POST", "/redfish/v1/UpdateService/MultipartUpdate") in bmc.writes_since(0), "pushed, not fetched"


# ------------------------------------------------- done means done (issue 12)
SIMPLE_UPDATE = "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate"
ILO5 = [dict(component="^iLO 5$", version="3.12")]


def ilo5_baseline(image_server) -> list[dict]:
    return [dict(ILO5[0], image_uri=image_server + "/ilo5-3.12.bin")]


def simple_update_posts(bmc, cursor: int) -> list[tuple[str, str]]:
    return [w for w in bmc.writes_since(cursor) if w[0] == "POST" and "SimpleUpdate" in w[1]]


@pytest.mark.parametrize("bmc", ["node2"], indirect=True)
def test_ilo_without_task_monitor_waits_until_flashed(bmc, image_server):
    """iLO 5 before 2.30: SimpleUpdate answers 200 with no task; progress is only in Oem.Hpe."""
    bmc.lab("POST", "config", dict(update_seconds=3, update_tasks=False))
    cursor = bmc.cursor()
    start = time.monotonic()
    applied = run_module("bmc_firmware", bmc.conn(baseline=ilo5_baseline(image_server)))
    assert applied["changed"] and not applied.get("failed"), applied
    assert time.monotonic() - start >= 2.5, "returned before the flash was over"
    assert applied["versions"]["1"] == "3.12" and applied["outcomes"] == {"iLO 5": "updated"}
    assert not applied["reboot_required"]
    assert any(e["path"].rstrip("/").endswith("/UpdateService") for e in bmc.requests_since(cursor)), \
        "the iLO's own progress was followed"


@pytest.mark.parametrize("bmc", ["node2"], indirect=True)
def test_ilo_failed_flash_without_task_is_a_failure(bmc, image_server):
    bmc.lab("POST", "config", dict(update_seconds=1, update_tasks=False))
    bmc.fault(kind="task_fail", method="POST", path="SimpleUpdate", message="Flash write error at block 7")
    result = run_module("bmc_firmware", bmc.conn(baseline=ilo5_baseline(image_server)))
    assert result.get("failed") and result["error_class"] == "RedfishTaskFailed", result
    assert result["component"] == "iLO 5" and "Flash write error at block 7" in result["msg"]


@pytest.mark.parametrize("bmc", ["node2"], indirect=True)
def test_rerun_during_an_ilo_update_waits_on_it(bmc, image_server):
    # The update runs until the test moves the BMC's clock on: no race with the machine's load.
    bmc.lab("POST", "config", dict(update_seconds=3600))
    # an earlier run that timed out (or was killed) left the update running
    started = bmc.http.post(bmc.endpoint + SIMPLE_UPDATE, auth=bmc.auth, timeout=30,
                            json={"ImageURI": image_server + "/ilo5-3.12.bin"})
    assert started.status_code == 202
    task = started.headers["Location"]
    cursor = bmc.cursor()
    checked = run_module("bmc_firmware", bmc.conn(baseline=ilo5_baseline(image_server)), check=True)
    assert checked["plan"] == [] and [p["component"] for p in checked["pending"]] == ["iLO 5"], checked
    rerun_from = bmc.cursor()
    finisher = threading.Thread(target=_finish_when_polled, args=(bmc, rerun_from, task), daemon=True)
    finisher.start()
    rerun = run_module("bmc_firmware", bmc.conn(baseline=ilo5_baseline(image_server)))
    finisher.join(timeout=5)
    assert not rerun.get("failed"), rerun
    assert simple_update_posts(bmc, cursor) == [], "the same image was sent again"
    assert [p["component"] for p in rerun["pending"]] == ["iLO 5"] and rerun["plan"] == []
    assert rerun["pending"][0]["task"] == task
    assert rerun["versions"]["1"] == "3.12" and rerun["outcomes"] == {"iLO 5": "updated"}


def _finish_when_polled(bmc, cursor: int, task: str, timeout: float = 120) -> None:
    """Once the rerun polls the running task, let the BMC's clock run past the update's end."""
    path = task.split("://", 1)[-1].split("/", 1)[-1] if "://" in task else task.lstrip("/")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(e["method"] == "GET" and e["path"].lstrip("/").startswith(path) for e in bmc.requests_since(cursor)):
            bmc.lab("POST", "clock", {"advance": 3600})
            return
        time.sleep(0.2)


@pytest.mark.parametrize("bmc", ["node1"], indirect=True)
def test_rerun_during_an_idrac_download_waits_on_the_job(bmc, image_server):
    bmc.lab("POST", "config", dict(update_seconds=6))
    baseline = [dict(component="^BIOS$", version="2.20.1", image_uri=image_server + "/bios-2.20.1.bin")]
    started = bmc.http.post(bmc.endpoint + SIMPLE_UPDATE, auth=bmc.auth, timeout=30,
                            json={"ImageURI": baseline[0]["image_uri"]})
    job = started.headers["Location"]
    assert bmc.get(job)["JobState"] == "Downloading"
    cursor = bmc.cursor()
    rerun = run_module("bmc_firmware", bmc.conn(baseline=baseline))
    assert not rerun.get("failed"), rerun
    assert simple_update_posts(bmc, cursor) == []
    assert rerun["pending"][0]["task"] == job and rerun["outcomes"] == {"BIOS": "staged"}
    assert rerun["reboot_required"] and bmc.get(job)["JobState"] == "Scheduled"


SILENT_CASES = {
    # the iLO updating itself: its silence is a restart that did not end
    "node2": (ILO5[0]["component"], "ilo5-3.12.bin", "3.12", "iLO 5", "expected to restart"),
    # an iDRAC job for the BIOS: the BMC just stopped answering
    "node1": ("^BIOS$", "bios-2.20.1.bin", "2.20.1", "BIOS", "stopped answering"),
}


@pytest.mark.parametrize("bmc", sorted(SILENT_CASES), indirect=True)
def test_bmc_silent_during_the_wait_is_unreachable_soon(bmc, image_server):
    component, image, version, name, why = SILENT_CASES[bmc.name]
    bmc.lab("POST", "config", dict(update_seconds=60))
    # the BMC accepts the update, answers, then nothing more (hung, cable pulled)
    bmc.fault(kind="silence", method="POST", path="SimpleUpdate", seconds=120)
    baseline = [dict(component=component, version=version, image_uri=f"{image_server}/{image}")]
    start = time.monotonic()
    result = run_module("bmc_firmware", bmc.conn(baseline=baseline, unreachable_timeout=3,
                                                 task_timeout=600, retries=1, timeout=5))
    elapsed = time.monotonic() - start
    assert result.get("failed") and result["error_class"] == "RedfishConnectionError", result
    assert elapsed < 40, f"took {elapsed:.0f} s: should give up after unreachable_timeout, not task_timeout"
    assert result["accepted"] and result["unreachable"] and "accepted" in result["msg"], result["msg"]
    assert "unknown" in result["msg"] and name in result["msg"] and why in result["msg"], result["msg"]


@pytest.mark.parametrize("bmc", ["node1"], indirect=True)
def test_idrac_restart_after_its_own_update_is_waited_out(bmc, image_server):
    bmc.lab("POST", "config", dict(update_seconds=1, bmc_reset_seconds=4))
    baseline = [dict(component="Remote Access Controller", version="7.00.00.00",
                     image_uri=image_server + "/idrac-7.00.00.00.bin")]
    cursor = bmc.cursor()
    applied = run_module("bmc_firmware", bmc.conn(baseline=baseline, unreachable_timeout=30, retries=1))
    assert not applied.get("failed"), applied
    assert applied["outcomes"] == {"Integrated Dell Remote Access Controller": "updated"}, applied
    assert "7.00.00.00" in versions(bmc).values()
    assert any(e.get("fault") == "down" for e in bmc.requests_since(cursor)), "the iDRAC was down for a while"
