"""Issue 13 items 1 (detection), 3, 5, 6, 7 and 8: the sync's integrity against the lab vCenter.

Each test works on VMs of its own, created and destroyed through the vSphere API (pyvmomi), so the
shared lab VMs stay as other tests expect them. The oracle is the simulator's datastore file
(``LabVC.base_file``) compared with the target by ``assert_identical`` (SEEK_DATA/SEEK_HOLE and bytes),
never the engine's own code.
"""
import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from pyVim.task import WaitForTask
from pyVmomi import vim, vmodl

from ansible_collections.reforge.hci.plugins.module_utils.migration import extents as ext
from ansible_collections.reforge.hci.plugins.module_utils.migration import preflight
from ansible_collections.reforge.hci.plugins.module_utils.migration.engine import CopySettings
from ansible_collections.reforge.hci.plugins.module_utils.migration.errors import JournalError, MigrationError
from ansible_collections.reforge.hci.plugins.module_utils.migration.journal import snapshot_description
from ansible_collections.reforge.hci.plugins.module_utils.migration.sync import VmSync, journal_path
from ansible_collections.reforge.hci.plugins.module_utils.vsphere import vm as vmops
from lab.vcsim.labclient import create_vm, destroy_vm

from migration_ansible import run_tasks
from migration_labvc import assert_identical

pytestmark = pytest.mark.lab
HERE = os.path.dirname(os.path.abspath(__file__))
MiB = 1 << 20
GiB = 1 << 30


@pytest.fixture
def new_vm(conn):
    """``make(capacities, name=None)``: a powered-on VM with CBT on, thin disks 2000.., destroyed afterwards."""
    made = []

    def make(capacities, name=None):
        vm = create_vm(conn.si, name or "t-int-%s" % uuid.uuid4().hex[:8], capacities, cbt=True)
        made.append(vm)
        return vm

    yield make
    for vm in made:
        try:
            destroy_vm(vm)
        except (vim.fault.NotFound, vmodl.fault.ManagedObjectNotFound):
            pass  # destroyed by the test itself


def raw_targets(tmp_path, vm, keys):
    return {str(k): {"format": "raw", "path": str(tmp_path / ("%s-disk%d.raw" % (vm, k)))} for k in keys}


def sync(conn, name, targets, tmp_path, **settings):
    return VmSync(conn, name, targets, str(tmp_path / "journal"), CopySettings(**settings)).run()


def journal_of(tmp_path, name, key):
    with open(journal_path(str(tmp_path / "journal"), name, key)) as handle:
        return json.load(handle)


def own_snapshots(conn, name):
    return vmops.snapshots(vmops.find_vm(conn, name))


# ---------------------------------------------------------------- item 1: outside changes to a target

@pytest.mark.parametrize("change", ["written", "replaced", "missing", "qcow2_written"])
def test_target_changed_outside_the_sync_gets_a_loud_full_resync(vc, conn, tmp_path, new_vm, change):
    """A test boot or an operator writes to the synced target (or swaps/deletes it): the journal's changeId is
    not trusted, the next sync is full and the target equals the source again (old blocks zeroed too)."""
    vm = new_vm([4 * GiB])
    name = vm.name
    vc.write(name, 2000, 0, os.urandom(2 * MiB))
    vc.write(name, 2000, 3 * GiB, os.urandom(MiB))
    if change == "qcow2_written":
        target = str(tmp_path / "t.qcow2")
        targets = {"2000": {"format": "qcow2", "path": target}}
    else:
        target = str(tmp_path / "t.raw")
        targets = {"2000": {"format": "raw", "path": target}}
    first = sync(conn, name, targets, tmp_path)
    assert first["disks"][0]["kind"] == "full"
    unchanged = sync(conn, name, targets, tmp_path)
    assert unchanged["disks"][0]["kind"] == "incremental", "an untouched target stays incremental"
    assert not any("FULL RESYNC" in w for w in unchanged["warnings"])

    # what a boot check writes: a block inside the source's data and one where the source reads zeros
    if change == "written":
        with open(target, "r+b") as handle:
            handle.seek(4096)
            handle.write(b"booted" * 100)
            handle.seek(2 * GiB)
            handle.write(b"\x5a" * MiB)
    elif change == "replaced":
        other = str(tmp_path / "other.raw")  # another VM's disk image put in its place
        with open(other, "wb") as handle:
            handle.truncate(4 * GiB)
            handle.seek(GiB)
            handle.write(b"\x77" * MiB)
        os.replace(other, target)
    elif change == "missing":
        os.unlink(target)
    else:
        subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -q -P 0xab %d %d" % (2 * GiB, MiB), target], check=True)

    result = sync(conn, name, targets, tmp_path)
    loud = [w for w in result["warnings"] if w.startswith("FULL RESYNC of %s disk 2000: target changed outside the sync"
                                                          % name)]
    assert len(loud) == 1, result["warnings"]
    assert result["disks"][0]["kind"] == "full"
    record = journal_of(tmp_path, name, 2000)["syncs"][-1]
    assert record["kind"] == "full" and record["warnings"] == loud, "the reason is in the journal's sync record"
    if change == "qcow2_written":
        raw = str(tmp_path / "back.raw")
        subprocess.run(["qemu-img", "convert", "-O", "raw", target, raw], check=True)
        assert_identical(vc.base_file(name, 2000), raw)
    else:
        assert_identical(vc.base_file(name, 2000), target)
    again = sync(conn, name, targets, tmp_path)
    assert again["disks"][0]["kind"] == "incremental" and again["totals"]["bytes_read"] == 0


