"""Microbenchmarks of the native kernels on batches the size the parser and writer see.

Run with `make bench-kernels` (pytest-benchmark, `--benchmark-enable`); under plain `make test`
each runs once, as a smoke test. Every kernel is called once before timing, so compilation
(or loading numba's cache) is not measured. Targets: dictionary
encode of 100k short values < 2 ms; token hashes of 100k ~120-byte messages < 15 ms.
"""

from pathlib import Path

import numpy as np
import pytest

from native_kernels.bloom import bloom_contains_all, build_bloom
from native_kernels.dictionary import DictionaryEncoder
from native_kernels.gather import line_ends
from native_kernels.kv import extract_kv
from native_kernels.templates import template_keys
from native_kernels.tokens import hash_token, token_hashes

pytestmark = pytest.mark.slow  # microbenchmarks; under make test each runs once, as a smoke test

LOGHUB = Path("/work/shared/corpus/loghub")
ROWS = 100_000


def as_batch(rows: list[bytes]):
    lengths = np.fromiter(map(len, rows), np.int64, len(rows))
    ends = np.cumsum(lengths)
    return np.frombuffer(b"".join(rows), np.uint8), ends - lengths, ends


@pytest.fixture(scope="module")
def loghub_rows() -> list[bytes]:
    # 100k lines drawn from every loghub sample (mean 143 bytes), seeded.
    lines = [line for path in sorted(LOGHUB.glob("*_2k.log")) for line in path.read_bytes().splitlines()]
    picks = np.random.default_rng(0).integers(0, len(lines), ROWS)
    return [lines[i] for i in picks]


def test_bench_dictionary_encode(benchmark):
    # 100k host-like values, 100 distinct, all already in the table (the steady state).
    values = [b"web-%02d.dc1.example.org" % i for i in range(100)]
    picks = np.random.default_rng(0).integers(0, len(values), ROWS)
    batch = as_batch([values[i] for i in picks])
    enc = DictionaryEncoder()
    enc.encode(*batch)
    ids, new = benchmark(enc.encode, *batch)
    assert ids.size == ROWS and new == []


def test_bench_dictionary_encode_high_cardinality(benchmark):
    # procid-like: 100k values, 20k distinct, into a table that is reset before each round.
    picks = np.random.default_rng(0).integers(0, 20_000, ROWS)
    batch = as_batch([b"%d" % i for i in picks])

    def fresh_encode():
        enc = DictionaryEncoder()
        return enc.encode(*batch)

    fresh_encode()
    ids, new = benchmark(fresh_encode)
    assert len(new) == np.unique(picks).size


def test_bench_extract_kv(benchmark, loghub_rows):
    batch = as_batch(loghub_rows)
    extract_kv(*batch)
    pairs = benchmark(extract_kv, *batch)
    assert len(pairs) > 10_000


@pytest.mark.parametrize("clip", [None, 120], ids=["loghub", "loghub-clipped-120"])
def test_bench_token_hashes(benchmark, loghub_rows, clip):
    batch = as_batch([row[:clip] for row in loghub_rows])
    token_hashes(*batch)
    offsets, hashes = benchmark(token_hashes, *batch)
    assert offsets.size == ROWS + 1 and hashes.size > 10 * ROWS


@pytest.fixture(scope="module")
def block_hashes(loghub_rows):
    # The token hashes of one 64k-row block, duplicates included (what the writer has).
    return token_hashes(*as_batch(loghub_rows[: 1 << 16]))[1]


def test_bench_build_bloom(benchmark, block_hashes):
    build_bloom(block_hashes)
    words = benchmark(build_bloom, block_hashes)
    assert bloom_contains_all(words, block_hashes)


def test_bench_bloom_contains_all(benchmark, block_hashes):
    # A three-word query against one block's filter: the per-block cost of a word search.
    words = build_bloom(block_hashes)
    query = np.array([hash_token(w) for w in (b"failed", b"password", b"root")], np.uint64)
    bloom_contains_all(words, query)
    benchmark(bloom_contains_all, words, query)


def test_bench_template_keys(benchmark, loghub_rows):
    # The kind of each line, for the value frames of a merged part (once per row per merge).
    batch = as_batch(loghub_rows)
    template_keys(*batch)
    keys = benchmark(template_keys, *batch)
    assert keys.size == ROWS and 10 < np.unique(keys).size < ROWS // 2


def test_bench_line_ends(benchmark, loghub_rows):
    # Splitting one block's decompressed `lines` stream, on every message read.
    buf = np.frombuffer(b"".join(row + b"\n" for row in loghub_rows[: 1 << 16]), np.uint8)
    line_ends(buf, 0x0A)
    ends = benchmark(line_ends, buf, 0x0A)
    assert ends.size == 1 << 16
