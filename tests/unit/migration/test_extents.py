"""Extent arithmetic used by the copy engine, the journal and the changed-area iterator."""
import random

from ansible_collections.reforge.hci.plugins.module_utils.migration import extents as ext


def _bits(extents, size):
    out = [0] * size
    for s, n in extents:
        for i in range(s, min(s + n, size)):
            out[i] = 1
    return out


def test_normalize_merges_touching_and_overlapping():
    assert ext.normalize([(10, 5), (0, 10), (12, 10), (40, 0), (30, 1)]) == [(0, 22), (30, 1)]


def test_coalesce_respects_gap_and_max_length():
    assert ext.coalesce([(0, 4), (6, 4), (20, 4)], max_gap=2, max_length=100) == [(0, 10), (20, 4)]
    assert ext.coalesce([(0, 4), (6, 4)], max_gap=2, max_length=8) == [(0, 4), (6, 4)]


def test_subtract_matches_bitmap_model():
    rng = random.Random(7)
    for dummy in range(300):
        a = [(rng.randrange(200), rng.randrange(1, 30)) for dummy in range(rng.randrange(6))]
        b = [(rng.randrange(200), rng.randrange(1, 30)) for dummy in range(rng.randrange(6))]
        want = [x & (1 - y) for x, y in zip(_bits(a, 240), _bits(b, 240))]
        assert _bits(ext.subtract(a, b), 240) == want
        assert ext.subtract(a, b) == ext.normalize(ext.subtract(a, b))


def test_chunks_and_clip():
    assert list(ext.chunks([(0, 10)], 4)) == [(0, 4), (4, 4), (8, 2)]
    assert ext.clip([(0, 10), (60, 10), (80, 5)], 64) == [(0, 10), (60, 4)]
