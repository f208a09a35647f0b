"""Vendor behaviour our modules depend on: Settings applied on reset, tasks and the iDRAC
job queue, RAID→HBA/JBOD paths per vendor, firmware updates."""
from __future__ import annotations

import json
import time

from lab.redfish.client_helpers import LabBMC
from lab.redfish.conftest import POWER_DELAY, TASK_POLLS

HPE = "/redfish/v1/Systems/1"
DELL = "/redfish/v1/Systems/System.Embedded.1"
DELL_ST = f"{DELL}/Storage/RAID.Integrated.1-1"
DELL_CTRL = f"{DELL_ST}/Controllers/RAID.Integrated.1-1"
DISK = "Disk.Bay.{}:Enclosure.Internal.0-1:RAID.Integrated.1-1"
RAID_SVC = f"{DELL}/Oem/Dell/DellRaidService/Actions/DellRaidService"
FW = "/redfish/v1/UpdateService/FirmwareInventory"


def reboot(c: LabBMC, system: str) -> None:
    assert c.post(f"{system}/Actions/ComputerSystem.Reset", {"ResetType": "ForceRestart"}).status_code == 204
    time.sleep(POWER_DELAY + 0.4)


def message_ids(body: dict) -> list[str]:
    return [m["MessageId"] for m in body.get("error", {}).get("@Message.ExtendedInfo", body.get("Messages", []))]


# ------------------------------------------------------------------ BIOS
def test_hpe_bios_pending_until_reset(bmc):
    c = bmc("node2")
    r = c.patch(f"{HPE}/bios/settings", {"Attributes": {"Sriov": "Disabled", "WorkloadProfile": "Virtualization-MaxPerformance"}})
    assert r.status_code == 200 and "iLO.2.15.SystemResetRequired" in message_ids(r.json())
    assert c.json(f"{HPE}/bios")["Attributes"]["Sriov"] == "Enabled"          # current unchanged
    assert c.json(f"{HPE}/bios/settings")["Attributes"]["Sriov"] == "Disabled"  # pending visible
    assert c.patch(f"{HPE}/bios/settings", {"Attributes": {"NoSuchAttr": 1}}).status_code == 400
    reboot(c, HPE)
    attrs = c.json(f"{HPE}/bios")["Attributes"]
    assert attrs["Sriov"] == "Disabled" and attrs["WorkloadProfile"] == "Virtualization-MaxPerformance"
    assert c.state()["pending"] == {}


def test_dell_bios_needs_a_job_and_queue_rules(bmc):
    c = bmc("node1")
    r = c.patch(f"{DELL}/Bios/Settings", {"Attributes": {"SriovGlobalEnable": "Enabled"}})
    assert r.status_code == 204
    assert c.json(f"{DELL}/Bios/Settings")["Attributes"] == {"SriovGlobalEnable": "Enabled"}
    reboot(c, DELL)   # iDRAC: pending values without a configuration job survive a reboot unapplied
    assert c.json(f"{DELL}/Bios")["Attributes"]["SriovGlobalEnable"] == "Disabled"
    job = c.post("/redfish/v1/Managers/iDRAC.Embedded.1/Jobs", {"TargetSettingsURI": f"{DELL}/Bios/Settings"})
    assert job.status_code == 200
    jid = job.headers["Location"]
    assert c.json(jid)["JobState"] == "Scheduled"
    again = c.post("/redfish/v1/Managers/iDRAC.Embedded.1/Jobs", {"TargetSettingsURI": f"{DELL}/Bios/Settings"})
    assert again.status_code == 400 and again.json()["error"]["code"] == "IDRAC.2.8.RAC0679"
    more = c.patch(f"{DELL}/Bios/Settings", {"Attributes": {"ProcTurboMode": "Disabled"}})
    assert more.status_code == 400 and "IDRAC.2.8.SYS011" in message_ids(more.json())
    reboot(c, DELL)
    assert c.json(jid)["JobState"] == "Completed"
    assert c.json(f"{DELL}/Bios")["Attributes"]["SriovGlobalEnable"] == "Enabled"
    assert c.json(f"{DELL}/Bios/Settings")["Attributes"] == {}


