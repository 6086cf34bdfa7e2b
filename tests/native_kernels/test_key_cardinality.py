"""native_kernels.key_cardinality against Python sets: distinct hashes per key, capped at cap + 1,
through the table's growth, and bad input refused."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from native_kernels.key_cardinality import distinct_per_key

# The first example compiles the kernel (or loads it from numba's cache): no deadline.
jit_settings = settings(deadline=None)


def _reference(keys: list[int], hashes: list[int], n_keys: int, cap: int) -> list[int]:
    seen: dict[int, set[int]] = {}
    for k, h in zip(keys, hashes):
        seen.setdefault(k, set()).add(h)
    return [min(len(seen.get(k, ())), cap + 1) for k in range(n_keys)]


@jit_settings
@given(
    st.lists(st.tuples(st.integers(0, 9), st.integers(0, 2**64 - 1) | st.integers(0, 30)), max_size=3000),
    st.integers(0, 50),
)
def test_matches_sets(pairs: list[tuple[int, int]], cap: int) -> None:
    keys, hashes = [k for k, _ in pairs], [h for _, h in pairs]
    got = distinct_per_key(np.array(keys, np.int64), np.array(hashes, np.uint64), 10, cap)
    assert got.tolist() == _reference(keys, hashes, 10, cap)


def test_many_distinct_values_grow_the_table() -> None:
    rng = np.random.default_rng(5)
    hashes = rng.integers(0, 2**63, 50_000, dtype=np.uint64)
    keys = np.arange(50_000) % 7
    got = distinct_per_key(keys, np.concatenate([hashes[:25_000], hashes[:25_000]]), 7, 10**6)
    assert got.tolist() == _reference(keys.tolist(), hashes[:25_000].tolist() * 2, 7, 10**6)


@pytest.mark.parametrize(
    ("keys", "hashes", "message"),
    [([0, 1], [1], "length"), ([3], [1], "key ids"), ([-1], [1], "key ids")],
)
def test_refuses_bad_input(keys: list[int], hashes: list[int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        distinct_per_key(np.array(keys, np.int64), np.array(hashes, np.uint64), 3, 5)
