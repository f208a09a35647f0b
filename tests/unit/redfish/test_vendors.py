"""Vendor adapters against recorded payloads: detection, facts, and the writes a mode switch plans."""
from __future__ import annotations

import pytest

from ansible_collections.reforge.hci.plugins.module_utils.redfish.errors import (
    RedfishDataLossRefused, RedfishUnsupported,
)
from ansible_collections.reforge.hci.plugins.module_utils.redfish.service import BMC, adapter_class
from ansible_collections.reforge.hci.plugins.module_utils.redfish.vendors.dell import DellAdapter
from ansible_collections.reforge.hci.plugins.module_utils.redfish.vendors.generic import GenericAdapter
from ansible_collections.reforge.hci.plugins.module_utils.redfish.vendors.hpe import HpeAdapter
from ansible_collections.reforge.hci.plugins.module_utils.redfish.vendors.lenovo import LenovoAdapter
from ansible_collections.reforge.hci.plugins.module_utils.redfish.vendors.supermicro import SupermicroAdapter
from ansible_collections.reforge.hci.plugins.module_utils.redfish.vendors.xfusion import XFusionAdapter

from .conftest import STORAGE, SYS, dell_tree, payload
from .fixture_client import FixtureClient


@pytest.mark.parametrize("root, manager, expected", [
    (payload("dell_root.json"), {}, DellAdapter),
    ({"Oem": {"Hpe": {}}}, {}, HpeAdapter),
    ({"Vendor": "HPE"}, {}, HpeAdapter),
    ({"Oem": {"xFusion": {}}}, {}, XFusionAdapter),
    ({"Oem": {"Huawei": {}}}, {}, XFusionAdapter),
    ({}, {"Model": "Lenovo XClarity Controller"}, LenovoAdapter),
    ({"Vendor": "Supermicro"}, {}, SupermicroAdapter),
    ({"Vendor": "Contoso"}, {"Model": "Joo Janta 200"}, GenericAdapter),
])
def test_vendor_detected_from_service_root(root, manager, expected):
    assert adapter_class(root, manager) is expected


def test_recorded_roots_pick_their_adapter(hpe_ilo5, dmtf):
    assert isinstance(BMC(hpe_ilo5), HpeAdapter)
    assert isinstance(BMC(dmtf), GenericAdapter) and BMC(dmtf).vendor == "generic"


# -- HPE iLO 5 (HPE's published DL360 Gen10 Plus mockup) ---------------------------------
def test_ilo5_smart_array_facts(hpe_ilo5):
    [ctrl] = BMC(hpe_ilo5).storage_facts()
    assert ctrl["model"] == "HPE SR416i-a Gen10+"
    assert ctrl["mode"] == "mixed"              # CurrentOperatingMode Mixed, with a logical drive
    assert ctrl["pending_mode"] is None
    assert ctrl["hba_capable"] and "hba" in ctrl["supported_modes"]
    assert [v["raid_type"] for v in ctrl["volumes"]] == ["Raid1"]


def test_ilo5_hba_refuses_to_destroy_logical_drives(hpe_ilo5):
    bmc = BMC(hpe_ilo5)
    storage, ctrl = bmc.find_storage(None)
    with pytest.raises(RedfishDataLossRefused, match="1 logical drive"):
        bmc.plan_controller_mode(storage, ctrl, "hba", allow_data_loss=False)
    assert hpe_ilo5.writes == []


def test_ilo5_hba_with_data_loss_puts_smartstorageconfig(hpe_ilo5):
    bmc = BMC(hpe_ilo5)
    storage, ctrl = bmc.find_storage(None)
    current, pending, steps = bmc.plan_controller_mode(storage, ctrl, "hba", allow_data_loss=True)
    assert (current, pending, len(steps)) == ("mixed", None, 1)
    assert hpe_ilo5.writes == []                 # planning writes nothing (check mode relies on this)
    steps[0]()
    [(method, uri, body)] = hpe_ilo5.writes
    assert method == "PUT" and uri == "/redfish/v1/systems/1/smartstorageconfig/settings/"
    assert body["LogicalDrives"] == [] and body["Actions"] == [{"Action": "ClearConfigurationMetadata"}]
    assert {p["OperatingModeAfterReboot"] for p in body["Ports"]} == {"HBA"}


