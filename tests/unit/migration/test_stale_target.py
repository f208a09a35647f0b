"""Issue 13 items 2 and 4 on the writer interface: zero_outside (journaled, resumable) and a whole-disk
``verify: full``, for raw files and for RBD through a librbd-like fake image."""
import os

import pytest

from ansible_collections.reforge.hci.plugins.module_utils.migration import extents as ext
from ansible_collections.reforge.hci.plugins.module_utils.migration import verify as verification
from ansible_collections.reforge.hci.plugins.module_utils.migration.errors import (
    JournalError, TargetWriteError, VerificationError)
from ansible_collections.reforge.hci.plugins.module_utils.migration.journal import SyncJournal
from ansible_collections.reforge.hci.plugins.module_utils.migration.writers import RawFileWriter, RbdWriter

MiB = 1024 * 1024
CAPACITY = 128 * MiB
OBJECT = 4 * MiB
KEEP = [(0, 2 * MiB), (100 * MiB, 3 * MiB + 4096)]           # the source's allocated extents
STALE = [(8 * MiB, 6 * MiB), (101 * MiB, 8 * MiB), (90 * MiB + 512, 1000), (CAPACITY - MiB, MiB)]


class RbdError(Exception):
    pass


class FakeImage:
    """The part of ``rbd.Image`` the writer uses: objects of 4 MiB exist once written, like RADOS."""

    def __init__(self, size):
        self._size = size
        self.objects = {}
        self.zeroed = 0

    def size(self):
        return self._size

    def write(self, data, offset):
        for pos in range(offset - offset % OBJECT, offset + len(data), OBJECT):
            obj = self.objects.setdefault(pos, bytearray(OBJECT))
            lo, hi = max(pos, offset), min(pos + OBJECT, offset + len(data))
            obj[lo - pos:hi - pos] = data[lo - offset:hi - offset]
        return len(data)

    def write_zeroes(self, offset, length):
        self.zeroed += length
        for pos in range(offset - offset % OBJECT, offset + length, OBJECT):
            if pos >= offset and pos + OBJECT <= offset + length:
                self.objects.pop(pos, None)        # whole object: deallocated
            elif pos in self.objects:               # partial: zero-filled, still exists
                lo, hi = max(pos, offset), min(pos + OBJECT, offset + length)
                self.objects[pos][lo - pos:hi - pos] = bytes(hi - lo)

    def read(self, offset, length):
        out = bytearray(length)
        for pos in range(offset - offset % OBJECT, offset + length, OBJECT):
            if pos in self.objects:
                lo, hi = max(pos, offset), min(pos + OBJECT, offset + length)
                out[lo - offset:hi - offset] = self.objects[pos][lo - pos:hi - pos]
        return bytes(out)

    def diff_iterate(self, offset, length, from_snapshot, iterate_cb, include_parent=True, whole_object=False):
        assert from_snapshot is None
        for pos in sorted(self.objects):
            if offset <= pos < offset + length:
                iterate_cb(pos, OBJECT, True)

    def flush(self):
        pass

    def close(self):
        pass


def _fill(write, source):
    for offset, length in KEEP:
        write(offset, source[offset:offset + length])


@pytest.fixture
def source():
    data = bytearray(CAPACITY)
    for offset, length in KEEP:
        data[offset:offset + length] = os.urandom(length)
    return bytes(data)


class _Source:
    def __init__(self, data):
        self.data = data

    def read(self, offset, length):
        return self.data[offset:offset + length]


def _journal(tmp_path, uri):
    journal = SyncJournal.open(str(tmp_path / "j.json"), "vm1", 2000, CAPACITY, uri)
    journal.begin("snapshot-1", "reforge-sync-1", "52 aa/2", "*")
    return journal


def _rbd(image):
    return RbdWriter.wrap(image, "rbd:vms/vm1-disk2000", (RbdError,))


