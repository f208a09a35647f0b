"""migration sync against the lab vCenter (vcsim + CBT extension) with real pyvmomi and real target files."""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from ansible_collections.reforge.hci.plugins.module_utils.migration import extents as ext
from ansible_collections.reforge.hci.plugins.module_utils.migration.engine import CopySettings
from ansible_collections.reforge.hci.plugins.module_utils.migration.journal import SyncJournal
from ansible_collections.reforge.hci.plugins.module_utils.migration.sync import VmSync, journal_path
from ansible_collections.reforge.hci.plugins.module_utils.vsphere import changed_areas, vm as vmops
from ansible_collections.reforge.hci.plugins.module_utils.vsphere.errors import RangeReadError

from migration_labvc import assert_identical, data_extents

pytestmark = pytest.mark.lab
HERE = os.path.dirname(os.path.abspath(__file__))
MiB = 1 << 20
GiB = 1 << 30
BLOCK = 64 * 1024


def disks_of(conn, name):
    return vmops.vm_facts(conn, vmops.find_vm(conn, name))["disks"]


def targets_in(tmp_path, disks):
    return {str(d["key"]): {"format": "raw", "path": str(tmp_path / ("disk%d.raw" % d["key"]))} for d in disks}


def run(conn, name, tmp_path, **settings):
    disks = disks_of(conn, name)
    sync = VmSync(conn, name, targets_in(tmp_path, disks), str(tmp_path / "journal"),
                  CopySettings(**settings), progress_path=str(tmp_path / "progress.json"))
    return sync.run()


def check_identical(vc, name, disks, tmp_path):
    for d in disks:
        assert_identical(vc.base_file(name, d["key"]), str(tmp_path / ("disk%d.raw" % d["key"])))


def test_full_then_incrementals_copy_only_allocated_and_changed(vc, conn, tmp_path):
    """db01: a 2 TiB sparse disk plus a 20 GiB one; full, then two incrementals after guest writes."""
    name = "db01"
    disks = disks_of(conn, name)
    big = max(disks, key=lambda d: d["capacity_bytes"])
    assert big["capacity_bytes"] >= 2 << 40
    # a few hundred MiB of guest data spread over the 2 TiB, on top of the lab's seed data
    for i in range(8):
        vc.write(name, big["key"], i * 250 * GiB + 12345 * BLOCK, os.urandom(32 * MiB))
    allocated = sum(vc.disk(name, d["key"])["allocated_blocks"] * BLOCK for d in disks)

    full = run(conn, name, tmp_path, coalesce_gap=0)  # exact accounting: no gap reads
    assert [d["kind"] for d in full["disks"]] == ["full"] * len(disks)
    assert full["totals"]["bytes_areas"] == allocated
    assert full["totals"]["bytes_read"] == allocated, "read only the allocated extents"
    check_identical(vc, name, disks, tmp_path)
    target_data = sum(ext.total(data_extents(str(tmp_path / ("disk%d.raw" % d["key"])))) for d in disks)
    assert target_data <= allocated
    assert vmops.snapshots(vmops.find_vm(conn, name)) == [], "the sync snapshot is removed"

    for dummy in range(2):
        changed = [(big["key"], (2 << 40) - 3 * MiB), (big["key"], 777 * GiB + 5 * BLOCK + 100)]
        for key, offset in changed:
            vc.write(name, key, offset, os.urandom(MiB))
        inc = run(conn, name, tmp_path)
        by_key = {d["key"]: d for d in inc["disks"]}
        assert by_key[big["key"]]["kind"] == "incremental"
        # 1 MiB at an unaligned offset touches 17 blocks of 64 KiB; the aligned one 16
        assert by_key[big["key"]]["bytes_areas"] == (16 + 17) * BLOCK
        assert inc["totals"]["bytes_read"] == (16 + 17) * BLOCK
        check_identical(vc, name, disks, tmp_path)
        for key, offset in changed:
            with open(tmp_path / ("disk%d.raw" % key), "rb") as handle:
                handle.seek(offset)
                assert handle.read(MiB) == vc.read(name, key, offset, MiB)
    journal = SyncJournal.open(journal_path(str(tmp_path / "journal"), name, big["key"]), name, big["key"],
                               big["capacity_bytes"], "raw:" + str(tmp_path / ("disk%d.raw" % big["key"])))
    assert [s["kind"] for s in journal.data["syncs"]] == ["full", "incremental", "incremental"]
    assert journal.committed_change_id.endswith("/%d" % vc.disk(name, big["key"])["seq"]), \
        "the committed changeId is the one of the last sync snapshot"
    progress = json.loads((tmp_path / "progress.json").read_text())
    assert progress["state"] == "done"


