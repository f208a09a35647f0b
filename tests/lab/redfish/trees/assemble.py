"""Assemble the Dell iDRAC9 and xFusion iBMC trees (run once; the output is committed).

Sources: the iDRAC9 payloads recorded in OpenStack sushy's unit tests
(sushy/tests/oem/dell/unit/json_samples: system, manager, storage_controller,
raid_service, job), Dell's iDRAC9 Redfish API guide for paths and FQDDs
(System.Embedded.1, RAID.Integrated.1-1, Disk.Bay.N:Enclosure.Internal.0-1:...,
Managers/iDRAC.Embedded.1/Jobs, Oem/Dell/DellRaidService), and xFusion's iBMC
Redfish interface reference (Systems/1/Storages/RAIDStorage0, Oem.xFusion Mode /
JBODState, Chassis/1/Drives/HDDPlaneDiskN). Only what our modules read or change
is modelled; every link points at a resource that is served.

    python tests/lab/redfish/trees/assemble.py
"""
from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
R = "/redfish/v1"
GiB = 1024 ** 3
OK = {"State": "Enabled", "Health": "OK"}


def ref(path: str) -> dict:
    return {"@odata.id": path}


def coll(path: str, ctype: str, name: str, members: list[str]) -> dict:
    return {"@odata.id": path, "@odata.type": f"#{ctype}.{ctype}", "Name": name,
            "Members": [ref(m) for m in members], "Members@odata.count": len(members)}


def add_member(tree: dict, path: str, ctype: str, name: str, member: str) -> None:
    """Append a member to a collection of the tree, creating the collection when it is not there yet."""
    tree.setdefault(path, coll(path, ctype, name, []))
    tree[path]["Members"].append(ref(member))
    tree[path]["Members@odata.count"] = len(tree[path]["Members"])


def common(tree: dict, *, vendor: str, product: str, system: str, manager: str, chassis: str,
           oem_root: dict) -> None:
    tree[R] = {
        "@odata.id": R, "@odata.type": "#ServiceRoot.v1_11_0.ServiceRoot", "Id": "RootService",
        "Name": "Root Service", "RedfishVersion": "1.17.0", "Vendor": vendor, "Product": product,
        "UUID": "00000000-0000-0000-0000-000000000000",
        "Systems": ref(f"{R}/Systems"), "Managers": ref(f"{R}/Managers"), "Chassis": ref(f"{R}/Chassis"),
        "SessionService": ref(f"{R}/SessionService"), "UpdateService": ref(f"{R}/UpdateService"),
        "Tasks": ref(f"{R}/TaskService"), "Links": {"Sessions": ref(f"{R}/SessionService/Sessions")},
        "Oem": oem_root,
    }
    tree[f"{R}/SessionService"] = {
        "@odata.id": f"{R}/SessionService", "@odata.type": "#SessionService.v1_1_8.SessionService",
        "Id": "SessionService", "Name": "Session Service", "ServiceEnabled": True, "SessionTimeout": 1800,
        "Sessions": ref(f"{R}/SessionService/Sessions"), "Status": OK,
    }
    tree[f"{R}/SessionService/Sessions"] = coll(f"{R}/SessionService/Sessions", "SessionCollection", "Sessions", [])
    tree[f"{R}/TaskService"] = {
        "@odata.id": f"{R}/TaskService", "@odata.type": "#TaskService.v1_1_5.TaskService", "Id": "TaskService",
        "Name": "Task Service", "ServiceEnabled": True, "CompletedTaskOverWritePolicy": "Oldest",
        "LifeCycleEventOnTaskStateChange": True, "Tasks": ref(f"{R}/TaskService/Tasks"), "Status": OK,
    }
    tree[f"{R}/TaskService/Tasks"] = coll(f"{R}/TaskService/Tasks", "TaskCollection", "Task Collection", [])
    tree[f"{R}/Systems"] = coll(f"{R}/Systems", "ComputerSystemCollection", "Computer System Collection", [system])
    tree[f"{R}/Managers"] = coll(f"{R}/Managers", "ManagerCollection", "Manager Collection", [manager])
    tree[f"{R}/Chassis"] = coll(f"{R}/Chassis", "ChassisCollection", "Chassis Collection", [chassis])


def processors(tree: dict, system: str, ids: list[str], model: str, cores: int, speed: int, family: tuple) -> None:
    tree[f"{system}/Processors"] = coll(f"{system}/Processors", "ProcessorCollection", "Processors",
                                        [f"{system}/Processors/{i}" for i in ids])
    for n, pid in enumerate(ids, 1):
        tree[f"{system}/Processors/{pid}"] = {
            "@odata.id": f"{system}/Processors/{pid}", "@odata.type": "#Processor.v1_13_0.Processor",
            "Id": pid, "Name": "CPU", "Socket": f"CPU.Socket.{n}", "ProcessorType": "CPU",
            "ProcessorArchitecture": "x86", "InstructionSet": "x86-64", "Manufacturer": "Intel",
            "Model": model, "MaxSpeedMHz": 4000, "OperatingSpeedMHz": speed, "TotalCores": cores,
            "TotalEnabledCores": cores, "TotalThreads": cores * 2, "Status": OK,
            "ProcessorId": {"VendorId": "GenuineIntel", "EffectiveFamily": family[0],
                            "EffectiveModel": family[1], "Step": family[2]},
        }


def memory(tree: dict, system: str, slots: list[str], mib: int, speed: int, kind: str = "DDR4") -> None:
    tree[f"{system}/Memory"] = coll(f"{system}/Memory", "MemoryCollection", "Memory",
                                    [f"{system}/Memory/{s}" for s in slots])
    for s in slots:
        tree[f"{system}/Memory/{s}"] = {
            "@odata.id": f"{system}/Memory/{s}", "@odata.type": "#Memory.v1_11_0.Memory", "Id": s,
            "Name": "DIMM", "MemoryDeviceType": kind, "MemoryType": "DRAM", "CapacityMiB": mib,
            "OperatingSpeedMhz": speed, "Manufacturer": "Hynix Semiconductor", "PartNumber": "HMA84GR7CJR4N-WM",
            "DeviceLocator": s, "ErrorCorrection": "MultiBitECC", "Status": OK,
        }


def nics(tree: dict, system: str, ports: list[tuple[str, int, str]], mac_base: str) -> None:
    tree[f"{system}/EthernetInterfaces"] = coll(f"{system}/EthernetInterfaces", "EthernetInterfaceCollection",
                                                "System Ethernet Interfaces",
                                                [f"{system}/EthernetInterfaces/{p[0]}" for p in ports])
    for n, (pid, speed, link) in enumerate(ports):
        mac = f"{mac_base}:{n:02X}"
        tree[f"{system}/EthernetInterfaces/{pid}"] = {
            "@odata.id": f"{system}/EthernetInterfaces/{pid}",
            "@odata.type": "#EthernetInterface.v1_6_0.EthernetInterface", "Id": pid, "Name": "System Ethernet Interface",
            "Description": f"{speed // 1000 if speed >= 1000 else speed}{'Gb' if speed >= 1000 else 'Mb'} port {pid}",
            "MACAddress": mac, "PermanentMACAddress": mac, "SpeedMbps": speed if link == "LinkUp" else 0,
            "AutoNeg": True, "FullDuplex": True, "LinkStatus": link, "InterfaceEnabled": True,
            "Status": OK if link == "LinkUp" else {"State": "Enabled", "Health": "OK"},
        }


