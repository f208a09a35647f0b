# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checksum comparison of the frozen source and the target before a cutover trusts the copy."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import hashlib
import random
from typing import Any, Dict, List

from ansible_collections.reforge.hci.plugins.module_utils.migration import extents as ext
from ansible_collections.reforge.hci.plugins.module_utils.migration.errors import VerificationError

MiB = 1024 * 1024


def sample_ranges(allocated: List[ext.Extent], capacity: int, count: int, size: int, seed: int) -> List[ext.Extent]:
    """Half the samples inside allocated data (where a copy bug shows), half anywhere (holes must stay zero)."""
    rng = random.Random(seed)
    out = []
    data = [e for e in allocated if e[1] > 0]
    for i in range(count):
        if data and i % 2 == 0:
            start, length = rng.choice(data)
            offset = start + rng.randrange(max(1, length - min(size, length) + 1))
            out.append((offset, min(size, start + length - offset)))
        else:
            offset = rng.randrange(max(1, capacity - size + 1))
            out.append((offset, min(size, capacity - offset)))
    return ext.normalize(out)


def compare(source: Any, target: Any, ranges: List[ext.Extent], read_size: int = 4 * MiB) -> Dict[str, Any]:
    """sha256 of each range on both sides; raise VerificationError on the first difference."""
    src_hash = hashlib.sha256()
    dst_hash = hashlib.sha256()
    checked = 0
    for offset, length in ext.chunks(ranges, read_size):
        a = source.read(offset, length)
        b = target.read(offset, length)
        if hashlib.sha256(a).digest() != hashlib.sha256(b).digest():
            raise VerificationError("source and target differ at %d+%d" % (offset, length))
        src_hash.update(a)
        dst_hash.update(b)
        checked += length
    return {"bytes_checked": checked, "ranges": len(ranges), "sha256": src_hash.hexdigest()}


def confirm_zero(target: Any, ranges: List[ext.Extent], capacity: int, read_size: int = 4 * MiB) -> Dict[str, Any]:
    """Every byte of ``ranges`` reads zero on the target; reads only what the target's own map lists as data."""
    mapped = target.allocated(capacity) if hasattr(target, "allocated") else None
    to_read = ranges if mapped is None else ext.intersect(ranges, mapped)
    for offset, length in ext.chunks(to_read, read_size):
        data = target.read(offset, length)
        if len(data) != length or data.count(0) != length:
            first = next((i for i, byte in enumerate(data) if byte), len(data))
            raise VerificationError("target is not zero at %d+%d (first non-zero byte at %d), where the source "
                                    "has no allocated extent and reads zeros" % (offset, length, offset + first))
    return {"bytes_zero_confirmed": ext.total(ranges), "bytes_zero_read": ext.total(to_read)}


def verify(source: Any, target: Any, allocated: List[ext.Extent], capacity: int, policy: str,
           sample_count: int = 64, sample_size: int = 1 * MiB, seed: int = 0) -> Dict[str, Any]:
    """``policy``: ``none``, ``sample`` (random ranges) or ``full`` (the whole disk).

    ``full`` needs ``allocated`` to be the source's whole allocation map (CBT ``*`` at the frozen
    snapshot), whatever this sync copied: the allocated extents are compared by checksum and the rest
    of the target is confirmed to read zeros, from the target's allocation map where it has one.
    ``bytes_checked`` is then the capacity: ``bytes_compared`` plus ``bytes_zero_confirmed``.
    """
    if policy == "none":
        return {"policy": "none", "bytes_checked": 0}
    if policy == "full":
        data = ext.normalize(ext.clip(allocated, capacity))
        result = compare(source, target, data)
        result.update(confirm_zero(target, ext.subtract([(0, capacity)], data), capacity))
        result.update(policy=policy, bytes_compared=result["bytes_checked"],
                      bytes_checked=result["bytes_checked"] + result["bytes_zero_confirmed"])
        return result
    if policy == "sample":
        ranges = sample_ranges(allocated, capacity, sample_count, sample_size, seed)
    else:
        raise ValueError("unknown verification policy %r" % policy)
    result = compare(source, target, ranges)
    result["policy"] = policy
    return result
