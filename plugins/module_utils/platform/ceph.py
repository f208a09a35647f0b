# -*- coding: utf-8 -*-
# Copyright: reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Storage side of the platform interface: the Ceph command-line tools.

Debian's package-based Ceph and a later Proxmox VE driver both drive the same
``ceph`` and ``ceph-volume`` binaries, so the modules talk to this thin layer
and never build command lines themselves. Every call asks for JSON and raises
:class:`CephCommandError` on failure; one place turns that into ``fail_json``.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json


class CephCommandError(Exception):
    """A Ceph tool exited non-zero or printed something that is not JSON."""

    def __init__(self, argv, rc, stderr):
        self.argv = argv
        self.rc = rc
        self.stderr = stderr
        super(CephCommandError, self).__init__(
            "%s failed (rc=%s): %s" % (" ".join(argv), rc, (stderr or "").strip()))


class CephCli(object):
    """Runs ceph/ceph-volume through an AnsibleModule's run_command."""

    def __init__(self, module, cluster="ceph", timeout=30):
        self._module = module
        self._cluster = cluster
        self._timeout = timeout

    def _run(self, argv):
        rc, out, err = self._module.run_command(argv)
        if rc != 0:
            raise CephCommandError(argv, rc, err or out)
        return out

    def ceph_json(self, *args):
        """``ceph <args> --format json`` parsed."""
        argv = ["ceph", "--cluster", self._cluster, "--connect-timeout", str(self._timeout)]
        argv += list(args) + ["--format", "json"]
        out = self._run(argv)
        try:
            return json.loads(out) if out.strip() else None
        except ValueError:
            raise CephCommandError(argv, 0, "not JSON: %r" % out[:200])

    def ceph(self, *args):
        """``ceph <args>`` for commands that change state."""
        argv = ["ceph", "--cluster", self._cluster, "--connect-timeout", str(self._timeout)]
        return self._run(argv + list(args))

    def rbd(self, *args):
        return self._run(["rbd", "--cluster", self._cluster] + list(args))

    def volume_list(self, mode, devices=None):
        """OSDs ceph-volume knows about, normalised across raw and lvm modes.

        Returns a list of dicts: id, uuid, device, cluster_fsid.
        """
        argv = ["ceph-volume", "--cluster", self._cluster, mode, "list", "--format", "json"]
        if mode == "raw":
            argv += list(devices or [])
        out = self._run(argv)
        listed = json.loads(out) if out.strip() else {}
        return normalise_volume_list(mode, listed)


def normalise_volume_list(mode, listed):
    """Flatten ``ceph-volume {raw,lvm} list --format json`` output."""
    osds = []
    if mode == "raw":
        for osd in listed.values():
            osds.append({"id": int(osd["osd_id"]), "uuid": osd["osd_uuid"],
                         "device": osd["device"], "cluster_fsid": osd["ceph_fsid"]})
    else:
        for osd_id, lvs in listed.items():
            for lv in lvs:
                if lv.get("type") != "block":
                    continue
                for device in lv.get("devices", []):
                    osds.append({"id": int(osd_id), "uuid": lv["tags"]["ceph.osd_fsid"],
                                 "device": device, "cluster_fsid": lv["tags"]["ceph.cluster_fsid"]})
    return sorted(osds, key=lambda o: (o["id"], o["device"]))
