"""Copy engine against real local files: allocated-only reads, zero holes, journaled resume, write errors."""
import hashlib
import json
import os
import subprocess
import sys

import pytest

from ansible_collections.reforge.hci.plugins.module_utils.migration import extents as ext
from ansible_collections.reforge.hci.plugins.module_utils.migration.engine import CopySettings, copy_extents
from ansible_collections.reforge.hci.plugins.module_utils.migration.errors import TargetWriteError
from ansible_collections.reforge.hci.plugins.module_utils.migration.journal import SyncJournal
from ansible_collections.reforge.hci.plugins.module_utils.migration.writers import Qcow2Writer, RawFileWriter

from .sources import FileSource, allocated_extents

MiB = 1024 * 1024
GiB = 1024 * MiB
CAPACITY = 64 * GiB


def _make_source(path, writes):
    with open(path, "wb") as handle:
        handle.truncate(CAPACITY)
        for offset, data in writes:
            handle.seek(offset)
            handle.write(data)


def _digest(path, extents):
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for offset, length in extents:
            handle.seek(offset)
            h.update(handle.read(length))
    return h.hexdigest()


@pytest.fixture
def source(tmp_path):
    path = str(tmp_path / "source.img")
    writes = [(i * 3 * GiB + 4096 * i, os.urandom(3 * MiB + 512 * i)) for i in range(12)]
    writes.append((40 * GiB, bytes(4 * MiB)))                     # allocated but zero: must become a hole
    writes.append((CAPACITY - 64 * 1024, os.urandom(64 * 1024)))  # the last 64 KiB of the disk
    _make_source(path, writes)
    with open(path, "r+b") as handle:  # make the zero range allocated data, not a hole
        os.posix_fallocate(handle.fileno(), 40 * GiB, 4 * MiB)
    return path


def _journal(tmp_path, target):
    return SyncJournal.open(str(tmp_path / "j.json"), "vm1", 2000, CAPACITY, target)


def test_full_copy_reads_only_allocated_and_punches_zeros(tmp_path, source):
    areas = allocated_extents(source)
    assert (40 * GiB, 4 * MiB) in ext.normalize(areas) or ext.total(areas) > 36 * MiB
    reader = FileSource(source)
    target = str(tmp_path / "target.raw")
    journal = _journal(tmp_path, "raw:" + target)
    journal.begin("snap-1", "reforge-sync-1", "cid-1", "*")
    with RawFileWriter(target, CAPACITY) as writer:
        stats = copy_extents(areas, reader, writer, journal, CopySettings(streams=4, coalesce_gap=0))
    assert stats.bytes_read == ext.total(areas) == reader.bytes_read
    assert stats.bytes_zero >= 4 * MiB
    assert os.path.getsize(target) == CAPACITY
    # only written data occupies blocks: zero chunks were not written
    assert os.stat(target).st_blocks * 512 <= stats.bytes_written + 1 * MiB
    assert _digest(source, areas) == _digest(target, areas)
    assert ext.total(journal.confirmed()) == ext.total(areas)


def test_resume_never_rereads_confirmed_extents(tmp_path, source):
    areas = allocated_extents(source)
    target = str(tmp_path / "target.raw")
    journal = _journal(tmp_path, "raw:" + target)
    journal.begin("snap-1", "reforge-sync-1", "cid-1", "*")
    settings = CopySettings(streams=2, read_size=1 * MiB, coalesce_gap=0, confirm_bytes=4 * MiB)
    with RawFileWriter(target, CAPACITY) as writer:
        with pytest.raises(IOError, match="injected"):
            copy_extents(areas, FileSource(source, fail_after=20), writer, journal, settings)
    confirmed = ext.total(SyncJournal.open(journal.path, "vm1", 2000, CAPACITY, "raw:" + target).confirmed())
    assert 0 < confirmed < ext.total(areas)
    reader = FileSource(source)
    journal = SyncJournal.open(journal.path, "vm1", 2000, CAPACITY, "raw:" + target)
    with RawFileWriter(target, CAPACITY) as writer:
        copy_extents(areas, reader, writer, journal, settings)
    assert reader.bytes_read == ext.total(areas) - confirmed
    assert _digest(source, areas) == _digest(target, areas)


