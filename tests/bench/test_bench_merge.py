"""Micro-benchmark of one level-1 merge as the writer makes it at 50,000 msgs/s: 4 s of flushes
(20 parts of 10,000 rows, zstd 1, no index) into one part with its index, at the interim level
(3: its output will be merged again) and at the final level (9). Run with `make bench-kernels`
(pytest-benchmark) and compare the medians in one invocation; nothing is asserted about time,
only that the merge holds every row and the interim one is marked."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from bench.generate import messages
from bench.rows import rows_from_lines
from engine.config import Storage
from engine.store.index_build import make_index_builder
from engine.store.layout import part_name
from engine.store.live import live_parts
from engine.store.part_reader import read_head
from engine.store.rows import compact
from engine.write.flush_writer import FlushWriter
from engine.write.merge import merge_parts

pytestmark = pytest.mark.slow  # microbenchmarks; under make test each runs once, as a smoke test

FLUSHES, FLUSH_ROWS = 20, 10_000
STORAGE = Storage(fsync=False)


@pytest.fixture(scope="module")
def rows():
    r = rows_from_lines(messages(FLUSHES * FLUSH_ROWS, seed=1))
    r.time = np.sort(r.time)
    return r


@pytest.mark.parametrize("level", [3, 9], ids=["interim", "final"])
def test_level1_merge(benchmark, tmp_path, rows, level):
    builder = make_index_builder(STORAGE)

    def setup():
        folder = tmp_path / "data"
        shutil.rmtree(folder, ignore_errors=True)
        writer = FlushWriter(str(folder), "me", STORAGE.block_rows, STORAGE.zstd_level, False)
        for k in range(FLUSHES):
            # Compacted, as the writer's flushes are (`concat` keeps only the dictionary values a
            # flush uses): a bare `take` would give every flush all 200k rows' process ids.
            flush = compact(rows.take(np.arange(k * FLUSH_ROWS, (k + 1) * FLUSH_ROWS)))
            writer.write_flush(flush, {"r": k + 1})
        paths = live_parts(str(folder))
        inputs = [(p, read_head(p)) for p in paths]
        first = min(h.min_time for _, h in inputs)
        out = os.path.join(os.path.dirname(paths[0]), part_name(1, first, "me", 10**6))
        return (inputs, out), {}

    def merge(inputs, out):
        return merge_parts(
            inputs,
            out,
            instance="me",
            zstd_level=level,
            block_rows=STORAGE.block_rows,
            index_builder=builder,
            fsync=False,
            interim=level < STORAGE.merge_zstd_level,
        )

    meta = benchmark.pedantic(merge, setup=setup, rounds=3)
    assert meta.rows == FLUSHES * FLUSH_ROWS and meta.interim == (level == 3)
