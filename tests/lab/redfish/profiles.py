"""Vendor templates of the fleet: which tree, where things live, how the vendor behaves."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Profile:
    key: str                      # template name used in the fleet file
    vendor: str                   # dell | hpe | xfusion | dmtf
    model: str
    tree: str                     # Tree.load() spec
    system: str                   # ComputerSystem path
    manager: str
    serial: str                   # identity strings of the template, replaced per BMC
    uuid: str
    extra_identity: tuple[str, ...] = ()
    # Settings objects: "mirror" (iLO: the Settings resource holds every value)
    # or "pending_only" (iDRAC: the Settings resource holds only pending values).
    settings_style: str = "mirror"
    # iDRAC applies pending values only through a configuration job.
    dell_jobs: bool = False
    # iBMC refuses PATCH without If-Match (428).
    require_if_match: bool = False
    # firmware component alias (image name token) -> FirmwareInventory path
    firmware: dict[str, str] = field(default_factory=dict)
    # inventory paths whose new version is active without a host reset (BMC itself)
    firmware_immediate: tuple[str, ...] = ()
    bmc_firmware: str = ""        # updating this one restarts the BMC: sessions die
    multipart_uri: str = ""       # MultipartHttpPushUri (added if the tree lacks it)
    # request path prefix (lower-case) -> served prefix, for vendor paths outside the DMTF URI patterns
    path_aliases: tuple[tuple[str, str], ...] = ()
    # realistic mode (Config.realistic, fleet --realistic): how long a firmware update takes on the
    # BMC (download, verify, flash) and how long the BMC is gone when it restarts into new firmware
    update_seconds: float = 240.0
    bmc_reset_seconds: float = 120.0

    def dealias(self, path: str) -> str:
        low = path.lower()
        for alias, real in self.path_aliases:
            if low.startswith(alias):
                return real + path[len(alias):]
        return path


DELL_SYS = "/redfish/v1/Systems/System.Embedded.1"
FW_INVENTORY = "/redfish/v1/UpdateService/FirmwareInventory"


def dell_idrac9(key: str, model: str, tree: str) -> Profile:
    """An iDRAC9 server: the Dell templates differ only in model and storage controller (tree)."""
    idrac = f"{FW_INVENTORY}/Installed-25227-6.10.30.00"
    return Profile(
        key=key, vendor="dell", model=model, tree=tree,
        system=DELL_SYS, manager="/redfish/v1/Managers/iDRAC.Embedded.1",
        serial="4XK7LP2", uuid="4c4c4544-0058-4b10-8037-b4c04f4c5032",
        extra_identity=("CN7016394R0123",),
        settings_style="pending_only", dell_jobs=True,
        firmware={"bios": f"{FW_INVENTORY}/Installed-159-2.19.1", "idrac": idrac,
                  "perc": f"{FW_INVENTORY}/Installed-104-25.5.9.0001", "nic": f"{FW_INVENTORY}/Installed-108255-22.31.6"},
        firmware_immediate=(idrac,),
        bmc_firmware=idrac,
        multipart_uri="/redfish/v1/UpdateService/MultipartUpload",
        update_seconds=300.0, bmc_reset_seconds=180.0,   # iDRAC9: a few minutes per package, reboot 2-4 min
    )


def hpe_ilo(key: str, model: str, tree: str, ilo: str, controller: str, multipart_uri: str = "") -> Profile:
    """An iLO server: the firmware aliases name the iLO generation and the storage controller."""
    return Profile(
        key=key, vendor="hpe", model=model, tree=tree,
        system="/redfish/v1/Systems/1", manager="/redfish/v1/Managers/1",
        serial="MXQ2390RHW", uuid="39383250-3834-584D-5132-333930524857",
        firmware={"bios": f"{FW_INVENTORY}/2", ilo: f"{FW_INVENTORY}/1", controller: f"{FW_INVENTORY}/19"},
        firmware_immediate=(f"{FW_INVENTORY}/1",),
        bmc_firmware=f"{FW_INVENTORY}/1",
        multipart_uri=multipart_uri,
        update_seconds=240.0, bmc_reset_seconds=90.0,    # iLO: flash in minutes, iLO reset 1-2 min
    )


PROFILES: dict[str, Profile] = {p.key: p for p in [
    dell_idrac9("dell-r640-h730p", "PowerEdge R640", "dell-idrac9"),
    dell_idrac9("dell-r750-h755", "PowerEdge R750", "dell-idrac9-perc11"),
    # Classes real campuses have that the six lab servers lack (issue 12): a PERC11 whose drives are
    # already non-RAID (EPYC 9005), an HBA in HBA mode beside a Fibre Channel HBA (5th gen Xeon).
    dell_idrac9("dell-r7625-h755-nonraid", "PowerEdge R7625", "dell-idrac9-amd-nonraid"),
    dell_idrac9("dell-r660-fc", "PowerEdge R660", "dell-idrac9-fc"),
    hpe_ilo("hpe-dl360-gen10plus", "ProLiant DL360 Gen10 Plus", "hpe-ilo5", "ilo5", "smartarray"),
    hpe_ilo("hpe-dl380-gen11", "ProLiant DL380 Gen11", "hpe-ilo6", "ilo6", "mr408i",
            multipart_uri="/redfish/v1/UpdateService/MultipartUpdate"),
    # Direct-attached NVMe (no RAID controller), iLO 7, Xeon 6 (Granite Rapids).
    hpe_ilo("hpe-dl360-gen12-nvme", "ProLiant DL360 Gen12", "hpe-ilo7-nvme", "ilo7", "nvme",
            multipart_uri="/redfish/v1/UpdateService/MultipartUpdate"),
    Profile(
        key="xfusion-2288h-v6", vendor="xfusion", model="2288H V6", tree="xfusion-ibmc",
        system="/redfish/v1/Systems/1", manager="/redfish/v1/Managers/1",
        serial="2102313LNR10M3000123", uuid="9A2B3C4D-5E6F-4A1B-8C2D-3E4F5A6B7C8D",
        settings_style="pending_only", require_if_match=True,
        path_aliases=(("/redfish/v1/systems/1/storages", "/redfish/v1/Systems/1/Storage"),),
        firmware={"bios": "/redfish/v1/UpdateService/FirmwareInventory/Bios",
                  "ibmc": "/redfish/v1/UpdateService/FirmwareInventory/ActiveBMC",
                  "raid": "/redfish/v1/UpdateService/FirmwareInventory/RAIDCard1"},
        firmware_immediate=("/redfish/v1/UpdateService/FirmwareInventory/ActiveBMC",),
        bmc_firmware="/redfish/v1/UpdateService/FirmwareInventory/ActiveBMC",
        multipart_uri="/redfish/v1/UpdateService/MultipartUpdate",
    ),
    Profile(
        key="dmtf-rackmount1", vendor="dmtf", model="3500 (E5-2640 v3)", tree="dmtf-haswell",
        system="/redfish/v1/Systems/437XR1138R2", manager="/redfish/v1/Managers/BMC",
        serial="437XR1138R2", uuid="38947555-7742-3448-3784-823347823834",
        firmware={"bios": "/redfish/v1/UpdateService/FirmwareInventory/BIOS",
                  "bmc": "/redfish/v1/UpdateService/FirmwareInventory/BMC"},
        firmware_immediate=("/redfish/v1/UpdateService/FirmwareInventory/BMC",),
        bmc_firmware="/redfish/v1/UpdateService/FirmwareInventory/BMC",
        multipart_uri="/redfish/v1/UpdateService/upload",
    ),
]}

# The six lab servers of inventories/lab/hosts.yml, in port order 18001..18006.
DEFAULT_FLEET = [
    ("node1", "dell-r640-h730p", "node1"),
    ("node2", "hpe-dl360-gen10plus", "node2"),
    ("node3", "xfusion-2288h-v6", "node3"),
    ("node4", "hpe-dl380-gen11", "node4"),
    ("spare5", "dell-r750-h755", None),
    ("spare6", "dmtf-rackmount1", None),
]

# Servers of the classes above, served beside the lab (not in inventories/lab): the tests start them
# in-process (tests/integration/redfish/test_redfish_reuse_classes.py) and run the playbooks on them.
CLASS_FLEET = [
    ("gen12nvme", "hpe-dl360-gen12-nvme", None),
    ("r7625nonraid", "dell-r7625-h755-nonraid", None),
    ("r660fc", "dell-r660-fc", None),
]