def test_coalescing_reads_gaps_in_fewer_requests(tmp_path, source):
    areas = [(i * 128 * 1024, 64 * 1024) for i in range(64)]  # CBT-like 64 KiB extents with 64 KiB gaps
    target = str(tmp_path / "t.raw")
    reader = FileSource(source)
    journal = _journal(tmp_path, "raw:" + target)
    journal.begin("s", "n", "c", "*")
    with RawFileWriter(target, CAPACITY) as writer:
        stats = copy_extents(areas, reader, writer, journal, CopySettings(coalesce_gap=64 * 1024))
    assert reader.reads == 1 and stats.bytes_read == 127 * 64 * 1024
    assert _digest(source, areas) == _digest(target, areas)


def test_target_write_error_fails_clearly_and_keeps_journal_consistent(tmp_path, source):
    """A real EFBIG from the kernel (RLIMIT_FSIZE), in a subprocess so the limit does not leak."""
    target = str(tmp_path / "t.raw")
    with open(target, "wb") as handle:
        handle.truncate(CAPACITY)
    script = r"""
import json, resource, signal, sys
sys.path[:0] = json.loads(sys.argv[1])
from ansible_collections.reforge.hci.plugins.module_utils.migration.engine import CopySettings, copy_extents
from ansible_collections.reforge.hci.plugins.module_utils.migration.errors import TargetWriteError
from ansible_collections.reforge.hci.plugins.module_utils.migration.journal import SyncJournal
from ansible_collections.reforge.hci.plugins.module_utils.migration.writers import RawFileWriter
from unit.migration.sources import FileSource, allocated_extents
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (10 * 2**30, 10 * 2**30))
src, tgt, jpath = sys.argv[2:5]
journal = SyncJournal.open(jpath, "vm1", 2000, 64 * 2**30, "raw:" + tgt)
journal.begin("s", "n", "c", "*")
try:
    with RawFileWriter(tgt, 64 * 2**30) as w:
        copy_extents(allocated_extents(src), FileSource(src), w, journal,
                     CopySettings(streams=1, read_size=2**20, coalesce_gap=0, confirm_bytes=2**20))
except TargetWriteError as exc:
    print("FAILED:", exc)
    sys.exit(3)
"""
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    paths = [os.path.join(os.path.dirname(here), "build", "collections"), here]
    jpath = str(tmp_path / "j.json")
    proc = subprocess.run([sys.executable, "-c", script, json.dumps(paths), source, target, jpath],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 3, proc.stderr
    assert "File too large" in proc.stdout
    journal = SyncJournal.open(jpath, "vm1", 2000, CAPACITY, "raw:" + target)
    confirmed = journal.confirmed()
    assert journal.committed_change_id is None
    assert confirmed and all(s + n <= 10 * GiB for s, n in confirmed)
    assert _digest(source, confirmed) == _digest(target, confirmed)


def test_qcow2_writer_copies_and_reads_back(tmp_path, source):
    areas = allocated_extents(source)[:4] + [(40 * GiB, 4 * MiB)]
    target = str(tmp_path / "t.qcow2")
    journal = _journal(tmp_path, "qcow2:" + target)
    journal.begin("s", "n", "c", "*")
    writer = Qcow2Writer(target, CAPACITY)
    stats = copy_extents(areas, FileSource(source), writer, journal, CopySettings(coalesce_gap=0))
    assert stats.bytes_zero >= 4 * MiB
    for offset, length in areas:
        with open(source, "rb") as handle:
            handle.seek(offset)
            assert writer.read(offset, min(length, 65536)) == handle.read(min(length, 65536))
    writer.close()
    info = subprocess.run(["qemu-img", "info", "--output=json", target], capture_output=True, text=True,
                          check=True).stdout
    assert '"virtual-size": %d' % CAPACITY in info


def test_raw_writer_rejects_unwritable_target(tmp_path):
    blocker = tmp_path / "a-file-not-a-directory"
    blocker.write_text("")
    with pytest.raises(TargetWriteError, match="cannot open raw target"):
        RawFileWriter(str(blocker / "disk.raw"), 10)
