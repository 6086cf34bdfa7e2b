"""`| top N by (f1, ...)`: the N most frequent value combinations with their row counts,
`{"f1": ..., "count": n}`, most frequent first (ties by value)."""

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

DEFAULT_N = 10


@dataclass(frozen=True)
class Top(AggregatingStage):
    n: int
    by: tuple[GroupBy, ...]
    position: int = 0

    def aggregator(self, max_groups: int | None = None) -> Aggregator:
        return _TopAggregator(self, max_groups)


class _TopAggregator(Aggregator):
    def __init__(self, stage: Top, max_groups: int | None):
        self.n = stage.n
        names = ", ".join(f.name for f in stage.by)
        self.grouper = Grouper(list(stage.by), group_cap(max_groups, f"top by ({names})", stage.position))
        self.counter = GroupCounter(self.grouper)

    def preload(self) -> list[str]:
        return self.grouper.preload()

    def add(self, blk: Block, idx: np.ndarray) -> None:
        self.counter.add(blk, idx)

    def counted_columns(self) -> frozenset[str] | None:
        return self.grouper.counted_columns()

    def add_counted(self, blk: Block, idx: np.ndarray, weights: np.ndarray) -> None:
        self.counter.add_counted(blk, idx, weights)

    def result(self) -> list[JsonObject]:
        groups = np.flatnonzero(self.counter.counts)
        if not len(groups):
            return []
        counts = self.counter.counts[groups]
        # Candidates: every group whose count reaches the N-th largest (ties kept for ordering).
        if len(groups) > self.n:
            kth = np.partition(counts, len(counts) - self.n)[len(counts) - self.n]
            keep = counts >= kth
            groups, counts = groups[keep], counts[keep]
        keys = self.grouper.sort_keys(groups.tolist())
        order = sorted(range(len(groups)), key=lambda k: (-int(counts[k]), keys[k]))[: self.n]
        return [{**self.grouper.key(int(groups[k])), "count": int(counts[k])} for k in order]
