# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A throwaway point-in-time copy of every target disk around the cutover's libvirt boot check.

The ``libvirt`` method boots the domain on the synced base itself (the VM keeps
running there once it is alive: no backing chain in production). A boot that
fails its alive check has still written to the base (journal replay, fsck,
logs), and nothing but the sync may leave bytes there: the next sync trusts
the base's changeId. So before ``virsh start``:

* ``rbd``: an RBD snapshot ``<image>@reforge-bootcheck-<token>`` (the image is
  closed then; librbd takes and releases the exclusive lock for the snapshot),
* ``qcow2``: an internal snapshot (``qemu-img snapshot -c``),
* ``raw`` files have no point-in-time copy: refused before the source is
  touched (:func:`refuse_unprotectable`), see below.

After a failure the domain is destroyed first (QEMU closes the image, so the
rollback gets the exclusive lock), each disk is rolled back to its snapshot
and the snapshot is dropped. After a success the snapshots are dropped.

The guard is recorded in the cutover marker (``<journal_dir>/<vm>.cutover.json``,
key ``boot_guard``) *before* the first snapshot is taken, so a run killed at
any point leaves a record: ``migration_sync`` treats any marker as a cut-over
VM and writes nothing, and the next cutover calls :func:`recover` first - it
destroys a domain the killed run left running and rolls back (the record has
no finished cutover) or only drops the snapshots (the cutover was recorded as
done before the kill). A snapshot that is not there was never taken (the boot
starts only after all are taken) or was already rolled back and dropped, so
recovery is idempotent.

Why raw is refused and not overlaid: the other way is to boot on a qcow2
overlay and ``virsh blockcommit --active --pivot`` on success. That leaves the
persistent definition pointing at the overlay until it is redefined, puts a
block job with its own failure modes into the downtime, and a commit killed
half way leaves the base neither synced nor booted - exactly the state this
guard exists to prevent. Use ``qcow2`` or ``rbd`` targets for ``libvirt``
cutovers (or ``method: qemu``, which boots raw files with ``snapshot=on``).
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import os
import shutil
import subprocess
import uuid
from typing import Any, Callable, Dict, List, Optional

from ansible_collections.reforge.hci.plugins.module_utils.migration import journal
from ansible_collections.reforge.hci.plugins.module_utils.migration.errors import CutoverError
from ansible_collections.reforge.hci.plugins.module_utils.migration.guest_conversion import CONVERTING

SNAP_PREFIX = "reforge-bootcheck-"
BOOT_CHECK = "boot_check"  # marker state while a boot check runs on the base (no conversion committed)
PROTECTABLE = ("rbd", "qcow2")


def refuse_unprotectable(disks: List[Dict[str, Any]]) -> None:
    """Before any change: a libvirt boot check needs a snapshot-capable target for every disk."""
    bad = ["%s (%s)" % (d.get("path") or d.get("image"), d.get("format", "raw")) for d in disks
           if d.get("format", "raw") not in PROTECTABLE]
    if bad:
        raise CutoverError("method libvirt boots the synced disk itself and needs a point-in-time copy to undo a "
                           "failed boot check; raw files have none: %s. Use target_format qcow2 or rbd, or method "
                           "qemu (boots with snapshot=on)" % ", ".join(bad))


def _run(argv: List[str]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                              check=False)
    except OSError as exc:
        raise CutoverError("%s: %s" % (argv[0], exc))


def _check(proc: subprocess.CompletedProcess, what: str) -> str:
    if proc.returncode != 0:
        raise CutoverError("%s failed: %s" % (what, (proc.stderr or proc.stdout).strip()[-500:]))
    return proc.stdout


def _rbd_argv(disk: Dict[str, Any]) -> List[str]:
    argv = ["rbd"]
    if disk.get("conffile"):
        argv += ["-c", str(disk["conffile"])]
    if disk.get("client_name"):
        argv += ["--name", str(disk["client_name"])]
    return argv


