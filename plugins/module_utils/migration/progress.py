# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Progress of a running sync: the file the copy engine writes and the lines the controller prints from it.

Writer side (on the sync host, inside the module): :class:`SyncProgress` holds one entry per disk of the
VM and replaces the progress file atomically (readers see the old or the new file, never a partial one) at
most every ``min_interval`` seconds, plus once at each disk's start and end. The file holds byte counts,
rates and names only, never a connection parameter.

Reader side (on the controller, in the action plugin): :class:`LinePacer` turns snapshots of that file
into at most one line per disk per interval, plus the disk's first and final line, e.g.
``db01 disk 1/2 [Hard disk 1]: 42% 12.3 of 29.0 GiB, 85 MB/s, ETA 3m20s``.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import os
import time
from typing import Any, Callable, Dict, List, Optional

GiB = float(1 << 30)
RUNNING, DONE, WAITING = "running", "done", "waiting"


def percent(done: int, total: int) -> int:
    """Whole percent, floored so 100 means every byte (a 99.97 % disk says 99)."""
    if total <= 0:
        return 100
    return min(100, int(done * 100 // total))


def rate_and_eta(copied: int, remaining: int, elapsed: float) -> Any:
    """Bytes per second over this run's copy (resumed bytes excluded) and seconds left; None when unknown."""
    if elapsed <= 0 or copied <= 0:
        return None, None
    rate = copied / elapsed
    return rate, max(0.0, remaining / rate)


def format_duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return "%dh%02dm" % (hours, minutes)
    if minutes:
        return "%dm%02ds" % (minutes, secs)
    return "%ds" % secs


def size_unit(total: int) -> Any:
    """The unit a disk's sizes are shown in, by its total: MiB below 1 GiB, TiB from 1 TiB, GiB between."""
    if total >= 1024 * GiB:
        return "TiB", 1024 * GiB
    if total >= GiB:
        return "GiB", GiB
    return "MiB", GiB / 1024


def format_line(vm: str, disk: Dict[str, Any]) -> str:
    """One human line for one disk entry of the progress file."""
    done, total = int(disk.get("bytes_done") or 0), int(disk.get("bytes_total") or 0)
    head = "%s disk %s/%s [%s]: " % (vm, disk.get("index"), disk.get("count"), disk.get("label"))
    unit, scale = size_unit(total)
    size = "%d%% %.1f of %.1f %s" % (percent(done, total), done / scale, total / scale, unit)
    rate = disk.get("rate_bytes_per_s")
    speed = "%.0f MB/s" % (rate / 1e6) if rate else "? MB/s"
    if disk.get("state") == DONE:
        took = format_duration(disk.get("elapsed_seconds"))
        return "%s%s, %s, done in %s (%s sync)" % (head, size, speed, took, disk.get("kind"))
    return "%s%s, %s, ETA %s" % (head, size, speed, format_duration(disk.get("eta_seconds")))


def replace_json(path: str, data: Dict[str, Any]) -> None:
    """Atomic replace without fsync: a progress file is a view, not state to recover from."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as handle:
        json.dump(data, handle, sort_keys=True)
    os.replace(tmp, path)


class SyncProgress:
    """The progress file of one sync of one VM: every disk's entry, the current disk's also at the top level.

    The top-level keys (``bytes_done``, ``bytes_total``, ``state``, ``rate_mb_per_s``, ``eta_seconds``…)
    are those of the disk being copied, as the file held before it listed every disk.
    """

    def __init__(self, path: Optional[str], vm: str, disks: List[Dict[str, Any]], token: Optional[str] = None,
                 min_interval: float = 0.5, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.vm = vm
        self.token = token
        self.min_interval = min_interval
        self.clock = clock
        self._last = None  # type: Optional[float]
        self._current = None  # type: Optional[int]
        self._started = {}  # type: Dict[int, Any]
        self.disks = [{"index": i + 1, "count": len(disks), "key": d["key"], "label": d["label"], "kind": None,
                       "state": WAITING, "bytes_done": 0, "bytes_total": 0, "rate_bytes_per_s": None,
                       "eta_seconds": None, "elapsed_seconds": 0.0} for i, d in enumerate(disks)]
        # first written when the first disk starts: a file that exists shows a sync that is copying

    def _entry(self, key: int) -> Dict[str, Any]:
        for disk in self.disks:
            if disk["key"] == key:
                return disk
        raise KeyError(key)

    def start(self, key: int, kind: str, total: int) -> "DiskProgress":
        """The disk's turn begins (before a full sync's zeroing of the target, if any)."""
        disk = self._entry(key)
        disk.update(kind=kind, state=RUNNING, bytes_total=int(total), bytes_done=0)
        self._started[key] = (self.clock(), None)
        self._current = key
        self._write()
        return DiskProgress(self, key)

    def update(self, key: int, done: int, final: bool = False) -> None:
        """``done``: bytes of the disk's extents on the target. The first update, before the first read,
        gives what a resumed run already has; rates count only what this run copies after it."""
        now = self.clock()
        disk = self._entry(key)
        started, done_at_start = self._started[key]
        if done_at_start is None:
            started, done_at_start = self._started[key] = (now, int(done))
        disk["bytes_done"] = int(done)
        elapsed = now - started
        rate, eta = rate_and_eta(done - done_at_start, disk["bytes_total"] - done, elapsed)
        disk.update(rate_bytes_per_s=rate, eta_seconds=eta, elapsed_seconds=round(elapsed, 3))
        if final:
            disk.update(state=DONE, eta_seconds=0.0, bytes_done=disk["bytes_total"])
        elif self._last is not None and now - self._last < self.min_interval:
            return
        self._write()

    def skipped(self, key: int, kind: str) -> None:
        """A disk with nothing to copy in this run (committed by an interrupted one)."""
        self._entry(key).update(kind=kind, state=DONE, eta_seconds=0.0)
        self._write()

    def _write(self) -> None:
        if not self.path:
            return
        self._last = self.clock()
        data = {"vm": self.vm, "token": self.token, "disks": self.disks, "updated": time.time()}
        if self._current is not None:
            disk = self._entry(self._current)
            rate = disk["rate_bytes_per_s"]
            data.update(disk_key=disk["key"], kind=disk["kind"], bytes_done=disk["bytes_done"],
                        bytes_total=disk["bytes_total"], state=disk["state"],
                        rate_mb_per_s=round(rate / 1e6, 2) if rate else 0.0,
                        eta_seconds=round(disk["eta_seconds"], 1) if disk["eta_seconds"] is not None else None)
        replace_json(self.path, data)


class DiskProgress:
    """What the copy engine calls: the progress of one disk of a :class:`SyncProgress`."""

    def __init__(self, sync: SyncProgress, key: int) -> None:
        self.sync = sync
        self.key = key

    def update(self, done: int, stats: Any = None, final: bool = False) -> None:
        self.sync.update(self.key, done, final=final)


class LinePacer:
    """Which lines to print from successive snapshots of a progress file (controller side).

    Per disk: a line when it is first seen copying, then at most one per ``interval`` seconds (a stalled
    copy shows too: its rate falls and its ETA grows), and one final line when it is done. Percentages never go backwards:
    a snapshot older than one already shown (another reader's cache, a file replaced late) is ignored.
    """

    def __init__(self, interval: float, token: Optional[str] = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = float(interval)
        self.token = token
        self.clock = clock
        self._shown = {}  # type: Dict[Any, Dict[str, Any]]  # disk key -> {"at", "pct", "final"}

    def lines(self, snapshot: Optional[Dict[str, Any]]) -> List[str]:
        if not snapshot or not isinstance(snapshot.get("disks"), list):
            return []
        if self.token is not None and snapshot.get("token") != self.token:
            return []  # an earlier run's file
        now = self.clock()
        out = []
        vm = snapshot.get("vm") or "?"
        for disk in snapshot["disks"]:
            if disk.get("state") not in (RUNNING, DONE) or not disk.get("kind"):
                continue
            shown = self._shown.get(disk.get("key"))
            if shown and shown["final"]:
                continue
            pct = percent(int(disk.get("bytes_done") or 0), int(disk.get("bytes_total") or 0))
            final = disk.get("state") == DONE
            if shown:
                if pct < shown["pct"]:
                    continue
                if not final and now - shown["at"] < self.interval:
                    continue
            self._shown[disk.get("key")] = {"at": now, "pct": pct, "final": final}
            out.append(format_line(vm, disk))
        return out
