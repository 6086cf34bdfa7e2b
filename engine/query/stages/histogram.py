"""`| histogram(STEP[, bytes]) [by (f1, ...)]`: rows (and, with `bytes`, message bytes) per time
bucket, `{"_time": bucket start, f1: ..., "count": n[, "bytes": b]}`, oldest first, then by the
`by` values.

Buckets are aligned to multiples of STEP since the epoch (UTC), so the same query always cuts
time the same way; empty buckets are left out. A stage made in code may move the edges by
`offset_ns` (LogQL windows end at the query's start plus multiples of its step). Rows of a part
block are in time order, so without `by` and `bytes` a block's buckets are runs of equal values:
counted with one `diff`, not a sort. Otherwise each block's (bucket, group) cells are counted
with one `np.bincount` (a block spans few buckets and groups; `np.unique` when it does not), and
Python runs once per distinct cell, never per row.

`query.max_groups` caps the cells held (buckets × groups), as it caps the groups of `stats`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from engine.query.field_names import Field
from engine.query.grouping import Grouper
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
    by: tuple[Field, ...] = ()
    sum_bytes: bool = False  # also sum the message bytes of each cell
    offset_ns: int = 0  # bucket edges at offset_ns + k * step_ns
    position: int = 0

    def aggregator(self, max_groups: int | None = None) -> HistogramAggregator:
        what = f"histogram({Duration(self.step_ns)})"
        if self.by:
            what += f" by ({', '.join(f.name for f in self.by)})"
        return HistogramAggregator(self, group_cap(max_groups, what, self.position))


class Cells(NamedTuple):
    """A histogram's result as arrays, one entry per non-empty (bucket, group) cell, ordered by
    bucket then group number: bucket k starts at offset_ns + k * step_ns."""

    bucket: np.ndarray  # int64
    group: np.ndarray  # int64, see HistogramAggregator.key
    rows: np.ndarray  # int64
    nbytes: np.ndarray  # int64 message bytes (zeros unless the stage sums them)


class HistogramAggregator(Aggregator):
    def __init__(self, stage: Histogram, cap: GroupCap | None):
        self.stage = stage
        self.step = stage.step_ns
        self.offset = stage.offset_ns
        self.cap = cap  # on the cells with rows
        self.grouper = Grouper(list(stage.by))
        self.counts: dict[tuple[int, int], int] = {}
        self.sizes: dict[tuple[int, int], int] = {}

    def preload(self) -> list[str]:
        return ["_time"] + self.grouper.preload() + (["message"] if self.stage.sum_bytes else [])

    def add(self, blk: Block, idx: np.ndarray) -> None:
        if not len(idx):
            return
        t = blk.select(blk.time(), idx)
        if not self.stage.by and not self.stage.sum_bytes:
            self._add_times(blk, t)
        else:
            self._add_cells(blk, idx, t)
        if self.cap is not None:
            self.cap.check(len(self.counts))

    def _add_times(self, blk: Block, t: np.ndarray) -> None:
        step, off = self.step, self.offset
        first, last = (int(t[0]) - off) // step, (int(t[-1]) - off) // step
        if last >= first and last - first < len(t) and (len(t) < 2 or blk.time_ordered):
            # Part blocks are sorted by time: bucket edges cut the rows, no per-row division.
            edges = np.arange(first, last + 2, dtype=np.int64) * step + off
            sizes = np.diff(np.searchsorted(t, edges, side="left"))
            buckets = np.arange(first, last + 1)
            keep = sizes > 0
            pairs = zip(buckets[keep].tolist(), sizes[keep].tolist())
        else:
            b, sizes = np.unique((t - off) // step, return_counts=True)
            pairs = zip(b.tolist(), sizes.tolist())
        counts = self.counts
        for b, n in pairs:
            counts[b, 0] = counts.get((b, 0), 0) + n

    def _add_cells(self, blk: Block, idx: np.ndarray, t: np.ndarray) -> None:
        b = (t - self.offset) // self.step
        g = self.grouper.groups(blk, idx)
        b0 = int(b.min())
        width = self.grouper.size
        codes = (b - b0) * width + g
        lengths = None
        if self.stage.sum_bytes:
            msg = blk.message()
            lengths = blk.select(msg.ends, idx) - blk.select(msg.starts, idx)
        span = (int(b.max()) - b0 + 1) * width
        if span <= 4 * len(codes) + 4096:
            # A block covers few buckets and groups: count by code directly, no sort.
            per_code = np.bincount(codes, minlength=span)
            cells = np.flatnonzero(per_code)
            n = per_code[cells]
            weights = np.bincount(codes, weights=lengths, minlength=span)[cells] if lengths is not None else None
        else:
            cells, inverse, n = np.unique(codes, return_inverse=True, return_counts=True)
            weights = None
            if lengths is not None:
                weights = np.bincount(inverse.reshape(-1), weights=lengths, minlength=len(cells))
        sizes: list[int] = [] if weights is None else weights.astype(np.int64).tolist()
        counts, held = self.counts, self.sizes
        for k, (cell, c) in enumerate(zip(cells.tolist(), n.tolist())):
            key = (b0 + cell // width, cell % width)
            counts[key] = counts.get(key, 0) + c
            if sizes:
                held[key] = held.get(key, 0) + sizes[k]

    def cells(self) -> Cells:
        keys = sorted(self.counts)
        bucket = np.fromiter((k[0] for k in keys), np.int64, len(keys))
        group = np.fromiter((k[1] for k in keys), np.int64, len(keys))
        count = np.fromiter((self.counts[k] for k in keys), np.int64, len(keys))
        size = np.fromiter((self.sizes.get(k, 0) for k in keys), np.int64, len(keys))
        return Cells(bucket, group, count, size)

    def key(self, group: int) -> JsonObject:
        """{field name: value} of a group number from `cells` ({} without `by`)."""
        return self.grouper.key(group)

    def result(self) -> list[JsonObject]:
        cells = self.cells()
        if self.stage.by and len(cells.group):
            # Within a bucket, groups by their values (as stats orders its groups).
            order_of = dict(zip(np.unique(cells.group).tolist(), range(len(cells.group))))
            keys = self.grouper.sort_keys(list(order_of))
            rank = {g: r for r, g in enumerate(sorted(order_of, key=lambda g: keys[order_of[g]]))}
            order = sorted(range(len(cells.group)), key=lambda k: (int(cells.bucket[k]), rank[int(cells.group[k])]))
        else:
            order = list(range(len(cells.group)))
        out: list[JsonObject] = []
        for k in order:
            obj: JsonObject = {"_time": format_time(int(cells.bucket[k]) * self.step + self.offset)}
            obj.update(self.key(int(cells.group[k])))
            obj["count"] = int(cells.rows[k])
            if self.stage.sum_bytes:
                obj["bytes"] = int(cells.nbytes[k])
            out.append(obj)
        return out
