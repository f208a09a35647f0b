# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""VM level vSphere operations the migration needs: lookup, facts, CBT, snapshots, power."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import time
from typing import Any, Dict, List, Optional

try:
    from pyVmomi import vim
except ImportError:  # connection.py reports the missing library
    vim = None

from ansible_collections.reforge.hci.plugins.module_utils.vsphere.connection import VsphereConnection
from ansible_collections.reforge.hci.plugins.module_utils.vsphere.datastore import parse_datastore_path
from ansible_collections.reforge.hci.plugins.module_utils.vsphere.errors import TaskFailed, VmNotFound

SNAPSHOT_PREFIX = "reforge-sync-"
# Custom attributes the planner reads; the bare names are accepted for sites that already tag VMs so.
TIER_ATTRIBUTES = ("reforge.tier", "tier")
DEPENDS_ATTRIBUTES = ("reforge.depends_on", "depends_on")


def _first(attributes: Dict[str, str], names) -> Optional[str]:
    for name in names:
        if attributes.get(name):
            return attributes[name]
    return None


def all_vms(conn: VsphereConnection) -> List[Any]:
    view = conn.call(conn.content.viewManager.CreateContainerView, conn.content.rootFolder,
                     [vim.VirtualMachine], True)
    try:
        return list(view.view)
    finally:
        view.DestroyView()


def find_vm(conn: VsphereConnection, name: str) -> Any:
    for vm in all_vms(conn):
        if vm.name == name:
            return vm
    raise VmNotFound("no VM named %r on %s" % (name, conn.hostname))


def datacenter_of(entity: Any) -> str:
    node = entity
    while node is not None and not isinstance(node, vim.Datacenter):
        node = node.parent
    return node.name if node is not None else ""


def virtual_disks(devices: List[Any]) -> List[Any]:
    return [d for d in devices if isinstance(d, vim.vm.device.VirtualDisk)]


