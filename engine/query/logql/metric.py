"""Evaluating LogQL metric queries at the steps `start, start + step, ... <= end`.

A range aggregation (`count_over_time`, `rate`, `bytes_over_time`, `bytes_rate`) is one run of
logjet's histogram stage: its filter is the log query's, its groups the series' labels, its
buckets `gcd(step, range)` wide and placed so that each step's window, `(t - range, t]` as
in Loki, is a whole number of buckets. A series' value at a step is then a difference of
prefix sums over its buckets; a window without rows has no value. When the range aggregation
sits directly under `sum by (labels)` (or `sum without`), the histogram groups by those labels
only: the sum of the series is what it counts, and it holds fewer groups.

Vector aggregations, `topk`/`bottomk`, `vector(N)` and arithmetic (`+ - * / % ^`, between a
vector and a scalar or two vectors with the same label sets) then run on the series with numpy.

A series is a label set and two arrays over the steps: values, and whether each is present.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from engine.query.field_names import Field
from engine.query.filters.base import Filter
from engine.query.logql.arithmetic import apply, fold
from engine.query.logql.labels import STREAM_LABELS, field_of, label_value
from engine.query.logql.syntax import BinOp, Expr, LogQLError, LogQuery, Number, RangeAgg, VectorAgg, VectorOf
from engine.query.logql.translate import translate, visible
from engine.query.stages.histogram import HistogramAggregator

Labels = tuple[tuple[str, str], ...]  # sorted (name, value) pairs
MAX_POINTS = 11_000  # steps per series, as Loki allows


@dataclass
class Series:
    values: np.ndarray  # float64 per step
    present: np.ndarray  # bool per step


SeriesSet = dict[Labels, Series]


@dataclass(frozen=True)
class Scalar:
    value: float


@dataclass(frozen=True)
class HistogramRun:
    """What a range aggregation asks of the engine: rows of `flt` with start <= _time < end,
    counted (and their bytes summed) per `by` group and per bucket of `step_ns` whose edges lie
    at `offset_ns` + k * `step_ns`."""

    flt: Filter
    by: tuple[Field, ...]
    sum_bytes: bool
    step_ns: int
    offset_ns: int
    start_ns: int
    end_ns: int


Runner = Callable[[HistogramRun], HistogramAggregator]


def steps(start_ns: int, end_ns: int, step_ns: int) -> np.ndarray:
    """The evaluation times; raises LogQLError past Loki's 11,000 points."""
    if step_ns <= 0:
        raise LogQLError("zero or negative query resolution step widths are not accepted. Try a positive integer")
    if end_ns < start_ns:
        raise LogQLError("end timestamp must not be before start time")
    n = (end_ns - start_ns) // step_ns + 1
    if n > MAX_POINTS:
        raise LogQLError(
            "exceeded maximum resolution of 11,000 points per timeseries. "
            "Try decreasing the query resolution (?step=XX)"
        )
    return start_ns + step_ns * np.arange(n, dtype=np.int64)


