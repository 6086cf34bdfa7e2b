"""stats, top, uniq and histogram over result objects rather than stored rows: the aggregations
that follow a stage that made fields (extract, unpack_*, math, filter).

Same answers as the column aggregations (engine.query.stages.stats, top, uniq, histogram) for
the same rows: the same result names and shapes, groups in value order (numbers when every
value of the field is one, else text; no value first), `null` for a numeric function without
numbers, the same `query.max_groups` cap. The work is Python per row, which is why the column
path stays the default wherever no made field is involved.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import msgspec
import numpy as np

from engine.query.field_names import ALIASES, Field
from engine.query.limits import GroupCap, group_cap
from engine.query.object_fields import time_ns
from engine.query.objects import Json, JsonObject
from engine.query.stages.base import AggregatingStage
from engine.query.stages.field_list import object_value
from engine.query.stages.histogram import Histogram
from engine.query.stages.stats import Stats
from engine.query.stages.top import Top
from engine.query.stages.uniq import Uniq
from engine.query.values import GroupBy, TimeBucket, format_time
from native_kernels.numbers import parse_number

_encode = msgspec.json.Encoder().encode
Key = tuple[Json, ...]


def number(v: Json) -> float | None:
    """A value as a number: numbers (not booleans) as they are, numeric text parsed."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    return parse_number(v.encode()) if isinstance(v, str) else None


def _hashable(v: Json) -> Json:
    return _encode(v).decode() if isinstance(v, (list, dict)) else v