def drive(path: str, did: str, name: str, *, model: str, cap: int, media: str, proto: str, life: int,
          serial: str, oem: dict, volumes: list[str]) -> dict:
    body = {
        "@odata.id": path, "@odata.type": "#Drive.v1_9_0.Drive", "Id": did, "Name": name, "Model": model,
        "Manufacturer": "TOSHIBA" if media == "HDD" else "Samsung", "CapacityBytes": cap, "MediaType": media,
        "Protocol": proto, "SerialNumber": serial, "BlockSizeBytes": 512, "Revision": "DSF3",
        "CapableSpeedGbs": 12, "NegotiatedSpeedGbs": 12, "FailurePredicted": False,
        "HotspareType": "None", "EncryptionAbility": "None", "EncryptionStatus": "Unencrypted",
        "Status": OK, "Links": {"Volumes": [ref(v) for v in volumes]}, "Oem": oem,
    }
    if media == "SSD":
        body["PredictedMediaLifeLeftPercent"] = life
    return body


def volume(path: str, vid: str, name: str, raid: str, cap: int, drives: list[str]) -> dict:
    return {"@odata.id": path, "@odata.type": "#Volume.v1_6_2.Volume", "Id": vid, "Name": name,
            "RAIDType": raid, "CapacityBytes": cap, "VolumeType": "Mirrored" if raid == "RAID1" else "StripedWithParity",
            "Encrypted": False, "BlockSizeBytes": 512, "Status": OK,
            "Links": {"Drives": [ref(d) for d in drives]}}


def firmware(tree: dict, entries: list[tuple[str, str, str, bool]]) -> None:
    inv = f"{R}/UpdateService/FirmwareInventory"
    tree[inv] = coll(inv, "SoftwareInventoryCollection", "Firmware Inventory Collection",
                     [f"{inv}/{e[0]}" for e in entries])
    for fid, name, version, updateable in entries:
        tree[f"{inv}/{fid}"] = {
            "@odata.id": f"{inv}/{fid}", "@odata.type": "#SoftwareInventory.v1_2_0.SoftwareInventory",
            "Id": fid, "Name": name, "Version": version, "Updateable": updateable, "Status": OK,
            "SoftwareId": fid.split("-")[1] if fid.startswith("Installed-") else fid,
        }


def update_service(tree: dict, protocols: list[str]) -> None:
    tree[f"{R}/UpdateService"] = {
        "@odata.id": f"{R}/UpdateService", "@odata.type": "#UpdateService.v1_8_0.UpdateService",
        "Id": "UpdateService", "Name": "Update Service", "ServiceEnabled": True, "Status": OK,
        "FirmwareInventory": ref(f"{R}/UpdateService/FirmwareInventory"),
        "Actions": {"#UpdateService.SimpleUpdate": {
            "target": f"{R}/UpdateService/Actions/UpdateService.SimpleUpdate",
            "TransferProtocol@Redfish.AllowableValues": protocols}},
    }


def virtual_media(tree: dict, base: str, ids: list[tuple[str, list[str]]]) -> None:
    tree[base] = coll(base, "VirtualMediaCollection", "Virtual Media Services", [f"{base}/{vid}" for vid, _types in ids])
    for vid, types in ids:
        tree[f"{base}/{vid}"] = {
            "@odata.id": f"{base}/{vid}", "@odata.type": "#VirtualMedia.v1_3_0.VirtualMedia", "Id": vid,
            "Name": "Virtual Media", "MediaTypes": types, "Image": None, "ImageName": None, "Inserted": False,
            "WriteProtected": True, "ConnectedVia": "NotConnected", "TransferProtocolType": "HTTPS",
            "Actions": {
                "#VirtualMedia.InsertMedia": {"target": f"{base}/{vid}/Actions/VirtualMedia.InsertMedia"},
                "#VirtualMedia.EjectMedia": {"target": f"{base}/{vid}/Actions/VirtualMedia.EjectMedia"}},
        }


RESET_TYPES = ["On", "ForceOff", "ForceRestart", "GracefulRestart", "GracefulShutdown", "PushPowerButton",
               "Nmi", "PowerCycle"]


def system_body(path: str, sid: str, *, manufacturer: str, model: str, serial: str, sku: str, uuid: str,
                cpu_model: str, cpus: int, mem_gib: int, chassis: str, manager: str, boot_targets: list[str],
                bios_version: str, storage: str, oem: dict) -> dict:
    return {
        "@odata.id": path, "@odata.type": "#ComputerSystem.v1_13_0.ComputerSystem", "Id": sid,
        "Name": "System", "SystemType": "Physical", "Manufacturer": manufacturer, "Model": model,
        "SerialNumber": serial, "SKU": sku, "UUID": uuid, "HostName": "", "AssetTag": "",
        "BiosVersion": bios_version, "PowerState": "On", "IndicatorLED": "Lit", "Status": OK,
        "Boot": {"BootSourceOverrideEnabled": "Disabled", "BootSourceOverrideTarget": "None",
                 "BootSourceOverrideTarget@Redfish.AllowableValues": boot_targets,
                 "BootSourceOverrideMode": "UEFI",
                 "BootSourceOverrideMode@Redfish.AllowableValues": ["UEFI", "Legacy"]},
        "ProcessorSummary": {"Count": cpus, "Model": cpu_model, "Status": OK},
        "MemorySummary": {"TotalSystemMemoryGiB": mem_gib, "Status": OK},
        "Bios": ref(f"{path}/Bios"), "Processors": ref(f"{path}/Processors"), "Memory": ref(f"{path}/Memory"),
        "EthernetInterfaces": ref(f"{path}/EthernetInterfaces"), "Storage": ref(storage),
        "Links": {"Chassis": [ref(chassis)], "ManagedBy": [ref(manager)]},
        "Actions": {"#ComputerSystem.Reset": {"target": f"{path}/Actions/ComputerSystem.Reset",
                                              "ResetType@Redfish.AllowableValues": RESET_TYPES}},
        "Oem": oem,
    }


def bios(tree: dict, system: str, attrs: dict, registry: str, settings_attrs: dict | None) -> None:
    tree[f"{system}/Bios"] = {
        "@odata.id": f"{system}/Bios", "@odata.type": "#Bios.v1_1_0.Bios", "Id": "Bios", "Name": "BIOS Configuration",
        "AttributeRegistry": registry, "Attributes": attrs,
        "@Redfish.Settings": {"@odata.type": "#Settings.v1_3_0.Settings",
                              "SettingsObject": ref(f"{system}/Bios/Settings"),
                              "SupportedApplyTimes": ["OnReset", "Immediate", "AtMaintenanceWindowStart"]},
        "Actions": {"#Bios.ResetBios": {"target": f"{system}/Bios/Actions/Bios.ResetBios"}},
    }
    tree[f"{system}/Bios/Settings"] = {
        "@odata.id": f"{system}/Bios/Settings", "@odata.type": "#Bios.v1_1_0.Bios", "Id": "Settings",
        "Name": "BIOS Configuration Pending Settings", "AttributeRegistry": registry,
        "Attributes": settings_attrs if settings_attrs is not None else dict(attrs),
    }