class Evaluator:
    def __init__(self, run: Runner, times: np.ndarray):
        self.run = run
        self.times = times
        self.k = len(times)

    def evaluate(self, expr: Expr) -> SeriesSet | Scalar:
        if isinstance(expr, LogQuery):
            raise LogQLError("a log query has no value at a time: use it in a range aggregation", expr.pos)
        if isinstance(expr, Number):
            return Scalar(expr.value)
        if isinstance(expr, VectorOf):
            return {(): Series(np.full(self.k, expr.value), np.ones(self.k, np.bool_))}
        if isinstance(expr, RangeAgg):
            return self.range_agg(expr, None)
        if isinstance(expr, VectorAgg):
            return self.vector_agg(expr)
        if isinstance(expr, BinOp):
            return self.binop(expr)
        raise AssertionError(expr)

    def vector(self, expr: Expr, what: str) -> SeriesSet:
        got = self.evaluate(expr)
        if isinstance(got, Scalar):
            raise LogQLError(f"{what} takes a vector, not a number", getattr(expr, "pos", 0))
        return got

    # --- range aggregations --------------------------------------------------------------------
    def range_agg(self, node: RangeAgg, group_by: tuple[str, ...] | None) -> SeriesSet:
        flt, view = translate(node.log)
        if group_by is None:
            if view.parsed:
                raise LogQLError(
                    f"{node.op} over `| json` or `| logfmt` needs a `sum by (labels)` around it: "
                    "logjet groups by named labels, not by every field of every row",
                    node.pos,
                )
            group_by = STREAM_LABELS
        names = tuple(
            n for n in dict.fromkeys(group_by) if view.shows(n) and visible(n, view.parsed) and not n.startswith("__")
        )
        fields = tuple(dict.fromkeys(field_of(n) for n in names))
        r, off = node.range_ns, node.offset_ns
        bucket = r if self.k == 1 else math.gcd(int(self.times[1] - self.times[0]), r)
        base = int(self.times[0]) - off - r + 1  # bucket 0 is (t0 - off - r, t0 - off - r + bucket]
        sum_bytes = node.op.startswith("bytes")
        agg = self.run(HistogramRun(flt, fields, sum_bytes, bucket, base, base, int(self.times[-1]) - off + 1))
        cells = agg.cells()
        per_step = 0 if self.k == 1 else int(self.times[1] - self.times[0]) // bucket
        first = np.arange(self.k, dtype=np.int64) * per_step
        width = r // bucket
        counts: dict[Labels, np.ndarray] = {}
        sums: dict[Labels, np.ndarray] = {}
        order = np.argsort(cells.group, kind="stable")  # cells come by bucket: each group stays in order
        groups, starts = np.unique(cells.group[order], return_index=True)
        bounds = np.append(starts, len(order))
        for g, lo, hi in zip(groups.tolist(), bounds[:-1].tolist(), bounds[1:].tolist()):
            sel = order[lo:hi]
            b = cells.bucket[sel]
            n = _window_sums(b, cells.rows[sel], first, width)
            v = _window_sums(b, cells.nbytes[sel], first, width) if sum_bytes else n
            key = agg.key(g)
            labels = tuple(
                sorted((name, lv) for name in names if (lv := label_value(name, key.get(field_of(name).name))))
            )
            if labels in counts:  # two groups of one label set (notice and info are both "info")
                counts[labels] = counts[labels] + n
                sums[labels] = sums[labels] + v
            else:
                counts[labels], sums[labels] = n, v
        out: SeriesSet = {}
        seconds = r / 1e9
        for labels, n in counts.items():
            values = sums[labels].astype(np.float64)
            if node.op in ("rate", "bytes_rate"):
                values = values / seconds
            out[labels] = Series(values, n > 0)
        return out

    # --- vector aggregations -------------------------------------------------------------------
    def vector_agg(self, node: VectorAgg) -> SeriesSet:
        if node.op == "sum" and isinstance(node.inner, RangeAgg):
            inner = self.range_agg(node.inner, self._pushed_labels(node))
        else:
            inner = self.vector(node.inner, node.op)
        grouped: dict[Labels, list[tuple[Labels, Series]]] = {}
        for labels, s in inner.items():
            grouped.setdefault(_group_key(labels, node), []).append((labels, s))
        out: SeriesSet = {}
        for key, members in grouped.items():
            values = np.stack([s.values for _, s in members])
            present = np.stack([s.present for _, s in members])
            if node.op in ("topk", "bottomk"):
                assert node.param is not None
                kept = _top(values, present, node.param, node.op == "bottomk")
                for (labels, s), keep in zip(members, kept):
                    if keep.any():
                        out[labels] = Series(s.values, keep)
                continue
            out[key] = _reduce(node.op, values, present)
        return out

    def _pushed_labels(self, node: VectorAgg) -> tuple[str, ...] | None:
        """The labels `sum` keeps, for the histogram to group by; None where that is every
        label of the series (a `without` over a parser's labels)."""
        if node.by is None:
            return ()
        if not node.without:
            return node.by
        assert isinstance(node.inner, RangeAgg)
        if translate(node.inner.log)[1].parsed:
            return None
        return tuple(n for n in STREAM_LABELS if n not in node.by)

    # --- arithmetic ----------------------------------------------------------------------------
    def binop(self, node: BinOp) -> SeriesSet | Scalar:
        left, right = self.evaluate(node.left), self.evaluate(node.right)
        if isinstance(left, Scalar) and isinstance(right, Scalar):
            return Scalar(fold(node.op, left.value, right.value))
        if isinstance(left, Scalar) or isinstance(right, Scalar):
            series = right if isinstance(left, Scalar) else left
            assert not isinstance(series, Scalar)
            out: SeriesSet = {}
            for labels, s in series.items():
                if isinstance(left, Scalar):
                    values = apply(node.op, np.float64(left.value), s.values)
                else:
                    assert isinstance(right, Scalar)
                    values = apply(node.op, s.values, np.float64(right.value))
                out[labels] = Series(values, s.present)
            return out
        assert not isinstance(right, Scalar)
        return {
            labels: Series(apply(node.op, s.values, right[labels].values), s.present & right[labels].present)
            for labels, s in left.items()
            if labels in right
        }


def _window_sums(buckets: np.ndarray, weights: np.ndarray, first: np.ndarray, width: int) -> np.ndarray:
    """Per step, the sum of `weights` over buckets [first, first + width)."""
    prefix = np.concatenate(([0], np.cumsum(weights)))
    lo = np.searchsorted(buckets, first, side="left")
    hi = np.searchsorted(buckets, first + width, side="left")
    out: np.ndarray = prefix[hi] - prefix[lo]
    return out


def _group_key(labels: Labels, node: VectorAgg) -> Labels:
    if node.by is None:
        return ()
    if node.without:
        return tuple(p for p in labels if p[0] not in node.by)
    return tuple(p for p in labels if p[0] in node.by)


def _reduce(op: str, values: np.ndarray, present: np.ndarray) -> Series:
    n = present.sum(axis=0)
    v = np.where(present, values, 0.0)
    with np.errstate(all="ignore"):
        if op == "count":
            out = n.astype(np.float64)
        elif op == "sum":
            out = v.sum(axis=0)
        elif op == "avg":
            out = v.sum(axis=0) / np.maximum(n, 1)
        elif op == "min":
            out = np.where(present, values, np.inf).min(axis=0)
        elif op == "max":
            out = np.where(present, values, -np.inf).max(axis=0)
        else:  # stddev, stdvar: of the population, as Prometheus computes them
            mean = v.sum(axis=0) / np.maximum(n, 1)
            var = np.where(present, (values - mean) ** 2, 0.0).sum(axis=0) / np.maximum(n, 1)
            out = np.sqrt(var) if op == "stddev" else var
    return Series(out, n > 0)


def _top(values: np.ndarray, present: np.ndarray, k: int, bottom: bool) -> np.ndarray:
    """Per member and step, whether it is among the k largest (smallest) present values."""
    key = np.where(present, values if bottom else -values, np.inf)
    order = np.argsort(key, axis=0, kind="stable")
    rank = np.empty_like(order)
    rank[order, np.arange(values.shape[1])] = np.arange(values.shape[0])[:, None]
    kept: np.ndarray = (rank < k) & present
    return kept
