"""Issue 13 items 1, 3, 6, 7, 8 at the journal/writer level: identity, fingerprints, resync reasons, ownership."""
import os
import shutil

import pytest

from ansible_collections.reforge.hci.plugins.module_utils.migration import journal as jr
from ansible_collections.reforge.hci.plugins.module_utils.migration.errors import JournalError, MigrationError
from ansible_collections.reforge.hci.plugins.module_utils.migration.journal import SyncJournal
from ansible_collections.reforge.hci.plugins.module_utils.migration.sync import check_target, refuse_unsyncable
from ansible_collections.reforge.hci.plugins.module_utils.migration.writers import (
    RawFileWriter, mark_synced, release_sync_marks, target_changed)

MiB = 1 << 20
VM_A = "5001a1a1-0000-0000-0000-00000000000a"
VM_B = "5001b2b2-0000-0000-0000-00000000000b"


def _committed(tmp_path, vm_uuid=VM_A, disk_uuid=None, capacity=64 * MiB, target=None):
    spec = {"format": "raw", "path": str(target or tmp_path / "t.raw")}
    journal = SyncJournal.open(str(tmp_path / "j.json"), "vm1", 2000, capacity, "raw:" + spec["path"],
                               vm_uuid=vm_uuid, disk_uuid=disk_uuid)
    journal.begin("snapshot-1", "reforge-sync-1", "52 aa/1", "*", token="00112233aabbccdd")
    journal.finish_clearing(0)
    with RawFileWriter(spec["path"], capacity) as writer:
        writer.write(0, os.urandom(MiB))
        writer.flush()
    journal.commit({"kind": "full"}, mark_synced(spec, "00112233aabbccdd"))
    return spec


def _open(tmp_path, spec, vm_uuid=VM_A, disk_uuid=None, capacity=64 * MiB):
    return SyncJournal.open(str(tmp_path / "j.json"), "vm1", 2000, capacity, "raw:" + spec["path"],
                            vm_uuid=vm_uuid, disk_uuid=disk_uuid)


def test_a_journal_of_another_vm_identity_is_refused_naming_both(tmp_path):
    spec = _committed(tmp_path)
    with pytest.raises(JournalError) as err:
        _open(tmp_path, spec, vm_uuid=VM_B)
    assert VM_A in str(err.value) and VM_B in str(err.value) and "move the journal away" in str(err.value)


def test_a_swapped_disk_is_refused(tmp_path):
    spec = _committed(tmp_path, disk_uuid="6000C29a-disk-old")
    with pytest.raises(JournalError) as err:
        _open(tmp_path, spec, disk_uuid="6000C29b-disk-new")
    assert "6000C29a-disk-old" in str(err.value) and "6000C29b-disk-new" in str(err.value)
    assert _open(tmp_path, spec, disk_uuid="6000C29a-disk-old").committed_change_id == "52 aa/1"


def test_an_old_journal_adopts_the_identity_once_with_a_warning(tmp_path):
    spec = _committed(tmp_path, vm_uuid=None)
    journal = _open(tmp_path, spec)
    assert [w for w in journal.warnings if "recorded no VM identity: adopting VM %s" % VM_A in w]
    journal.begin("snapshot-2", "reforge-sync-2", "52 aa/2", "52 aa/1")  # the adoption is saved with the next begin
    again = _open(tmp_path, spec)
    assert again.warnings == [] and again.data["vm_uuid"] == VM_A
    with pytest.raises(JournalError):
        _open(tmp_path, spec, vm_uuid=VM_B)


def test_a_grown_disk_resets_the_change_id_with_a_full_resync_warning_in_the_sync_record(tmp_path):
    spec = _committed(tmp_path)
    journal = _open(tmp_path, spec, capacity=96 * MiB)
    expected = "FULL RESYNC of vm1 disk 2000: capacity grew from %d to %d bytes" % (64 * MiB, 96 * MiB)
    assert journal.warnings == [expected] and journal.committed_change_id is None
    journal.begin("snapshot-2", "reforge-sync-2", "52 aa/2", "*")
    journal.finish_clearing(0)
    journal.commit({"kind": "full"}, None)
    assert journal.data["syncs"][-1]["warnings"] == [expected]
    assert _open(tmp_path, spec, capacity=96 * MiB).warnings == [], "said once"


