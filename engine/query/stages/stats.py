"""`| stats count(), count_uniq(f), sum(f), avg(f), min(f), max(f), quantile(Q, f) [by (f1, ...)]`.

A `by` entry may be a time bucket, `_time:1m`: the group's `_time` is the bucket's start.

One object per group: the `by` fields' values, then each function's result under its name
(`count()`, `sum(duration_ms)`, or the name given with `as`). Without `by` there is exactly
one object, also when no row matched. Numeric functions read values that are numbers (see
native_kernels.numbers) and give null for a group without any; `quantile` interpolates
linearly between the two nearest values (numpy's default). Groups come ordered by their values.

Accumulation is per block and per function with numpy over the block's group numbers
(`bincount`, `ufunc.at`); `count_uniq` marks the ids it meets in a table when there is one
group, and keeps (group, value) pairs otherwise, as `quantile` does, until the end.
`query.max_groups` caps the groups of `by` and the distinct values each `count_uniq` counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from engine.query.field_names import DICT, U8, Field
from engine.query.grouping import Grouper
from engine.query.limits import GroupCap, group_cap
from engine.query.objects import Json, JsonObject
from engine.query.stages.base import AggregatingStage, Aggregator
from engine.query.values import Distinct, GroupBy, ValueColumn, column

if TYPE_CHECKING:
    from engine.query.block import Block

FUNCTIONS = ("count", "count_uniq", "sum", "avg", "min", "max", "quantile")


@dataclass(frozen=True)
class StatFunc:
    fn: str
    field: Field | None = None
    q: float | None = None
    name: str = ""

    @property
    def default_name(self) -> str:
        field_name = self.field.name if self.field else ""
        if self.fn == "quantile":
            return f"quantile({self.q:g}, {field_name})"
        return f"{self.fn}({field_name})"


@dataclass(frozen=True)
class Stats(AggregatingStage):
    funcs: tuple[StatFunc, ...]
    by: tuple[GroupBy, ...] = ()
    position: int = 0

    def aggregator(self, max_groups: int | None = None) -> Aggregator:
        return _StatsAggregator(self, max_groups)


def _grow(a: np.ndarray, size: int, fill: float) -> np.ndarray:
    if len(a) >= size:
        return a
    out = np.full(max(size, 2 * len(a)), fill, a.dtype)
    out[: len(a)] = a
    return out


class _Func:
    """Accumulator of one function over all groups."""

    def __init__(self, f: StatFunc, cap: GroupCap | None):
        self.f = f
        self.col = column(f.field) if f.field is not None else None
        self.cap = cap  # on the distinct values of count_uniq
        self.sum = np.zeros(0, np.float64)
        self.n = np.zeros(0, np.int64)
        self.ext = np.zeros(0, np.float64)
        # count_uniq: (group << 32 | value id) codes; quantile: (groups, values)
        self.codes: list[np.ndarray] = []
        self.pairs: list[tuple[np.ndarray, np.ndarray]] = []
        self.distinct: Distinct | None = None  # count_uniq without `by`

    def _column(self) -> ValueColumn:
        if self.col is None:
            raise ValueError(f"{self.f.fn}() needs a field")
        return self.col

    def add(self, blk: Block, idx: np.ndarray, g: np.ndarray | None, size: int) -> None:
        """g: group per row, or None when there is one group (no `by`): then plain
        reductions replace the per-group ones."""
        fn = self.f.fn
        if fn == "count":
            return
        if fn == "count_uniq":
            col = self._column()
            if g is None:  # one group: the column's own counter of distinct values
                if self.distinct is None:
                    self.distinct = col.distinct()
                self.distinct.add(blk, idx)
                held = self.distinct.held
            else:
                vid = col.ids(blk, idx)
                keep = vid > 0
                self.codes.append(np.unique((g[keep] << 32) | vid[keep]))
                held = col.held
            if self.cap is not None:
                self.cap.check(held)
            return
        v = self._column().numbers(blk, idx)
        ok = ~np.isnan(v)
        vv = v[ok]
        if g is None and fn == "quantile":
            g = np.zeros(len(idx), np.int64)
        if g is None:  # one group: reductions, no bincount over zeros
            self.sum = _grow(self.sum, 1, 0.0)
            self.n = _grow(self.n, 1, 0)
            self.ext = _grow(self.ext, 1, np.inf if fn == "min" else -np.inf)
            self.n[0] += len(vv)
            if len(vv):
                if fn in ("sum", "avg"):
                    self.sum[0] += vv.sum()
                elif fn == "min":
                    self.ext[0] = min(self.ext[0], vv.min())
                else:
                    self.ext[0] = max(self.ext[0], vv.max())
            return
        gv = g[ok]
        if fn in ("sum", "avg"):
            self.sum = _grow(self.sum, size, 0.0)
            self.n = _grow(self.n, size, 0)
            self.sum[:size] += np.bincount(gv, weights=vv, minlength=size)
            self.n[:size] += np.bincount(gv, minlength=size)
        elif fn in ("min", "max"):
            self.ext = _grow(self.ext, size, np.inf if fn == "min" else -np.inf)
            self.n = _grow(self.n, size, 0)
            (np.minimum if fn == "min" else np.maximum).at(self.ext, gv, vv)
            self.n[:size] += np.bincount(gv, minlength=size)
        else:  # quantile
            self.pairs.append((gv, vv))

    def results(self, groups: np.ndarray, counts: np.ndarray) -> list[Json]:
        fn = self.f.fn
        if fn == "count":
            return list(counts[groups].tolist())
        if fn == "count_uniq":
            if self.distinct is not None:  # one group (no `by`)
                n = self.distinct.count()
                if self.cap is not None:
                    self.cap.check(n)
                return [n] * len(groups)
            codes = np.unique(np.concatenate(self.codes)) if self.codes else np.empty(0, np.int64)
            per = np.bincount(codes >> 32, minlength=len(counts)) if len(codes) else np.zeros(len(counts), np.int64)
            return list(per[groups].tolist())
        if fn == "quantile":
            return self._quantiles(groups, len(counts))
        n = _grow(self.n, len(counts), 0)[groups]
        if fn in ("sum", "avg"):
            s = _grow(self.sum, len(counts), 0.0)[groups]
            vals = s if fn == "sum" else s / np.maximum(n, 1)
        else:
            vals = _grow(self.ext, len(counts), 0.0)[groups]
        return [float(x) if k else None for x, k in zip(vals.tolist(), n.tolist())]

    def _quantiles(self, groups: np.ndarray, size: int) -> list[Json]:
        q = self.f.q
        if q is None:
            raise ValueError("quantile() needs a number from 0 to 1")
        if not self.pairs:
            return [None] * len(groups)
        g = np.concatenate([p[0] for p in self.pairs])
        v = np.concatenate([p[1] for p in self.pairs])
        order = np.lexsort((v, g))
        g, v = g[order], v[order]
        lo_at = np.searchsorted(g, groups, side="left")
        hi_at = np.searchsorted(g, groups, side="right")
        out: list[Json] = []
        for a, b in zip(lo_at.tolist(), hi_at.tolist()):
            if a == b:
                out.append(None)
                continue
            vals = v[a:b]
            out.append(float(np.quantile(vals, q)))
        return out


class _StatsAggregator(Aggregator):
    def __init__(self, stage: Stats, max_groups: int | None):
        self.stage = stage
        names = ", ".join(f.name for f in stage.by)
        self.grouper = Grouper(list(stage.by), group_cap(max_groups, f"stats by ({names})", stage.position))
        self.funcs = [
            _Func(f, group_cap(max_groups, f.default_name, stage.position) if f.fn == "count_uniq" else None)
            for f in stage.funcs
        ]
        self.counts = np.zeros(1, np.int64)
        self.count_only = all(f.fn == "count" for f in stage.funcs)

    def preload(self) -> list[str]:
        names = self.grouper.preload()
        for f in self.funcs:
            if f.col is not None:
                names += f.col.preload()
        return names

    def counted_columns(self) -> frozenset[str] | None:
        # Counts and distinct values of id columns are the same over value combinations
        # weighted by their rows; sums, extremes and quantiles of them would be too, but they
        # are numbers users keep in fields, not ids.
        by = self.grouper.counted_columns()
        if by is None:
            return None
        names = list(by)
        for fn in self.stage.funcs:
            if fn.fn == "count_uniq" and fn.field is not None and fn.field.kind in (DICT, U8):
                names.append(fn.field.name)
            elif fn.fn != "count":
                return None
        return frozenset(names)

    def add_counted(self, blk: Block, idx: np.ndarray, weights: np.ndarray) -> None:
        if not self.stage.by:
            self.counts[0] += int(weights.sum())
            for f in self.funcs:
                f.add(blk, idx, None, 1)
            return
        g = self.grouper.groups(blk, idx)
        size = self.grouper.size
        self.counts = _grow(self.counts, size, 0)
        self.counts[:size] += np.bincount(g, weights=weights, minlength=size).astype(np.int64)
        for f in self.funcs:
            f.add(blk, idx, g, size)

    def add(self, blk: Block, idx: np.ndarray) -> None:
        if not self.stage.by:
            self.counts[0] += len(idx)
            for f in self.funcs:
                f.add(blk, idx, None, 1)
            return
        if self.count_only:
            groups, counts = self.grouper.counts(blk, idx)
            self.counts = _grow(self.counts, self.grouper.size, 0)
            self.counts[groups] += counts  # groups are distinct
            return
        g = self.grouper.groups(blk, idx)
        size = self.grouper.size
        self.counts = _grow(self.counts, size, 0)
        self.counts[:size] += np.bincount(g, minlength=size)
        for f in self.funcs:
            f.add(blk, idx, g, size)

    def result(self) -> list[JsonObject]:
        counts = self.counts
        if self.stage.by:
            groups = np.flatnonzero(counts)
            keys = self.grouper.sort_keys(groups.tolist())
            groups = groups[sorted(range(len(groups)), key=keys.__getitem__)] if len(groups) else groups
        else:
            groups = np.zeros(1, np.int64)
        columns = [(f.f.name or f.f.default_name, f.results(groups, counts)) for f in self.funcs]
        out = []
        for k, g in enumerate(groups.tolist()):
            obj = self.grouper.key(g)
            for name, vals in columns:
                obj[name] = vals[k]
            out.append(obj)
        return out
