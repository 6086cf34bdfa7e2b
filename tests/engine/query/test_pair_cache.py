"""The pair cache: bounded in bytes, least recently used out first, never answering for an owner
that is gone, values read-only; and a part's blocks answering field filters from it."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from engine.query.catalog import Catalog
from engine.query.execute import PreparedQuery
from engine.query.pair_cache import PAIRS, PairCache
from tests.engine.query.rowgen import record, write_records

BASE = 1_795_000_000 * 10**9


class Owner:
    """Stands where a part's scope does: anything that can be named weakly."""


def test_keeps_within_budget_and_drops_least_recent_first():
    cache = PairCache(budget=3 * 800)
    owner = Owner()
    arrays = {k: np.zeros(100, np.float64) for k in "abcd"}  # 800 bytes each
    for k in "abc":
        cache.put(owner, k, arrays[k], (arrays[k],))
    assert cache.get(owner, "a") is arrays["a"]  # now b is the least recent
    cache.put(owner, "d", arrays["d"], (arrays["d"],))
    assert cache.get(owner, "b") is None
    assert [cache.get(owner, k) is arrays[k] for k in "acd"] == [True, True, True]
    assert cache.held == 3 * 800


def test_too_big_for_the_budget_is_not_kept():
    cache = PairCache(budget=100)
    owner = Owner()
    big = np.zeros(200, np.uint8)
    cache.put(owner, "big", big, (big,))
    assert cache.get(owner, "big") is None
    assert cache.held == 0
    assert big.flags.writeable  # left as it was


def test_kept_arrays_are_read_only():
    cache = PairCache()
    owner = Owner()
    a = np.arange(5)
    cache.put(owner, "a", a, (a,))
    with pytest.raises(ValueError):
        a[0] = 7


def test_an_owner_gone_is_never_answered_for():
    cache = PairCache()
    owner = Owner()
    a = np.arange(5)
    cache.put(owner, "a", a, (a,))
    del owner
    gc.collect()
    # A new owner may get the dead one's id; it must not see the old value either way.
    others = [Owner() for _ in range(100)]
    assert all(cache.get(o, "a") is None for o in others)


def test_field_filters_answer_the_same_from_the_cache(tmp_path):
    records = [
        record(
            time=BASE + i * 10**6,
            message=b"m",
            fields=[(b"status", b"503" if i % 7 == 0 else b"200"), (b"duration_ms", str(i * 10).encode())],
        )
        for i in range(300)
    ]
    write_records(str(tmp_path), records, block_rows=64)
    catalog = Catalog(str(tmp_path))
    PAIRS.clear()
    queries = {
        "status:503 | stats count() as n": sum(1 for i in range(300) if i % 7 == 0),
        "duration_ms:>2500 | stats count() as n": sum(1 for i in range(300) if i * 10 > 2500),
        "duration_ms:[100 TO 200] status:200 | stats count() as n": sum(1 for i in range(10, 21) if i % 7 != 0),
    }
    for text, want in queries.items():
        cold = list(PreparedQuery(text).objects(catalog))
        assert PAIRS.held > 0
        warm = list(PreparedQuery(text).objects(catalog))
        assert cold == warm == [{"n": want}], text


def test_a_key_among_long_values_is_kept_without_them(tmp_path):
    # A flushed part does not cut values into frames by key: the key's values lie among the
    # other keys' (here 300 bytes a row), and only its own bytes are kept.
    records = [
        record(
            time=BASE + i * 10**6,
            message=b"m",
            fields=[(b"filler", b"f" * 300), (b"status", b"503" if i % 3 == 0 else b"200"), (b"empty", b"")],
        )
        for i in range(1000)
    ]
    write_records(str(tmp_path), records, block_rows=512)
    catalog = Catalog(str(tmp_path))
    PAIRS.clear()
    for _ in range(2):
        assert list(PreparedQuery("status:503 | stats count() as n").objects(catalog)) == [{"n": 334}]
        assert list(PreparedQuery('empty:="" | stats count() as n').objects(catalog)) == [{"n": 1000}]
    # Two keys of 1000 pairs: row, start and end (24 bytes) and at most 3 bytes a value each,
    # not the 300 bytes of filler a row that the block's buffer holds.
    assert PAIRS.held <= 2 * 1000 * 27