class _Rbd:
    @staticmethod
    def spec(disk: Dict[str, Any], snap: str) -> str:
        return "%s/%s@%s" % (disk["pool"], disk["image"], snap)

    def exists(self, disk: Dict[str, Any], snap: str) -> bool:
        out = _check(_run(_rbd_argv(disk) + ["snap", "ls", "--format", "json",
                                             "%s/%s" % (disk["pool"], disk["image"])]),
                     "rbd snap ls %s/%s" % (disk["pool"], disk["image"]))
        return any(s.get("name") == snap for s in json.loads(out or "[]"))

    def create(self, disk: Dict[str, Any], snap: str) -> None:
        _check(_run(_rbd_argv(disk) + ["snap", "create", self.spec(disk, snap)]), "rbd snap create")

    def rollback(self, disk: Dict[str, Any], snap: str) -> None:
        # needs the exclusive lock: the domain is destroyed before this, so QEMU has closed the image
        _check(_run(_rbd_argv(disk) + ["snap", "rollback", "--no-progress", self.spec(disk, snap)]),
               "rbd snap rollback")

    def drop(self, disk: Dict[str, Any], snap: str, guard: Optional[Dict[str, Any]] = None) -> None:
        # librbd hands the removal to the client holding the exclusive lock (the running QEMU)
        _check(_run(_rbd_argv(disk) + ["snap", "rm", "--no-progress", self.spec(disk, snap)]), "rbd snap rm")


class _Qcow2:
    def exists(self, disk: Dict[str, Any], snap: str) -> bool:
        out = _check(_run(["qemu-img", "snapshot", "-l", "-U", disk["path"]]), "qemu-img snapshot -l")
        return any(len(line.split()) > 1 and line.split()[1] == snap for line in out.splitlines())

    def create(self, disk: Dict[str, Any], snap: str) -> None:
        _check(_run(["qemu-img", "snapshot", "-c", snap, disk["path"]]), "qemu-img snapshot -c")

    def rollback(self, disk: Dict[str, Any], snap: str) -> None:
        _check(_run(["qemu-img", "snapshot", "-a", snap, disk["path"]]), "qemu-img snapshot -a")

    def drop(self, disk: Dict[str, Any], snap: str, guard: Optional[Dict[str, Any]] = None) -> None:
        domain = (guard or {}).get("domain")
        uri = (guard or {}).get("libvirt_uri") or "qemu:///system"
        if domain and _domain_running(uri, domain):
            # the running QEMU holds the image's write lock: qemu-img must not touch it; QEMU itself
            # deletes the internal snapshot (HMP delvm, on every disk of the domain that has it)
            _check(_run(["virsh", "-c", uri, "qemu-monitor-command", domain, "--hmp", "delvm %s" % snap]),
                   "delvm %s in the running domain %s" % (snap, domain))
            return
        _check(_run(["qemu-img", "snapshot", "-d", snap, disk["path"]]), "qemu-img snapshot -d")


def _domain_running(uri: str, domain: str) -> bool:
    if not shutil.which("virsh"):
        return False
    proc = _run(["virsh", "-c", uri, "domstate", domain])
    return proc.returncode == 0 and proc.stdout.strip() == "running"


_KINDS = {"rbd": _Rbd(), "qcow2": _Qcow2()}


def _kind(disk: Dict[str, Any]) -> Any:
    kind = _KINDS.get(disk.get("format", "raw"))
    if kind is None:
        raise CutoverError("no point-in-time copy for %s targets" % disk.get("format", "raw"))
    return kind


def _plain(disk: Dict[str, Any]) -> Dict[str, Any]:
    """What the record needs to find the disk again (no libvirt auth details)."""
    return {k: disk[k] for k in ("format", "path", "pool", "image", "conffile", "client_name") if disk.get(k)}


