"""native_kernels.roaring against pyroaring: every group serialized byte for byte as
`BitMap(rows)`, `run_optimize()`, `serialize()` (arrays, bitsets, runs, the 4-container offset
threshold, rows up to 2^32 - 1), `group_rows` as a stable argsort, and bad input refused."""

from __future__ import annotations

import array

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyroaring import BitMap

from engine.store.index_format import encode_bitmap_set, encode_bitmap_set_of
from native_kernels.roaring import encode_bitmaps, group_rows

# The first example compiles the kernels (or loads them from numba's cache): no deadline.
jit_settings = settings(deadline=None, max_examples=200)


def _pyroaring(rows: np.ndarray) -> bytes:
    bm = BitMap(array.array("I", rows.astype(np.uint32).tobytes()))
    bm.run_optimize()
    return bm.serialize()


@st.composite
def _row_sets(draw: st.DrawFn) -> np.ndarray:
    """Ascending distinct rows shaped to hit every container kind: scattered (arrays), dense
    (bitsets), runs, just under and over 4096 in a container, several containers, high keys."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    shape = draw(st.sampled_from(["scattered", "dense", "runs", "edge", "wide", "top"]))
    if shape == "scattered":
        rows = rng.integers(0, draw(st.integers(1, 300_000)), draw(st.integers(1, 3000)))
    elif shape == "dense":
        rows = rng.integers(0, 140_000, draw(st.integers(5000, 120_000)))
    elif shape == "runs":
        starts = rng.integers(0, 400_000, draw(st.integers(1, 40)))
        rows = np.concatenate([np.arange(s, s + rng.integers(1, 5000)) for s in starts])
    elif shape == "edge":
        base = draw(st.integers(0, 5)) << 16
        rows = base + rng.choice(65536, draw(st.integers(4090, 4100)), replace=False)
    elif shape == "wide":
        rows = rng.integers(0, 1 << 32, draw(st.integers(1, 40)))
    else:
        rows = (1 << 32) - 1 - rng.integers(0, 70_000, draw(st.integers(1, 5000)))
    return np.unique(rows).astype(np.int64)


@jit_settings
@given(st.lists(_row_sets(), min_size=1, max_size=6))
def test_encode_bitmaps_matches_pyroaring(groups: list[np.ndarray]) -> None:
    ends = np.cumsum([0] + [len(g) for g in groups])
    blob, offsets = encode_bitmaps(np.concatenate(groups), ends)
    assert offsets[0] == 0 and offsets[-1] == len(blob)
    for i, rows in enumerate(groups):
        assert blob[offsets[i] : offsets[i + 1]] == _pyroaring(rows)


@pytest.mark.parametrize(
    "rows",
    [
        [0],
        [65535],
        [(1 << 32) - 1],
        list(range(4096)),
        list(range(0, 8194, 2)),
        list(range(65536)),
        [0, 1 << 16, 2 << 16, 3 << 16],
    ],
    ids=[
        "zero",
        "last-of-container",
        "top",
        "full-array-run",
        "array-4097-bitset",
        "full-container",
        "four-containers",
    ],
)
def test_encode_bitmaps_edges(rows: list[int]) -> None:
    blob, offsets = encode_bitmaps(np.array(rows, np.int64), np.array([0, len(rows)]))
    assert blob == _pyroaring(np.array(rows)) and offsets.tolist() == [0, len(blob)]


@pytest.mark.parametrize(
    ("rows", "ends", "message"),
    [
        ([3, 2], [0, 2], "ascending"),
        ([1, 1], [0, 2], "ascending"),
        ([1 << 32], [0, 1], "row numbers"),
        ([-1], [0, 1], "row numbers"),
        ([1, 2], [0, 0, 2], "not empty"),
        ([1, 2], [0, 1], "len"),
    ],
)
def test_encode_bitmaps_refuses_bad_input(rows: list[int], ends: list[int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        encode_bitmaps(np.array(rows, np.int64), np.array(ends, np.int64))


def test_groups_may_restart_below_the_last() -> None:
    blob, offsets = encode_bitmaps(np.array([5, 9, 1, 2]), np.array([0, 2, 4]))
    assert blob == _pyroaring(np.array([5, 9])) + _pyroaring(np.array([1, 2]))


@jit_settings
@given(st.lists(st.integers(0, 40), max_size=500), st.integers(41, 100))
def test_group_rows_is_a_stable_sort(codes_list: list[int], n_codes: int) -> None:
    codes = np.array(codes_list, np.int64)
    rows_of = np.arange(len(codes)) * 3 + 7
    present, ends, rows = group_rows(codes, n_codes, rows_of)
    order = np.argsort(codes, kind="stable")
    assert rows.tolist() == rows_of[order].tolist()
    assert present.tolist() == sorted(set(codes_list))
    assert np.diff(ends).tolist() == [codes_list.count(c) for c in present.tolist()]


def test_group_rows_refuses_codes_out_of_range() -> None:
    with pytest.raises(ValueError, match="codes"):
        group_rows(np.array([0, 5]), 5, np.arange(2))


def test_bitmap_set_of_matches_bitmap_set() -> None:
    groups = [np.array([0, 5, 9]), np.array([1]), np.arange(70_000, 80_000)]
    blob, offsets = encode_bitmaps(np.concatenate(groups), np.cumsum([0, 3, 1, 10_000]))
    values = [b"db-01", b"", b"web-02"]
    assert encode_bitmap_set_of(values, blob, offsets) == encode_bitmap_set(values, [_pyroaring(g) for g in groups])
    with pytest.raises(ValueError, match="ends"):
        encode_bitmap_set_of(values[:2], blob, offsets)
