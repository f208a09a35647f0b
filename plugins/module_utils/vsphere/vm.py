# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""VM level vSphere operations the migration needs: lookup, facts, CBT, snapshots, power."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import time
from typing import Any, Dict, List, Optional

try:
    from pyVmomi import VmomiSupport, vim, vmodl
except ImportError:  # connection.py reports the missing library
    VmomiSupport = vim = vmodl = None

from ansible_collections.reforge.hci.plugins.module_utils.vsphere.connection import VsphereConnection
from ansible_collections.reforge.hci.plugins.module_utils.vsphere.datastore import parse_datastore_path
from ansible_collections.reforge.hci.plugins.module_utils.vsphere.errors import (
    TaskFailed, VmAmbiguous, VmIdentityMismatch, VmNotFound)

SNAPSHOT_PREFIX = "reforge-sync-"
# Custom attributes the planner reads; the bare names are accepted for sites that already tag VMs so.
TIER_ATTRIBUTES = ("reforge.tier", "tier")
DEPENDS_ATTRIBUTES = ("reforge.depends_on", "depends_on")


def _first(attributes: Dict[str, str], names) -> Optional[str]:
    for name in names:
        if attributes.get(name):
            return attributes[name]
    return None


# Containers on a VM's inventory path: VM folders and datacenters; a vApp (a ResourcePool) and what lies above
# it (resource pools, the cluster, the host folder) for VMs inside vApps.
_PATH_TYPES = ("Folder", "Datacenter", "ResourcePool", "ComputeResource")
# What identifies a VM, read for every VM of the vCenter in one paged query.
INDEX_PROPERTIES = ("name", "parent", "config.instanceUuid")
# What vm_facts reads of a VM, read for many VMs at once. Dotted paths are read alone and reassembled into the
# data objects vm_facts walks (``config.hardware.device`` -> ``vm.config.hardware.device``): a whole ``config``
# costs several times as much to send and to parse. vm_facts must read nothing else of ``config``, ``runtime``
# and ``summary``: tests/integration/migration/test_migration_lookup.py compares both paths for every lab VM.
FACT_PROPERTIES = ("name", "parent", "datastore", "network", "guest", "snapshot", "customValue",
                   "runtime.powerState", "summary.storage",
                   "config.instanceUuid", "config.guestId", "config.guestFullName", "config.firmware",
                   "config.changeTrackingEnabled", "config.hardware.numCPU", "config.hardware.memoryMB",
                   "config.hardware.device")
_ARRAY_PROPERTIES = ("customValue", "datastore", "network")


def _assemble(kind: Any, values: Dict[str, Any]) -> Dict[str, Any]:
    """Top-level property values from dotted paths: ``{"config.hardware.numCPU": 2}`` ->
    ``{"config": ConfigInfo(hardware=VirtualHardware(numCPU=2))}``. A property none of whose paths has a
    value is None, as a lazy read of an unset property is."""
    out: Dict[str, Any] = {}
    nested: Dict[str, Dict[str, Any]] = {}
    for path, value in values.items():
        head, dummy, rest = path.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            out[head] = value
    for head, sub in nested.items():
        if all(value is None for value in sub.values()):
            out[head] = None
            continue
        data_type = kind._GetPropertyInfo(head).type
        out[head] = data_type(**_assemble(data_type, sub))
    return out


def _filter_spec(objects: List[Any], prop_sets) -> Any:
    collector = vmodl.query.PropertyCollector
    return collector.FilterSpec(
        objectSet=objects, reportMissingObjectsInResults=True,
        propSet=[collector.PropertySpec(type=kind, pathSet=list(paths)) for kind, paths in prop_sets])


def _collect_view(conn: VsphereConnection, types: List[Any], prop_sets, page_size: Optional[int] = None) -> List[Any]:
    """One ContainerView over the whole inventory, read with paged RetrievePropertiesEx, then destroyed."""
    view = conn.call(conn.content.viewManager.CreateContainerView, conn.content.rootFolder, types, True)
    try:
        collector = vmodl.query.PropertyCollector
        traversal = collector.TraversalSpec(name="view", type=vim.view.ContainerView, path="view", skip=False)
        spec = _filter_spec([collector.ObjectSpec(obj=view, skip=True, selectSet=[traversal])], prop_sets)
        return conn.retrieve_properties(spec, **({"page_size": page_size} if page_size else {}))
    finally:
        conn.call(view.DestroyView)


def _props(content: Any) -> Dict[str, Any]:
    return {prop.name: prop.val for prop in content.propSet or []}


