"""The pure parts of the bulk VM lookup: inventory paths from parents, ambiguity, reassembled properties.

The vCenter side (ContainerView, paged RetrievePropertiesEx, FindByUuid) is tested against the lab vCenter in
tests/integration/migration/test_migration_lookup.py; here the answers are pyVmomi's own data objects.
"""
import pytest

from pyVmomi import vim, vmodl

from ansible_collections.reforge.hci.plugins.module_utils.vsphere import vm as vmops
from ansible_collections.reforge.hci.plugins.module_utils.vsphere.errors import VmAmbiguous, VsphereError

Content = vmodl.query.PropertyCollector.ObjectContent
Prop = vmodl.DynamicProperty


def _entity(kind, moid, name, parent=None, uuid=None):
    props = [Prop(name="name", val=name)]
    if parent is not None:
        props.append(Prop(name="parent", val=parent))
    if uuid is not None:
        props.append(Prop(name="config.instanceUuid", val=uuid))
    return Content(obj=kind(moid), propSet=props)


def _campus():
    root = vim.Folder("group-d1")
    dc1, dc2 = vim.Datacenter("datacenter-1"), vim.Datacenter("datacenter-2")
    vm1, vm2 = vim.Folder("group-v1"), vim.Folder("group-v2")
    finance = vim.Folder("group-v3")
    return vmops.VmIndex("vc.example", [
        _entity(vim.Folder, "group-d1", "Datacenters"),
        _entity(vim.Datacenter, "datacenter-1", "west", root), _entity(vim.Datacenter, "datacenter-2", "east", root),
        _entity(vim.Folder, "group-v1", "vm", dc1), _entity(vim.Folder, "group-v2", "vm", dc2),
        _entity(vim.Folder, "group-v3", "finance", vm1),
        _entity(vim.VirtualMachine, "vm-1", "db01", vm1, "5001-a"),
        _entity(vim.VirtualMachine, "vm-2", "db01", finance, "5001-b"),
        _entity(vim.VirtualMachine, "vm-3", "db01", vm2, "5001-c"),
        _entity(vim.VirtualMachine, "vm-4", "app01", vm2, "5001-d"),
    ])


def test_paths_walk_parents_up_to_the_root_folder():
    index = _campus()
    assert [index.path(m) for m in ("vm-1", "vm-2", "vm-3", "vm-4")] == [
        "/west/vm/db01", "/west/vm/finance/db01", "/east/vm/db01", "/east/vm/app01"]
    assert index.datacenter("vm-2") == "west" and index.datacenter("vm-4") == "east"
    assert [vm._moId for vm in index.all()] == ["vm-4", "vm-3", "vm-1", "vm-2"]
    assert index.with_uuid("5001-A") == ["vm-1"] and len(index) == 4


def test_the_ambiguity_lists_every_path_and_asks_for_the_uuid():
    index = _campus()
    err = VmAmbiguous({"db01": [index.path(m) for m in index.named("db01")]}, "vc.example")
    assert isinstance(err, VsphereError)
    text = str(err)
    assert "3 VMs are named 'db01' on vc.example" in text
    assert "/east/vm/db01, /west/vm/db01, /west/vm/finance/db01" in text
    assert "instance UUID" in text and "vm_uuid" in text


def test_dotted_paths_become_the_data_objects_a_lazy_read_returns():
    props = vmops._assemble(vim.VirtualMachine, {
        "name": "db01", "config.hardware.numCPU": 4, "config.hardware.memoryMB": 8192, "config.firmware": "efi",
        "summary.storage": vim.vm.Summary.StorageSummary(committed=42), "runtime.powerState": "poweredOn"})
    assert isinstance(props["config"], vim.vm.ConfigInfo)
    assert isinstance(props["config"].hardware, vim.vm.VirtualHardware)
    assert (props["config"].hardware.numCPU, props["config"].hardware.memoryMB) == (4, 8192)
    assert props["config"].firmware == "efi" and props["summary"].storage.committed == 42
    assert props["runtime"].powerState == "poweredOn" and props["name"] == "db01"


@pytest.mark.parametrize("paths", [("config.instanceUuid", "config.hardware.device"), ("summary.storage",)])
def test_a_property_with_no_value_at_all_reads_as_none(paths):
    # an inaccessible VM has no config: vm_facts must see None, not an empty ConfigInfo
    props = vmops._assemble(vim.VirtualMachine, {p: None for p in paths})
    assert props == {paths[0].split(".")[0]: None}