def group_value(obj: JsonObject, g: GroupBy) -> Json:
    """The value an object groups by: a field's value, or the start of its time bucket."""
    if isinstance(g, TimeBucket):
        t = time_ns(object_value(obj, g.field.name))
        return None if t is None else format_time(t // g.step_ns * g.step_ns)
    return _hashable(object_value(obj, ALIASES.get(g.name, g.name)))


def order_keys(keys: Sequence[Key], width: int) -> list[tuple[tuple[int, float | str], ...]]:
    """Sort keys putting `keys` in value order, field by field."""
    columns = []
    for k in range(width):
        vals = [key[k] for key in keys]
        nums = [number(v) for v in vals]
        numeric = all(n is not None for v, n in zip(vals, nums) if v is not None)
        col: list[tuple[int, float | str]] = []
        for v, n in zip(vals, nums):
            if v is None:
                col.append((0, 0.0))
            elif numeric and n is not None:
                col.append((1, n))
            else:
                col.append((1, str(v)))
        columns.append(col)
    return [tuple(col[i] for col in columns) for i in range(len(keys))]


class ObjectAggregator:
    """One aggregation over objects fed chunk by chunk."""

    def __init__(self, by: Sequence[GroupBy], cap: GroupCap | None):
        self.by = list(by)
        self.cap = cap
        self.groups: dict[Key, list[JsonObject]] = {}
        self.counts: dict[Key, int] = {}

    def key(self, obj: JsonObject) -> Key:
        return tuple(group_value(obj, g) for g in self.by)

    def count(self, objects: Iterable[JsonObject]) -> None:
        for obj in objects:
            k = self.key(obj)
            self.counts[k] = self.counts.get(k, 0) + 1
        self._check()

    def _check(self) -> None:
        if self.cap is not None:
            self.cap.check(len(self.counts))

    def add(self, objects: list[JsonObject]) -> None:
        self.count(objects)

    def done(self) -> bool:
        return False

    def result(self) -> list[JsonObject]:
        raise NotImplementedError

    def ordered(self) -> list[Key]:
        keys = list(self.counts)
        sort = order_keys(keys, len(self.by))
        return [keys[i] for i in sorted(range(len(keys)), key=sort.__getitem__)]

    def named(self, key: Key) -> JsonObject:
        return {g.name: v for g, v in zip(self.by, key)}


class _StatsObjects(ObjectAggregator):
    def __init__(self, stage: Stats, max_groups: int | None):
        names = ", ".join(f.name for f in stage.by)
        super().__init__(stage.by, group_cap(max_groups, f"stats by ({names})", stage.position))
        self.stage = stage
        self.values: dict[Key, list[list[float]]] = {}  # per group, per function: its field's values
        self.uniq_caps = [
            group_cap(max_groups, f.default_name, stage.position) if f.fn == "count_uniq" else None for f in stage.funcs
        ]
        self.uniq: dict[tuple[int, Key], set[Json]] = {}

    def add(self, objects: list[JsonObject]) -> None:
        funcs = self.stage.funcs
        for obj in objects:
            k = self.key(obj)
            self.counts[k] = self.counts.get(k, 0) + 1
            per = self.values.get(k)
            if per is None:
                per = self.values[k] = [[] for _ in funcs]
            for n, f in enumerate(funcs):
                if f.field is None:
                    continue
                v = object_value(obj, ALIASES.get(f.field.name, f.field.name))
                if f.fn == "count_uniq":
                    if v is not None:
                        seen = self.uniq.setdefault((n, k), set())
                        seen.add(_hashable(v))
                        cap = self.uniq_caps[n]
                        if cap is not None:
                            cap.check(len(seen))
                else:
                    x = number(v)
                    if x is not None:
                        per[n].append(x)
        self._check()

    def result(self) -> list[JsonObject]:
        keys = self.ordered() if self.by else [()]
        out = []
        for key in keys:
            obj = self.named(key)
            for n, f in enumerate(self.stage.funcs):
                obj[f.name or f.default_name] = self._result(n, f.fn, f.q, key)
            out.append(obj)
        return out

    def _result(self, n: int, fn: str, q: float | None, key: Key) -> Json:
        if fn == "count":
            return self.counts.get(key, 0)
        if fn == "count_uniq":
            return len(self.uniq.get((n, key), ()))
        per = self.values.get(key)
        vals = per[n] if per is not None else []
        if not vals:
            return None
        if fn == "sum":
            return float(sum(vals))
        if fn == "avg":
            return float(sum(vals) / len(vals))
        if fn == "min":
            return float(min(vals))
        if fn == "max":
            return float(max(vals))
        return float(np.quantile(np.array(vals, np.float64), q if q is not None else 0.5))


class _TopObjects(ObjectAggregator):
    def __init__(self, stage: Top, max_groups: int | None):
        names = ", ".join(f.name for f in stage.by)
        super().__init__(stage.by, group_cap(max_groups, f"top by ({names})", stage.position))
        self.n = stage.n

    def result(self) -> list[JsonObject]:
        keys = self.ordered()  # value order; a stable sort by count keeps it among ties
        keys.sort(key=lambda k: -self.counts[k])
        return [{**self.named(k), "count": self.counts[k]} for k in keys[: self.n]]


class _UniqObjects(ObjectAggregator):
    def __init__(self, stage: Uniq, max_groups: int | None):
        names = ", ".join(f.name for f in stage.by)
        super().__init__(stage.by, group_cap(max_groups, f"uniq by ({names})", stage.position))
        self.stage = stage

    def done(self) -> bool:
        limit = self.stage.limit
        return limit is not None and not self.stage.hits and len(self.counts) >= limit

    def result(self) -> list[JsonObject]:
        keys = self.ordered()
        if self.stage.limit is not None:
            keys = keys[: self.stage.limit]
        if self.stage.hits:
            return [{**self.named(k), "hits": self.counts[k]} for k in keys]
        return [self.named(k) for k in keys]


class _HistogramObjects(ObjectAggregator):
    def __init__(self, stage: Histogram, max_groups: int | None):
        what = "histogram" + (f" by ({', '.join(f.name for f in stage.by)})" if stage.by else "")
        by: list[GroupBy] = [Field("_bucket", "time"), *stage.by]
        super().__init__(by, group_cap(max_groups, what, stage.position))
        self.stage = stage
        self.sizes: dict[Key, int] = {}

    def key(self, obj: JsonObject) -> Key:
        t = time_ns(object_value(obj, "_time"))
        bucket: Json = None
        if t is not None:
            step, offset = self.stage.step_ns, self.stage.offset_ns
            bucket = (t - offset) // step * step + offset
        return (bucket,) + tuple(group_value(obj, g) for g in self.stage.by)

    def add(self, objects: list[JsonObject]) -> None:
        for obj in objects:
            k = self.key(obj)
            if k[0] is None:
                continue  # no time: in no bucket
            self.counts[k] = self.counts.get(k, 0) + 1
            if self.stage.sum_bytes:
                msg = object_value(obj, "message")
                size = len(msg.encode()) if isinstance(msg, str) else 0
                self.sizes[k] = self.sizes.get(k, 0) + size
        self._check()

    def result(self) -> list[JsonObject]:
        out = []
        for k in self.ordered():
            assert isinstance(k[0], int)
            obj: JsonObject = {"_time": format_time(k[0])}
            obj.update({g.name: v for g, v in zip(self.stage.by, k[1:])})
            obj["count"] = self.counts[k]
            if self.stage.sum_bytes:
                obj["bytes"] = self.sizes.get(k, 0)
            out.append(obj)
        return out


def object_aggregator(stage: AggregatingStage, max_groups: int | None) -> ObjectAggregator:
    """The object form of an aggregating stage."""
    if isinstance(stage, Stats):
        return _StatsObjects(stage, max_groups)
    if isinstance(stage, Top):
        return _TopObjects(stage, max_groups)
    if isinstance(stage, Uniq):
        return _UniqObjects(stage, max_groups)
    if isinstance(stage, Histogram):
        return _HistogramObjects(stage, max_groups)
    raise TypeError(f"no object form of {type(stage).__name__}")
