"""`| histogram(STEP)`: rows per time bucket, `{"_time": bucket start, "count": n}`, oldest first.

Buckets are aligned to multiples of STEP since the epoch (UTC), so the same query always cuts
time the same way; empty buckets are left out. Rows of a part block are in time order, so a
block's buckets are runs of equal values: counted with one `diff`, not a sort.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from engine.query.limits import GroupCap, group_cap
from engine.query.objects import JsonObject
from engine.query.stages.base import AggregatingStage, Aggregator
from engine.query.values import format_time
from engine.units import Duration

if TYPE_CHECKING:
    from engine.query.block import Block


@dataclass(frozen=True)
class Histogram(AggregatingStage):
    step_ns: int
    position: int = 0

    def aggregator(self, max_groups: int | None = None) -> Aggregator:
        cap = group_cap(max_groups, f"histogram({Duration(self.step_ns)})", self.position)
        return _HistogramAggregator(self.step_ns, cap)


class _HistogramAggregator(Aggregator):
    def __init__(self, step_ns: int, cap: GroupCap | None):
        self.step = step_ns
        self.cap = cap  # on the buckets with rows
        self.counts: dict[int, int] = {}

    def preload(self) -> list[str]:
        return ["_time"]

    def add(self, blk: Block, idx: np.ndarray) -> None:
        if not len(idx):
            return
        t = blk.select(blk.time(), idx)
        first, last = int(t[0]) // self.step, int(t[-1]) // self.step
        if last >= first and last - first < len(t) and (len(t) < 2 or blk.time_ordered):
            # Part blocks are sorted by time: bucket edges cut the rows, no per-row division.
            edges = np.arange(first, last + 2, dtype=np.int64) * self.step
            sizes = np.diff(np.searchsorted(t, edges, side="left"))
            buckets = np.arange(first, last + 1)
            keep = sizes > 0
            pairs = zip(buckets[keep].tolist(), sizes[keep].tolist())
        else:
            b, sizes = np.unique(t // self.step, return_counts=True)
            pairs = zip(b.tolist(), sizes.tolist())
        counts = self.counts
        for b, n in pairs:
            counts[b] = counts.get(b, 0) + n
        if self.cap is not None:
            self.cap.check(len(counts))

    def result(self) -> list[JsonObject]:
        return [{"_time": format_time(b * self.step), "count": n} for b, n in sorted(self.counts.items())]