@pytest.mark.parametrize("change", ["none", "written", "appended", "replaced", "missing", "touched"])
def test_file_fingerprint_detects_every_outside_change(tmp_path, change):
    spec = _committed(tmp_path)
    path = spec["path"]
    if change == "written":
        with open(path, "r+b") as handle:
            handle.seek(8 * MiB)
            handle.write(b"x")
    elif change == "appended":
        with open(path, "ab") as handle:
            handle.write(b"x")
    elif change == "replaced":
        shutil.copyfile(path, path + ".new")
        os.replace(path + ".new", path)
    elif change == "missing":
        os.unlink(path)
    elif change == "touched":  # mtime set back by hand still changes ctime
        st = os.stat(path)
        with open(path, "r+b") as handle:
            handle.write(b"y")
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    journal = _open(tmp_path, spec)
    reason = target_changed(spec, journal.fingerprint)
    check_target(journal, spec)
    if change == "none":
        assert reason is None and journal.committed_change_id == "52 aa/1" and journal.warnings == []
    else:
        assert reason, change
        assert journal.committed_change_id is None
        assert journal.warnings == ["FULL RESYNC of vm1 disk 2000: target changed outside the sync (%s); a full sync "
                                    "makes it equal to the source again" % reason]


def test_files_carry_no_sync_mark():
    assert release_sync_marks({"format": "raw", "path": "/nonexistent"}) == []


def test_snapshot_ownership_is_by_description_and_vm_uuid():
    ours = jr.snapshot_description(VM_A, "0123456789abcdef")
    assert jr.snapshot_owner(ours) == (VM_A, "0123456789abcdef")
    assert jr.is_own_snapshot({"name": "anything", "description": ours}, VM_A)
    assert not jr.is_own_snapshot({"name": "reforge-sync-1", "description": "reforge.hci migration sync"}, VM_A)
    assert not jr.is_own_snapshot({"name": "reforge-sync-1", "description": ours}, VM_B)
    assert not jr.is_own_snapshot({"name": "reforge-sync-1", "description": ours}, None)
    assert jr.snapshot_owner("reforge.hci sync %s 0123456789abcdef trailing" % VM_A) is None


def _facts(**disk):
    base = {"key": 2000, "label": "Hard disk 1", "rdm": False, "independent": False, "sharing": "sharingNone",
            "scsi_bus_sharing": None, "capacity_bytes": 1 << 30}
    base.update(disk)
    return {"name": "vm1", "uuid": VM_A, "disks": [base], "snapshots": []}


@pytest.mark.parametrize("disk,text", [
    ({"rdm": True}, "raw device mapping"),
    ({"independent": True, "disk_mode": "independent_persistent"}, "independent"),
    ({"sharing": "sharingMultiWriter"}, "multi-writer"),
    ({"scsi_bus_sharing": "physicalSharing"}, "shared SCSI bus (physicalSharing)"),
])
def test_the_sync_refuses_what_preflight_blocks(disk, text):
    with pytest.raises(MigrationError) as err:
        refuse_unsyncable(_facts(**disk))
    assert text in str(err.value)
    refuse_unsyncable(_facts())


def test_the_sync_refuses_foreign_snapshots_whatever_their_name():
    facts = _facts()
    facts["snapshots"] = [{"name": "reforge-sync-admin", "description": "keep"}]
    with pytest.raises(MigrationError) as err:
        refuse_unsyncable(facts)
    assert "reforge-sync-admin" in str(err.value)
    facts["snapshots"] = [{"name": "x", "description": jr.snapshot_description(VM_A, "0123456789abcdef")}]
    refuse_unsyncable(facts)


def test_the_pending_snapshot_of_an_earlier_release_is_not_foreign():
    """A sync interrupted under the previous release: its snapshot has no identity, but its journal names it."""
    facts = _facts()
    facts["snapshots"] = [{"name": "reforge-sync-1", "description": "reforge.hci migration sync", "moref": "snapshot-7"}]
    refuse_unsyncable(facts, pending_snapshots=["snapshot-7"])
    with pytest.raises(MigrationError):
        refuse_unsyncable(facts, pending_snapshots=["snapshot-8"])
