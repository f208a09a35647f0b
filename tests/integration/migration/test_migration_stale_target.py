"""Issue 13 items 2 and 4: a full sync onto an existing target leaves nothing of it behind, and
``verify: full`` covers the whole disk. The oracle is the simulator's datastore file (SEEK_DATA/SEEK_HOLE),
not the engine."""
import json
import os
import subprocess

import pytest

from ansible_collections.reforge.hci.plugins.module_utils.migration.engine import CopySettings
from ansible_collections.reforge.hci.plugins.module_utils.migration.errors import TargetWriteError, VerificationError
from ansible_collections.reforge.hci.plugins.module_utils.migration.journal import SyncJournal
from ansible_collections.reforge.hci.plugins.module_utils.migration.sync import VmSync, journal_path
from ansible_collections.reforge.hci.plugins.module_utils.migration.writers import RawFileWriter, mark_synced
from ansible_collections.reforge.hci.plugins.module_utils.vsphere import vm as vmops

from migration_labvc import assert_identical, data_extents

pytestmark = pytest.mark.lab
MiB = 1 << 20
GiB = 1 << 30
VM = "web01"  # 16 GiB, seed data at 0 and 8 GiB


def _disk(conn):
    return vmops.vm_facts(conn, vmops.find_vm(conn, VM))["disks"][0]


def _holes(source, capacity, count, size=4 * MiB):
    """``count`` ranges of ``size`` where the source has no data (at least 1 MiB away from any)."""
    data = data_extents(source)
    out = []
    for offset in range(GiB + 12345 * 4096, capacity - size, 1 * GiB + 777 * 4096):
        if all(offset + size + MiB <= s or offset >= s + n + MiB for s, n in data):
            out.append(offset)
        if len(out) == count:
            return out
    raise AssertionError("no %d holes in %s" % (count, source))


def _sync(conn, tmp_path, spec, disk, verify="none"):
    return VmSync(conn, VM, {str(disk["key"]): spec}, str(tmp_path / "journal"), CopySettings(),
                  verify_policy=verify).run()


def test_full_sync_onto_an_old_raw_target_leaves_no_old_block(vc, conn, tmp_path):
    """The target holds an old VM's 12 MiB where this source has nothing: the full sync zeroes exactly that."""
    disk = _disk(conn)
    source = vc.base_file(VM, disk["key"])
    target = str(tmp_path / "web01.raw")
    old = _holes(source, disk["capacity_bytes"], 3)
    with open(target, "wb") as handle:
        handle.truncate(disk["capacity_bytes"])
        for offset in old:
            handle.seek(offset)
            handle.write(os.urandom(4 * MiB))
        handle.seek(0)
        handle.write(os.urandom(MiB))  # inside the source's data: overwritten by the copy anyway
    result = _sync(conn, tmp_path, {"format": "raw", "path": target}, disk)
    assert result["disks"][0]["kind"] == "full"
    assert_identical(source, target)
    assert result["disks"][0]["bytes_cleared"] == result["totals"]["bytes_cleared"] == 12 * MiB


def test_full_sync_onto_an_old_qcow2_target_leaves_no_old_block(vc, conn, tmp_path):
    disk = _disk(conn)
    source = vc.base_file(VM, disk["key"])
    target = str(tmp_path / "web01.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", target, str(disk["capacity_bytes"])], check=True)
    old = _holes(source, disk["capacity_bytes"], 3)
    subprocess.run(["qemu-io", "-f", "qcow2"] + sum((["-c", "write -q -P 0xab %d %d" % (o, 4 * MiB)] for o in old), [])
                   + [target], check=True)
    result = _sync(conn, tmp_path, {"format": "qcow2", "path": target}, disk)
    raw = str(tmp_path / "back.raw")
    subprocess.run(["qemu-img", "convert", "-O", "raw", target, raw], check=True)
    assert_identical(source, raw)
    # qemu-img map answers in 64 KiB clusters: the unaligned old writes touch one more each
    assert 12 * MiB <= result["disks"][0]["bytes_cleared"] <= 12 * MiB + 3 * 64 * 1024


