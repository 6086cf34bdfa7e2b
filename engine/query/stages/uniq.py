"""`| uniq by (f1, ...) [with hits] [limit N]`: the distinct combinations of the fields' values,
`{"f1": ..., "f2": ...}`, ordered by value (no value first); `with hits` adds each one's rows
as `hits`.

Memory is what the combinations take, capped by `query.max_groups`. `limit N` returns N of them:
without hits, the first N combinations found (reading newest blocks first), and reading stops
once it has them, so a limit also bounds the work; with hits every row must be counted, so all
are found (under the cap) and the first N in value order are returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from engine.query.grouping import GroupCounter, Grouper
from engine.query.limits import group_cap
from engine.query.objects import JsonObject
from engine.query.stages.base import AggregatingStage, Aggregator
from engine.query.values import GroupBy

if TYPE_CHECKING:
    from engine.query.block import Block


@dataclass(frozen=True)
class Uniq(AggregatingStage):
    by: tuple[GroupBy, ...]
    hits: bool = False
    limit: int | None = None
    position: int = 0

    def aggregator(self, max_groups: int | None = None) -> Aggregator:
        return _UniqAggregator(self, max_groups)


class _UniqAggregator(Aggregator):
    def __init__(self, stage: Uniq, max_groups: int | None):
        self.stage = stage
        names = ", ".join(f.name for f in stage.by)
        self.grouper = Grouper(list(stage.by), group_cap(max_groups, f"uniq by ({names})", stage.position))
        self.counter = GroupCounter(self.grouper)
        self.found = 0  # combinations with rows so far

    def preload(self) -> list[str]:
        return self.grouper.preload()

    def add(self, blk: Block, idx: np.ndarray) -> None:
        self.found += self.counter.add(blk, idx)

    def counted_columns(self) -> frozenset[str] | None:
        # A limit without hits stops at the first combinations met, newest blocks first: whole
        # parts counted up front would change which those are.
        if self.stage.limit is not None and not self.stage.hits:
            return None
        return self.grouper.counted_columns()

    def add_counted(self, blk: Block, idx: np.ndarray, weights: np.ndarray) -> None:
        self.found += self.counter.add_counted(blk, idx, weights)

    def done(self) -> bool:
        limit = self.stage.limit
        return limit is not None and not self.stage.hits and self.found >= limit

    def result(self) -> list[JsonObject]:
        counts = self.counter.counts
        groups = np.flatnonzero(counts)
        keys = self.grouper.sort_keys(groups.tolist())
        order = sorted(range(len(groups)), key=keys.__getitem__)
        if self.stage.limit is not None:
            order = order[: self.stage.limit]
        out = []
        for k in order:
            g = int(groups[k])
            obj = self.grouper.key(g)
            if self.stage.hits:
                obj["hits"] = int(counts[g])
            out.append(obj)
        return out
