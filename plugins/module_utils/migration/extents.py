# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Byte extents of a disk: normalisation, coalescing, subtraction and chunking.

An extent is a ``(start, length)`` tuple of ints. Everything here is pure so the
copy engine, the journal and the changed-area iterator agree on one arithmetic.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from typing import Iterable, Iterator, List, Tuple

Extent = Tuple[int, int]


def normalize(extents: Iterable[Extent]) -> List[Extent]:
    """Sort, drop empty extents and merge overlapping or touching ones."""
    out: List[List[int]] = []
    for start, length in sorted((int(s), int(n)) for s, n in extents if int(n) > 0):
        if out and start <= out[-1][0] + out[-1][1]:
            out[-1][1] = max(out[-1][0] + out[-1][1], start + length) - out[-1][0]
        else:
            out.append([start, length])
    return list(map(tuple, out))


def coalesce(extents: Iterable[Extent], max_gap: int, max_length: int) -> List[Extent]:
    """Merge extents separated by at most ``max_gap`` bytes into reads of at most ``max_length``.

    Reading a small gap costs less than one more HTTP round trip, so nearby CBT
    extents (64 KiB granularity) become one large Range request. Extents longer
    than ``max_length`` are left whole here; :func:`chunks` splits them.
    """
    out: List[List[int]] = []
    for start, length in normalize(extents):
        if out:
            prev_start, prev_len = out[-1]
            gap = start - (prev_start + prev_len)
            merged = start + length - prev_start
            if gap <= max_gap and merged <= max_length:
                out[-1][1] = merged
                continue
        out.append([start, length])
    return list(map(tuple, out))


def subtract(extents: Iterable[Extent], remove: Iterable[Extent]) -> List[Extent]:
    """Return the parts of ``extents`` not covered by ``remove`` (both normalised first)."""
    todo = normalize(extents)
    holes = normalize(remove)
    out: List[Extent] = []
    j = 0
    for start, length in todo:
        end = start + length
        pos = start
        while j < len(holes) and holes[j][0] + holes[j][1] <= pos:
            j += 1
        k = j
        while k < len(holes) and holes[k][0] < end:
            h_start, h_len = holes[k]
            if h_start > pos:
                out.append((pos, h_start - pos))
            pos = max(pos, h_start + h_len)
            if pos >= end:
                break
            k += 1
        if pos < end:
            out.append((pos, end - pos))
    return out


def intersect(extents: Iterable[Extent], other: Iterable[Extent]) -> List[Extent]:
    """The parts of ``extents`` that ``other`` covers too (both normalised first)."""
    a = normalize(extents)
    return subtract(a, subtract(a, other))


def total(extents: Iterable[Extent]) -> int:
    return sum(length for _start, length in extents)


def chunks(extents: Iterable[Extent], chunk_size: int) -> Iterator[Extent]:
    """Split extents into pieces of at most ``chunk_size`` bytes (the unit of zero-skip and confirmation)."""
    for start, length in extents:
        pos = start
        end = start + length
        while pos < end:
            step = min(chunk_size, end - pos)
            yield (pos, step)
            pos += step


def clip(extents: Iterable[Extent], capacity: int) -> List[Extent]:
    """Clip extents to ``[0, capacity)``; CBT answers are 64 KiB aligned and may overshoot the tail."""
    out = []
    for start, length in extents:
        end = min(start + length, capacity)
        if end > start:
            out.append((start, end - start))
    return out