def test_verify_full_covers_the_whole_disk_and_names_a_changed_range(vc, conn, tmp_path):
    """An incremental with ``verify: full`` checks every byte, not only what it copied."""
    disk = _disk(conn)
    capacity = disk["capacity_bytes"]
    source = vc.base_file(VM, disk["key"])
    target = str(tmp_path / "web01.raw")
    spec = {"format": "raw", "path": target}
    _sync(conn, tmp_path, spec, disk)
    clean = _sync(conn, tmp_path, spec, disk, verify="full")["disks"][0]
    assert clean["kind"] == "incremental"
    allocated = sum(n for dummy, n in data_extents(source))
    verified = clean["verification"]
    assert verified["bytes_checked"] == capacity
    assert verified["bytes_compared"] + verified["bytes_zero_confirmed"] == capacity
    assert verified["bytes_compared"] >= allocated
    assert verified["bytes_zero_read"] < 64 * MiB, "holes of the target are confirmed from its map, not read"
    outside = _holes(source, capacity, 1)[0] + 8192
    with open(target, "r+b") as handle:  # an outside change the journal knows nothing of
        handle.seek(outside)
        handle.write(b"\x01" * 512)
    # ... and that the target's fingerprint does not show either (say, a block device written behind the file
    # system): otherwise the sync would fully resync the target first (test_migration_integrity.py), and
    # verify: full is the last line of defence this test is about
    path = journal_path(str(tmp_path / "journal"), VM, disk["key"])
    with open(path) as handle:
        data = json.load(handle)
    data["target_fingerprint"] = mark_synced(spec, "0123456789abcdef")
    with open(path, "w") as handle:
        json.dump(data, handle)
    try:
        with pytest.raises(VerificationError) as err:
            _sync(conn, tmp_path, spec, disk, verify="full")
        assert "first non-zero byte at %d" % outside in str(err.value)
    finally:  # the refused sync keeps its snapshot pending; the other tests of web01 need none
        vm = vmops.find_vm(conn, VM)
        for snap in vmops.snapshots(vm):
            if snap["name"].startswith(vmops.SNAPSHOT_PREFIX):
                vmops.remove_snapshot(conn, vmops.find_snapshot(vm, snap["name"]))


def test_a_full_sync_killed_while_zeroing_resumes_it_and_commits_only_after(vc, conn, tmp_path, monkeypatch):
    """The zeroing dies after its first range: no changeId is committed; the rerun zeroes the rest."""
    disk = _disk(conn)
    source = vc.base_file(VM, disk["key"])
    target = str(tmp_path / "web01.raw")
    with open(target, "wb") as handle:
        handle.truncate(disk["capacity_bytes"])
        for offset in _holes(source, disk["capacity_bytes"], 3):
            handle.seek(offset)
            handle.write(os.urandom(4 * MiB))
    real_zero = RawFileWriter.zero
    calls = []

    def dies_on_the_second(self, offset, length):
        if calls:
            raise TargetWriteError("injected: killed while zeroing")
        calls.append((offset, length))
        real_zero(self, offset, length)

    monkeypatch.setattr(RawFileWriter, "zero", dies_on_the_second)
    with pytest.raises(TargetWriteError):
        _sync(conn, tmp_path, {"format": "raw", "path": target}, disk)
    monkeypatch.setattr(RawFileWriter, "zero", real_zero)
    journal = SyncJournal.open(journal_path(str(tmp_path / "journal"), VM, disk["key"]), VM, disk["key"],
                               disk["capacity_bytes"], "raw:" + target)
    assert journal.committed_change_id is None and journal.pending and not journal.cleared_all
    result = _sync(conn, tmp_path, {"format": "raw", "path": target}, disk)
    assert any("resuming" in w for w in result["warnings"])
    assert result["disks"][0]["bytes_cleared"] == 8 * MiB, "the 4 MiB punched before the kill are holes already"
    assert_identical(source, target)