class BootGuard:
    """Snapshots of ``disks`` around one boot check; the state lives in the cutover marker."""

    def __init__(self, journal_dir: str, vm: str, disks: List[Dict[str, Any]], domain: str,
                 libvirt_uri: str) -> None:
        refuse_unprotectable(disks)
        self.journal_dir = journal_dir
        self.vm = vm
        self.disks = [_plain(d) for d in disks]
        self.snap = SNAP_PREFIX + uuid.uuid4().hex[:12]
        self.domain = domain
        self.libvirt_uri = libvirt_uri
        self.taken: List[int] = []

    def record(self) -> Dict[str, Any]:
        return {"snapshot": self.snap, "disks": self.disks, "domain": self.domain, "libvirt_uri": self.libvirt_uri}

    def take(self) -> Dict[str, Any]:
        """Record first, then snapshot each disk: a kill in between leaves a record, never an unrecorded snapshot."""
        marker = journal.read_cutover(self.journal_dir, self.vm) or {"state": BOOT_CHECK}
        marker["boot_guard"] = self.record()
        journal.record_cutover(self.journal_dir, self.vm, marker)
        for index, disk in enumerate(self.disks):
            _kind(disk).create(disk, self.snap)
            self.taken.append(index)
        return {"snapshot": self.snap, "disks": len(self.disks)}

    def rollback(self) -> Dict[str, Any]:
        """The domain is stopped: every disk back to the snapshot, then the snapshot dropped."""
        return _settle(self.journal_dir, self.vm, self.record(), roll_back=True)

    def drop(self) -> Dict[str, Any]:
        """The boot check passed: the VM runs on the base from now on; the snapshots go."""
        return _settle(self.journal_dir, self.vm, self.record(), roll_back=False)


def _settle(journal_dir: str, vm: str, guard: Dict[str, Any], roll_back: bool) -> Dict[str, Any]:
    done = {"snapshot": guard["snapshot"], "rolled_back": [], "dropped": []}
    for disk in guard["disks"]:
        kind = _kind(disk)
        name = disk.get("image") or disk.get("path")
        if not kind.exists(disk, guard["snapshot"]):
            continue  # never taken (the boot had not started) or already settled by an earlier attempt
        if roll_back:
            kind.rollback(disk, guard["snapshot"])
            done["rolled_back"].append(name)
        kind.drop(disk, guard["snapshot"], guard)
        done["dropped"].append(name)
    _forget(journal_dir, vm)
    return done


def _forget(journal_dir: str, vm: str) -> None:
    marker = journal.read_cutover(journal_dir, vm)
    if marker is None or "boot_guard" not in marker:
        return
    marker.pop("boot_guard")
    if marker.get("state") == BOOT_CHECK:
        os.unlink(journal.cutover_marker_path(journal_dir, vm))  # nothing else was recorded: no cutover
    else:
        journal.atomic_write_json(journal.cutover_marker_path(journal_dir, vm), marker)  # keeps its vm and at


def pending(journal_dir: str, vm: str) -> Optional[Dict[str, Any]]:
    marker = journal.read_cutover(journal_dir, vm)
    return None if marker is None else marker.get("boot_guard")


def recover(journal_dir: str, vm: str, stop_domain: Optional[Callable[[str, str], None]] = None
            ) -> Optional[Dict[str, Any]]:
    """Settle a boot guard a killed run left: drop its snapshots if the cutover was recorded as done,
    otherwise stop the domain the boot check started and roll every disk back. None if there is none."""
    marker = journal.read_cutover(journal_dir, vm)
    guard = None if marker is None else marker.get("boot_guard")
    if guard is None:
        return None
    finished = marker.get("state") not in (BOOT_CHECK, CONVERTING)
    if not finished and stop_domain is not None:
        stop_domain(guard.get("libvirt_uri") or "qemu:///system", guard.get("domain") or vm)
    out = _settle(journal_dir, vm, guard, roll_back=not finished)
    out["cutover_was_recorded"] = finished
    return out
