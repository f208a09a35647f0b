"""RBD target through librbd, on a reachable Ceph cluster only.

Set REFORGE_CEPH_CONF (ceph.conf with a keyring the client can use) and optionally
REFORGE_CEPH_POOL (default "rbd") on a host with python3-rados/python3-rbd, e.g. a lab
node after playbooks/cluster.yml. Skipped otherwise, with the reason.
"""
import os
import uuid

import pytest

from ansible_collections.reforge.hci.plugins.module_utils.migration.engine import CopySettings, copy_extents
from ansible_collections.reforge.hci.plugins.module_utils.migration.journal import SyncJournal
from ansible_collections.reforge.hci.plugins.module_utils.migration.writers import (
    RbdWriter, mark_synced, release_sync_marks, target_changed)

CONF = os.environ.get("REFORGE_CEPH_CONF")
try:
    import rados  # noqa: F401  pylint: disable=unused-import
    import rbd
    HAVE_LIBS = True
except ImportError:
    HAVE_LIBS = False

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(not HAVE_LIBS, reason="python3-rados/python3-rbd not importable here (Debian packages)"),
    pytest.mark.skipif(not CONF or not os.path.exists(CONF or ""),
                       reason="no Ceph cluster reachable: set REFORGE_CEPH_CONF to a ceph.conf with a usable keyring"),
]
MiB = 1 << 20


class _Source:
    def __init__(self, data):
        self.data = data

    def read(self, offset, length):
        return bytes(self.data.get(offset, b"\0" * length)[:length])


def test_rbd_writer_copies_extents_and_discards_zeros(tmp_path):
    pool = os.environ.get("REFORGE_CEPH_POOL", "rbd")
    image = "reforge-test-%s" % uuid.uuid4().hex[:8]
    capacity = 1 << 30
    data = {0: os.urandom(MiB), 512 * MiB: os.urandom(MiB), 900 * MiB: bytes(MiB)}
    extents = [(offset, MiB) for offset in data]
    journal = SyncJournal.open(str(tmp_path / "j.json"), "vm", 2000, capacity, "rbd:%s/%s" % (pool, image))
    journal.begin("s", "n", "c", "*")
    writer = RbdWriter(pool, image, capacity, conffile=CONF)
    try:
        stats = copy_extents(extents, _Source(data), writer, journal, CopySettings(coalesce_gap=0, zero_chunk=MiB))
        assert stats.bytes_written == 2 * MiB and stats.bytes_zero == MiB
        for offset, chunk in data.items():
            assert writer.read(offset, MiB) == chunk
    finally:
        writer.close()
        cluster = rados.Rados(conffile=CONF)
        cluster.connect()
        with cluster.open_ioctx(pool) as ioctx:
            rbd.RBD().remove(ioctx, image)
        cluster.shutdown()


def test_rbd_sync_mark_detects_outside_writes_and_is_released(tmp_path):
    """Issue 13 item 1 on RBD: a sync-owned snapshot per commit; diff_iterate from it finds any later write."""
    del tmp_path
    pool = os.environ.get("REFORGE_CEPH_POOL", "rbd")
    image = "reforge-test-%s" % uuid.uuid4().hex[:8]
    spec = {"format": "rbd", "pool": pool, "image": image, "conffile": CONF}
    capacity = 256 * MiB
    writer = RbdWriter(pool, image, capacity, conffile=CONF)
    try:
        writer.write(0, os.urandom(MiB))
        writer.flush()
        writer.close()
        first = mark_synced(spec, "00112233aabbccdd")
        assert first["snapshot"] == "reforge-synced-00112233aabbccdd"
        assert target_changed(spec, first) is None, "nothing written since the mark"
        second = mark_synced(spec, "aabbccdd00112233")  # the next commit replaces the mark
        cluster = rados.Rados(conffile=CONF)
        cluster.connect()
        with cluster.open_ioctx(pool) as ioctx:
            with rbd.Image(ioctx, image) as img:
                assert [s["name"] for s in img.list_snaps()] == ["reforge-synced-aabbccdd00112233"]
                img.write(b"booted", 100 * MiB)  # what a read-write boot check would do
        cluster.shutdown()
        reason = target_changed(spec, second)
        assert reason and "written after the last sync" in reason and "offset %d" % (100 * MiB) in reason
        assert target_changed(dict(spec, image=image + "-gone"), second).endswith("is missing")
        assert release_sync_marks(spec) == ["reforge-synced-aabbccdd00112233"]
        assert "is gone" in target_changed(spec, second)
    finally:
        cluster = rados.Rados(conffile=CONF)
        cluster.connect()
        with cluster.open_ioctx(pool) as ioctx:
            with rbd.Image(ioctx, image) as img:
                for snap in list(img.list_snaps()):
                    img.remove_snap(snap["name"])
            rbd.RBD().remove(ioctx, image)
        cluster.shutdown()