def test_dell_bios_settings_apply_time_creates_job(bmc):
    c = bmc("spare5")
    r = c.patch(f"{DELL}/Bios/Settings", {"Attributes": {"LogicalProc": "Disabled"},
                                          "@Redfish.SettingsApplyTime": {"ApplyTime": "OnReset"}})
    assert r.status_code == 202 and "/Jobs/JID_" in r.headers["Location"]
    reboot(c, DELL)
    assert c.json(r.headers["Location"])["JobState"] == "Completed"
    assert c.json(f"{DELL}/Bios")["Attributes"]["LogicalProc"] == "Disabled"


# ------------------------------------------------------------ Dell storage
def test_dell_convert_to_nonraid_realtime_job(bmc):
    c = bmc("node1")
    r = c.post(f"{RAID_SVC}.ConvertToNonRAID", {"PDArray": [DISK.format(2), DISK.format(3)],
                                                "@Redfish.OperationApplyTime": "Immediate"})
    assert r.status_code == 202
    job = r.headers["Location"]
    busy = c.post(f"{RAID_SVC}.ConvertToNonRAID", {"PDArray": [DISK.format(4)], "@Redfish.OperationApplyTime": "Immediate"})
    assert busy.status_code == 400 and busy.json()["error"]["code"] == "IDRAC.2.8.RAC0679"
    states = [c.json(job)["JobState"] for _poll in range(TASK_POLLS)]
    assert states[:-1] == ["Running"] * (TASK_POLLS - 1) and states[-1] == "Completed"
    raid = c.json(f"{DELL_ST}/Drives/{DISK.format(2)}")["Oem"]["Dell"]["DellPhysicalDisk"]["RaidStatus"]
    assert raid == "NonRAID"
    assert c.json(f"{DELL_ST}/Drives/{DISK.format(4)}")["Oem"]["Dell"]["DellPhysicalDisk"]["RaidStatus"] == "Ready"
    # a disk of the boot mirror cannot be converted
    r = c.post(f"{RAID_SVC}.ConvertToNonRAID", {"PDArray": [DISK.format(0)]})
    assert r.status_code == 400


def test_dell_convert_staged_until_reboot(bmc):
    c = bmc("spare5")
    r = c.post(f"{RAID_SVC}.ConvertToNonRAID", {"PDArray": [DISK.format(5)]})
    job = r.headers["Location"]
    assert [c.json(job)["JobState"] for _poll in range(3)] == ["Scheduled"] * 3
    reboot(c, DELL)
    assert c.json(job)["JobState"] == "Completed"
    assert c.json(f"{DELL_ST}/Drives/{DISK.format(5)}")["Oem"]["Dell"]["DellPhysicalDisk"]["RaidStatus"] == "NonRAID"


def test_dell_controller_mode_hba_needs_volumes_gone(bmc):
    c = bmc("node1")
    body = {"@Redfish.SettingsApplyTime": {"ApplyTime": "OnReset"},
            "Oem": {"Dell": {"DellStorageController": {"ControllerMode": "HBA"}}}}
    mixed = c.patch(f"{DELL_CTRL}/Settings", {**body, "Name": "x"})
    assert mixed.status_code == 400          # ControllerMode must be alone
    r = c.patch(f"{DELL_CTRL}/Settings", body)
    assert r.status_code == 202
    reboot(c, DELL)
    failed = c.json(r.headers["Location"])
    assert failed["JobState"] == "Failed" and "Virtual disks" in failed["Message"]
    assert c.json(DELL_CTRL)["Oem"]["Dell"]["DellStorageController"]["ControllerMode"] == "RAID"
    # destroying the boot mirror is explicit and visible
    vols = c.json(f"{DELL_ST}/Volumes")["Members"]
    d = c.request("DELETE", vols[0]["@odata.id"])
    assert d.status_code == 202
    c.wait_task(d.headers["Location"])
    assert c.json(f"{DELL_ST}/Volumes")["Members"] == []
    r = c.patch(f"{DELL_CTRL}/Settings", body)
    reboot(c, DELL)
    assert c.json(r.headers["Location"])["JobState"] == "Completed"
    assert c.json(DELL_CTRL)["Oem"]["Dell"]["DellStorageController"]["ControllerMode"] == "HBA"
    status = c.json(f"{DELL_ST}/Drives/{DISK.format(0)}")["Oem"]["Dell"]["DellPhysicalDisk"]["RaidStatus"]
    assert status == "NonRAID"