def test_ilo5_nonraid_drops_the_logical_drive_only_with_consent(hpe_ilo5):
    bmc = BMC(hpe_ilo5)
    storage, ctrl = bmc.find_storage(None)
    with pytest.raises(RedfishDataLossRefused):
        bmc.plan_controller_mode(storage, ctrl, "nonraid", allow_data_loss=False)
    [step] = bmc.plan_controller_mode(storage, ctrl, "nonraid", allow_data_loss=True)[2]
    step()
    body = hpe_ilo5.writes[0][2]
    assert body["LogicalDrives"] == [] and {p["OperatingModeAfterReboot"] for p in body["Ports"]} == {"Mixed"}


def test_ilo5_virtualization_profile_uses_hpe_names(hpe_ilo5):
    bmc = BMC(hpe_ilo5)
    state = bmc.bios_state()
    wanted, missing = bmc.profile_attributes("virtualization_host", state["current"])
    assert missing == []
    assert wanted == {"ProcVirtualization": "Enabled", "IntelProcVtd": "Enabled", "Sriov": "Enabled",
                      "BootMode": "Uefi", "WorkloadProfile": "Virtualization-MaxPerformance"}
    assert state["settings_uri"] == "/redfish/v1/systems/1/bios/settings/"
    assert state["pending"] == {}


def test_ilo5_nics_and_firmware(hpe_ilo5):
    bmc = BMC(hpe_ilo5)
    firmware = bmc.firmware_inventory()
    assert any("iLO 5" in (f["name"] or "") for f in firmware)
    assert all(f["version"] for f in firmware)
    assert bmc.nic_facts(), "the mockup publishes NIC ports"


# -- Dell iDRAC 9 -----------------------------------------------------------------------
def test_perc9_hba_plan_deletes_volume_only_when_allowed():
    client = dell_tree("PERC H730P Mini")
    bmc = BMC(client)
    storage, ctrl = bmc.find_storage(None)
    assert bmc.supported_modes(storage, ctrl) == ["raid", "hba", "nonraid", "jbod"]
    with pytest.raises(RedfishDataLossRefused):
        bmc.plan_controller_mode(storage, ctrl, "hba", allow_data_loss=False)
    _cur, _pend, steps = bmc.plan_controller_mode(storage, ctrl, "hba", allow_data_loss=True)
    for step in steps:
        step()
    assert client.writes[0] == ("DELETE", STORAGE + "/Volumes/Disk.Virtual.0", None)
    method, uri, body = client.writes[1]
    assert (method, uri) == ("PATCH", STORAGE + "/Controllers/RAID.Integrated.1-1/Settings")
    # ControllerMode must be alone in its PATCH (iDRAC rejects it combined with other properties).
    assert body == {"@Redfish.SettingsApplyTime": {"ApplyTime": "OnReset"},
                    "Oem": {"Dell": {"DellStorageController": {"ControllerMode": "HBA"}}}}


def test_perc10_hba_means_enhanced_hba():
    client = dell_tree("PERC H740P Adapter", volumes=())
    bmc = BMC(client)
    storage, ctrl = bmc.find_storage(None)
    for step in bmc.plan_controller_mode(storage, ctrl, "hba", allow_data_loss=False)[2]:
        step()
    assert client.writes[0][2]["Oem"]["Dell"]["DellStorageController"]["ControllerMode"] == "EnhancedHBA"


def test_perc11_hba_fails_with_the_honest_message():
    bmc = BMC(dell_tree("PERC H755 Front", volumes=()))
    storage, ctrl = bmc.find_storage(None)
    with pytest.raises(RedfishUnsupported) as err:
        bmc.plan_controller_mode(storage, ctrl, "hba", allow_data_loss=True)
    assert "PERC H755 Front supports only raid" in err.value.message
    assert "HBA355i" in err.value.message


def test_perc9_nonraid_converts_only_disks_not_yet_nonraid():
    client = dell_tree("PERC H330 Mini", raid_status=("Ready", "NonRAID"), volumes=())
    bmc = BMC(client)
    storage, ctrl = bmc.find_storage(None)
    for step in bmc.plan_controller_mode(storage, ctrl, "nonraid", allow_data_loss=False)[2]:
        step()
    [(method, uri, body)] = client.writes
    assert uri == SYS + "/Oem/Dell/DellRaidService/Actions/DellRaidService.ConvertToNonRAID"
    assert body == {"PDArray": ["Disk.Bay.0:Enclosure.Internal.0-1:RAID.Integrated.1-1"]}


