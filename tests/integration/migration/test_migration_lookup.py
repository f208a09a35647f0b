"""VM lookup at campus scale and VM identity, against the lab vCenter (issue 13, item 3 and goal P6).

* The bulk path (one ContainerView read in pages, one paged property query for the VMs' facts) gives the same
  facts as reading each VM lazily, for every lab VM, and costs a fixed number of round trips.
* A name two VMs share (two folders) is refused with both inventory paths; the instance UUID picks one, through
  find_vm (SearchIndex.FindByUuid), lookup_vms and the modules' ``uuids``.
"""
import json
import re

import pytest

from pyVim.task import WaitForTask
from pyVmomi import vim

from ansible_collections.reforge.hci.plugins.module_utils.vsphere import vm as vmops
from ansible_collections.reforge.hci.plugins.module_utils.vsphere.errors import (
    VmAmbiguous, VmIdentityMismatch, VmNotFound)

from migration_ansible import run_tasks

pytestmark = pytest.mark.lab
TWIN = "lookup-twin01"
FOLDER = "lookup-other"


def _create(conn, folder, name):
    """A small powered-off VM in ``folder``, created through the vSphere API."""
    dc = conn.content.rootFolder.childEntity[0]
    cluster = dc.hostFolder.childEntity[0]
    ctrl = vim.vm.device.ParaVirtualSCSIController(key=1000, busNumber=0, sharedBus="noSharing")
    disk = vim.vm.device.VirtualDisk(
        key=2000, controllerKey=1000, unitNumber=0, capacityInKB=1024, capacityInBytes=1 << 20,
        backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(fileName="[datastore1]", diskMode="persistent",
                                                              thinProvisioned=True))
    spec = vim.vm.ConfigSpec(name=name, guestId="debian10_64Guest", numCPUs=1, memoryMB=256,
                             files=vim.vm.FileInfo(vmPathName="[datastore1]"),
                             deviceChange=[vim.vm.device.VirtualDeviceSpec(operation="add", device=ctrl),
                                           vim.vm.device.VirtualDeviceSpec(operation="add", fileOperation="create",
                                                                           device=disk)])
    task = folder.CreateVM_Task(config=spec, pool=cluster.resourcePool)
    WaitForTask(task)
    return task.info.result


@pytest.fixture
def twins(conn):
    """Two VMs named TWIN: one in the datacenter's VM folder, one in a folder of its own; removed after."""
    dc = conn.content.rootFolder.childEntity[0]
    made, folder = [], None
    try:
        made.append(_create(conn, dc.vmFolder, TWIN))
        folder = dc.vmFolder.CreateFolder(FOLDER)
        made.append(_create(conn, folder, TWIN))
        yield dc.name, made
    finally:
        for vm in made:
            WaitForTask(vm.Destroy_Task())
        if folder is not None:
            WaitForTask(folder.Destroy_Task())


def test_bulk_facts_equal_lazy_facts_for_every_lab_vm(conn):
    index = vmops.vm_index(conn)
    # every lab VM; of the scale test's identical batch04... (VCSIM_EXTRA_VMS) a few, lazy reads are slow
    names = sorted({e["name"] for e in index.vms.values()
                    if not re.fullmatch(r"batch\d+", e["name"]) or int(e["name"][5:]) <= 12})
    assert {"db01", "legacy-rdm", "shared01", "snapped01", "web01", "nfs01"} <= set(names)
    lazy = [vmops.vm_facts(conn, vm) for vm in vmops.lookup_vms(conn, names, index=index)]
    conn.round_trips.clear()
    bulk = vmops.vm_facts_many(conn, vmops.lookup_vms(conn, names, index=index), index=index)
    assert bulk == lazy
    # nothing was read lazily but the custom field names (one Fetch), whatever the number of VMs
    assert conn.round_trips["Fetch"] == 1, dict(conn.round_trips)
    assert conn.round_trips["RetrievePropertiesEx"] == 2, dict(conn.round_trips)


def test_small_pages_read_the_same_inventory(conn):
    whole = vmops.vm_index(conn)
    conn.round_trips.clear()
    paged = vmops.vm_index(conn, page_size=4)
    objects = len(whole.vms) + len(whole.containers)
    assert conn.round_trips["RetrievePropertiesEx"] == 1
    assert conn.round_trips["ContinueRetrievePropertiesEx"] == (objects + 3) // 4 - 1
    assert {m: whole.path(m) for m in whole.vms} == {m: paged.path(m) for m in paged.vms}
    vms = whole.all()
    assert vmops.vm_facts_many(conn, vms, index=whole, page_size=3) == vmops.vm_facts_many(conn, vms, index=whole)


def test_inventory_paths_and_datacenter(conn):
    index = vmops.vm_index(conn)
    dc = conn.content.rootFolder.childEntity[0].name
    (db01,) = index.named("db01")
    assert index.path(db01) == "/%s/vm/db01" % dc
    assert index.datacenter(db01) == dc
    assert index.with_uuid(index.vms[db01]["uuid"].upper()) == [db01]


def test_ambiguous_name_is_refused_with_both_paths(conn, twins):
    dc, (first, second) = twins
    paths = ["/%s/vm/%s" % (dc, TWIN), "/%s/vm/%s/%s" % (dc, FOLDER, TWIN)]
    with pytest.raises(VmAmbiguous) as err:
        vmops.find_vm(conn, TWIN)  # what migration_sync and migration_cutover call
    assert all(p in str(err.value) for p in paths) and "UUID" in str(err.value)
    assert err.value.paths == {TWIN: sorted(paths)}
    with pytest.raises(VmAmbiguous):
        vmops.lookup_vms(conn, ["db01", TWIN])