class VmIndex:
    """Every VM of a vCenter with its name, instance UUID and inventory path (``/dc/vm/folder/name``),
    from one ContainerView read in pages: no round trip per VM."""

    def __init__(self, hostname: str, contents: List[Any]) -> None:
        self.hostname = hostname
        self.vms: Dict[str, Dict[str, Any]] = {}
        self.containers: Dict[str, Dict[str, Any]] = {}
        for content in contents:
            props = _props(content)
            entry = {"ref": content.obj, "name": props.get("name"), "parent": props.get("parent")}
            if isinstance(content.obj, vim.VirtualMachine):
                entry["uuid"] = props.get("config.instanceUuid")
                self.vms[content.obj._moId] = entry
            else:
                self.containers[content.obj._moId] = entry
        self._by_name: Dict[str, List[str]] = {}
        self._by_uuid: Dict[str, List[str]] = {}
        for moid, entry in self.vms.items():
            self._by_name.setdefault(entry["name"], []).append(moid)
            if entry["uuid"]:
                self._by_uuid.setdefault(entry["uuid"].lower(), []).append(moid)

    def __len__(self) -> int:
        return len(self.vms)

    def _chain(self, moid: str) -> List[Dict[str, Any]]:
        """The VM's containers from its parent up to (not including) the root folder."""
        chain = []
        node = self.vms[moid]["parent"]
        while node is not None:
            entry = self.containers.get(node._moId)
            if entry is None or entry["parent"] is None:  # outside the view, or the root folder
                break
            chain.append(entry)
            node = entry["parent"]
        return chain

    def path(self, moid: str) -> str:
        names = [e["name"] for e in reversed(self._chain(moid))] + [self.vms[moid]["name"]]
        return "/" + "/".join(names)

    def datacenter(self, moid: str) -> str:
        return next((e["name"] for e in self._chain(moid) if isinstance(e["ref"], vim.Datacenter)), "")

    def named(self, name: str) -> List[str]:
        return list(self._by_name.get(name, []))

    def with_uuid(self, uuid: str) -> List[str]:
        return list(self._by_uuid.get(uuid.lower(), []))

    def ref(self, moid: str) -> Any:
        return self.vms[moid]["ref"]

    def all(self) -> List[Any]:
        """Every VM, in inventory path order."""
        return [self.vms[moid]["ref"] for moid in sorted(self.vms, key=self.path)]


def vm_index(conn: VsphereConnection, page_size: Optional[int] = None) -> VmIndex:
    """Read every VM's name, parent and instance UUID and every container's name and parent at once."""
    types = [vim.VirtualMachine] + [getattr(vim, t) for t in _PATH_TYPES]
    prop_sets = [(vim.VirtualMachine, INDEX_PROPERTIES)] + [(getattr(vim, t), ("name", "parent")) for t in _PATH_TYPES]
    return VmIndex(conn.hostname, _collect_view(conn, types, prop_sets, page_size))


def all_vms(conn: VsphereConnection) -> List[Any]:
    return vm_index(conn).all()


def _by_uuid(conn: VsphereConnection, name: Optional[str], uuid: str) -> Any:
    vm = conn.call(conn.content.searchIndex.FindByUuid, datacenter=None, uuid=uuid, vmSearch=True,
                   instanceUuid=True)
    if vm is None:
        raise VmNotFound("no VM with instance UUID %s on %s" % (uuid, conn.hostname))
    if name is not None:
        actual = conn.call(lambda: vm.name)
        if actual != name:
            raise VmIdentityMismatch("the VM with instance UUID %s on %s is named %r, not %r"
                                     % (uuid, conn.hostname, actual, name))
    return vm


def lookup_vms(conn: VsphereConnection, names: List[str], uuids: Optional[Dict[str, str]] = None,
               index: Optional[VmIndex] = None) -> List[Any]:
    """The VMs of ``names`` in that order, resolved against one inventory index. ``uuids`` (name -> instance
    UUID) says which VM is meant where a name is not unique; the VM found must have that name. Names that
    match no VM fail together (VmNotFound), then names that match several (VmAmbiguous, with every path)."""
    uuids = uuids or {}
    index = index if index is not None else vm_index(conn)
    found, missing, ambiguous = [], [], {}
    for name in names:
        uuid = uuids.get(name)
        if uuid:
            moids = index.with_uuid(uuid)
            if not moids:
                missing.append("%r (instance UUID %s)" % (name, uuid))
                continue
            wrong = [index.path(m) for m in moids if index.vms[m]["name"] != name]
            if wrong:
                raise VmIdentityMismatch("the VM with instance UUID %s on %s is %s, not %r"
                                         % (uuid, conn.hostname, ", ".join(wrong), name))
        else:
            moids = index.named(name)
            if not moids:
                missing.append(repr(name))
                continue
        if len(moids) > 1:
            ambiguous[name] = [index.path(m) for m in moids]
            continue
        found.append(index.ref(moids[0]))
    if missing:
        raise VmNotFound("no VM %s on %s" % (", ".join(missing), conn.hostname))
    if ambiguous:
        raise VmAmbiguous(ambiguous, conn.hostname)
    return found


