"""build_bloom and its lookups against the reference in naive.py; no false negatives, few positives."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import naive
from native_kernels.bloom import (
    FORMAT_VERSION,
    bloom_contains,
    bloom_contains_all,
    build_bloom,
    check_filters,
    each_contains_all,
)
from native_kernels.tokens import token_hashes

# The first example of a test compiles kernels (or loads them from numba's cache): no deadline.
jit_settings = settings(deadline=None)

u64 = st.integers(0, (1 << 64) - 1)
hash_lists = st.lists(u64, max_size=300).map(lambda xs: np.array(xs, np.uint64))


@jit_settings
@given(hash_lists, st.integers(1, 24))
def test_build_matches_reference(hashes, bits_per_item):
    words = build_bloom(hashes, bits_per_item)
    assert words.dtype == np.uint64
    assert words.tolist() == naive.build_bloom(hashes, bits_per_item).tolist()


@jit_settings
@given(hash_lists, st.lists(u64, max_size=50), st.integers(1, 24))
def test_no_false_negatives_and_lookups_match_reference(hashes, probes, bits_per_item):
    words = build_bloom(hashes, bits_per_item)
    assert bloom_contains_all(words, hashes)
    for h in hashes.tolist():
        assert bloom_contains(words, h)
    for h in probes:
        assert bloom_contains(words, h) == naive.bloom_contains(words, h)
    probes = np.array(probes, np.uint64)
    assert bloom_contains_all(words, probes) == all(naive.bloom_contains(words, int(h)) for h in probes)


def test_size_and_header():
    words = build_bloom(np.zeros(0, np.uint64))
    assert words.size == 1 + 512 // 64 and not words[1:].any()
    assert int(words[0]) == 7 | FORMAT_VERSION << 16  # k = round(10 ln 2) = 7
    # 100 distinct * 10 bits = 1000 -> 1024 bits (whole words); duplicates do not count.
    hashes = np.repeat(np.arange(1, 101, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15), 5)
    assert build_bloom(hashes).size == 1 + 1024 // 64
    # 100 * 21 = 2100 -> 2112 bits: no rounding up to a power of two.
    assert build_bloom(hashes, bits_per_item=21).size == 1 + 2112 // 64
    assert int(build_bloom(hashes, bits_per_item=1)[0]) & 0xFF == 1


def fp_rate(members: np.ndarray, others: np.ndarray) -> float:
    words = build_bloom(members, bits_per_item=10)
    return sum(bloom_contains(words, h) for h in others.tolist()) / others.size


def test_false_positive_rate_on_random_hashes():
    rng = np.random.default_rng(7)
    members = rng.integers(0, 1 << 64, 100_000, dtype=np.uint64, endpoint=False)
    others = rng.integers(0, 1 << 64, 100_000, dtype=np.uint64, endpoint=False)
    others = others[~np.isin(others, members)]
    rate = fp_rate(members, others)
    assert rate < 0.02  # theory for 10 bits per item and k = 7: 0.82%


def test_false_positive_rate_on_token_hashes():
    # Real token hashes of words that differ in one or two characters: checks that both
    # 32-bit halves of the token hash are well mixed, not only that double hashing works.
    text = b" ".join(b"w%d" % i for i in range(200_000))
    _, hashes = token_hashes(*naive.batch([text]))
    rate = fp_rate(hashes[:100_000], hashes[100_000:])
    assert rate < 0.02


def test_contains_all_of_nothing_is_true():
    words = build_bloom(np.array([1, 2, 3], np.uint64))
    assert bloom_contains_all(words, np.zeros(0, np.uint64))


@pytest.mark.parametrize(
    "damage",
    [
        lambda w: w[:-1],  # truncated
        lambda w: w[:5],  # fewer than MIN_BITS
        lambda w: np.concatenate([[np.uint64(int(w[0]) & ~0xFF)], w[1:]]),  # k = 0
        lambda w: np.concatenate([[np.uint64(int(w[0]) & ~(0xFF << 16) | 1 << 16)], w[1:]]),  # version 1
        lambda w: np.concatenate([[np.uint64(int(w[0]) | 9 << 8)], w[1:]]),  # a version 1 log2
        lambda w: np.concatenate([[np.uint64(int(w[0]) | 1 << 40)], w[1:]]),  # reserved bits
        lambda w: w.astype(np.int64),
        lambda w: w[:1],
    ],
)
def test_damaged_filters_are_refused(damage):
    words = damage(build_bloom(np.array([1, 2, 3], np.uint64)))
    with pytest.raises(ValueError):
        bloom_contains(words, 1)
    with pytest.raises(ValueError):
        bloom_contains_all(words, np.array([1], np.uint64))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        build_bloom(np.array([1, 2], np.int64))
    with pytest.raises(ValueError):
        build_bloom(np.array([1, 2], np.uint64), bits_per_item=0)
    with pytest.raises(ValueError):
        bloom_contains_all(build_bloom(np.array([1], np.uint64)), np.array([1], np.int64))


def test_more_items_are_held_and_sized_for():
    """`more` (spelling hashes beside a block's tokens): each is found, and the filter is the
    one built of both together (same size, same bits), however the two overlap."""
    rng = np.random.default_rng(3)
    hashes = rng.integers(0, 2**63, 5000, dtype=np.uint64)
    more = rng.integers(0, 2**63, 300, dtype=np.uint64)
    both = build_bloom(np.concatenate([hashes, hashes[:100], more, more[:50]]), 7)
    built = build_bloom(np.concatenate([hashes, hashes[:100]]), 7, np.concatenate([more, more[:50]]))
    assert (built == both).all()
    assert all(bloom_contains(built, int(h)) for h in more)
    assert (build_bloom(hashes, 7, np.empty(0, np.uint64)) == build_bloom(hashes, 7)).all()


def test_each_contains_all_answers_as_each_filter_alone():
    rng = np.random.default_rng(4)
    filters = [
        build_bloom(rng.integers(0, 2**63, size=n, dtype=np.uint64), bits)
        for n, bits in [(1, 3), (50, 7), (3000, 10), (0, 7)]
    ]
    words = np.concatenate(filters)
    ends = np.zeros(len(filters) + 1, np.int64)
    np.cumsum([f.size for f in filters], out=ends[1:])
    check_filters(words, ends)
    probes = [filters[1][1:2].copy(), rng.integers(0, 2**63, size=2, dtype=np.uint64), np.empty(0, np.uint64)]
    for hashes in probes:
        want = [bloom_contains_all(f, hashes) for f in filters]
        assert each_contains_all(words, ends, hashes).tolist() == want


def test_check_filters_refuses_damaged_ones():
    f = build_bloom(np.arange(10, dtype=np.uint64), 7)
    words = np.concatenate([f, f])
    check_filters(words, np.array([0, f.size, 2 * f.size]))
    with pytest.raises(ValueError):
        check_filters(words, np.array([0, 1, 2 * f.size]))  # a filter of one word
    with pytest.raises(ValueError):
        check_filters(words, np.array([0, f.size]))  # words left over
    bad = words.copy()
    bad[f.size] = np.uint64(40)  # k past MAX_K
    with pytest.raises(ValueError, match="filter 1"):
        check_filters(bad, np.array([0, f.size, 2 * f.size]))
