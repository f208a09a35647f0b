# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Crash-safe sync journal, one JSON file per VM disk.

Every save writes a temporary file, fsyncs it, renames it over the journal and
fsyncs the directory, so after a kill -9 or a power cut the journal is either
the old or the new state, never a torn mix. Two invariants make resume safe:

* an extent is recorded as confirmed only after the target was flushed, so a
  confirmed extent is on stable storage and is never copied again;
* ``committed_change_id`` advances only after every extent of that sync is
  confirmed and the target was flushed, so the changeId is never ahead of data.

A full sync (base ``*``) also zeroes every range of the target outside the
source's allocated extents; the ranges zeroed and flushed are recorded as
``cleared`` and the end of that step as ``cleared_all``, and a full sync is
never committed without it, so a resumed full sync zeroes what is left.

Identity: a journal records the VM's instance UUID and the disk's UUID (where vSphere has one). A journal
opened for another identity (a VM replaced by another of the same name, a swapped disk) is refused, never
merged; a journal written before identities were recorded adopts the current one once, with a warning.
Each commit records the target's fingerprint as the sync left it (``writers.target_fingerprint``), so the
next sync can tell that something else wrote to it, and every reason for a full resync (capacity grew,
target changed outside the sync, changeId invalid) goes into the sync record's ``warnings``.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import os
import re
import time
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.reforge.hci.plugins.module_utils.migration import extents as ext
from ansible_collections.reforge.hci.plugins.module_utils.migration.errors import JournalError

JOURNAL_VERSION = 1
FULL_BASE = "*"  # the changeId of a full sync (vsphere.changed_areas.FULL)
# Our snapshots are recognised by this description (the VM's instance UUID and the sync run's token), never by name.
SNAPSHOT_DESCRIPTION = "reforge.hci sync %s %s"
_DESCRIPTION_RE = re.compile(r"^reforge\.hci sync (\S+) ([0-9a-f]{8,64})$")


def snapshot_description(vm_uuid: str, token: str) -> str:
    return SNAPSHOT_DESCRIPTION % (vm_uuid, token)


def snapshot_owner(description: Optional[str]) -> Optional[Tuple[str, str]]:
    """``(vm_uuid, token)`` of a snapshot a sync took, or None for anyone else's (whatever its name)."""
    match = _DESCRIPTION_RE.match((description or "").strip())
    return (match.group(1), match.group(2)) if match else None


def is_own_snapshot(snapshot: Dict[str, Any], vm_uuid: Optional[str]) -> bool:
    """A snapshot (``vsphere.vm.snapshots`` entry) taken by a sync of the VM with ``vm_uuid``."""
    owner = snapshot_owner(snapshot.get("description"))
    return owner is not None and vm_uuid is not None and owner[0] == vm_uuid


def cutover_marker_path(journal_dir: str, vm: str) -> str:
    return os.path.join(journal_dir, "%s.cutover.json" % vm)


def read_cutover(journal_dir: str, vm: str) -> Optional[Dict[str, Any]]:
    """The record of a finished cutover of ``vm``, or None.

    Once a VM runs on the cluster its source is retired: reruns of the wave must
    neither copy it again nor cut it over a second time (which would stop the
    running VM). Deleting the marker re-enables both.
    """
    path = cutover_marker_path(journal_dir, vm)
    if not os.path.exists(path):
        return None
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError) as exc:
        raise JournalError("unreadable cutover record %s: %s" % (path, exc))


def record_cutover(journal_dir: str, vm: str, data: Dict[str, Any]) -> None:
    if not os.path.isdir(journal_dir):
        os.makedirs(journal_dir)
    atomic_write_json(cutover_marker_path(journal_dir, vm), dict(data, vm=vm, at=round(time.time(), 3)))


