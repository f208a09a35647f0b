"""bmc_firmware against the simulator: SimpleUpdate from an HTTPS repo, multipart push of a local file,
the BMC restarting under us, staged host firmware, and a failing update."""
from __future__ import annotations

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