def test_perc11_refuses_hba_mode(bmc):
    c = bmc("spare5")
    assert "H755" in c.json(DELL_CTRL)["Model"]
    r = c.patch(f"{DELL_CTRL}/Settings", {"Oem": {"Dell": {"DellStorageController": {"ControllerMode": "HBA"}}},
                                          "@Redfish.SettingsApplyTime": {"ApplyTime": "OnReset"}})
    assert r.status_code == 400 and "PropertyValueNotInList" in r.json()["error"]["code"]
    assert c.json(DELL_CTRL)["Oem"]["Dell"]["DellStorageController"]["ControllerMode"] == "RAID"


# ------------------------------------------------------------------- HPE
def test_ilo5_smartstorageconfig_put_applies_on_reset(bmc):
    c = bmc("node2")
    ssc = f"{HPE}/smartstorageconfig"
    assert len(c.json(ssc)["LogicalDrives"]) == 1
    etag = c.get(f"{ssc}/settings").headers["ETag"]
    r = c.request("PUT", f"{ssc}/settings", json={"Actions": [{"Action": "ClearConfigurationMetadata"}],
                                                  "LogicalDrives": [], "DataGuard": "Disabled"},
                  headers={"If-Match": etag})
    assert r.status_code == 200 and "iLO.2.15.SystemResetRequired" in message_ids(r.json())
    assert len(c.json(ssc)["LogicalDrives"]) == 1   # nothing happens before POST
    reboot(c, HPE)
    cur = c.json(ssc)
    assert cur["LogicalDrives"] == [] and cur["DataGuard"] == "Disabled"
    assert c.json(f"{HPE}/Storage/DE00A000/Volumes")["Members"] == []


def test_ilo5_port_mode_hba_takes_effect_at_next_post(bmc):
    c = bmc("node2")
    ssc, array = f"{HPE}/smartstorageconfig", f"{HPE}/SmartStorage/ArrayControllers/12"
    assert c.json(array)["CurrentOperatingMode"] == "Mixed"
    body = {"Actions": [{"Action": "ClearConfigurationMetadata"}], "LogicalDrives": [], "DataGuard": "Disabled",
            "Ports": [{"PortIndex": 0, "OperatingModeAfterReboot": "HBA"}, {"PortIndex": 1, "OperatingModeAfterReboot": "HBA"}]}
    r = c.request("PUT", f"{ssc}/settings", json=body, headers={"If-Match": c.get(f"{ssc}/settings").headers["ETag"]})
    assert r.status_code == 200
    assert c.json(array)["CurrentOperatingMode"] == "Mixed"        # staged: nothing changes before POST
    reboot(c, HPE)
    assert c.json(array)["CurrentOperatingMode"] == "HBA"
    assert {p["OperatingModeAfterReboot"] for p in c.json(ssc)["Ports"]} == {"HBA"}
    assert c.state()["pending"] == {}


def test_ilo6_autovolumecreate(bmc):
    c = bmc("node4")
    st = f"{HPE}/Storage/DE00A000"
    assert c.get(f"{HPE}/smartstorageconfig").status_code == 404   # gone on iLO 6
    assert c.json(st)["AutoVolumeCreate"] == "Disabled"
    assert c.patch(st, {"AutoVolumeCreate": "RAID5"}).status_code == 400
    r = c.patch(st, {"AutoVolumeCreate": "NonRAID"})
    assert r.status_code == 200
    vols = [c.json(m["@odata.id"]) for m in c.json(f"{st}/Volumes")["Members"]]
    jbods = [v for v in vols if v["RAIDType"] == "None"]
    assert len(jbods) == 4 and len(vols) == 5   # the RAID1 boot volume stays until deleted
    boot = next(v for v in vols if v["RAIDType"] == "RAID1")
    assert c.request("DELETE", boot["@odata.id"]).status_code == 204
    after = [c.json(m["@odata.id"])["RAIDType"] for m in c.json(f"{st}/Volumes")["Members"]]
    assert after == ["None"] * 6