def find_vm(conn: VsphereConnection, name: str, uuid: Optional[str] = None, index: Optional[VmIndex] = None) -> Any:
    """The VM named ``name``. With ``uuid``, the VM of that vCenter instance UUID (SearchIndex.FindByUuid),
    which must be named ``name``; without, a name that several VMs share is refused (VmAmbiguous)."""
    if uuid:
        return _by_uuid(conn, name, uuid)
    return lookup_vms(conn, [name], index=index)[0]


class _PrefetchedStub:
    """Answers pyVmomi's lazy property reads (``vm.config``, ``ds.summary``, ``vm.parent`` ...) from values
    read beforehand in bulk; any other read or call goes to the real stub (and is counted there), so a
    property nobody prefetched is still right, only slower."""

    def __init__(self, stub: Any) -> None:
        self._stub = stub
        self.values: Dict[str, Dict[str, Any]] = {}

    def bind(self, ref: Any) -> Any:
        return type(ref)(ref._moId, self) if ref is not None else None

    def _rebind(self, value: Any) -> Any:
        if isinstance(value, VmomiSupport.ManagedObject):
            return self.bind(value)
        if isinstance(value, list) and any(isinstance(v, VmomiSupport.ManagedObject) for v in value):
            return [self.bind(v) if isinstance(v, VmomiSupport.ManagedObject) else v for v in value]
        return value

    def add(self, moid: str, props: Dict[str, Any]) -> None:
        self.values.setdefault(moid, {}).update(props)

    def InvokeAccessor(self, mo: Any, info: Any) -> Any:  # noqa: N802 - pyVmomi's stub interface
        props = self.values.get(mo._moId)
        if props is not None and info.name in props:
            return self._rebind(props[info.name])
        return self._stub.InvokeAccessor(type(mo)(mo._moId, self._stub), info)

    def InvokeMethod(self, mo: Any, info: Any, args: Any) -> Any:  # noqa: N802 - pyVmomi's stub interface
        return self._stub.InvokeMethod(type(mo)(mo._moId, self._stub), info, args)


class _PrefetchedConnection:
    """The connection as vm_facts sees it: the custom field definitions read once, the rest unchanged."""

    class _Content:
        def __init__(self, content: Any, custom_fields_manager: Any) -> None:
            self._content = content
            self.customFieldsManager = custom_fields_manager

        def __getattr__(self, name: str) -> Any:
            return getattr(self._content, name)

    def __init__(self, conn: VsphereConnection, custom_fields_manager: Any) -> None:
        self._conn = conn
        self.content = self._Content(conn.content, custom_fields_manager)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def vm_facts_many(conn: VsphereConnection, vms: List[Any], index: Optional[VmIndex] = None,
                  page_size: Optional[int] = None) -> List[Dict[str, Any]]:
    """vm_facts of many VMs from a few PropertyCollector calls: the VMs' FACT_PROPERTIES (paged), every
    datastore's and network's name and type, the custom field names and the containers of the index;
    vm_facts itself then reads only prefetched values. The same dicts as ``vm_facts`` one VM at a time."""
    if not vms:
        return []
    index = index if index is not None else vm_index(conn, page_size)
    stub = _PrefetchedStub(conn.si._stub)  # pylint: disable=protected-access
    for moid, entry in index.containers.items():
        stub.add(moid, {"name": entry["name"], "parent": entry["parent"]})
    collector = vmodl.query.PropertyCollector
    spec = _filter_spec([collector.ObjectSpec(obj=vm, skip=False) for vm in vms],
                        [(vim.VirtualMachine, FACT_PROPERTIES)])
    kwargs = {"page_size": page_size} if page_size else {}
    gone = []
    for content in conn.retrieve_properties(spec, **kwargs):
        if content.missingSet and any(isinstance(m.fault.fault, vmodl.fault.ManagedObjectNotFound)
                                      for m in content.missingSet):
            gone.append(content.obj._moId)
            continue
        # a property vSphere leaves unset is absent from the answer; a lazy read gives None (or [] for arrays)
        props = {name: ([] if name in _ARRAY_PROPERTIES else None) for name in FACT_PROPERTIES}
        props.update(_props(content))
        stub.add(content.obj._moId, _assemble(vim.VirtualMachine, props))
    missing = [vm._moId for vm in vms if vm._moId not in stub.values or vm._moId in gone]
    if missing:
        raise VmNotFound("VMs removed from %s while being read: %s" % (
            conn.hostname, ", ".join(index.path(m) if m in index.vms else m for m in missing)))
    for content in _collect_view(conn, [vim.Datastore, vim.Network],
                                 [(vim.Datastore, ("name", "summary")), (vim.Network, ("name",)),
                                  (vim.dvs.DistributedVirtualPortgroup, ("key",))], page_size):
        stub.add(content.obj._moId, _props(content))
    manager = conn.content.customFieldsManager
    if manager is not None:
        stub.add(manager._moId, {"field": conn.call(lambda: manager.field)})
        manager = stub.bind(manager)
    pconn = _PrefetchedConnection(conn, manager)
    return [vm_facts(pconn, stub.bind(vm)) for vm in vms]


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
