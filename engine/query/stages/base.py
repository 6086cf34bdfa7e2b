"""The stage contract: what follows `|` in a query.

Two families. A *row stage* (sort, limit, fields) reorders, cuts or shapes rows; the executor
runs the ones before any aggregation on rows in parts (`select`), and every one of them can
also run on JSON objects (`table`), which is how they apply after an aggregation. An
*aggregating stage* (stats, histogram, top, uniq) turns the selected rows into a table: it hands out
an `Aggregator` per query run that is fed block by block and then gives the result objects.

Stages are immutable parse results; per-run state lives in the aggregator, whose groups are
capped by `max_groups` (`query.max_groups`; None: no cap) so that its memory stays bounded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from engine.query.objects import JsonObject

if TYPE_CHECKING:
    from engine.query.block import Block


class Stage:
    position: int  # where the stage starts in the query text (for errors)
    aggregating = False

    def table(self, objects: list[JsonObject]) -> list[JsonObject]:
        """Apply to result objects (after an aggregation)."""
        raise NotImplementedError


class Aggregator:
    """Per-run state of an aggregating stage. `add` is called from one thread, once per block
    with the selected rows `idx` (int64 block-local row numbers, increasing)."""

    def preload(self) -> list[str]:
        """Columns `add` reads, so that pool workers decompress them beforehand."""
        return []

    def add(self, blk: Block, idx: np.ndarray) -> None:
        raise NotImplementedError

    def counted_columns(self) -> frozenset[str] | None:
        """The u8 and dictionary columns `add_counted` reads, when whole value combinations
        with their row counts are enough for this aggregation (it only counts rows, or
        distinct values, of those columns); None when it needs rows."""
        return None

    def add_counted(self, blk: Block, idx: np.ndarray, weights: np.ndarray) -> None:
        """Like `add`, where selected row `idx[i]` stands for `weights[i]` rows with the same
        values of `counted_columns` (`blk` holds value combinations, not rows)."""
        raise NotImplementedError

    def done(self) -> bool:
        """True once more rows cannot change the result: the executor stops reading."""
        return False

    def result(self) -> list[JsonObject]:
        raise NotImplementedError


class AggregatingStage(Stage):
    aggregating = True

    def aggregator(self, max_groups: int | None = None) -> Aggregator:
        """State for one run; it raises TooManyGroups once it holds more than `max_groups`."""
        raise NotImplementedError