def test_ilo5_volumes_read_only(bmc):
    c = bmc("node2")
    vol = c.json(f"{HPE}/Storage/DE00A000/Volumes")["Members"][0]["@odata.id"]
    assert c.request("DELETE", vol).status_code == 405


# --------------------------------------------------------------- xFusion
def test_xfusion_jbod_needs_if_match(bmc):
    c = bmc("node3")
    st = f"{HPE}/Storages/RAIDStorage0"
    no_tag = c.patch(st, {"StorageControllers": [{"Oem": {"xFusion": {"JBODState": True}}}]}, etag=False)
    assert no_tag.status_code == 428
    mode = c.patch(st, {"StorageControllers": [{"Oem": {"xFusion": {"Mode": "JBOD"}}}]})
    assert mode.status_code == 400      # logical drives exist
    r = c.patch(st, {"StorageControllers": [{"Oem": {"xFusion": {"JBODState": True}}}]})
    assert r.status_code == 200
    ctrl = c.json(st)["StorageControllers"][0]["Oem"]["xFusion"]
    assert ctrl["JBODState"] is True and ctrl["Mode"] == "RAID"
    assert c.json("/redfish/v1/Chassis/1/Drives/HDDPlaneDisk3")["Oem"]["xFusion"]["FirmwareStatus"] == "JBOD"
    assert c.json("/redfish/v1/Chassis/1/Drives/HDDPlaneDisk0")["Oem"]["xFusion"]["FirmwareStatus"] == "Online"


# -------------------------------------------------------------- firmware
def image(tmp_path, name: str, meta: dict | None = None) -> str:
    path = tmp_path / name
    path.write_bytes(json.dumps(meta).encode() if meta else b"\x7fELF firmware payload")
    return f"file://{path}"


def test_simple_update_immediate_component_task(bmc, tmp_path):
    c = bmc("node2")
    r = c.post("/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
               {"ImageURI": image(tmp_path, "ilo5-3.12.bin")})
    assert r.status_code == 202
    monitor = r.headers["Location"]
    first = c.get(monitor)
    assert first.status_code == 202 and first.json()["TaskState"] == "Running"
    assert c.json(f"{FW}/1")["Version"].startswith("3.11")
    done = c.wait_task(monitor)
    assert done["TaskState"] == "Completed"
    assert c.json(f"{FW}/1")["Version"] == "3.12"
    assert c.get(f"/redfish/v1/TaskService/Tasks/{done['Id']}").json()["TaskState"] == "Completed"


def test_simple_update_bios_waits_for_reset(bmc, tmp_path):
    c = bmc("spare6")
    sys6 = "/redfish/v1/Systems/437XR1138R2"
    uri = image(tmp_path, "fw.bin", {"Component": "BIOS", "Version": "P79 v1.50"})
    target = c.json("/redfish/v1/UpdateService")["Actions"]["#UpdateService.SimpleUpdate"]["target"]
    r = c.post(target, {"ImageURI": uri})
    done = c.wait_task(r.headers["Location"])
    assert done["TaskState"] == "Completed"
    assert "Update.1.0.AwaitingActivation" in [m["MessageId"] for m in done["Messages"]]
    assert c.json(f"{FW}/BIOS")["Version"] != "P79 v1.50"
    reboot(c, sys6)
    assert c.json(f"{FW}/BIOS")["Version"] == "P79 v1.50"


def test_update_task_failure_and_slow_task_faults(bmc, tmp_path):
    c = bmc("node2")
    c.fault("task_fail", path="SimpleUpdate", message="Flash write failed on System ROM")
    r = c.post("/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
               {"ImageURI": image(tmp_path, "bios-2.40.bin")})
    failed = c.wait_task(r.headers["Location"])
    assert failed["TaskState"] == "Exception" and "System ROM" in failed["Messages"][-1]["Message"]
    c.fault("task_polls", path="SimpleUpdate", polls=6)
    r = c.post("/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
               {"ImageURI": image(tmp_path, "bios-2.40.bin")})
    states = [c.json(r.headers["Location"])["TaskState"] for _poll in range(6)]
    assert states == ["Running"] * 5 + ["Completed"]