def atomic_write_json(path: str, data: Dict[str, Any]) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new file, never a partial one."""
    directory = os.path.dirname(os.path.abspath(path))
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class SyncJournal:
    """State of the copy of one source disk into one target."""

    def __init__(self, path: str, vm: str, disk_key: int, data: Dict[str, Any]) -> None:
        self.path = path
        self.vm = vm
        self.disk_key = disk_key
        self.data = data
        self.warnings: List[str] = []  # identity adopted, full resync decided at open

    @classmethod
    def open(cls, path: str, vm: str, disk_key: int, capacity: int, target: str,
             vm_uuid: Optional[str] = None, disk_uuid: Optional[str] = None) -> "SyncJournal":
        """Load the journal at ``path`` or start a new one; refuse one that belongs to another disk.

        Nothing is saved for an existing journal here (check mode opens journals too): an adopted
        identity or a capacity reset is written with the next ``begin``.
        """
        if os.path.exists(path):
            try:
                with open(path) as handle:
                    data = json.load(handle)
            except ValueError as exc:
                raise JournalError("journal %s is unreadable: %s" % (path, exc))
            if data.get("vm") != vm or data.get("disk_key") != disk_key:
                raise JournalError("journal %s belongs to %s disk %s, not %s disk %s"
                                   % (path, data.get("vm"), data.get("disk_key"), vm, disk_key))
            if data.get("target") != target:
                raise JournalError("journal %s was written for target %s, not %s; move the journal away "
                                   "to start over" % (path, data.get("target"), target))
            journal = cls(path, vm, disk_key, data)
            journal._check_identity(vm_uuid, disk_uuid)
            if data.get("capacity") != capacity and data.get("committed_change_id"):
                # Disk growth invalidates CBT on vSphere too: start from a full allocated copy.
                journal.reset("capacity grew from %s to %d bytes" % (data.get("capacity"), capacity)
                              if (data.get("capacity") or 0) < capacity else
                              "capacity changed from %s to %d bytes" % (data.get("capacity"), capacity))
            data["capacity"] = capacity
            return journal
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        data = {
            "version": JOURNAL_VERSION, "vm": vm, "disk_key": disk_key, "capacity": capacity,
            "target": target, "committed_change_id": None, "committed_at": None,
            "syncs": [], "pending": None, "vm_uuid": vm_uuid, "disk_uuid": disk_uuid,
        }
        journal = cls(path, vm, disk_key, data)
        journal.save()
        return journal

    def _check_identity(self, vm_uuid: Optional[str], disk_uuid: Optional[str]) -> None:
        """Refuse a journal of another VM or disk of the same name/key; adopt the identity of an older journal."""
        for field, what, now in (("vm_uuid", "VM", vm_uuid), ("disk_uuid", "disk", disk_uuid)):
            then = self.data.get(field)
            if now is None:
                continue
            if then is None:
                if self.data.get("committed_change_id") or self.data.get("pending") or self.data.get("syncs"):
                    self.warnings.append("journal %s recorded no %s identity: adopting %s %s"
                                         % (self.path, what, what, now))
                self.data[field] = now
            elif then != now:
                raise JournalError(
                    "journal %s belongs to %s %s (instance UUID %s), but %s disk %d is now %s %s: a different %s "
                    "of the same name/key. Its changeIds and target do not apply; to start over, move the journal "
                    "away (and the target, or let the next full sync overwrite it)"
                    % (self.path, what, self.vm, then, self.vm, self.disk_key, what, now, what))

    def reset(self, reason: str) -> None:
        """Forget the committed changeId: the next sync is full, and says why (task warning and sync record)."""
        self.data["committed_change_id"] = None
        message = "FULL RESYNC of %s disk %d: %s" % (self.vm, self.disk_key, reason)
        self.data["resync_reasons"] = list(self.data.get("resync_reasons") or []) + [message]
        self.warnings.append(message)

    def note_resync(self, message: str) -> None:
        """Record a full-resync warning decided during the sync (an invalid changeId) for the sync record."""
        self.data["resync_reasons"] = list(self.data.get("resync_reasons") or []) + [message]
        self.save()

    @property
    def fingerprint(self) -> Optional[Dict[str, Any]]:
        """The target as the last commit left it (``writers.target_fingerprint``), None before any."""
        return self.data.get("target_fingerprint")

    def save(self) -> None:
        atomic_write_json(self.path, self.data)

    @property
    def committed_change_id(self) -> Optional[str]:
        return self.data.get("committed_change_id")

    @property
    def pending(self) -> Optional[Dict[str, Any]]:
        return self.data.get("pending")

    def begin(self, snapshot: str, snapshot_name: str, new_change_id: str, base_change_id: str,
              token: Optional[str] = None) -> None:
        """Record the sync about to start, before the first byte is copied; ``token`` is the run's snapshot identity."""
        self.data["pending"] = {
            "snapshot": snapshot, "snapshot_name": snapshot_name, "new_change_id": new_change_id,
            "base_change_id": base_change_id, "confirmed": [], "started_at": time.time(), "token": token,
        }
        self.save()

    @property
    def progressed(self) -> bool:
        """The pending sync has put data on the target (confirmed or zeroed ranges)."""
        pending = self.pending or {}
        return bool(pending.get("confirmed") or pending.get("cleared") or pending.get("cleared_all"))

    @property
    def last_sync(self) -> Optional[Dict[str, Any]]:
        syncs = self.data.get("syncs") or []
        return syncs[-1] if syncs else None

    def set_base(self, base_change_id: str) -> None:
        """Switch the pending sync to another base (``*`` after an invalid changeId); confirmed stays valid."""
        self.data["pending"]["base_change_id"] = base_change_id
        self.save()

    def confirmed(self) -> List[ext.Extent]:
        pending = self.pending
        return [tuple(e) for e in pending["confirmed"]] if pending else []  # type: ignore[misc]

    def confirm(self, extents: List[ext.Extent]) -> None:
        """Record extents as on the target; call only after the target was flushed."""
        merged = ext.normalize(self.confirmed() + list(extents))
        self.data["pending"]["confirmed"] = [list(e) for e in merged]
        self.save()

    def cleared(self) -> List[ext.Extent]:
        """Ranges outside the source's allocated extents already zeroed on the target (full syncs)."""
        pending = self.pending
        return [tuple(e) for e in pending.get("cleared", [])] if pending else []  # type: ignore[misc]

    def confirm_cleared(self, extents: List[ext.Extent]) -> None:
        """Record ranges as zero on the target; call only after the target was flushed."""
        merged = ext.normalize(self.cleared() + list(extents))
        self.data["pending"]["cleared"] = [list(e) for e in merged]
        self.save()

    @property
    def cleared_all(self) -> bool:
        return bool((self.pending or {}).get("cleared_all"))

    def finish_clearing(self, bytes_zeroed: int) -> None:
        """Every range outside the allocated extents reads zeros on stable storage."""
        self.data["pending"]["cleared_all"] = True
        self.data["pending"]["bytes_cleared"] = self.data["pending"].get("bytes_cleared", 0) + bytes_zeroed
        self.save()

    def commit(self, summary: Dict[str, Any], fingerprint: Optional[Dict[str, Any]] = None) -> None:
        """Advance the changeId to the pending sync's; the target must already be flushed.

        ``fingerprint`` is the target as this sync leaves it; the next sync compares it to find outside writes.
        """
        pending = self.data["pending"]
        if pending["base_change_id"] == FULL_BASE and not pending.get("cleared_all"):
            raise JournalError("journal %s: a full sync is committed only after the target's ranges outside the "
                               "source's allocated extents were zeroed" % self.path)
        self.data["committed_change_id"] = pending["new_change_id"]
        self.data["committed_at"] = time.time()
        self.data["target_fingerprint"] = fingerprint
        entry = dict(summary)
        entry.update(snapshot_name=pending["snapshot_name"], change_id=pending["new_change_id"],
                     base_change_id=pending["base_change_id"], token=pending.get("token"),
                     warnings=list(self.data.get("resync_reasons") or []))
        self.data["syncs"].append(entry)
        self.data["pending"] = None
        self.data["resync_reasons"] = []
        self.save()

    def abandon(self) -> None:
        """Forget a pending sync whose snapshot disappeared; its confirmed data stays on the target."""
        self.data["pending"] = None
        self.save()