def test_rbd_full_sync_zeroes_stale_data_and_a_killed_clearing_resumes(tmp_path, source):
    image = FakeImage(CAPACITY)
    for offset, length in STALE:                      # an old VM's image under the same name
        image.write(os.urandom(length), offset)
    journal = _journal(tmp_path, "rbd:vms/vm1-disk2000")

    class Killed(Exception):
        pass

    calls = []

    def dies_after_two(offset, length):
        if len(calls) == 2:
            raise Killed()
        calls.append((offset, length))
        FakeImage.write_zeroes(image, offset, length)

    image.write_zeroes = dies_after_two
    with pytest.raises(Killed):
        _rbd(image).zero_outside(KEEP, CAPACITY, done=journal.cleared(), on_flushed=journal.confirm_cleared,
                                 batch_bytes=OBJECT)
    assert ext.total(journal.cleared()) > 0 and not journal.cleared_all
    with pytest.raises(JournalError):
        journal.commit({"kind": "full"})              # the changeId never advances over stale data
    assert journal.committed_change_id is None

    journal = SyncJournal.open(journal.path, "vm1", 2000, CAPACITY, "rbd:vms/vm1-disk2000")  # the rerun
    done_before = journal.cleared()
    assert done_before == ext.normalize(calls)
    again = []

    def records(offset, length):
        again.append((offset, length))
        FakeImage.write_zeroes(image, offset, length)

    image.write_zeroes = records
    writer = _rbd(image)
    zeroed = writer.zero_outside(KEEP, CAPACITY, done=journal.cleared(), on_flushed=journal.confirm_cleared)
    assert zeroed == ext.total(again) > 0
    assert ext.intersect(again, done_before) == [], "a resumed clearing does not zero confirmed ranges again"
    journal.finish_clearing(zeroed)
    _fill(writer.write, source)
    assert image.read(0, CAPACITY) == source
    verified = verification.verify(_Source(source), writer, KEEP, CAPACITY, "full")
    assert verified["bytes_checked"] == CAPACITY
    assert verified["bytes_compared"] == ext.total(KEEP)
    journal.commit({"kind": "full"})
    assert journal.committed_change_id == "52 aa/2"


def test_rbd_resumed_clearing_skips_what_the_journal_confirms(tmp_path):
    image = FakeImage(CAPACITY)
    for offset, length in STALE:
        image.write(os.urandom(length), offset)
    journal = _journal(tmp_path, "rbd:vms/vm1-disk2000")
    first = [(8 * MiB, 8 * MiB)]                       # zeroed and flushed before a kill ...
    image.write_zeroes(*first[0])
    journal.confirm_cleared(first)                    # ... and the journal says so
    calls = []
    zero = image.write_zeroes
    image.write_zeroes = lambda offset, length: calls.append((offset, length)) or zero(offset, length)
    zeroed = _rbd(image).zero_outside(KEEP, CAPACITY, done=journal.cleared(), on_flushed=journal.confirm_cleared)
    assert zeroed == ext.total(calls) > 0
    assert ext.intersect(calls, first) == [], "a resumed clearing does not zero confirmed ranges again"
    assert journal.cleared() == ext.subtract([(0, CAPACITY)], KEEP)
    for offset, length in ext.subtract([(0, CAPACITY)], KEEP):   # KEEP is the copy's to overwrite
        assert image.read(offset, length).count(0) == length


def test_raw_zero_outside_punches_only_the_stale_ranges(tmp_path, source):
    path = str(tmp_path / "t.raw")
    with RawFileWriter(path, CAPACITY) as writer:
        for offset, length in STALE:
            writer.write(offset, os.urandom(length))
        zeroed = writer.zero_outside(KEEP, CAPACITY)
        _fill(writer.write, source)
        writer.flush()
        mapped = writer.allocated(CAPACITY)
        assert ext.total(ext.subtract(mapped, KEEP)) <= 2 * 4096 * len(KEEP), "nothing outside KEEP stays data"
        verified = verification.verify(_Source(source), writer, KEEP, CAPACITY, "full")
    # file-system blocks of 4 KiB: the part of a stale range inside KEEP is not counted
    assert ext.total(ext.subtract(STALE, KEEP)) <= zeroed <= ext.total(STALE) + 4096 * len(STALE)
    assert verified["bytes_checked"] == CAPACITY
    with open(path, "rb") as handle:
        assert handle.read() == source


def test_verify_full_names_a_non_zero_range_outside_the_allocated_extents(tmp_path, source):
    path = str(tmp_path / "t.raw")
    with RawFileWriter(path, CAPACITY) as writer:
        _fill(writer.write, source)
        writer.write(120 * MiB + 4097, b"\x07")
        with pytest.raises(VerificationError, match="first non-zero byte at %d" % (120 * MiB + 4097)):
            verification.verify(_Source(source), writer, KEEP, CAPACITY, "full")
    image = FakeImage(CAPACITY)
    _fill(lambda offset, data: image.write(data, offset), source)
    image.write(b"\x07", 64 * MiB)
    with pytest.raises(VerificationError, match="first non-zero byte at %d" % (64 * MiB)):
        verification.verify(_Source(source), _rbd(image), KEEP, CAPACITY, "full")


def test_rbd_writer_zero_fails_loudly(tmp_path):
    image = FakeImage(CAPACITY)

    def broken(offset, length):
        raise RbdError("osd down")

    image.write_zeroes = broken
    with pytest.raises(TargetWriteError, match="zeroing at"):
        _rbd(image).zero(0, MiB)
