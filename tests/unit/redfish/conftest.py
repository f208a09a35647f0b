from __future__ import annotations

import json
from pathlib import Path

import pytest

from .fixture_client import FixtureClient

PAYLOADS = Path(__file__).parent / "payloads"


def payload(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text())


@pytest.fixture
def hpe_ilo5(redfish_mockups) -> FixtureClient:
    return FixtureClient.from_mockup(redfish_mockups / "hpe-dl360-gen10plus")


@pytest.fixture
def dmtf(redfish_mockups) -> FixtureClient:
    return FixtureClient.from_mockup(redfish_mockups / "dmtf-public-rackmount1")


SYS = "/redfish/v1/Systems/System.Embedded.1"
STORAGE = SYS + "/Storage/RAID.Integrated.1-1"


def dell_tree(model: str, raid_status=("Online", "Online"), volumes=("RAID1",), mode="RAID") -> FixtureClient:
    """An iDRAC 9 tree around the recorded service root and job payloads (sushy samples)."""
    drives = ["Disk.Bay.%d:Enclosure.Internal.0-1:RAID.Integrated.1-1" % i for i in range(len(raid_status))]
    res = {
        "/redfish/v1": payload("dell_root.json"),
        "/redfish/v1/Systems": {"Members": [{"@odata.id": SYS}]},
        "/redfish/v1/Managers": {"Members": [{"@odata.id": "/redfish/v1/Managers/iDRAC.Embedded.1"}]},
        "/redfish/v1/Managers/iDRAC.Embedded.1": payload("dell_manager.json"),
        SYS: {"@odata.id": SYS, "Id": "System.Embedded.1", "Storage": {"@odata.id": SYS + "/Storage"},
              "Bios": {"@odata.id": SYS + "/Bios"}},
        SYS + "/Bios": {"@odata.id": SYS + "/Bios", "Attributes": {
            "ProcVirtualization": "Disabled", "SriovGlobalEnable": "Enabled", "BootMode": "Bios",
            "SysProfile": "PerfPerWattOptimizedDapc"},
            "@Redfish.Settings": {"SettingsObject": {"@odata.id": SYS + "/Bios/Settings"},
                                  "SupportedApplyTimes": ["OnReset", "Immediate"]}},
        SYS + "/Bios/Settings": {"Attributes": {"SriovGlobalEnable": "Enabled"}},
        SYS + "/Storage": {"Members": [{"@odata.id": STORAGE}]},
        STORAGE: {"@odata.id": STORAGE, "Id": "RAID.Integrated.1-1",
                  "StorageControllers": [{"MemberId": "RAID.Integrated.1-1", "Model": model,
                                          "Oem": {"Dell": {"DellStorageController": {"ControllerMode": mode}}}}],
                  "Drives": [{"@odata.id": STORAGE + "/Drives/" + d} for d in drives],
                  "Volumes": {"@odata.id": STORAGE + "/Volumes"}},
        STORAGE + "/Volumes": {"Members": [{"@odata.id": STORAGE + "/Volumes/Disk.Virtual.%d" % i}
                                           for i in range(len(volumes))]},
    }
    for i, raid in enumerate(volumes):
        res[STORAGE + "/Volumes/Disk.Virtual.%d" % i] = {"@odata.id": STORAGE + "/Volumes/Disk.Virtual.%d" % i,
                                                         "Id": "Disk.Virtual.%d" % i, "RAIDType": raid}
    for d, status in zip(drives, raid_status):
        res[STORAGE + "/Drives/" + d] = {"@odata.id": STORAGE + "/Drives/" + d, "Id": d, "MediaType": "SSD",
                                         "CapacityBytes": 960197124096, "PredictedMediaLifeLeftPercent": 97,
                                         "Oem": {"Dell": {"DellPhysicalDisk": {"RaidStatus": status}}}}
    return FixtureClient(res)
