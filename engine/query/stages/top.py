"""`| top N by (f1, ...)`: the N most frequent value combinations with their row counts,
`{"f1": ..., "count": n}`, most frequent first (ties by value)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from engine.query.field_names import Field
from engine.query.grouping import Grouper
from engine.query.limits import group_cap
from engine.query.objects import JsonObject
from engine.query.stages.base import AggregatingStage, Aggregator

if TYPE_CHECKING:
    from engine.query.block import Block

DEFAULT_N = 10


@dataclass(frozen=True)
class Top(AggregatingStage):
    n: int
    by: tuple[Field, ...]
    position: int = 0

    def aggregator(self, max_groups: int | None = None) -> Aggregator:
        return _TopAggregator(self, max_groups)


class _TopAggregator(Aggregator):
    def __init__(self, stage: Top, max_groups: int | None):
        self.n = stage.n
        names = ", ".join(f.name for f in stage.by)
        self.grouper = Grouper(list(stage.by), group_cap(max_groups, f"top by ({names})", stage.position))
        self.counts = np.zeros(0, np.int64)

    def preload(self) -> list[str]:
        return self.grouper.preload()

    def add(self, blk: Block, idx: np.ndarray) -> None:
        groups, counts = self.grouper.counts(blk, idx)
        size = self.grouper.size
        if len(self.counts) < size:
            grown = np.zeros(max(size, 2 * len(self.counts)), np.int64)
            grown[: len(self.counts)] = self.counts
            self.counts = grown
        self.counts[groups] += counts  # groups are distinct

    def result(self) -> list[JsonObject]:
        groups = np.flatnonzero(self.counts)
        if not len(groups):
            return []
        counts = self.counts[groups]
        # Candidates: every group whose count reaches the N-th largest (ties kept for ordering).
        if len(groups) > self.n:
            kth = np.partition(counts, len(counts) - self.n)[len(counts) - self.n]
            keep = counts >= kth
            groups, counts = groups[keep], counts[keep]
        keys = self.grouper.sort_keys(groups.tolist())
        order = sorted(range(len(groups)), key=lambda k: (-int(counts[k]), keys[k]))[: self.n]
        return [{**self.grouper.key(int(groups[k])), "count": int(counts[k])} for k in order]