def test_small_window_finds_late_changes(vc, conn, tmp_path):
    """With a 64 MiB window a 40 GiB disk takes 640 calls; the change near the end is only in the last ones."""
    name = "app01"
    disks = disks_of(conn, name)
    key = disks[0]["key"]
    run(conn, name, tmp_path)
    before = vc.config()
    try:
        vc.config(cbt_window=64 * MiB)
        late = disks[0]["capacity_bytes"] - 2 * MiB
        vc.write(name, key, late, os.urandom(MiB))
        vm = vmops.find_vm(conn, name)
        committed = SyncJournal.open(journal_path(str(tmp_path / "journal"), name, key), name, key,
                                     disks[0]["capacity_bytes"], "raw:" + str(tmp_path / ("disk%d.raw" % key))
                                     ).committed_change_id
        snap = vmops.create_snapshot(conn, vm, "probe-single-call")
        try:
            query = changed_areas.pyvmomi_query(conn, vm, snap, key, committed)
            first = query(0)
            assert first.length == 64 * MiB and first.areas == [], "a single-call client sees nothing"
            looped = changed_areas.collect(query, disks[0]["capacity_bytes"], committed)
            assert looped.windows == disks[0]["capacity_bytes"] // (64 * MiB)
            assert looped.extents == [(late, MiB)]
        finally:
            vmops.remove_snapshot(conn, snap)
        inc = run(conn, name, tmp_path)
        assert inc["disks"][0]["windows"] == disks[0]["capacity_bytes"] // (64 * MiB)
        assert inc["totals"]["bytes_read"] == MiB
        check_identical(vc, name, disks, tmp_path)
    finally:
        vc.config(cbt_window=before["cbt_window"])


def test_invalid_change_id_falls_back_to_full_resync_loudly(vc, conn, tmp_path):
    name = "batch01"
    disks = disks_of(conn, name)
    run(conn, name, tmp_path)
    vc.write(name, disks[0]["key"], 3 * GiB, os.urandom(MiB))
    vc.invalidate_cbt(name, disks[0]["key"])
    result = run(conn, name, tmp_path)
    assert result["disks"][0]["kind"] == "full"
    assert any("FULL RESYNC" in w for w in result["warnings"])
    assert result["totals"]["bytes_read"] == vc.disk(name, disks[0]["key"])["allocated_blocks"] * BLOCK
    check_identical(vc, name, disks, tmp_path)
    again = run(conn, name, tmp_path)
    assert again["disks"][0]["kind"] == "incremental" and again["totals"]["bytes_read"] == 0


def test_503_bursts_back_off_and_succeed(vc, conn, tmp_path):
    name = "batch02"
    disks = disks_of(conn, name)
    vc.faults(folder_503=6, sdk_503=2)
    result = run(conn, name, tmp_path, streams=2)
    assert result["disks"][0]["reader"]["status_503"] == 6
    check_identical(vc, name, disks, tmp_path)


@pytest.mark.parametrize("fault", ["folder_ignore_range", "folder_bad_content_range"])
def test_untrustworthy_range_answers_are_fatal(vc, conn, tmp_path, fault):
    name = "batch03"
    disks = disks_of(conn, name)
    vc.faults(**{fault: 1})
    with pytest.raises(RangeReadError):
        run(conn, name, tmp_path, streams=1)
    journal = SyncJournal.open(journal_path(str(tmp_path / "journal"), name, disks[0]["key"]), name,
                               disks[0]["key"], disks[0]["capacity_bytes"],
                               "raw:" + str(tmp_path / ("disk%d.raw" % disks[0]["key"])))
    assert journal.committed_change_id is None and journal.pending is not None
    vc.clear_faults()
    result = run(conn, name, tmp_path)  # resumes from the pending snapshot
    assert any("resuming" in w for w in result["warnings"])
    check_identical(vc, name, disks, tmp_path)


def test_session_expiry_mid_sync_is_renewed(vc, conn, tmp_path):
    name = "web01"
    disks = disks_of(conn, name)
    vc.write(name, disks[0]["key"], 5 * GiB, os.urandom(24 * MiB))
    box = {}
    progress = tmp_path / "progress.json"

    def work():
        try:
            box["result"] = run(conn, name, tmp_path, streams=1, read_size=MiB, throttle_mbps=8)
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
            box["error"] = exc

    thread = threading.Thread(target=work)
    thread.start()
    deadline = time.monotonic() + 60
    while not progress.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    vc.faults(drop_sessions=True)
    thread.join(120)
    assert "error" not in box, box.get("error")
    result = box["result"]
    assert result["session_renewals"] >= 1
    check_identical(vc, name, disks, tmp_path)