def test_update_refuses_unknown_component_and_outside_uri(bmc, tmp_path):
    c = bmc("node2")
    r = c.post("/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
               {"ImageURI": image(tmp_path, "toaster-1.0.bin")})
    assert "Update.1.0.NoTargetsDetermined" in message_ids(c.wait_task(r.headers["Location"]))
    r = c.post("/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
               {"ImageURI": "https://downloads.example.com/bios-2.40.bin"})
    assert "Update.1.0.TransferFailed" in message_ids(c.wait_task(r.headers["Location"]))


def test_multipart_push_dell_idrac_restarts_bmc_and_bios_job_waits(bmc):
    c = bmc("node1")
    push = c.json("/redfish/v1/UpdateService")["MultipartHttpPushUri"]
    inv = f"{FW}/Installed-25227-6.10.30.00"
    files = {"UpdateParameters": (None, json.dumps({"Targets": [], "@Redfish.OperationApplyTime": "Immediate"}),
                                  "application/json"),
             "UpdateFile": ("iDRAC-7.00.00.181.d9", b"\x00binary", "application/octet-stream")}
    r = c.request("POST", push, files=files)
    assert r.status_code == 202 and "/Jobs/JID_" in r.headers["Location"]
    token = c.http.post(c.endpoint + "/redfish/v1/SessionService/Sessions",
                        json={"UserName": "root", "Password": "calvin"}, timeout=5).headers["X-Auth-Token"]
    assert c.wait_task(r.headers["Location"])["JobState"] == "Completed"
    assert c.json(inv)["Version"] == "7.00.00.181"
    # iDRAC rebooted into the new firmware: the session is gone
    assert c.http.get(c.endpoint + DELL, headers={"X-Auth-Token": token}, timeout=5).status_code == 401
    files["UpdateFile"] = ("BIOS-2.20.1.exe", b"\x00bios", "application/octet-stream")
    r = c.request("POST", push, files=files)
    job = r.headers["Location"]
    assert c.json(job)["JobState"] == "Scheduled"
    reboot(c, DELL)
    assert c.json(job)["JobState"] == "Completed"
    assert c.json(f"{FW}/Installed-159-2.19.1")["Version"] == "2.20.1"


def test_generic_and_xfusion_bios_settings_apply_on_reset(bmc):
    for name, system in (("spare6", "/redfish/v1/Systems/437XR1138R2"), ("node3", "/redfish/v1/Systems/1")):
        c = bmc(name)
        bios = c.json(f"{system}/Bios")
        settings = c.json(f"{system}/Bios/Settings")["Attributes"]
        # nothing pending at start: Settings either mirrors the BIOS or holds only pending values
        assert settings in ({}, bios["Attributes"])
        attr, value = ("ProcTurboMode", "Disabled") if name == "spare6" else ("SRIOVEnable", "Enabled")
        assert bios["Attributes"][attr] != value
        assert c.patch(f"{system}/Bios/Settings", {"Attributes": {attr: value}}).status_code in (200, 204)
        assert c.json(f"{system}/Bios/Settings")["Attributes"][attr] == value
        reboot(c, system)
        assert c.json(f"{system}/Bios")["Attributes"][attr] == value
        assert attr not in c.json(f"{system}/Bios/Settings")["Attributes"] or name == "spare6"


def test_ilo5_http_push_uri_multipart(bmc):
    """iLO 5 takes firmware at HttpPushUri (/cgi-bin/uploadFile) as 'sessionKey' + 'parameters' + 'file' parts."""
    c = bmc("node2")
    push = c.json("/redfish/v1/UpdateService")["HttpPushUri"]
    cursor = c.cursor()
    files = {"sessionKey": (None, "x"), "parameters": (None, json.dumps({"UpdateRepository": True}), "application/json"),
             "file": ("ilo5-3.13.bin", b"\x00fw", "application/octet-stream")}
    r = c.request("POST", push, files=files)
    assert r.status_code == 202
    assert c.wait_task(r.headers["Location"])["TaskState"] == "Completed"
    assert c.json(f"{FW}/1")["Version"] == "3.13"
    assert [w["path"] for w in c.writes_since(cursor)] == [push]
