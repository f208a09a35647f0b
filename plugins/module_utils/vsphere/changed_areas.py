# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Changed Block Tracking: every changed (or, with ``"*"``, allocated) extent of a disk.

``QueryChangedDiskAreas`` answers one *window* of the disk per call. Tools that
called it once at offset 0, or stopped at the first window with no changed
area, silently lost data. Here the windows are requested back to back from
``startOffset + length`` until the capacity is covered, and the coverage is
verified (contiguous, no gap, no overlap, reaching the end) before anything is
returned, because the caller will advance the changeId on the strength of it.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from typing import Any, Callable, List, NamedTuple, Tuple

from ansible_collections.reforge.hci.plugins.module_utils.migration import extents as ext
from ansible_collections.reforge.hci.plugins.module_utils.vsphere.errors import ChangeIdInvalid, CoverageError

FULL = "*"

Window = NamedTuple("Window", [("start", int), ("length", int), ("areas", List[Tuple[int, int]])])
ChangedAreas = NamedTuple("ChangedAreas", [("extents", List[Tuple[int, int]]), ("windows", int),
                                           ("change_id", str)])

# Safety net against a server that keeps answering zero-length windows.
MAX_WINDOWS = 10 ** 6


def verify_coverage(windows: List[Tuple[int, int]], capacity: int) -> None:
    """Raise CoverageError unless ``windows`` tile ``[0, capacity)`` exactly, in order."""
    pos = 0
    for start, length in windows:
        if start != pos:
            raise CoverageError("changed-area window starts at %d but the previous one ended at %d" % (start, pos))
        if length <= 0:
            raise CoverageError("changed-area window at %d has length %d" % (start, length))
        pos = start + length
    if pos < capacity:
        raise CoverageError("changed-area windows end at %d, before the disk capacity %d" % (pos, capacity))


def collect(query: Callable[[int], Window], capacity: int, change_id: str) -> ChangedAreas:
    """Loop ``query(start_offset)`` over windows until ``capacity``; verify; return clipped, merged extents."""
    windows: List[Tuple[int, int]] = []
    areas: List[Tuple[int, int]] = []
    offset = 0
    while offset < capacity:
        if len(windows) >= MAX_WINDOWS:
            raise CoverageError("more than %d changed-area windows; refusing to continue" % MAX_WINDOWS)
        window = query(offset)
        if window.start != offset:
            raise CoverageError("asked for the window at %d, got one at %d" % (offset, window.start))
        if window.length <= 0:
            raise CoverageError("zero-length changed-area window at %d" % offset)
        for start, length in window.areas:
            if start < window.start or start + length > window.start + window.length:
                raise CoverageError("changed area %d+%d lies outside its window %d+%d"
                                    % (start, length, window.start, window.length))
        windows.append((window.start, window.length))
        areas.extend(window.areas)
        offset = window.start + window.length
    verify_coverage(windows, capacity)
    return ChangedAreas(ext.clip(ext.normalize(areas), capacity), len(windows), change_id)


def pyvmomi_query(connection: Any, vm: Any, snapshot: Any, device_key: int, change_id: str
                  ) -> Callable[[int], Window]:
    """Bind ``QueryChangedDiskAreas`` for one disk at one snapshot; map changeId faults to ChangeIdInvalid."""
    from pyVmomi import vim, vmodl  # imported here so the pure loop above is usable without pyvmomi

    def query(start_offset: int) -> Window:
        try:
            info = connection.call(vm.QueryChangedDiskAreas, snapshot=snapshot, deviceKey=device_key,
                                   startOffset=start_offset, changeId=change_id)
        except (vim.fault.FileFault, vmodl.fault.InvalidArgument, vim.fault.InvalidState) as exc:
            if change_id == FULL:
                raise
            raise ChangeIdInvalid("changeId %s of disk %d is no longer valid (%s)"
                                  % (change_id, device_key, getattr(exc, "msg", None) or exc))
        return Window(int(info.startOffset), int(info.length),
                      [(int(a.start), int(a.length)) for a in (info.changedArea or [])])

    return query