# ---------------------------------------------------------------- item 3: identity

def test_vm_replaced_by_another_of_the_same_name_is_refused_never_merged(vc, conn, tmp_path, new_vm):
    name = "t-ident-%s" % uuid.uuid4().hex[:6]
    old = new_vm([2 * GiB], name=name)
    old_uuid = old.config.instanceUuid
    vc.write(name, 2000, 0, os.urandom(MiB))
    targets = raw_targets(tmp_path, name, [2000])
    target = targets["2000"]["path"]
    sync(conn, name, targets, tmp_path)
    assert journal_of(tmp_path, name, 2000)["vm_uuid"] == old_uuid
    destroy_vm(old)

    new = new_vm([2 * GiB], name=name)
    # vCenter gives a new VM a new instance UUID; vcsim derives it from the name, so give it one here
    WaitForTask(new.ReconfigVM_Task(spec=vim.vm.ConfigSpec(instanceUuid=str(uuid.uuid4()))))
    new_uuid = new.config.instanceUuid
    assert new_uuid != old_uuid
    vc.write(name, 2000, 512 * MiB, os.urandom(MiB))
    before = open(target, "rb").read(2 * MiB)
    seq = vc.disk(name, 2000)["seq"]
    with pytest.raises(JournalError) as err:
        sync(conn, name, targets, tmp_path)
    message = str(err.value)
    assert old_uuid in message and new_uuid in message and "move the journal away" in message
    assert vc.disk(name, 2000)["seq"] == seq and own_snapshots(conn, name) == [], "refused before any snapshot"
    assert open(target, "rb").read(2 * MiB) == before, "the target was not touched"

    # the operator starts over as the message says: a full sync, nothing of the old VM left
    os.rename(journal_path(str(tmp_path / "journal"), name, 2000), str(tmp_path / "old.journal.json"))
    fresh = sync(conn, name, targets, tmp_path)
    assert fresh["disks"][0]["kind"] == "full" and fresh["totals"]["bytes_cleared"] >= MiB
    assert_identical(vc.base_file(name, 2000), target)
    assert journal_of(tmp_path, name, 2000)["vm_uuid"] == new_uuid


def test_a_journal_without_identity_adopts_the_current_one_once(vc, conn, tmp_path, new_vm):
    vm = new_vm([GiB])
    name = vm.name
    targets = raw_targets(tmp_path, name, [2000])
    sync(conn, name, targets, tmp_path)
    path = journal_path(str(tmp_path / "journal"), name, 2000)
    data = journal_of(tmp_path, name, 2000)
    data.pop("vm_uuid")
    data.pop("disk_uuid")
    with open(path, "w") as handle:  # a journal as the previous release wrote it
        json.dump(data, handle)
    vc.write(name, 2000, 0, os.urandom(MiB))
    result = sync(conn, name, targets, tmp_path)
    assert [w for w in result["warnings"] if "recorded no VM identity: adopting VM %s" % vm.config.instanceUuid in w]
    assert result["disks"][0]["kind"] == "incremental"
    assert journal_of(tmp_path, name, 2000)["vm_uuid"] == vm.config.instanceUuid
    again = sync(conn, name, targets, tmp_path)
    assert not [w for w in again["warnings"] if "adopting" in w]
    assert_identical(vc.base_file(name, 2000), targets["2000"]["path"])


