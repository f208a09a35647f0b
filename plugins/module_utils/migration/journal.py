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
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import os
import time
from typing import Any, Dict, List, Optional

from ansible_collections.reforge.hci.plugins.module_utils.migration import extents as ext
from ansible_collections.reforge.hci.plugins.module_utils.migration.errors import JournalError

JOURNAL_VERSION = 1
FULL_BASE = "*"  # the changeId of a full sync (vsphere.changed_areas.FULL)


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

    @classmethod
    def open(cls, path: str, vm: str, disk_key: int, capacity: int, target: str) -> "SyncJournal":
        """Load the journal at ``path`` or start a new one; refuse one that belongs to another disk."""
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
            if data.get("capacity") != capacity:
                # Disk growth invalidates CBT on vSphere too: start from a full allocated copy.
                data["committed_change_id"] = None
                data["capacity"] = capacity
            return cls(path, vm, disk_key, data)
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        data = {
            "version": JOURNAL_VERSION, "vm": vm, "disk_key": disk_key, "capacity": capacity,
            "target": target, "committed_change_id": None, "committed_at": None,
            "syncs": [], "pending": None,
        }
        journal = cls(path, vm, disk_key, data)
        journal.save()
        return journal

    def save(self) -> None:
        atomic_write_json(self.path, self.data)

    @property
    def committed_change_id(self) -> Optional[str]:
        return self.data.get("committed_change_id")

    @property
    def pending(self) -> Optional[Dict[str, Any]]:
        return self.data.get("pending")

    def begin(self, snapshot: str, snapshot_name: str, new_change_id: str, base_change_id: str) -> None:
        """Record the sync about to start, before the first byte is copied."""
        self.data["pending"] = {
            "snapshot": snapshot, "snapshot_name": snapshot_name, "new_change_id": new_change_id,
            "base_change_id": base_change_id, "confirmed": [], "started_at": time.time(),
        }
        self.save()

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

    def commit(self, summary: Dict[str, Any]) -> None:
        """Advance the changeId to the pending sync's; the target must already be flushed."""
        pending = self.data["pending"]
        if pending["base_change_id"] == FULL_BASE and not pending.get("cleared_all"):
            raise JournalError("journal %s: a full sync is committed only after the target's ranges outside the "
                               "source's allocated extents were zeroed" % self.path)
        self.data["committed_change_id"] = pending["new_change_id"]
        self.data["committed_at"] = time.time()
        entry = dict(summary)
        entry.update(snapshot_name=pending["snapshot_name"], change_id=pending["new_change_id"],
                     base_change_id=pending["base_change_id"])
        self.data["syncs"].append(entry)
        self.data["pending"] = None
        self.save()

    def abandon(self) -> None:
        """Forget a pending sync whose snapshot disappeared; its confirmed data stays on the target."""
        self.data["pending"] = None
        self.save()
