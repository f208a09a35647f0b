# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Extent copy engine: parallel reads, coalesced extents, zero chunks as holes, journaled progress.

The engine reads the extents that are not yet confirmed in the journal, in
large coalesced reads spread over several streams, writes them at the same
offsets, and every ``confirm_bytes`` flushes the target and only then records
the finished reads as confirmed. A kill at any point therefore loses at most
the unconfirmed tail, and a rerun never reads a confirmed byte again.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import concurrent.futures
import json
import time
from typing import Any, Dict, List, Optional, Protocol, Tuple

from ansible_collections.reforge.hci.plugins.module_utils.migration import extents as ext
from ansible_collections.reforge.hci.plugins.module_utils.migration.journal import SyncJournal
from ansible_collections.reforge.hci.plugins.module_utils.migration.throttle import Throttle
from ansible_collections.reforge.hci.plugins.module_utils.migration.writers import TargetWriter

MiB = 1024 * 1024


class SourceReader(Protocol):
    def read(self, offset: int, length: int) -> bytes:
        """Return `length` bytes of the source disk from `offset`."""


class CopySettings:
    """Tuning of one copy; the defaults suit a 10GbE link to vCenter/ESXi."""

    def __init__(self, streams: int = 4, read_size: int = 8 * MiB, zero_chunk: int = 1 * MiB,
                 coalesce_gap: int = 1 * MiB, zero_skip: bool = True, confirm_bytes: int = 256 * MiB,
                 confirm_seconds: float = 5.0, throttle_mbps: Optional[float] = None) -> None:
        self.streams = max(1, int(streams))
        self.read_size = int(read_size)
        self.zero_chunk = int(zero_chunk)
        self.coalesce_gap = int(coalesce_gap)
        self.zero_skip = bool(zero_skip)
        self.confirm_bytes = int(confirm_bytes)
        self.confirm_seconds = float(confirm_seconds)
        self.throttle_mbps = throttle_mbps

    def as_dict(self) -> Dict[str, Any]:
        return dict(self.__dict__)


class CopyStats:
    def __init__(self) -> None:
        self.bytes_requested = 0   # extents asked for (changed/allocated, minus confirmed)
        self.bytes_read = 0        # incl. coalesced gaps
        self.bytes_written = 0     # data written to the target
        self.bytes_zero = 0        # zero chunks turned into holes/discards
        self.reads = 0
        self.flushes = 0
        self.started = time.monotonic()
        self.duration = 0.0

    def as_dict(self) -> Dict[str, Any]:
        duration = self.duration or (time.monotonic() - self.started)
        return {
            "bytes_requested": self.bytes_requested, "bytes_read": self.bytes_read,
            "bytes_written": self.bytes_written, "bytes_zero": self.bytes_zero, "reads": self.reads,
            "flushes": self.flushes, "duration": round(duration, 3),
            "read_mb_per_s": round(self.bytes_read / duration / 1e6, 2) if duration > 0 else None,
        }


def plan_reads(extents: List[ext.Extent], settings: CopySettings) -> List[ext.Extent]:
    """Coalesce nearby extents, then split into reads of at most ``read_size``."""
    merged = ext.coalesce(extents, settings.coalesce_gap, settings.read_size)
    return list(ext.chunks(merged, settings.read_size))


class Progress(Protocol):
    def update(self, done: int, stats: "CopyStats", final: bool = False) -> None:
        """Bytes of the disk's extents on the target so far (``progress.DiskProgress``)."""


def _copy_one(read: ext.Extent, reader: SourceReader, writer: TargetWriter, settings: CopySettings,
              throttle: Throttle) -> Tuple[ext.Extent, int, int]:
    offset, length = read
    throttle.take(length)
    data = reader.read(offset, length)
    if len(data) != length:
        raise IOError("source returned %d bytes for %d+%d" % (len(data), offset, length))
    written = zero = 0
    zeros = bytes(settings.zero_chunk) if settings.zero_skip else b""
    view = memoryview(data)
    pos = 0
    while pos < length:
        step = min(settings.zero_chunk, length - pos)
        piece = view[pos:pos + step]
        if settings.zero_skip and piece == zeros[:step]:
            writer.zero(offset + pos, step)
            zero += step
        else:
            writer.write(offset + pos, piece)
            written += step
        pos += step
    return read, written, zero


def copy_extents(extents: List[ext.Extent], reader: SourceReader, writer: TargetWriter, journal: SyncJournal,
                 settings: CopySettings, progress: Optional[Progress] = None,
                 throttle: Optional[Throttle] = None) -> CopyStats:
    """Copy ``extents`` minus what the journal already confirms; confirm after each target flush."""
    stats = CopyStats()
    todo = ext.subtract(extents, journal.confirmed())
    stats.bytes_requested = ext.total(todo)
    reads = plan_reads(todo, settings)
    throttle = throttle or Throttle(settings.throttle_mbps * 1e6 if settings.throttle_mbps else None)
    done_total = ext.total(ext.normalize(extents)) - stats.bytes_requested  # progress counts a resumed part as done
    unconfirmed: List[ext.Extent] = []
    unconfirmed_bytes = 0
    last_confirm = time.monotonic()
    if progress:
        progress.update(done_total, stats)  # before the first read: what a resumed run already has

    def confirm() -> None:
        nonlocal unconfirmed, unconfirmed_bytes, last_confirm
        if not unconfirmed:
            return
        writer.flush()
        stats.flushes += 1
        journal.confirm(unconfirmed)
        unconfirmed = []
        unconfirmed_bytes = 0
        last_confirm = time.monotonic()

    # Bounded in-flight reads: memory stays at ~2 x streams x read_size whatever the disk size.
    window = settings.streams * 2
    pending = iter(reads)
    in_flight = set()
    failure: Optional[BaseException] = None
    with concurrent.futures.ThreadPoolExecutor(max_workers=settings.streams) as pool:
        def submit_next() -> bool:
            read = next(pending, None)
            if read is None:
                return False
            in_flight.add(pool.submit(_copy_one, read, reader, writer, settings, throttle))
            return True

        for dummy in range(window):
            if not submit_next():
                break
        while in_flight:
            finished, dummy = concurrent.futures.wait(in_flight, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in finished:
                in_flight.discard(future)
                try:
                    read, written, zero = future.result()
                except BaseException as exc:  # noqa: BLE001 - re-raised below after draining
                    failure = failure or exc
                    continue
                stats.reads += 1
                stats.bytes_read += read[1]
                stats.bytes_written += written
                stats.bytes_zero += zero
                unconfirmed.append(read)
                unconfirmed_bytes += read[1]
                done_total += read[1]
                if failure is None:
                    submit_next()
            if failure is None and (unconfirmed_bytes >= settings.confirm_bytes
                                    or time.monotonic() - last_confirm >= settings.confirm_seconds):
                confirm()
            if progress:
                progress.update(done_total, stats)
    if failure is not None:
        # Keep what did land: confirm it only if the target still flushes cleanly.
        try:
            confirm()
        except Exception:  # noqa: BLE001 - the original failure is the one to report
            pass
        raise failure
    confirm()
    stats.duration = time.monotonic() - stats.started
    if progress:
        progress.update(done_total, stats, final=True)
    return stats


def dump_stats(stats: CopyStats) -> str:
    return json.dumps(stats.as_dict(), sort_keys=True)