# ---------------------------------------------------------------- item 5: kill -9 between the disks

def _spawn(vc, name, targets, tmp_path, settings):
    job = {"vcsim": vc.info, "vm": name, "targets": targets, "journal_dir": str(tmp_path / "journal"),
           "settings": settings, "progress": str(tmp_path / "progress.json")}
    return subprocess.Popen([sys.executable, os.path.join(HERE, "run_sync.py"), json.dumps(job)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _committed(tmp_path, name, key):
    path = journal_path(str(tmp_path / "journal"), name, key)
    try:
        with open(path) as handle:
            return json.load(handle).get("committed_change_id")
    except (OSError, ValueError):
        return None


def test_multi_disk_vm_killed_between_disks_resumes(vc, conn, tmp_path, new_vm):
    """kill -9 after disk 2000 committed and before disk 2001 did; the rerun skips 2000 and resumes 2001."""
    vm = new_vm([4 * GiB, 8 * GiB])
    name = vm.name
    vc.write(name, 2000, 0, os.urandom(2 * MiB))
    for i in range(6):
        vc.write(name, 2001, i * GiB + 4096 * 7, os.urandom(8 * MiB))
    targets = raw_targets(tmp_path, name, [2000, 2001])
    settings = {"streams": 2, "read_size": MiB, "coalesce_gap": 0, "confirm_bytes": MiB, "confirm_seconds": 0.2,
                "throttle_mbps": 8}
    proc = _spawn(vc, name, targets, tmp_path, settings)
    while _committed(tmp_path, name, 2000) is None:  # the event: disk 2000's changeId is in its journal
        assert proc.poll() is None, "sync ended before disk 2000 committed: %s %s" % proc.communicate()
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _committed(tmp_path, name, 2001) is None, "killed before disk 2001 committed"
    second = journal_of(tmp_path, name, 2001)
    confirmed = [tuple(e) for e in (second["pending"] or {}).get("confirmed", [])]
    committed_2000 = _committed(tmp_path, name, 2000)

    proc = _spawn(vc, name, targets, tmp_path, dict(settings, throttle_mbps=None))
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]  # before the fix: TypeError: 'NoneType' object is not subscriptable
    result = json.loads(out)
    by_key = {d["key"]: d for d in result["disks"]}
    assert by_key[2000]["kind"] == "committed" and by_key[2000]["bytes_read"] == 0, "disk 2000 is not copied again"
    assert by_key[2001]["kind"] == "full"
    allocated = vc.disk(name, 2001)["allocated_blocks"] * 64 * 1024
    assert by_key[2001]["bytes_read"] == allocated - ext.total(confirmed), "no confirmed byte is read again"
    assert any("resuming" in w for w in result["warnings"])
    assert _committed(tmp_path, name, 2000) == committed_2000
    assert _committed(tmp_path, name, 2001) is not None
    for key in (2000, 2001):
        assert_identical(vc.base_file(name, key), targets[str(key)]["path"])
    assert own_snapshots(conn, name) == []
    # the VM's journals agree again: the next sync is an incremental of both disks at one new snapshot
    vc.write(name, 2000, GiB, os.urandom(MiB))
    inc = sync(conn, name, targets, tmp_path)
    assert [d["kind"] for d in inc["disks"]] == ["incremental", "incremental"]
    assert inc["totals"]["bytes_read"] == MiB
    for key in (2000, 2001):
        assert_identical(vc.base_file(name, key), targets[str(key)]["path"])


# ---------------------------------------------------------------- item 6: shared disks

def test_shared_disks_are_refused_before_any_snapshot_or_cbt_change(vc, conn, tmp_path):
    name = "shared01"
    facts = vmops.vm_facts(conn, vmops.find_vm(conn, name))
    seqs = {d["key"]: vc.disk(name, d["key"])["seq"] for d in facts["disks"]}
    with pytest.raises(MigrationError) as err:
        sync(conn, name, raw_targets(tmp_path, name, [d["key"] for d in facts["disks"]]), tmp_path)
    message = str(err.value)
    assert "shared01 disk disk-1000-0 is shared between VMs (multi-writer)" in message
    # the same findings preflight reports (one rule)
    assert all(b["message"] in message for b in preflight.disk_blockers(facts))
    after = vmops.vm_facts(conn, vmops.find_vm(conn, name))
    assert after["snapshots"] == [] and after["cbt_enabled"] == facts["cbt_enabled"]
    assert {d["key"]: vc.disk(name, d["key"])["seq"] for d in facts["disks"]} == seqs
    assert not (tmp_path / "journal").exists() or not os.listdir(str(tmp_path / "journal"))


def test_a_disk_on_a_shared_scsi_bus_is_refused(vc, conn, tmp_path, new_vm):
    """A guest cluster's bus (sharedBus on the controller), without multi-writer on the disk."""
    vm = new_vm([GiB])
    ctrl = next(d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualSCSIController))
    ctrl.sharedBus = "virtualSharing"
    WaitForTask(vm.ReconfigVM_Task(spec=vim.vm.ConfigSpec(deviceChange=[
        vim.vm.device.VirtualDeviceSpec(operation="edit", device=ctrl)])))
    seq = vc.disk(vm.name, 2000)["seq"]
    with pytest.raises(MigrationError) as err:
        sync(conn, vm.name, raw_targets(tmp_path, vm.name, [2000]), tmp_path)
    assert "sits on a shared SCSI bus (virtualSharing)" in str(err.value)
    assert own_snapshots(conn, vm.name) == [] and vc.disk(vm.name, 2000)["seq"] == seq