def test_instance_uuid_picks_one_of_two(conn, twins):
    dummy, (first, second) = twins
    for vm in (first, second):
        uuid = vm.config.instanceUuid
        assert vmops.find_vm(conn, TWIN, uuid=uuid)._moId == vm._moId
        (found,) = vmops.lookup_vms(conn, [TWIN], uuids={TWIN: uuid})
        assert found._moId == vm._moId
    with pytest.raises(VmIdentityMismatch, match="db01"):
        vmops.find_vm(conn, "db01", uuid=first.config.instanceUuid)
    with pytest.raises(VmIdentityMismatch):
        vmops.lookup_vms(conn, ["db01"], uuids={"db01": first.config.instanceUuid})
    with pytest.raises(VmNotFound):
        vmops.find_vm(conn, TWIN, uuid="5000dead-beef-0000-0000-000000000000")
    with pytest.raises(VmNotFound, match="no-such-vm"):
        vmops.lookup_vms(conn, ["db01", "no-such-vm"])


def test_modules_refuse_an_ambiguous_name_and_take_uuids(vc, conn, twins, tmp_path):
    dummy, (first, second) = twins
    uuid = second.config.instanceUuid
    tasks = [
        {"reforge.hci.migration_preflight": {"names": ["web01", TWIN]}, "register": "r_amb", "ignore_errors": True},
        {"reforge.hci.vsphere_vm_info": {"names": [TWIN]}, "register": "r_info_amb", "ignore_errors": True},
        {"reforge.hci.migration_preflight": {"names": ["web01", TWIN], "uuids": {TWIN: uuid}}, "register": "r_pre"},
        {"reforge.hci.vsphere_vm_info": {"names": [TWIN], "uuids": {TWIN: uuid}}, "register": "r_info"},
    ]
    proc, res = run_tasks(tmp_path, tasks, vc.info)
    assert proc.returncode == 0, proc.stdout[-3000:]
    for key in ("r_amb", "r_info_amb"):
        assert res[key]["failed"] and "VmAmbiguous" in res[key]["msg"], res[key]
        assert "/%s/%s" % (FOLDER, TWIN) in res[key]["msg"]
    assert [r["vm"] for r in res["r_pre"]["results"]] == ["web01", TWIN]
    assert [vm["uuid"] for vm in res["r_info"]["vms"]] == [uuid]


def test_wave_preflight_passes_uuids_and_finds_earlier_cutovers_in_one_listing(vc, conn, twins, tmp_path):
    dummy, (first, second) = twins
    journal = tmp_path / "journal"
    journal.mkdir()
    (journal / "web01.cutover.json").write_text("{}")
    wave = [{"name": "web01", "mode": "warm"}, {"name": TWIN, "mode": "batch", "uuid": second.config.instanceUuid},
            {"name": "app01", "mode": "warm"}]
    tasks = [{"ansible.builtin.include_role": {"name": "reforge.hci.migration_wave", "tasks_from": "preflight"},
              "vars": {"migration_wave_vcenter_hostname": vc.info["host"], "migration_wave_vms": wave,
                       "migration_wave_journal_dir": str(journal)}},
             {"ansible.builtin.set_fact": {"r_wave": {"done": "{{ _migration_wave_done }}",
                                                      "batch": "{{ _migration_wave_batch }}",
                                                      "warm": "{{ _migration_wave_warm }}",
                                                      "checked": "{{ __migration_wave_preflight.results }}"}}},
             {"ansible.builtin.debug": {"var": "r_wave"}, "register": "r_dbg"}]
    proc, res = run_tasks(tmp_path, tasks, vc.info)
    assert proc.returncode == 0, proc.stdout[-3000:]
    wave_state = res["r_dbg"]["r_wave"]
    assert wave_state["done"] == ["web01"]
    assert [vm["name"] for vm in wave_state["batch"]] == [TWIN]
    assert [vm["name"] for vm in wave_state["warm"]] == ["app01"]
    assert [r["vm"] for r in wave_state["checked"]] == ["web01", TWIN, "app01"]


def test_sync_takes_the_vm_by_instance_uuid_and_refuses_the_shared_name(vc, conn, twins, tmp_path):
    dummy, (first, second) = twins
    uuid = second.config.instanceUuid
    common = {"journal_dir": str(tmp_path / "journal"), "target_dir": str(tmp_path / "disks"), "target_format": "raw"}
    tasks = [
        {"reforge.hci.migration_sync": dict(common, vm=TWIN), "register": "r_amb", "ignore_errors": True},
        {"reforge.hci.migration_sync": dict(common, vm=TWIN, vm_uuid=uuid), "register": "r_sync"},
    ]
    proc, res = run_tasks(tmp_path, tasks, vc.info)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert res["r_amb"]["failed"] and "VmAmbiguous" in res["r_amb"]["msg"], res["r_amb"]
    assert "/%s/%s" % (FOLDER, TWIN) in res["r_amb"]["msg"]
    assert not res["r_sync"].get("failed") and res["r_sync"]["changed"], res["r_sync"]
    journals = list((tmp_path / "journal").glob("*.journal.json"))
    assert journals and all(json.loads(j.read_text())["vm_uuid"] == uuid for j in journals)
    assert first.snapshot is None and second.snapshot is None  # the sync's snapshot is gone from both
