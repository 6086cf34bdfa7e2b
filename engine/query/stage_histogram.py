"""`| histogram(STEP)`: rows per time bucket, `{"_time": bucket start, "count": n}`, oldest first.

Buckets are aligned to multiples of STEP since the epoch (UTC), so the same query always cuts
time the same way; empty buckets are left out. Rows of a part block are in time order, so a
block's buckets are runs of equal values: counted with one `diff`, not a sort.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.query.stage_base import AggregatingStage, Aggregator
from engine.query.values import format_time


@dataclass(frozen=True)
class Histogram(AggregatingStage):
    step_ns: int
    position: int = 0

    def aggregator(self):
        return _HistogramAggregator(self.step_ns)


class _HistogramAggregator(Aggregator):
    def __init__(self, step_ns: int):
        self.step = step_ns
        self.counts: dict[int, int] = {}

    def preload(self):
        return ["_time"]

    def add(self, blk, idx):
        if not len(idx):
            return
        buckets = blk.time()[idx] // self.step
        if len(buckets) > 1 and np.any(buckets[1:] < buckets[:-1]):
            buckets = np.sort(buckets)
        starts = np.concatenate([[0], np.flatnonzero(np.diff(buckets)) + 1])
        sizes = np.diff(np.concatenate([starts, [len(buckets)]]))
        counts = self.counts
        for b, n in zip(buckets[starts].tolist(), sizes.tolist()):
            counts[b] = counts.get(b, 0) + n

    def result(self):
        return [{"_time": format_time(b * self.step), "count": n} for b, n in sorted(self.counts.items())]