def _spawn(vc, name, tmp_path, settings):
    disks = targets_in(tmp_path, disks_of(vc.connect(), name))
    job = {"vcsim": vc.info, "vm": name, "targets": disks, "journal_dir": str(tmp_path / "journal"),
           "settings": settings, "progress": str(tmp_path / "progress.json")}
    return subprocess.Popen([sys.executable, os.path.join(HERE, "run_sync.py"), json.dumps(job)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _journal_state(tmp_path, name, disk):
    path = journal_path(str(tmp_path / "journal"), name, disk["key"])
    if not os.path.exists(path):
        return None, []
    with open(path) as handle:
        data = json.load(handle)
    pending = data.get("pending") or {}
    return data["committed_change_id"], [tuple(e) for e in pending.get("confirmed", [])]


def test_kill_9_at_several_points_then_resume(vc, conn, tmp_path):
    """The sync runs as a subprocess and is SIGKILLed early, mid-copy and late; then it finishes."""
    name = "batch02"
    disks = disks_of(conn, name)
    disk = disks[0]
    run(conn, name, tmp_path)  # full sync committed first: the killed syncs are incrementals
    committed_before, dummy = _journal_state(tmp_path, name, disk)
    for i in range(6):
        vc.write(name, disk["key"], i * 600 * MiB, os.urandom(8 * MiB))
    changed = 6 * 8 * MiB
    settings = {"streams": 2, "read_size": MiB, "coalesce_gap": 0, "confirm_bytes": MiB,
                "confirm_seconds": 0.2, "throttle_mbps": 12}
    progress = tmp_path / "progress.json"
    confirmed_at_kill = []
    for fraction in (0.0, 0.3, 0.8):
        if progress.exists():
            progress.unlink()
        proc = _spawn(vc, name, tmp_path, settings)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if fraction == 0.0 and progress.exists():
                break
            if progress.exists():
                try:
                    state = json.loads(progress.read_text())
                except ValueError:
                    continue
                if state["bytes_done"] >= fraction * state["bytes_total"]:
                    break
            if proc.poll() is not None:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "sync finished before the kill point: %s %s" % proc.communicate()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        committed, confirmed = _journal_state(tmp_path, name, disk)
        assert committed == committed_before, "changeId never advances before the data is complete"
        # every confirmed extent is on the target already, byte for byte (from the frozen base)
        target = str(tmp_path / ("disk%d.raw" % disk["key"]))
        with open(target, "rb") as handle:
            for offset, length in confirmed:
                handle.seek(offset)
                assert handle.read(length) == vc.read(name, disk["key"], offset, length)
        assert ext.total(confirmed) >= (ext.total(confirmed_at_kill[-1]) if confirmed_at_kill else 0)
        confirmed_at_kill.append(confirmed)
    assert ext.total(confirmed_at_kill[-1]) > 0
    proc = _spawn(vc, name, tmp_path, dict(settings, throttle_mbps=None))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    result = json.loads(out)
    assert result["disks"][0]["bytes_areas"] == changed
    assert result["totals"]["bytes_read"] == changed - ext.total(confirmed_at_kill[-1]), \
        "no confirmed extent was read again"
    assert any("resuming" in w for w in result["warnings"])
    committed, dummy = _journal_state(tmp_path, name, disk)
    assert committed != committed_before
    check_identical(vc, name, disks, tmp_path)
    assert [s["name"] for s in vmops.snapshots(vmops.find_vm(conn, name))] == []


def test_qcow2_target_full_and_incremental(vc, conn, tmp_path):
    """qcow2 written through qemu-io batches; converted back to raw it equals the source byte for byte."""
    name = "web01"
    disks = disks_of(conn, name)
    key = disks[0]["key"]
    target = str(tmp_path / "web01.qcow2")
    targets = {str(key): {"format": "qcow2", "path": target}}
    for dummy in range(2):
        result = VmSync(conn, name, targets, str(tmp_path / "journal"), CopySettings()).run()
        raw = str(tmp_path / "back.raw")
        subprocess.run(["qemu-img", "convert", "-O", "raw", target, raw], check=True)
        assert_identical(vc.base_file(name, key), raw)
        os.unlink(raw)
        vc.write(name, key, 9 * GiB + 4096, os.urandom(3 * MiB))
    assert result["disks"][0]["kind"] == "incremental"
    assert result["disks"][0]["target"].startswith("qcow2:")


@pytest.mark.slow
def test_nfs_thin_disk_reads_fully_allocated_and_zero_skip_keeps_target_sparse(vc, conn, tmp_path):
    """On NFS, '*' answers the whole thin disk: every byte is read, the zeros become holes on the target."""
    name = "nfs01"
    disks = disks_of(conn, name)
    result = run(conn, name, tmp_path, streams=4)
    disk = result["disks"][0]
    assert disk["bytes_areas"] == disk["capacity_bytes"] == disk["bytes_read"]
    assert disk["bytes_written"] <= 2 * MiB and disk["bytes_zero"] >= disk["capacity_bytes"] - 2 * MiB
    target = str(tmp_path / ("disk%d.raw" % disks[0]["key"]))
    assert ext.total(data_extents(target)) <= 2 * MiB
    check_identical(vc, name, disks, tmp_path)


def test_session_renewed_before_use_when_old(vc):
    """An old session (renew_after elapsed) is checked before the next call and replaced if vCenter dropped it."""
    conn = vc.connect(renew_after=0)
    try:
        vmops.find_vm(conn, "web01")
        assert conn.renewals == 0, "a live session is kept"
        vc.faults(drop_sessions=True)
        assert vmops.find_vm(conn, "web01").name == "web01"
        assert conn.renewals == 1
    finally:
        conn.close()