def disk_facts(disk: Any, datastore_types: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    backing = disk.backing
    file_name = getattr(backing, "fileName", "") or ""
    datastore = parse_datastore_path(file_name)[0] if file_name.startswith("[") else None
    is_rdm = isinstance(backing, vim.vm.device.VirtualDisk.RawDiskMappingVer1BackingInfo)
    return {
        "key": disk.key,
        "label": disk.deviceInfo.label if disk.deviceInfo else str(disk.key),
        "capacity_bytes": int(disk.capacityInBytes or (disk.capacityInKB or 0) * 1024),
        "file_name": file_name,
        "datastore": datastore,
        "datastore_type": (datastore_types or {}).get(datastore or ""),
        "backing": type(backing).__name__.split(".")[-1],
        "rdm": is_rdm,
        "disk_mode": getattr(backing, "diskMode", None),
        "independent": str(getattr(backing, "diskMode", "")).startswith("independent"),
        "sharing": getattr(backing, "sharing", None),
        "thin": bool(getattr(backing, "thinProvisioned", False)),
        "change_id": getattr(backing, "changeId", None),
        # the disk's own identity (VMFS/vSAN backings carry one): a journal refuses another disk at the same key
        "uuid": getattr(backing, "uuid", None) or None,
    }


def _snapshot_tree(nodes: List[Any]) -> List[Dict[str, Any]]:
    out = []
    for node in nodes or []:
        out.append({"name": node.name, "id": node.id, "created": str(node.createTime),
                    "moref": node.snapshot._moId, "description": node.description or ""})
        out.extend(_snapshot_tree(node.childSnapshotList))
    return out


def snapshots(vm: Any) -> List[Dict[str, Any]]:
    if vm.snapshot is None:
        return []
    return _snapshot_tree(vm.snapshot.rootSnapshotList)


def find_snapshot(vm: Any, name: str) -> Optional[Any]:
    def walk(nodes: List[Any]) -> Optional[Any]:
        for node in nodes or []:
            if node.name == name:
                return node.snapshot
            found = walk(node.childSnapshotList)
            if found is not None:
                return found
        return None
    return walk(vm.snapshot.rootSnapshotList) if vm.snapshot else None


def custom_attributes(conn: VsphereConnection, vm: Any) -> Dict[str, str]:
    fields = {f.key: f.name for f in (conn.content.customFieldsManager.field or [])} \
        if conn.content.customFieldsManager else {}
    return {fields.get(v.key, str(v.key)): v.value for v in (vm.customValue or [])}


def vm_facts(conn: VsphereConnection, vm: Any) -> Dict[str, Any]:
    """What a migration needs to know about a VM, as plain data."""
    config = vm.config
    ds_types = {ds.name: ds.summary.type for ds in (vm.datastore or [])}
    devices = config.hardware.device if config else []
    # SCSI bus sharing (clustered guests) is set on the controller, not on the disk
    bus_sharing = {dev.key: str(dev.sharedBus) for dev in devices
                   if isinstance(dev, vim.vm.device.VirtualSCSIController) and dev.sharedBus not in (None, "noSharing")}
    # distributed port groups appear on a NIC only by key; the operator maps them by name
    portgroup_names = {pg.key: pg.name for pg in (vm.network or []) if hasattr(pg, "key")}
    nics = []
    for dev in devices:
        if isinstance(dev, vim.vm.device.VirtualEthernetCard):
            backing = dev.backing
            network = getattr(backing, "deviceName", None)
            if network is None and getattr(backing, "network", None) is not None:
                network = backing.network.name
            if network is None and getattr(backing, "port", None) is not None:
                network = portgroup_names.get(backing.port.portgroupKey, backing.port.portgroupKey)
            nics.append({"key": dev.key, "label": dev.deviceInfo.label if dev.deviceInfo else "",
                         "mac": dev.macAddress, "network": network,
                         "model": type(dev).__name__.split(".")[-1].replace("Virtual", "").lower()})
    guest = vm.guest
    ips = []
    if guest is not None:
        for net in guest.net or []:
            ips.extend(net.ipAddress or [])
        if not ips and guest.ipAddress:
            ips.append(guest.ipAddress)
    attributes = custom_attributes(conn, vm)
    return {
        "name": vm.name,
        "moref": vm._moId,
        "uuid": config.instanceUuid if config else None,
        "datacenter": datacenter_of(vm),
        "power_state": str(vm.runtime.powerState),
        "guest_id": config.guestId if config else None,
        "guest_full_name": config.guestFullName if config else None,
        "guest_family": getattr(guest, "guestFamily", None),
        "tools_status": str(getattr(guest, "toolsRunningStatus", None)),
        "firmware": (config.firmware if config else None) or "bios",
        "num_cpu": config.hardware.numCPU if config else None,
        "memory_mb": config.hardware.memoryMB if config else None,
        "cbt_enabled": bool(config.changeTrackingEnabled) if config else False,
        "committed_bytes": int(vm.summary.storage.committed) if vm.summary and vm.summary.storage else None,
        "disks": [dict(disk_facts(d, ds_types), scsi_bus_sharing=bus_sharing.get(d.controllerKey))
                  for d in virtual_disks(devices)],
        "nics": nics,
        "ip_addresses": ips,
        "snapshots": snapshots(vm),
        "attributes": attributes,
        "tier": _first(attributes, TIER_ATTRIBUTES),
        "depends_on": [d.strip() for d in (_first(attributes, DEPENDS_ATTRIBUTES) or "").split(",") if d.strip()],
    }


def enable_cbt(conn: VsphereConnection, vm: Any) -> bool:
    """Turn Changed Block Tracking on; True when it was off. The changeId appears at the next snapshot."""
    if vm.config.changeTrackingEnabled:
        return False
    spec = vim.vm.ConfigSpec(changeTrackingEnabled=True)
    conn.wait_for_task(conn.call(vm.ReconfigVM_Task, spec=spec))
    return True


def create_snapshot(conn: VsphereConnection, vm: Any, name: str, description: str = "reforge.hci migration sync") -> Any:
    """The description carries the sync's identity (``migration.journal.snapshot_description``)."""
    task = conn.call(vm.CreateSnapshot_Task, name=name, description=description,
                     memory=False, quiesce=False)
    result = conn.wait_for_task(task)
    return result if result is not None else find_snapshot(vm, name)


def remove_snapshot(conn: VsphereConnection, snapshot: Any) -> None:
    conn.wait_for_task(conn.call(snapshot.RemoveSnapshot_Task, removeChildren=False))


def snapshot_disks(snapshot: Any) -> Dict[int, Any]:
    """Disk devices as they were at the snapshot: base file names and the changeIds of that instant."""
    return {d.key: d for d in virtual_disks(snapshot.config.hardware.device)}


def power_on(conn: VsphereConnection, vm: Any) -> bool:
    if vm.runtime.powerState == vim.VirtualMachinePowerState.poweredOn:
        return False
    conn.wait_for_task(conn.call(vm.PowerOnVM_Task))
    return True


def power_off(conn: VsphereConnection, vm: Any, guest_timeout: float = 300) -> str:
    """Guest shutdown through the tools when they run, hard power off after ``guest_timeout``."""
    if vm.runtime.powerState == vim.VirtualMachinePowerState.poweredOff:
        return "already_off"
    if vm.guest and vm.guest.toolsRunningStatus == "guestToolsRunning":
        try:
            conn.call(vm.ShutdownGuest)
            deadline = time.monotonic() + guest_timeout
            while time.monotonic() < deadline:
                if vm.runtime.powerState == vim.VirtualMachinePowerState.poweredOff:
                    return "guest_shutdown"
                time.sleep(1)
        except vim.fault.ToolsUnavailable:
            pass
    try:
        conn.wait_for_task(conn.call(vm.PowerOffVM_Task))
    except TaskFailed:
        if vm.runtime.powerState != vim.VirtualMachinePowerState.poweredOff:
            raise
    return "power_off"
