"""Index size per part stays under 20% of the part's compressed data, on realistic traffic
(bench/generate.py) and on the loghub corpus, flushed and merged as the engine does."""

import os

import pytest

from bench import compression
from engine.config import Storage
from engine.store.live import live_parts
from engine.store.part_reader import read_head

pytestmark = pytest.mark.slow  # builds big parts, flushed and merged

LIMIT = 0.20


def _check_parts(data_dir):
    heads = [read_head(p) for p in live_parts(data_dir)]
    assert heads
    for head in heads:
        assert head.index_bytes <= LIMIT * head.data_bytes, head
    return heads


def test_synthetic(tmp_path):
    # Token sets go to parts of TOKEN_MIN_BLOCKS (4) blocks or more: 60k rows in blocks of 16k.
    result = compression.synthetic(60_000, Storage(fsync=False, block_rows=16384), str(tmp_path))
    heads = _check_parts(str(tmp_path))
    assert sum(h.rows for h in heads) == 60_000
    merged = result["merged"]
    assert merged["parts"] == 1 and merged["index_share"] < LIMIT and merged["index_bytes"] > 0
    # Within that budget, the merged part keeps bitmaps of its most frequent message tokens.
    from engine.store.index_read import PartIndex
    from engine.store.part_reader import Part

    (path,) = live_parts(str(tmp_path))
    with Part(path) as part:
        assert part.meta.index["tokens"]
        assert PartIndex(part).token_rows(b"user") is not None


def test_loghub(tmp_path, corpus):
    result = compression.loghub(corpus, Storage(fsync=False), str(tmp_path))
    heads = _check_parts(str(tmp_path))
    assert sum(h.rows for h in heads) == 20_000
    assert result["merged"]["index_share"] < LIMIT
    # The days with thousands of rows carry a bloom and bitmaps, not only the tiny ones.
    assert max(h.index_bytes for h in heads) > 10_000
    assert os.path.isdir(str(tmp_path))


def test_big_parts_keep_a_bloom_when_data_compresses_hard(tmp_path, corpus):
    # At zstd 19 the data shrinks and the bloom must shrink with it, not vanish.
    compression.loghub(corpus, Storage(fsync=False, merge_zstd_level=19), str(tmp_path))
    from engine.store.part_reader import Part

    for path in live_parts(str(tmp_path)):
        with Part(path) as part:
            if part.meta.rows >= 2000:
                assert part.meta.index["split_blooms"], path