# BIOS attribute registries (issue 12). HPE's mockup carries the real one (BiosAttributeRegistryU46,
# served under RegistryStore). iDRAC9, iBMC and DMTF's public-rackmount1 were recorded without one: theirs
# are built here from each tree's own attributes, one entry per attribute, the values an enumeration
# allows taken from the vendor's BIOS reference where we know them (BIOS_VALUES), else only the
# tree's own value; integers and strings get the bounds given here. Served where each vendor serves it.
ENABLED = ["Enabled", "Disabled"]
BIOS_VALUES = {
    # Dell iDRAC9 (BIOS attribute names of PowerEdge 14G/15G)
    "BootMode": ["Bios", "Uefi"], "SysProfile": ["PerfPerWattOptimizedDapc", "PerfPerWattOptimizedOs", "PerfOptimized",
                                                 "PerfWorkstationOptimized", "Custom"],
    "MemOpMode": ["OptimizerMode", "SingleRankSparingMode", "MirrorMode", "FaultResilientMode"],
    "EmbSata": ["AhciMode", "RaidMode", "Off"],
    # xFusion iBMC (BenchMarkSelection's values are our reading, not verified on a real iBMC)
    "BootType": ["LegacyBoot", "UEFIBoot"], "BenchMarkSelection": ["Custom", "Performance", "Efficiency", "LowLatency"],
    # DMTF's public-rackmount1 (BiosAttributeRegistryP89)
    "EmbeddedSata": ["Raid", "Ahci"], "NicBoot1": ["NetworkBoot", "Disabled"], "NicBoot2": ["NetworkBoot", "Disabled"],
    "PowerProfile": ["MaxPerf", "Balanced", "PowerSaver"], "UsbControl": ["UsbEnabled", "UsbDisabled"],
}
BIOS_INTEGERS = {"ProcCoreDisable": (0, 7, 1)}
BIOS_STRINGS = {"AdminPhone": (0, 20, "^[0-9 ()+-]*$")}


def bios_registry_entries(attrs: dict) -> list[dict]:
    entries = []
    for order, (name, value) in enumerate(sorted(attrs.items()), 1):
        entry = {"AttributeName": name, "DisplayName": name, "DisplayOrder": order, "ReadOnly": False,
                 "GrayOut": False, "MenuPath": "./", "DefaultValue": value}
        if isinstance(value, bool):
            entry["Type"] = "Boolean"
        elif isinstance(value, int):
            low, high, step = BIOS_INTEGERS.get(name, (0, 2 ** 31 - 1, 1))
            entry.update(Type="Integer", LowerBound=low, UpperBound=high, ScalarIncrement=step)
        elif name in BIOS_STRINGS:
            low, high, pattern = BIOS_STRINGS[name]
            entry.update(Type="String", MinLength=low, MaxLength=high, ValueExpression=pattern)
        else:
            values = BIOS_VALUES.get(name) or (ENABLED if value in ENABLED else [value])
            entry.update(Type="Enumeration", Value=[{"ValueName": v, "ValueDisplayName": v} for v in values])
        entries.append(entry)
    return entries


def bios_registry(tree: dict, attrs: dict, *, registry: str, file_id: str, file_registry: str, at: str,
                  owner: str) -> None:
    """The Registries collection (created or extended), the registry's file and the registry itself."""
    reg = f"{R}/Registries"
    add_member(tree, reg, "MessageRegistryFileCollection", "Registry File Collection", f"{reg}/{file_id}")
    tree[f"{reg}/{file_id}"] = {
        "@odata.id": f"{reg}/{file_id}", "@odata.type": "#MessageRegistryFile.v1_1_0.MessageRegistryFile",
        "Id": file_id, "Name": "BIOS Attribute Registry File", "Description": "BIOS attribute registry locations",
        "Languages": ["en"], "Registry": file_registry, "Location": [{"Language": "en", "Uri": at}]}
    version = registry.rsplit(".v", 1)[-1].replace("_", ".") if ".v" in registry else registry.split(".", 1)[-1]
    tree[at] = {
        "@odata.id": at, "@odata.type": "#AttributeRegistry.v1_3_0.AttributeRegistry", "Id": registry,
        "Name": "BIOS Attribute Registry", "Description": "BIOS attributes of this system", "Language": "en",
        "OwningEntity": owner, "RegistryVersion": version,
        "RegistryEntries": {"Attributes": bios_registry_entries(attrs)}}


def manager_body(path: str, mid: str, model: str, fw: str, system: str, chassis: str, uuid: str) -> dict:
    return {
        "@odata.id": path, "@odata.type": "#Manager.v1_9_0.Manager", "Id": mid, "Name": "Manager",
        "ManagerType": "BMC", "Model": model, "FirmwareVersion": fw, "UUID": uuid, "PowerState": "On",
        "Status": OK, "VirtualMedia": ref(f"{path}/VirtualMedia"),
        "Links": {"ManagerForServers": [ref(system)], "ManagerForChassis": [ref(chassis)]},
        "Actions": {"#Manager.Reset": {"target": f"{path}/Actions/Manager.Reset",
                                       "ResetType@Redfish.AllowableValues": ["GracefulRestart"]}},
    }


def chassis_body(path: str, cid: str, model: str, serial: str, system: str, manager: str,
                 drives: bool = False, adapters: bool = False) -> dict:
    body = {"@odata.id": path, "@odata.type": "#Chassis.v1_14_0.Chassis", "Id": cid, "Name": "Chassis",
            "ChassisType": "RackMount", "Model": model, "SerialNumber": serial, "PowerState": "On",
            "Status": OK, "Links": {"ComputerSystems": [ref(system)], "ManagedBy": [ref(manager)]}}
    if drives:
        body["Drives"] = ref(f"{path}/Drives")
    if adapters:
        body["NetworkAdapters"] = ref(f"{path}/NetworkAdapters")
    return body


def network_adapter(tree: dict, chassis: str, aid: str, model: str, ports: list[tuple[str, int, str, dict | None]],
                    mac_base: str) -> None:
    base = f"{chassis}/NetworkAdapters"
    add_member(tree, base, "NetworkAdapterCollection", "Network Adapters", f"{base}/{aid}")
    tree[f"{base}/{aid}"] = {
        "@odata.id": f"{base}/{aid}", "@odata.type": "#NetworkAdapter.v1_7_0.NetworkAdapter", "Id": aid,
        "Name": model, "Model": model, "Manufacturer": "Intel Corporation", "Status": OK,
        "Ports": ref(f"{base}/{aid}/Ports"),
    }
    tree[f"{base}/{aid}/Ports"] = coll(f"{base}/{aid}/Ports", "PortCollection", "Ports",
                                       [f"{base}/{aid}/Ports/{p[0]}" for p in ports])
    for n, (pid, speed, link, lldp) in enumerate(ports):
        port = {
            "@odata.id": f"{base}/{aid}/Ports/{pid}", "@odata.type": "#Port.v1_8_0.Port", "Id": pid,
            "Name": f"Port {pid}", "PortProtocol": "Ethernet", "PortType": "BidirectionalPort",
            "CurrentSpeedGbps": speed / 1000 if link == "Up" else 0, "MaxSpeedGbps": speed / 1000,
            "LinkStatus": "LinkUp" if link == "Up" else "LinkDown", "LinkState": "Enabled", "Status": OK,
            "Ethernet": {"AssociatedMACAddresses": [f"{mac_base}:{n:02X}"]},
        }
        if lldp:
            port["Ethernet"]["LLDPEnabled"] = True
            port["Ethernet"]["LLDPReceive"] = lldp
        tree[f"{base}/{aid}/Ports/{pid}"] = port


