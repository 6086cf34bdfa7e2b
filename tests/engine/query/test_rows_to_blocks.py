"""engine.query.field_eval's rows-to-blocks step: the blocks holding a bitmap's rows, counted
up to each block's end for many rows, listed for few, both against a plain division."""

from __future__ import annotations

import numpy as np
import pytest
from pyroaring import BitMap

from engine.query.field_eval import _rows_to_blocks


@pytest.mark.parametrize("n_rows", [0, 1, 5, 40, 3000, 60_000])
def test_blocks_are_those_of_the_rows(n_rows):
    rng = np.random.default_rng(n_rows)
    block_rows, nblocks = 1024, 64
    rows = rng.choice(block_rows * nblocks, n_rows, replace=False).astype(np.uint32)
    halves = [BitMap(rows[: n_rows // 2]), BitMap(rows[n_rows // 2 :])]
    got = _rows_to_blocks(halves, block_rows, nblocks)
    assert got.tolist() == np.unique(rows.astype(np.int64) // block_rows).tolist()


def test_rows_in_the_first_and_last_row_of_blocks():
    rows = BitMap([0, 1023, 1024 * 7, 1024 * 64 - 1] + list(range(2048, 2048 + 200)))
    assert _rows_to_blocks([rows], 1024, 64).tolist() == [0, 2, 7, 63]
    assert _rows_to_blocks([], 1024, 64).tolist() == []
