"""Helpers for the lab vCenter (tests/lab/vcsim): its /_lab control API and an independent oracle.

The oracle never uses the engine's code: it reads the source disk's base file in
the simulator's datastore directory with SEEK_DATA/SEEK_HOLE, so "target equals
source" is checked against the file system, not against what the engine believes.
"""
import os

import requests

from ansible_collections.reforge.hci.plugins.module_utils.vsphere.connection import VsphereConnection
from lab.sparse import data_extents


class LabVC:
    def __init__(self, info):
        self.info = info
        self.api = info["lab_api"]
        self.verify = info["ca"]

    def connect(self, **kw):
        return VsphereConnection(self.info["host"], self.info["username"], self.info["password"],
                                 port=self.info["port"], ca_path=self.info["ca"], **kw)

    def _req(self, method, path, **kw):
        resp = requests.request(method, self.api + path, verify=self.verify, timeout=120, **kw)
        resp.raise_for_status()
        return resp

    def write(self, vm, key, offset, data):
        return self._req("PUT", "/disk/%s/%d" % (vm, key), params={"offset": offset}, data=data).json()

    def read(self, vm, key, offset, length):
        return self._req("GET", "/disk/%s/%d" % (vm, key), params={"offset": offset, "length": length}).content

    def disk(self, vm, key):
        return self._req("GET", "/disk/%s/%d/info" % (vm, key)).json()

    def invalidate_cbt(self, vm, key):
        return self._req("POST", "/disk/%s/%d/invalidate-cbt" % (vm, key)).json()

    def config(self, **kw):
        if kw:
            return self._req("PUT", "/config", json=kw).json()
        return self._req("GET", "/config").json()

    def faults(self, **kw):
        return self._req("POST", "/faults", json=kw)

    def clear_faults(self):
        return self._req("DELETE", "/faults").json()

    @property
    def esxi_hosts(self):
        """ESXi host name in vCenter -> ``address:port`` of the host's own endpoint (for esxi_host_addresses)."""
        return dict(self.info.get("esxi_hosts") or {})

    def counters(self):
        """Lab-wide /folder counters (vcenter_*_reads, esxi_ticket_reads, esxi_rejected_*, bytes); diff them."""
        return self._req("GET", "/counters").json()

    def counters_since(self, before):
        """The counters that moved since the snapshot before (a counters() result)."""
        after = self.counters()
        return {k: after.get(k, 0) - before.get(k, 0) for k in set(before) | set(after)
                if after.get(k, 0) != before.get(k, 0)}

    def expire_tickets(self):
        return self._req("POST", "/tickets/expire").json()["expired"]

    def base_file(self, vm, key):
        """The disk's base flat file: after our sync snapshot is removed it holds the whole guest view."""
        rel = self.disk(vm, key)["levels"][0]["data"]
        for root in (self.info["datastore_dir"], self.info.get("nfs_datastore_dir")):
            if root and os.path.exists(os.path.join(root, rel)):
                return os.path.join(root, rel)
        raise FileNotFoundError("base file %s of %s disk %d in no lab datastore" % (rel, vm, key))


def assert_identical(source_path, target_path, chunk=4 << 20):
    """Byte-for-byte equality of two sparse files of equal size, reading only where either has data."""
    assert os.path.getsize(source_path) == os.path.getsize(target_path), "sizes differ"
    extents = sorted(data_extents(source_path) + data_extents(target_path))
    merged = []
    for start, length in extents:
        if merged and start <= merged[-1][0] + merged[-1][1]:
            merged[-1][1] = max(merged[-1][0] + merged[-1][1], start + length) - merged[-1][0]
        else:
            merged.append([start, length])
    checked = 0
    with open(source_path, "rb") as src, open(target_path, "rb") as dst:
        for start, length in merged:
            pos = start
            while pos < start + length:
                step = min(chunk, start + length - pos)
                src.seek(pos)
                dst.seek(pos)
                a, b = src.read(step), dst.read(step)
                assert a == b, "source and target differ in %d+%d" % (pos, step)
                checked += step
                pos += step
    return checked