def lldp_id(name: str) -> str:
    """LLDP ids travel as octets; the Port schema wants them as colon-separated hex."""
    return ":".join(f"{b:02X}" for b in name.encode())


# --------------------------------------------------------------------- Dell
def dell(perc: str, fw_perc: str, server: str, cpu: str, cpu_family: tuple, dimms: int) -> dict:
    t: dict = {}
    S, M, C = f"{R}/Systems/System.Embedded.1", f"{R}/Managers/iDRAC.Embedded.1", f"{R}/Chassis/System.Embedded.1"
    ctrl = "RAID.Integrated.1-1"
    st = f"{S}/Storage/{ctrl}"
    common(t, vendor="Dell", product="Integrated Dell Remote Access Controller", system=S, manager=M, chassis=C,
           oem_root={"Dell": {"@odata.type": "#DellServiceRoot.v1_0_0.DellServiceRoot", "IsBranded": 0,
                              "ManagerMACAddress": "4c:d9:8f:20:73:84", "ServiceTag": "4XK7LP2"}})
    t[S] = system_body(
        S, "System.Embedded.1", manufacturer="Dell Inc.", model=server, serial="CN7016394R0123", sku="4XK7LP2",
        uuid="4c4c4544-0058-4b10-8037-b4c04f4c5032", cpu_model=cpu, cpus=2, mem_gib=dimms * 32, chassis=C, manager=M,
        boot_targets=["None", "Pxe", "Floppy", "Cd", "Hdd", "BiosSetup", "Utilities", "UefiTarget", "SDCard",
                      "UefiHttp"],
        bios_version="2.19.1", storage=f"{S}/Storage",
        oem={"Dell": {"@odata.type": "#DellOem.v1_3_0.DellOemResources",
                      "DellSystem": {"Id": "System.Embedded.1", "ChassisServiceTag": "4XK7LP2",
                                     "ExpressServiceCode": "10026390242", "SystemGeneration": "14G Monolithic"}}})
    processors(t, S, ["CPU.Socket.1", "CPU.Socket.2"], cpu, 20, 2100, cpu_family)
    memory(t, S, [f"DIMM.Socket.{c}{n}" for c in "AB" for n in range(1, dimms // 2 + 1)], 32768, 2933)
    nics(t, S, [("NIC.Integrated.1-1-1", 10000, "LinkUp"), ("NIC.Integrated.1-2-1", 10000, "LinkUp"),
                ("NIC.Integrated.1-3-1", 1000, "LinkUp"), ("NIC.Integrated.1-4-1", 1000, "LinkDown"),
                ("NIC.Slot.2-1-1", 25000, "LinkUp"), ("NIC.Slot.2-2-1", 25000, "LinkUp")], "E4:43:4B:1C:7A")
    bios(t, S, {"BootMode": "Uefi", "ProcVirtualization": "Enabled", "SriovGlobalEnable": "Disabled",
                "LogicalProc": "Enabled", "ProcTurboMode": "Enabled", "ProcCStates": "Enabled",
                "SysProfile": "PerfPerWattOptimizedDapc", "MemOpMode": "OptimizerMode", "SecureBoot": "Disabled",
                "EmbSata": "AhciMode", "PxeDev1EnDis": "Disabled", "HttpDev1EnDis": "Disabled"},
         "BiosAttributeRegistry.v1_0_3", {})
    # iDRAC: the registry file is BiosAttributeRegistry and names another version than the Bios resource.
    bios_registry(t, t[f"{S}/Bios"]["Attributes"], registry="BiosAttributeRegistry.v1_0_3",
                  file_id="BiosAttributeRegistry", file_registry="BiosAttributeRegistry.v1_0_0",
                  at=f"{S}/Bios/BiosRegistry", owner="Dell")
    t[R]["Registries"] = ref(f"{R}/Registries")
    t[f"{S}/Storage"] = coll(f"{S}/Storage", "StorageCollection", "Storage Collection", [st])
    disks = [f"Disk.Bay.{b}:Enclosure.Internal.0-1:{ctrl}" for b in range(6)]
    vol = f"{st}/Volumes/Disk.Virtual.0:{ctrl}"
    t[st] = {
        "@odata.id": st, "@odata.type": "#Storage.v1_13_0.Storage", "Id": ctrl, "Name": perc,
        "Description": "RAID Controller in SL 1", "Status": OK,
        "Drives": [ref(f"{st}/Drives/{d}") for d in disks], "Drives@odata.count": len(disks),
        "Volumes": ref(f"{st}/Volumes"), "Controllers": ref(f"{st}/Controllers"),
        "Links": {"Enclosures": [ref(C)]},
    }
    t[f"{st}/Controllers"] = coll(f"{st}/Controllers", "StorageControllerCollection", "Controllers", [f"{st}/Controllers/{ctrl}"])
    t[f"{st}/Controllers/{ctrl}"] = {
        "@odata.id": f"{st}/Controllers/{ctrl}", "@odata.type": "#StorageController.v1_6_0.StorageController",
        "Id": ctrl, "Name": perc, "Model": perc, "Manufacturer": "DELL", "FirmwareVersion": fw_perc,
        "SpeedGbps": 12, "Status": OK, "SupportedControllerProtocols": ["PCIe"],
        "SupportedDeviceProtocols": ["SAS", "SATA"], "SupportedRAIDTypes": ["RAID0", "RAID1", "RAID5", "RAID6", "RAID10", "RAID50", "RAID60"],
        "@Redfish.Settings": {"@odata.type": "#Settings.v1_3_0.Settings",
                              "SettingsObject": ref(f"{st}/Controllers/{ctrl}/Settings"),
                              "SupportedApplyTimes": ["Immediate", "OnReset"]},
        "Oem": {"Dell": {"@odata.type": "#DellOemStorageController.v1_0_0.DellOemStorageController",
                         "DellStorageController": {"ControllerMode": "RAID", "RealtimeCapability": "Capable",
                                                   "SecurityStatus": "EncryptionNotCapable",
                                                   "SupportControllerBootMode": "Supported"}}},
    }
    t[f"{st}/Controllers/{ctrl}/Settings"] = {
        "@odata.id": f"{st}/Controllers/{ctrl}/Settings", "@odata.type": "#StorageController.v1_6_0.StorageController",
        "Id": "Settings", "Name": f"{perc} pending settings"}
    for b, d in enumerate(disks):
        boot = b < 2
        t[f"{st}/Drives/{d}"] = drive(
            f"{st}/Drives/{d}", d, f"Solid State Disk 0:1:{b}" if b != 5 else f"Physical Disk 0:1:{b}",
            model="MZ7KH480HAHQ0D3" if boot else ("ST2000NM0055" if b == 5 else "MZILT1T9HBJRV3"),
            cap=480103981056 if boot else (2000398934016 if b == 5 else 1920383410176),
            media="HDD" if b == 5 else "SSD", proto="SATA" if boot or b == 5 else "SAS",
            life=[98, 97, 100, 91, 64, 0][b], serial=f"S4NANE0M{b}0{b}123",
            oem={"Dell": {"@odata.type": "#DellOem.v1_3_0.DellOemResources",
                          "DellPhysicalDisk": {"RaidStatus": "Online" if boot else "Ready",
                                               "PredictiveFailureState": "SmartAlertAbsent"}}},
            volumes=[vol] if boot else [])
    t[f"{st}/Volumes"] = coll(f"{st}/Volumes", "VolumeCollection", "Volume Collection", [vol])
    t[vol] = volume(vol, f"Disk.Virtual.0:{ctrl}", "BOSS-less boot mirror", "RAID1", 479559942144,
                    [f"{st}/Drives/{d}" for d in disks[:2]])
    t[f"{S}/Oem/Dell/DellRaidService"] = {
        "@odata.id": f"{S}/Oem/Dell/DellRaidService", "@odata.type": "#DellRaidService.v1_3_0.DellRaidService",
        "Id": "DellRaidService", "Name": "DellRaidService",
        "Actions": {f"#DellRaidService.{a}": {"target": f"{S}/Oem/Dell/DellRaidService/Actions/DellRaidService.{a}"}
                    for a in ("ConvertToNonRAID", "ConvertToRAID")},
    }
    t[M] = manager_body(M, "iDRAC.Embedded.1", "14G Monolithic", "6.10.30.00", S, C,
                        "3256444f-c0b6-4f80-3510-00444c4c4544")
    t[M]["Links"]["Oem"] = {"Dell": {"Jobs": ref(f"{M}/Jobs")}}
    virtual_media(t, f"{M}/VirtualMedia", [("CD", ["CD", "DVD"]), ("RemovableDisk", ["USBStick"])])
    t[f"{M}/Jobs"] = {"@odata.id": f"{M}/Jobs", "@odata.type": "#DellJobCollection.DellJobCollection",
                      "Name": "JobQueue", "Members": [], "Members@odata.count": 0}
    t[C] = chassis_body(C, "System.Embedded.1", server, "CN7016394R0123", S, M, adapters=True)
    lldp = {"ChassisId": "3C:FD:FE:B5:1A:00", "ChassisIdSubtype": "MacAddr", "PortId": lldp_id("Ethernet1/11"),
            "PortIdSubtype": "IfName", "SystemName": "tor-a.lab", "ManagementAddressIPv4": "10.250.255.1"}
    network_adapter(t, C, "NIC.Integrated.1", "Intel(R) Ethernet 10G X710 rNDC",
                    [("NIC.Integrated.1-1", 10000, "Up", lldp),
                     ("NIC.Integrated.1-2", 10000, "Up", {**lldp, "PortId": lldp_id("Ethernet1/12"), "SystemName": "tor-b.lab"}),
                     ("NIC.Integrated.1-3", 1000, "Up", None), ("NIC.Integrated.1-4", 1000, "Down", None)],
                    "E4:43:4B:1C:7A")
    update_service(t, ["HTTP", "HTTPS", "NFS", "CIFS", "TFTP", "FTP"])
    firmware(t, [("Installed-159-2.19.1", "BIOS", "2.19.1", True),
                 ("Installed-25227-6.10.30.00", "Integrated Dell Remote Access Controller", "6.10.30.00", True),
                 ("Installed-104-25.5.9.0001", perc, fw_perc, True),
                 ("Installed-108255-22.31.6", "Intel(R) Ethernet 10G X710 rNDC", "22.31.6", True)])
    return t


# ------------------------------------------------------------------ xFusion
def xfusion() -> dict:
    t: dict = {}
    S, M, C = f"{R}/Systems/1", f"{R}/Managers/1", f"{R}/Chassis/1"
    # iBMC publishes Systems/1/Storages/RAIDStorageN; the simulator serves the DMTF path
    # Storage/ and accepts Storages/ as an alias (profiles.Profile.path_aliases).
    st = f"{S}/Storage/RAIDStorage0"
    common(t, vendor="xFusion", product="2288H V6", system=S, manager=M, chassis=C,
           oem_root={"xFusion": {"ProductName": "2288H V6", "ProductSerialNumber": "2102313LNR10M3000123"}})
    t[S] = system_body(
        S, "1", manufacturer="XFUSION", model="2288H V6", serial="2102313LNR10M3000123", sku="02313LNR",
        uuid="9A2B3C4D-5E6F-4A1B-8C2D-3E4F5A6B7C8D", cpu_model="Intel(R) Xeon(R) Gold 6330 CPU @ 2.00GHz",
        cpus=2, mem_gib=512, chassis=C, manager=M,
        boot_targets=["None", "Pxe", "Floppy", "Cd", "Hdd", "BiosSetup"], bios_version="1.86",
        storage=f"{S}/Storage", oem={"xFusion": {"DeviceOwnerID": None, "BootupSequence": ["Hdd", "Cd", "Pxe", "Others"]}})
    processors(t, S, ["1", "2"], "Intel(R) Xeon(R) Gold 6330 CPU @ 2.00GHz", 28, 2000, ("0x06", "0x6A", "0x06"))
    memory(t, S, [f"mainboardDIMM{n:03d}" for n in range(16)], 32768, 2933)
    nics(t, S, [("mainboardLOMPort1", 10000, "LinkUp"), ("mainboardLOMPort2", 10000, "LinkUp"),
                ("mainboardLOMPort3", 1000, "LinkUp"), ("mainboardLOMPort4", 1000, "LinkDown")], "DC:99:14:2E:41")
    bios(t, S, {"BootType": "UEFIBoot", "VTSupport": "Enabled", "VTdSupport": "Enabled", "SRIOVEnable": "Disabled",
                "ProcessorHyperThreadingDisable": "Disabled", "PowerSaving": "Disabled",
                "BenchMarkSelection": "Custom", "TurboMode": "Enabled", "CStateEnable": "Enabled"},
         "BiosAttributeRegistry.1.1.0", {})
    bios_registry(t, t[f"{S}/Bios"]["Attributes"], registry="BiosAttributeRegistry.1.1.0",
                  file_id="BiosAttributeRegistry.1.1.0", file_registry="BiosAttributeRegistry.1.1.0",
                  at=f"{R}/RegistryStore/AttributeRegistry/en/BiosAttributeRegistry.json", owner="xFusion")
    t[R]["Registries"] = ref(f"{R}/Registries")
    disks = [f"HDDPlaneDisk{n}" for n in range(6)]
    vol = f"{st}/Volumes/LogicalDrive0"
    t[f"{S}/Storage"] = coll(f"{S}/Storage", "StorageCollection", "Storage Collection", [st])
    t[st] = {
        "@odata.id": st, "@odata.type": "#Storage.v1_7_0.Storage", "Id": "RAIDStorage0", "Name": "RAIDStorage0",
        "Status": OK, "Drives": [ref(f"{C}/Drives/{d}") for d in disks], "Drives@odata.count": len(disks),
        "Volumes": ref(f"{st}/Volumes"),
        "StorageControllers": [{
            "@odata.id": f"{st}#/StorageControllers/0", "MemberId": "0", "Name": "BROADCOM 9560-8i",
            "Model": "BROADCOM 9560-8i", "Manufacturer": "BROADCOM", "FirmwareVersion": "5.200.02-3618",
            "SpeedGbps": 12, "Status": OK, "SupportedDeviceProtocols": ["SAS", "SATA"],
            "SupportedRAIDTypes": ["RAID0", "RAID1", "RAID5", "RAID6", "RAID10", "RAID50", "RAID60"],
            "Oem": {"xFusion": {"@odata.type": "#xFusionStorageController.v1_0_0.StorageController",
                                "Mode": "RAID", "SupportedModes": ["RAID", "JBOD"], "JBODState": False,
                                "CachePinnedState": False, "ConfigurationVersion": "1.0"}}}],
    }
    t[f"{st}/Volumes"] = coll(f"{st}/Volumes", "VolumeCollection", "Volume Collection", [vol])
    t[vol] = volume(vol, "LogicalDrive0", "os_mirror", "RAID1", 479559942144,
                    [f"{C}/Drives/{d}" for d in disks[:2]])
    t[f"{C}/Drives"] = coll(f"{C}/Drives", "DriveCollection", "Drives", [f"{C}/Drives/{d}" for d in disks])
    for n, d in enumerate(disks):
        boot = n < 2
        t[f"{C}/Drives/{d}"] = drive(
            f"{C}/Drives/{d}", d, f"Disk{n}", model="SAMSUNG MZ7L3480HCHQ" if boot else "SAMSUNG MZ7L33T8HBLT",
            cap=480103981056 if boot else 3840755982336, media="SSD", proto="SATA",
            life=[99, 99, 95, 95, 88, 100][n], serial=f"S6KMNE0R{n}0{n}456",
            oem={"xFusion": {"@odata.type": "#xFusionDrive.v1_0_0.Drive",
                             "FirmwareStatus": "Online" if boot else "UnconfiguredGood", "SlotNumber": n}},
            volumes=[vol] if boot else [])
    t[M] = manager_body(M, "1", "iBMC", "3.03.00.25", S, C, "D7A1E8C2-3B4F-4E5D-9A6B-7C8D9E0F1A2B")
    virtual_media(t, f"{M}/VirtualMedia", [("CD", ["CD", "DVD"])])
    t[C] = chassis_body(C, "1", "2288H V6", "2102313LNR10M3000123", S, M, drives=True)
    update_service(t, ["HTTPS", "SFTP", "NFS", "CIFS", "SCP"])
    firmware(t, [("ActiveBMC", "ActiveBMC", "3.03.00.25", True), ("Bios", "Bios", "1.86", True),
                 ("RAIDCard1", "BROADCOM 9560-8i", "5.200.02-3618", True),
                 ("LOM1", "Intel X710 LOM", "8.50", True)])
    return t


def write(name: str, tree: dict) -> None:
    (HERE / name).mkdir(exist_ok=True)
    (HERE / name / "resources.json").write_text(json.dumps(tree, indent=1, sort_keys=True) + "\n")


def write_overlay(name: str, overlay: dict) -> None:
    (HERE / name).mkdir(exist_ok=True)
    (HERE / name / "overlay.json").write_text(json.dumps(overlay, indent=1, sort_keys=True) + "\n")


def dell_perc11() -> dict:
    """R750 with a PERC H755: PERC11 has no HBA personality (RAID only; drives may still go non-RAID)."""
    S, st = f"{R}/Systems/System.Embedded.1", f"{R}/Systems/System.Embedded.1/Storage/RAID.Integrated.1-1"
    cpu = "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz"
    perc = {"Name": "PERC H755 Front", "Model": "PERC H755 Front", "FirmwareVersion": "52.16.1-4405"}
    return {"base": "dell-idrac9", "patch": {
        S: {"Model": "PowerEdge R750", "ProcessorSummary": {"Model": cpu}, "MemorySummary": {"TotalSystemMemoryGiB": 256}},
        f"{S}/Processors/CPU.Socket.1": {"Model": cpu, "TotalCores": 32, "TotalThreads": 64,
                                         "ProcessorId": {"EffectiveModel": "0x6A", "Step": "0x06"}},
        f"{S}/Processors/CPU.Socket.2": {"Model": cpu, "TotalCores": 32, "TotalThreads": 64,
                                         "ProcessorId": {"EffectiveModel": "0x6A", "Step": "0x06"}},
        f"{R}/Chassis/System.Embedded.1": {"Model": "PowerEdge R750"},
        st: {"Name": perc["Name"]},
        f"{st}/Controllers/RAID.Integrated.1-1": perc,
        f"{R}/UpdateService/FirmwareInventory/Installed-104-25.5.9.0001": {"Name": perc["Name"], "Version": perc["FirmwareVersion"]},
    }, "delete": [f"{S}/Memory/DIMM.Socket.A5", f"{S}/Memory/DIMM.Socket.A6",
                  f"{S}/Memory/DIMM.Socket.B5", f"{S}/Memory/DIMM.Socket.B6"],
       "resources": {f"{S}/Memory": coll(f"{S}/Memory", "MemoryCollection", "Memory",
                                         [f"{S}/Memory/DIMM.Socket.{c}{n}" for c in "AB" for n in range(1, 5)])}}


def hpe_ilo5() -> dict:
    """HPE's DL360 Gen10 Plus mockup; its Volumes collection claims one member but lists none,
    so the RAID1 boot volume SmartStorageConfig describes is added in the DMTF view as well."""
    S = f"{R}/Systems/1"
    vols = f"{S}/Storage/DE00A000/Volumes"
    drives = [f"{R}/Chassis/DE00A000/Drives/2556", f"{R}/Chassis/DE00A000/Drives/2557"]
    return {"base": "mockup:hpe-dl360-gen10plus", "resources": {
        vols + "/1": volume(vols + "/1", "1", "BootVolume", "RAID1", 480070426624, drives)},
        "patch": {vols: {"Members": [ref(vols + "/1")], "Members@odata.count": 1}},
        # iLO links its BIOS as /systems/1/bios/; DMTF's URI patterns want /Systems/1/Bios.
        "renames": {f"{R}/systems/1/bios/settings": f"{S}/Bios/Settings", f"{R}/systems/1/bios": f"{S}/Bios"}}


def hpe_ilo6() -> dict:
    """A DL380 Gen11 with iLO 6: SmartStorage is gone, the DMTF Storage model rules, and the MR
    controller exposes a writable AutoVolumeCreate (Disabled / NonRAID); JBOD drives show up as
    Volumes with RAIDType None."""
    S, CH = f"{R}/Systems/1", f"{R}/Chassis/DE00A000/Drives"
    st = f"{S}/Storage/DE00A000"
    cpu = "Intel(R) Xeon(R) Gold 6430"
    new_drives = {}
    for n, did in enumerate(["2558", "2559", "2560", "2561"]):
        path = f"{CH}/{did}"
        new_drives[path] = {
            "@odata.id": path, "@odata.type": "#Drive.v1_18_0.Drive", "Id": did, "Name": "3.84TB NVMe SSD",
            "Model": "VO003840KYDMT", "MediaType": "SSD", "Protocol": "NVMe", "CapacityBytes": 3840755982336,
            "BlockSizeBytes": 512, "SerialNumber": f"S6ENNA0T70{n}123", "PredictedMediaLifeLeftPercent": [100, 100, 97, 93][n],
            "FailurePredicted": False, "Status": OK, "Links": {"Volumes": []},
            "PhysicalLocation": {"PartLocation": {"LocationType": "Bay", "ServiceLabel": f"Slot=1:Port=1:Box=3:Bay={n + 3}",
                                                  "LocationOrdinalValue": n + 3}}}
    drives = [f"{CH}/2556", f"{CH}/2557"] + list(new_drives)
    return {
        "base": "hpe-ilo5", "delete": [f"{S}/SmartStorage", f"{S}/smartstorageconfig"],
        "resources": new_drives,
        "patch": {
            S: {"Model": "ProLiant DL380 Gen11", "ProcessorSummary": {"Model": cpu},
                "MemorySummary": {"TotalSystemMemoryGiB": 512},
                "Oem": {"Hpe": {"Links": {"SmartStorage": None}}}},
            f"{S}/Processors/1": {"Model": cpu, "TotalCores": 32, "TotalThreads": 64},
            f"{S}/Processors/2": {"Model": cpu, "TotalCores": 32, "TotalThreads": 64},
            st: {"Name": "HPE MR408i-o Gen11", "AutoVolumeCreate": "Disabled",
                 "AutoVolumeCreate@Redfish.AllowableValues": ["Disabled", "NonRAID"],
                 "@Redfish.WriteableProperties": ["EncryptionMode", "HotspareActivationPolicy", "AutoVolumeCreate"],
                 "Drives": [ref(d) for d in drives], "Drives@odata.count": len(drives)},
            f"{st}/Controllers/0": {"Name": "HPE MR408i-o Gen11", "Model": "HPE MR408i-o Gen11",
                                    "FirmwareVersion": "52.26.3-5250"},
            f"{R}/Managers/1": {"Model": "iLO 6", "FirmwareVersion": "iLO 6 v1.59"},
            f"{R}/UpdateService/FirmwareInventory/1": {"Name": "iLO 6", "Version": "1.59 Jun 12 2024"},
            f"{R}/UpdateService/FirmwareInventory/2": {"Name": "System ROM", "Version": "U54 v2.16 (03/01/2024)"},
            f"{R}/UpdateService/FirmwareInventory/19": {"Name": "HPE MR408i-o Gen11", "Version": "52.26.3-5250"},
        },
    }


def dmtf_haswell() -> dict:
    """DMTF's public-rackmount1 as the server to retire: Haswell-EP (E5-2640 v3), 64 GiB, 1 GbE."""
    S = f"{R}/Systems/437XR1138R2"
    cpu = "Intel(R) Xeon(R) CPU E5-2640 v3 @ 2.60GHz"
    proc = {"Model": cpu, "TotalCores": 8, "TotalThreads": 16, "MaxSpeedMHz": 3400,
            "ProcessorId": {"EffectiveFamily": "0x06", "EffectiveModel": "0x3F", "Step": "0x02"}}
    overlay = {"base": "mockup:dmtf-public-rackmount1", "patch": {
        S: {"ProcessorSummary": {"Model": cpu, "CoreCount": 8, "LogicalProcessorCount": 16},
            "MemorySummary": {"TotalSystemMemoryGiB": 64}, "Model": "3500 (2015)",
            "Boot": {"BootSourceOverrideEnabled": "Disabled", "BootSourceOverrideTarget": "None"}},
        f"{S}/Processors/CPU1": proc, f"{S}/Processors/CPU2": proc}}
    # The mockup names BiosAttributeRegistryP89.v1_0_0 but was recorded without it; DMTF's layout.
    name = "BiosAttributeRegistryP89.v1_0_0"
    mockup = json.loads((HERE.parent / "mockups/dmtf-public-rackmount1/Systems/437XR1138R2/Bios/index.json").read_text())
    registries = json.loads((HERE.parent / "mockups/dmtf-public-rackmount1/Registries/index.json").read_text())
    res: dict = {f"{R}/Registries": {"Members": registries["Members"]}}
    bios_registry(res, mockup["Attributes"], registry=name, file_id=name, file_registry=name,
                  at=f"{R}/Registries/{name}.json", owner="Contoso")
    overlay["resources"] = {k: v for k, v in res.items() if k != f"{R}/Registries"}
    overlay["patch"][f"{R}/Registries"] = {k: res[f"{R}/Registries"][k] for k in ("Members", "Members@odata.count")}
    return overlay


def hpe_gen12_nvme() -> dict:
    """A DL360 Gen12 with iLO 7 and Xeon 6 (Granite Rapids 6700P) whose NVMe drives hang off the CPUs'
    PCIe lanes: no RAID controller. iLO 6/7 publish each direct-attached NVMe drive as a Storage resource
    of its own, whose only controller is the drive's NVMe controller (NVMeControllerProperties); the last
    drive here comes with no controller at all, as some firmware publishes it."""
    S, CH = f"{R}/Systems/1", f"{R}/Chassis/DE00A000/Drives"
    cpu = "Intel(R) Xeon(R) 6740P"
    resources, members, bays = {}, [], ["2558", "2559", "2560", "2561"]
    for n, did in enumerate(bays):
        sid = f"DA00000{n}"
        st = f"{S}/Storage/{sid}"
        members.append(st)
        body = {"@odata.id": st, "@odata.type": "#Storage.v1_15_0.Storage", "Id": sid,
                "Name": "NVMe Storage System", "Status": OK, "Drives": [ref(f"{CH}/{did}")], "Drives@odata.count": 1}
        if n < 3:
            body["Controllers"] = ref(f"{st}/Controllers")
            resources[f"{st}/Controllers"] = coll(f"{st}/Controllers", "StorageControllerCollection",
                                                  "Controllers", [f"{st}/Controllers/0"])
            resources[f"{st}/Controllers/0"] = {
                "@odata.id": f"{st}/Controllers/0", "@odata.type": "#StorageController.v1_7_0.StorageController",
                "Id": "0", "Name": "NVMe Controller", "Model": "VO003840KYDMT", "FirmwareVersion": "HPK3",
                "Status": OK, "SupportedControllerProtocols": ["PCIe"], "SupportedDeviceProtocols": ["NVMe"],
                "NVMeControllerProperties": {"ControllerType": "IO", "NVMeVersion": "1.4"}}
        resources[st] = body
    resources[f"{S}/Storage"] = coll(f"{S}/Storage", "StorageCollection", "Storage Collection", members)
    return {
        "base": "hpe-ilo6",
        "delete": [f"{S}/Storage/DE00A000", f"{CH}/2556", f"{CH}/2557"],
        "resources": resources,
        "patch": {
            S: {"Model": "ProLiant DL360 Gen12", "ProcessorSummary": {"Model": cpu}},
            f"{S}/Processors/1": {"Model": cpu, "TotalCores": 64, "TotalThreads": 128},
            f"{S}/Processors/2": {"Model": cpu, "TotalCores": 64, "TotalThreads": 128},
            f"{R}/Managers/1": {"Model": "iLO 7", "FirmwareVersion": "iLO 7 v1.12"},
            f"{R}/UpdateService/FirmwareInventory/1": {"Name": "iLO 7", "Version": "1.12 Feb 20 2025"},
            f"{R}/UpdateService/FirmwareInventory/2": {"Name": "System ROM", "Version": "U68 v1.20 (01/30/2025)"},
            f"{R}/UpdateService/FirmwareInventory/19": {"Name": "VO003840KYDMT", "Version": "HPK3"},
            # HPE's mockup gives both 25G ports the first port's MAC; here each has its own, so the
            # server has the two fast uplinks a Gen12 ships with.
            f"{R}/Chassis/1/NetworkAdapters/DE080000/Ports/1": {
                "Ethernet": {"AssociatedMACAddresses": ["88:e9:a4:6b:a8:ad", "88:e9:a4:6b:a8:af"]}},
        },
    }


def dell_amd_nonraid() -> dict:
    """An R7625 with EPYC 9005 (Turin) whose PERC H755 (RAID only) already passes every drive through:
    someone converted them to non-RAID by hand, no virtual disk is left. Done, whatever the modes say."""
    S, st = f"{R}/Systems/System.Embedded.1", f"{R}/Systems/System.Embedded.1/Storage/RAID.Integrated.1-1"
    cpu = "AMD EPYC 9355 32-Core Processor"
    proc = {"Model": cpu, "Manufacturer": "AMD", "TotalCores": 32, "TotalThreads": 64,
            "ProcessorId": {"VendorId": "AuthenticAMD", "EffectiveFamily": "0x1A", "EffectiveModel": "0x02",
                            "Step": "0x01"}}
    disks = [f"Disk.Bay.{b}:Enclosure.Internal.0-1:RAID.Integrated.1-1" for b in range(6)]
    patch = {S: {"Model": "PowerEdge R7625", "ProcessorSummary": {"Model": cpu}},
             f"{S}/Processors/CPU.Socket.1": proc, f"{S}/Processors/CPU.Socket.2": proc,
             f"{R}/Chassis/System.Embedded.1": {"Model": "PowerEdge R7625"},
             f"{st}/Volumes": {"Members": [], "Members@odata.count": 0}}
    for d in disks:
        patch[f"{st}/Drives/{d}"] = {"Links": {"Volumes": []},
                                     "Oem": {"Dell": {"DellPhysicalDisk": {"RaidStatus": "NonRAID"}}}}
    overlay = dell_perc11()
    overlay["patch"].update(patch)
    overlay["delete"].append(f"{st}/Volumes/Disk.Virtual.0:RAID.Integrated.1-1")
    return overlay


def dell_fc() -> dict:
    """An R660 (5th gen Xeon, Emerald Rapids) with an HBA355i already in HBA mode, 1 GbE on the board
    only, and a dual-port 32G Fibre Channel HBA: its ports are NetworkAdapter ports with PortProtocol FC
    and network device functions of type FibreChannel, never Ethernet uplinks."""
    S, C = f"{R}/Systems/System.Embedded.1", f"{R}/Chassis/System.Embedded.1"
    st = f"{S}/Storage/RAID.Integrated.1-1"
    ctrl = f"{st}/Controllers/RAID.Integrated.1-1"
    cpu = "INTEL(R) XEON(R) GOLD 6526Y"
    proc = {"Model": cpu, "TotalCores": 16, "TotalThreads": 32,
            "ProcessorId": {"EffectiveModel": "0xCF", "Step": "0x02"}}
    hba = {"Name": "HBA355i Front", "Model": "HBA355i Front", "FirmwareVersion": "22.15.05.00",
           "SupportedRAIDTypes": [],
           "Oem": {"Dell": {"DellStorageController": {"ControllerMode": "HBA"}}}}
    eth = f"{S}/EthernetInterfaces"
    nic = f"{C}/NetworkAdapters/NIC.Integrated.1/Ports"
    fc = f"{C}/NetworkAdapters/FC.Slot.3"
    res: dict = {}
    ports = []
    for n in (1, 2):
        pid = f"FC.Slot.3-{n}"
        wwpn = f"21:00:00:24:FF:7A:1C:0{n}"
        ports.append(f"{fc}/Ports/{pid}")
        res[f"{fc}/Ports/{pid}"] = {
            "@odata.id": f"{fc}/Ports/{pid}", "@odata.type": "#Port.v1_8_0.Port", "Id": pid, "Name": f"Port {pid}",
            "PortProtocol": "FC", "PortType": "BidirectionalPort", "CurrentSpeedGbps": 32, "MaxSpeedGbps": 32,
            "LinkStatus": "LinkUp", "LinkState": "Enabled", "Status": OK,
            "FibreChannel": {"AssociatedWorldWideNames": [wwpn], "PortConnectionType": "ExtenderFabric",
                             "FabricName": "10:00:00:05:1E:0F:75:A1"}}
        res[f"{fc}/NetworkDeviceFunctions/{pid}-1"] = {
            "@odata.id": f"{fc}/NetworkDeviceFunctions/{pid}-1",
            "@odata.type": "#NetworkDeviceFunction.v1_9_0.NetworkDeviceFunction", "Id": f"{pid}-1",
            "Name": f"FC function {pid}", "NetDevFuncType": "FibreChannel", "NetDevFuncCapabilities": ["FibreChannel"],
            "Status": OK, "FibreChannel": {"PermanentWWPN": wwpn, "WWPN": wwpn},
            "Links": {"PhysicalNetworkPortAssignment": ref(f"{fc}/Ports/{pid}")}}
    res[f"{fc}/Ports"] = coll(f"{fc}/Ports", "PortCollection", "Ports", ports)
    res[f"{fc}/NetworkDeviceFunctions"] = coll(
        f"{fc}/NetworkDeviceFunctions", "NetworkDeviceFunctionCollection", "Network Device Functions",
        [f"{fc}/NetworkDeviceFunctions/FC.Slot.3-{n}-1" for n in (1, 2)])
    res[fc] = {"@odata.id": fc, "@odata.type": "#NetworkAdapter.v1_7_0.NetworkAdapter", "Id": "FC.Slot.3",
               "Name": "QLogic QLE2772 32Gb 2-port FC HBA", "Model": "QLE2772", "Manufacturer": "QLogic Corp",
               "Status": OK, "Ports": ref(f"{fc}/Ports"),
               "NetworkDeviceFunctions": ref(f"{fc}/NetworkDeviceFunctions")}
    res[f"{C}/NetworkAdapters"] = coll(f"{C}/NetworkAdapters", "NetworkAdapterCollection", "Network Adapters",
                                       [f"{C}/NetworkAdapters/NIC.Integrated.1", fc])
    one_gig = {"CurrentSpeedGbps": 1.0, "MaxSpeedGbps": 1.0}
    return {"base": "dell-idrac9", "resources": res,
            "delete": [f"{eth}/NIC.Slot.2-1-1", f"{eth}/NIC.Slot.2-2-1"],
            "patch": {
                S: {"Model": "PowerEdge R660", "ProcessorSummary": {"Model": cpu}},
                f"{S}/Processors/CPU.Socket.1": proc, f"{S}/Processors/CPU.Socket.2": proc,
                C: {"Model": "PowerEdge R660"},
                eth: {"Members": [ref(f"{eth}/NIC.Integrated.1-{n}-1") for n in range(1, 5)],
                      "Members@odata.count": 4},
                f"{eth}/NIC.Integrated.1-1-1": {"SpeedMbps": 1000}, f"{eth}/NIC.Integrated.1-2-1": {"SpeedMbps": 1000},
                f"{C}/NetworkAdapters/NIC.Integrated.1": {"Name": "Broadcom 5720 QP 1GbE", "Model": "BCM5720"},
                f"{nic}/NIC.Integrated.1-1": one_gig, f"{nic}/NIC.Integrated.1-2": one_gig,
                st: {"Name": hba["Name"]}, ctrl: hba,
                f"{R}/UpdateService/FirmwareInventory/Installed-104-25.5.9.0001": {
                    "Name": hba["Name"], "Version": hba["FirmwareVersion"]}}}


if __name__ == "__main__":
    write_overlay("dell-idrac9-perc11", dell_perc11())
    write_overlay("hpe-ilo5", hpe_ilo5())
    write_overlay("hpe-ilo6", hpe_ilo6())
    write_overlay("dmtf-haswell", dmtf_haswell())
    write_overlay("hpe-ilo7-nvme", hpe_gen12_nvme())
    write_overlay("dell-idrac9-amd-nonraid", dell_amd_nonraid())
    write_overlay("dell-idrac9-fc", dell_fc())
    write("dell-idrac9", dell("PERC H730P Mini", "25.5.9.0001", "PowerEdge R640",
                              "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz", ("0x06", "0x55", "0x07"), 12))
    write("xfusion-ibmc", xfusion())