def test_dell_all_nonraid_disks_report_nonraid_mode():
    facts = BMC(dell_tree("PERC H330 Mini", raid_status=("NonRAID", "NonRAID"), volumes=())).storage_facts()
    assert facts[0]["mode"] == "nonraid"
    assert {d["raid_status"] for d in facts[0]["drives"]} == {"NonRAID"}
    assert facts[0]["drives"][0]["predicted_life_left_percent"] == 97


def test_recorded_dell_enhanced_hba_controller_reads_as_hba():
    ctrl = payload("dell_storage_controller.json")
    assert DellAdapter(None).controller_mode({}, ctrl, []) == "hba"


def test_dell_bios_pending_is_what_differs_from_current():
    bmc = BMC(dell_tree("PERC H730P Mini"))
    state = bmc.bios_state()
    assert state["pending"] == {}      # iDRAC echoes an unchanged value: not pending
    wanted, missing = bmc.profile_attributes("virtualization_host", state["current"])
    assert wanted["SysProfile"] == "PerfOptimized" and wanted["ProcVirtualization"] == "Enabled"
    assert wanted["BootMode"] == "Uefi"


# -- other vendors ----------------------------------------------------------------------
def test_xfusion_jbod_patch_is_oem_on_the_storage_resource():
    storage = {"@odata.id": "/redfish/v1/Systems/1/Storages/RAIDStorage0", "Id": "RAIDStorage0",
               "StorageControllers": [{"Model": "SP686C", "Oem": {"xFusion": {"JBODState": False}}}]}
    client = dell_tree("x")  # any tree: the adapter only writes here
    bmc = XFusionAdapter(client)
    ctrl = storage["StorageControllers"][0]
    assert bmc.controller_mode(storage, ctrl, []) == "raid"
    assert bmc.supported_modes(storage, ctrl) == ["raid", "jbod"]
    for step in bmc.mode_steps(storage, ctrl, "jbod"):
        step()
    assert client.writes == [("PATCH", storage["@odata.id"],
                              {"StorageControllers": [{"Oem": {"xFusion": {"JBODState": True}}}]})]


@pytest.mark.parametrize("adapter", [LenovoAdapter, SupermicroAdapter])
def test_no_mode_switch_vendors_say_so(adapter):
    bmc = adapter(dell_tree("ThinkSystem RAID 930-8i"))
    storage, ctrl = bmc.find_storage(None)
    with pytest.raises(RedfishUnsupported, match="no storage controller mode switch over Redfish"):
        bmc.plan_controller_mode(storage, ctrl, "jbod", allow_data_loss=True)


# -- generic DMTF (DMTF's public-rackmount1 mockup) --------------------------------------
def test_dmtf_mockup_facts(dmtf):
    bmc = BMC(dmtf)
    facts = bmc.facts()
    assert facts["vendor"] == "generic"
    assert facts["cpus"] and facts["cpus"][0]["model"]
    assert facts["memory"]["total_gib"]
    assert {f["id"] for f in facts["firmware"]} >= {"BIOS", "BMC"}
    assert facts["nics"] and all(n["mac"] for n in facts["nics"])


# -- issue 12: storage as it is, ports that are not NICs, refusals that name the controller once ---------
def _generic_tree(extra: dict) -> dict:
    sys_ = "/redfish/v1/Systems/1"
    res = {
        "/redfish/v1": {"Systems": {"@odata.id": "/redfish/v1/Systems"}, "Managers": {"@odata.id": "/redfish/v1/Managers"},
                        "Chassis": {"@odata.id": "/redfish/v1/Chassis"}},
        "/redfish/v1/Systems": {"Members": [{"@odata.id": sys_}]},
        "/redfish/v1/Managers": {"Members": [{"@odata.id": "/redfish/v1/Managers/1"}]},
        "/redfish/v1/Managers/1": {"Model": "BMC"},
        "/redfish/v1/Chassis": {"Members": [{"@odata.id": "/redfish/v1/Chassis/1"}]},
        "/redfish/v1/Chassis/1": {"NetworkAdapters": {"@odata.id": "/redfish/v1/Chassis/1/NetworkAdapters"}},
        sys_: {"@odata.id": sys_, "Storage": {"@odata.id": sys_ + "/Storage"},
               "EthernetInterfaces": {"@odata.id": sys_ + "/EthernetInterfaces"}},
        sys_ + "/EthernetInterfaces": {"Members": []},
    }
    res.update(extra)
    return res