# ---------------------------------------------------------------- item 7: snapshot ownership

def test_an_admin_snapshot_named_like_ours_is_never_deleted(vc, conn, tmp_path, new_vm):
    vm = new_vm([GiB])
    name = vm.name
    targets = raw_targets(tmp_path, name, [2000])
    sync(conn, name, targets, tmp_path)
    WaitForTask(vm.CreateSnapshot_Task(name="reforge-sync-keep-me", description="admin: before the upgrade",
                                       memory=False, quiesce=False))
    facts = vmops.vm_facts(conn, vm)
    assert [b["rule"] for b in preflight.check_vm(facts)["blockers"]] == ["existing_snapshots"]
    with pytest.raises(MigrationError) as err:
        sync(conn, name, targets, tmp_path)
    assert "reforge-sync-keep-me" in str(err.value)
    assert [s["name"] for s in own_snapshots(conn, name)] == ["reforge-sync-keep-me"]


def test_own_orphans_are_removed_and_other_vms_sync_snapshots_are_foreign(vc, conn, tmp_path, new_vm):
    vm = new_vm([GiB])
    name = vm.name
    targets = raw_targets(tmp_path, name, [2000])
    # what a run killed right after CreateSnapshot leaves: our description, no journal record
    WaitForTask(vm.CreateSnapshot_Task(name="whatever-name", memory=False, quiesce=False,
                                       description=snapshot_description(vm.config.instanceUuid, "0123456789abcdef")))
    result = sync(conn, name, targets, tmp_path)
    assert "removing orphan sync snapshot whatever-name" in result["warnings"]
    assert own_snapshots(conn, name) == []
    assert_identical(vc.base_file(name, 2000), targets["2000"]["path"])
    # a sync snapshot of another VM (a clone's, say) is not ours to delete
    WaitForTask(vm.CreateSnapshot_Task(name="reforge-sync-1", memory=False, quiesce=False,
                                       description=snapshot_description(str(uuid.uuid4()), "0123456789abcdef")))
    with pytest.raises(MigrationError):
        sync(conn, name, targets, tmp_path)
    assert [s["name"] for s in own_snapshots(conn, name)] == ["reforge-sync-1"]


