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
from ansible_collections.reforge.hci.plugins.module_utils.migration.writers import RbdWriter

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