def test_direct_nvme_without_controllers_is_raw_and_left_alone():
    s = "/redfish/v1/Systems/1/Storage"
    client = FixtureClient(_generic_tree({
        s: {"Members": [{"@odata.id": s + "/NVMe1"}, {"@odata.id": s + "/Empty"}, {"@odata.id": s + "/CPU.1"}]},
        # iDRAC-style: a storage per CPU whose controller is NVMe-only with no RAID level
        s + "/CPU.1": {"@odata.id": s + "/CPU.1", "Id": "CPU.1", "Drives": [{"@odata.id": s + "/NVMe1/Drives/1"}],
                       "StorageControllers": [{"MemberId": "CPU.1", "Model": "CPU.1", "SupportedRAIDTypes": [],
                                               "SupportedDeviceProtocols": ["NVMe"]}]},
        s + "/NVMe1": {"@odata.id": s + "/NVMe1", "Id": "NVMe1", "Drives": [{"@odata.id": s + "/NVMe1/Drives/1"}]},
        s + "/NVMe1/Drives/1": {"Id": "1", "Model": "KCD8XPUG3T84", "Protocol": "NVMe"},
        s + "/Empty": {"@odata.id": s + "/Empty", "Id": "Empty"},
    }))
    bmc = BMC(client)
    nvme, cpu1 = bmc.storage_facts()
    assert (nvme["attachment"], nvme["mode"], nvme["passthrough"], nvme["model"]) == ("direct", "direct", True,
                                                                                      "KCD8XPUG3T84")
    assert (cpu1["id"], cpu1["attachment"]) == ("CPU.1", "direct")
    storage, ctrl = bmc.find_storage(None)
    assert ctrl is None and bmc.plan_controller_mode(storage, ctrl, "hba", False) == ("direct", None, [])
    assert client.writes == []


def test_fc_ports_known_by_their_device_functions_are_not_nics():
    a = "/redfish/v1/Chassis/1/NetworkAdapters"
    client = FixtureClient(_generic_tree({
        a: {"Members": [{"@odata.id": a + "/FC1"}]},
        a + "/FC1": {"Model": "LPe35002", "Ports": {"@odata.id": a + "/FC1/Ports"},
                     "NetworkDeviceFunctions": {"@odata.id": a + "/FC1/NetworkDeviceFunctions"}},
        a + "/FC1/Ports": {"Members": [{"@odata.id": a + "/FC1/Ports/1"}]},
        # No PortProtocol, no MAC: only the device function says what the port is.
        a + "/FC1/Ports/1": {"@odata.id": a + "/FC1/Ports/1", "Id": "1", "CurrentSpeedGbps": 32},
        a + "/FC1/NetworkDeviceFunctions": {"Members": [{"@odata.id": a + "/FC1/NetworkDeviceFunctions/1"}]},
        a + "/FC1/NetworkDeviceFunctions/1": {
            "NetDevFuncType": "FibreChannel", "FibreChannel": {"WWPN": "10:00:00:10:9B:00:00:01"},
            "Links": {"PhysicalNetworkPortAssignment": {"@odata.id": a + "/FC1/Ports/1"}}},
    }))
    ports = BMC(client).port_facts()
    assert ports["nics"] == [] and ports["ib_ports"] == []
    assert ports["fc_ports"] == [dict(id="1", adapter="LPe35002", protocol="FC", speed_mbps=32000, link=None,
                                      wwpn="10:00:00:10:9B:00:00:01")]


def test_refusals_name_the_controller_once_and_list_what_it_offers():
    from ansible_collections.reforge.hci.plugins.module_utils.redfish.vendors.generic import controller_label
    assert controller_label("hpe", "HPE MR408i-o Gen11") == "HPE MR408i-o Gen11"
    assert controller_label("dell", "PERC H755 Front") == "Dell PERC H755 Front"
    exc = HpeAdapter(FixtureClient({})).unsupported_mode({"Model": "HPE MR408i-o Gen11"}, "hba", ["raid", "nonraid"])
    assert exc.message.startswith("HPE MR408i-o Gen11 cannot be switched to hba") and "HPE HPE" not in exc.message
    assert "raid, nonraid" in exc.message and "ssacli" not in exc.message and "HBA" in exc.message