def test_a_sync_interrupted_under_the_previous_release_resumes_on_its_snapshot(vc, conn, tmp_path, new_vm):
    """Upgrade in the middle of a sync: the pending snapshot has the old description and no token, but its
    journal names it (moref), so it is resumed, not refused as foreign nor deleted as an orphan."""
    vm = new_vm([GiB])
    name = vm.name
    targets = raw_targets(tmp_path, name, [2000])
    sync(conn, name, targets, tmp_path)
    vc.write(name, 2000, 100 * MiB, os.urandom(2 * MiB))
    task = vm.CreateSnapshot_Task(name="reforge-sync-1", description="reforge.hci migration sync", memory=False,
                                  quiesce=False)
    WaitForTask(task)
    snap = task.info.result
    path = journal_path(str(tmp_path / "journal"), name, 2000)
    data = journal_of(tmp_path, name, 2000)
    new_id = vmops.snapshot_disks(snap)[2000].backing.changeId
    data["pending"] = {"snapshot": snap._moId, "snapshot_name": "reforge-sync-1", "new_change_id": new_id,
                       "base_change_id": data["committed_change_id"], "confirmed": [], "started_at": time.time()}
    with open(path, "w") as handle:  # the pending record as the previous release wrote it
        json.dump(data, handle)
    result = sync(conn, name, targets, tmp_path)
    assert "resuming the interrupted sync from snapshot reforge-sync-1" in result["warnings"]
    assert result["disks"][0]["kind"] == "incremental" and result["totals"]["bytes_read"] == 2 * MiB
    assert own_snapshots(conn, name) == []
    assert_identical(vc.base_file(name, 2000), targets["2000"]["path"])


def test_a_refusal_after_the_snapshot_removes_the_snapshot_it_took(vc, conn, tmp_path, new_vm, monkeypatch):
    """An admin snapshots the VM while the sync starts (after its checks, before its snapshot): the frozen
    level is a delta, the sync refuses, and removes its own snapshot but not the admin's."""
    vm = new_vm([GiB])
    name = vm.name
    targets = raw_targets(tmp_path, name, [2000])
    sync(conn, name, targets, tmp_path)
    real = vmops.enable_cbt

    def admin_snapshots_meanwhile(connection, machine):
        WaitForTask(machine.CreateSnapshot_Task(name="admin-meanwhile", description="", memory=False, quiesce=False))
        return real(connection, machine)

    monkeypatch.setattr(vmops, "enable_cbt", admin_snapshots_meanwhile)
    with pytest.raises(MigrationError) as err:
        sync(conn, name, targets, tmp_path)
    assert "frozen as a delta" in str(err.value)
    assert [s["name"] for s in own_snapshots(conn, name)] == ["admin-meanwhile"]
    assert journal_of(tmp_path, name, 2000)["pending"] is None


# ---------------------------------------------------------------- item 8: grown disk, through the module

def test_grown_disk_full_resync_is_loud_in_the_module_and_the_journal(vc, conn, tmp_path, new_vm):
    vm = new_vm([2 * GiB])
    name = vm.name
    vc.write(name, 2000, 0, os.urandom(MiB))
    task = {"reforge.hci.migration_sync": {"vm": name, "journal_dir": str(tmp_path / "journal"),
                                           "target_dir": str(tmp_path / "t")}, "register": "r_sync"}
    proc, res = run_tasks(tmp_path, [task], vc.info)
    assert proc.returncode == 0, proc.stdout[-3000:]
    disk = next(d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk))
    disk.capacityInKB = 3 * GiB // 1024
    disk.capacityInBytes = 3 * GiB
    WaitForTask(vm.ReconfigVM_Task(spec=vim.vm.ConfigSpec(deviceChange=[
        vim.vm.device.VirtualDeviceSpec(operation="edit", device=disk)])))
    vc.write(name, 2000, 2 * GiB + 5 * MiB, os.urandom(MiB))
    proc, res = run_tasks(tmp_path, [task], vc.info)
    assert proc.returncode == 0, proc.stdout[-3000:]
    expected = "FULL RESYNC of %s disk 2000: capacity grew from %d to %d bytes" % (name, 2 * GiB, 3 * GiB)
    result = res["r_sync"]
    assert [w for w in result["warnings"] if w.startswith(expected)], result["warnings"]
    assert [w for w in result["sync_warnings"] if w.startswith(expected)]
    assert result["disks"][0]["kind"] == "full"
    assert journal_of(tmp_path, name, 2000)["syncs"][-1]["warnings"] == [expected]
    assert_identical(vc.base_file(name, 2000), str(tmp_path / "t" / ("%s-disk2000.raw" % name)))
