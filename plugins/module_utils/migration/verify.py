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


def verify(source: Any, target: Any, allocated: List[ext.Extent], capacity: int, policy: str,
           sample_count: int = 64, sample_size: int = 1 * MiB, seed: int = 0) -> Dict[str, Any]:
    """``policy``: ``none``, ``sample`` (random ranges) or ``full`` (every allocated byte)."""
    if policy == "none":
        return {"policy": "none", "bytes_checked": 0}
    if policy == "full":
        ranges = ext.normalize(allocated)
    elif policy == "sample":
        ranges = sample_ranges(allocated, capacity, sample_count, sample_size, seed)
    else:
        raise ValueError("unknown verification policy %r" % policy)
    result = compare(source, target, ranges)
    result["policy"] = policy
    return result
