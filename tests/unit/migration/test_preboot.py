"""The boot guard of libvirt cutovers on real qcow2 files (qemu-img): a failed boot check leaves the synced base
exactly as the sync left it, a killed run is settled by the next one, no throwaway snapshot stays behind."""
import hashlib
import shutil
import subprocess

import pytest

from ansible_collections.reforge.hci.plugins.module_utils.migration import cutover, journal, preboot
from ansible_collections.reforge.hci.plugins.module_utils.migration.errors import CutoverError

pytestmark = pytest.mark.skipif(not shutil.which("qemu-img") or not shutil.which("qemu-io"),
                                reason="qemu-utils (Debian) is not installed")
MiB = 1 << 20


def _qcow2(path, size=64 * MiB):
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), str(size)], check=True)
    # what the sync wrote: data at 0 and at 40 MiB
    _write(path, 0, 0xAB, 2 * MiB)
    _write(path, 40 * MiB, 0xCD, MiB)


def _write(path, offset, pattern, length):
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P %d %d %d" % (pattern, offset, length), str(path)],
                   check=True, stdout=subprocess.DEVNULL)


def _guest_view(path, tmp_path):
    raw = tmp_path / "view.raw"
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(path), str(raw)], check=True)
    digest = hashlib.sha256(raw.read_bytes()).hexdigest()
    raw.unlink()
    return digest


def _snapshots(path):
    out = subprocess.run(["qemu-img", "snapshot", "-l", str(path)], check=True, capture_output=True, text=True).stdout
    return [line.split()[1] for line in out.splitlines() if len(line.split()) > 1 and line.split()[0].isdigit()]


def test_failed_boot_check_rolls_the_base_back_and_drops_the_snapshot(tmp_path):
    base = tmp_path / "vm-disk2000.qcow2"
    _qcow2(base)
    synced = _guest_view(base, tmp_path)
    guard = preboot.BootGuard(str(tmp_path / "j"), "vm", [{"format": "qcow2", "path": str(base)}], "vm",
                              "qemu:///system")
    (tmp_path / "j").mkdir()
    guard.take()
    assert _snapshots(base) == [guard.snap]
    # the record is there while the guest boots: migration_sync sees a marker and writes nothing
    assert journal.read_cutover(str(tmp_path / "j"), "vm")["boot_guard"]["snapshot"] == guard.snap
    assert cutover.earlier_cutover(str(tmp_path / "j"), "vm") is None, "a boot check is no cutover"
    _write(base, 0, 0x11, 4096)  # the boot: journal replay, a log line, in a new area too
    _write(base, 20 * MiB, 0x22, 64 * 1024)
    assert _guest_view(base, tmp_path) != synced
    done = guard.rollback()
    assert done["rolled_back"] == [str(base)] and done["dropped"] == [str(base)]
    assert _guest_view(base, tmp_path) == synced
    assert _snapshots(base) == []
    assert journal.read_cutover(str(tmp_path / "j"), "vm") is None


def test_a_run_killed_during_the_boot_check_is_rolled_back_by_the_next(tmp_path):
    base = tmp_path / "vm-disk2000.qcow2"
    _qcow2(base)
    synced = _guest_view(base, tmp_path)
    jdir = tmp_path / "j"
    jdir.mkdir()
    preboot.BootGuard(str(jdir), "vm", [{"format": "qcow2", "path": str(base)}], "vm", "qemu:///test").take()
    _write(base, MiB, 0x33, MiB)
    # ... the process dies here; the next run finds only the record
    stopped = []
    done = preboot.recover(str(jdir), "vm", lambda uri, name: stopped.append((uri, name)))
    assert stopped == [("qemu:///test", "vm")], "the domain the killed run started is stopped before the rollback"
    assert done["rolled_back"] == [str(base)] and not done["cutover_was_recorded"]
    assert _guest_view(base, tmp_path) == synced and _snapshots(base) == []
    assert preboot.recover(str(jdir), "vm") is None, "settled once"


def test_a_run_killed_after_the_cutover_was_recorded_only_drops_the_snapshot(tmp_path):
    base = tmp_path / "vm-disk2000.qcow2"
    _qcow2(base)
    jdir = tmp_path / "j"
    jdir.mkdir()
    guard = preboot.BootGuard(str(jdir), "vm", [{"format": "qcow2", "path": str(base)}], "vm", "qemu:///test")
    guard.take()
    _write(base, MiB, 0x44, MiB)  # the VM runs in production on the base now: its writes stay
    running = _guest_view(base, tmp_path)
    journal.record_cutover(str(jdir), "vm", {"domain_xml": "/x.xml", "method": "libvirt",
                                             "boot_guard": guard.record()})
    # killed before the drop; the rerun reports the earlier cutover and drops the snapshot, nothing else
    earlier = cutover.earlier_cutover(str(jdir), "vm", settle=True)
    assert earlier["already_cut_over"] and earlier["steps"][0]["dropped"] == [str(base)]
    assert earlier["steps"][0]["rolled_back"] == []
    assert _guest_view(base, tmp_path) == running and _snapshots(base) == []
    record = journal.read_cutover(str(jdir), "vm")
    assert record["domain_xml"] == "/x.xml" and "boot_guard" not in record


def test_check_mode_view_of_an_earlier_cutover_drops_nothing(tmp_path):
    base = tmp_path / "vm-disk2000.qcow2"
    _qcow2(base)
    jdir = tmp_path / "j"
    jdir.mkdir()
    guard = preboot.BootGuard(str(jdir), "vm", [{"format": "qcow2", "path": str(base)}], "vm", "qemu:///test")
    guard.take()
    journal.record_cutover(str(jdir), "vm", {"method": "libvirt", "boot_guard": guard.record()})
    assert cutover.earlier_cutover(str(jdir), "vm")["already_cut_over"]
    assert _snapshots(base) == [guard.snap]


def test_raw_files_are_refused_for_a_libvirt_boot_check_before_anything(tmp_path):
    with pytest.raises(CutoverError, match="raw files have none"):
        preboot.BootGuard(str(tmp_path), "vm", [{"format": "qcow2", "path": "/a.qcow2"},
                                                {"format": "raw", "path": "/b.raw"}], "vm", "qemu:///system")
    assert not list(tmp_path.iterdir()), "refused before the record"
