"""A filter tree tested on result objects rather than on stored rows: what `| filter ...` and a
stage's `if (...)` do with the fields that earlier stages made.

The same predicates decide as on stored rows, so a filter means the same in both places (words
as tokens of the message, whole values elsewhere, numbers compared as numbers): for each leaf,
the field's values of a whole chunk of objects are packed into one span array and tested with
the predicate's span kernel in one call. `_time` and `_recv` (RFC 3339 text in objects) are
compared as nanoseconds. Only the field's first value counts (an object keeps one per key).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from engine.query.block import Spans
from engine.query.errors import QueryError
from engine.query.field_eval import Leaf
from engine.query.field_names import MESSAGE, TIME, Field
from engine.query.filters.base import Filter
from engine.query.filters.boolean import All, And, Not, Or
from engine.query.objects import JsonObject
from engine.query.object_fields import field_text, time_ns


def matching(flt: Filter, objects: Sequence[JsonObject]) -> np.ndarray:
    """bool per object: whether it matches `flt`."""
    return _eval(flt, objects)


def filter_fields(flt: Filter) -> set[str]:
    """The names of the fields a filter tests."""
    if isinstance(flt, (And, Or)):
        return set().union(*(filter_fields(c) for c in flt.children))
    if isinstance(flt, Not):
        return filter_fields(flt.child)
    if isinstance(flt, Leaf):
        return {flt.field.name}
    return set()


def _eval(flt: Filter, objects: Sequence[JsonObject]) -> np.ndarray:
    if isinstance(flt, All):
        return np.ones(len(objects), np.bool_)
    if isinstance(flt, And):
        out = np.ones(len(objects), np.bool_)
        for c in flt.children:
            out &= _eval(c, objects)
        return out
    if isinstance(flt, Or):
        out = np.zeros(len(objects), np.bool_)
        for c in flt.children:
            out |= _eval(c, objects)
        return out
    if isinstance(flt, Not):
        return ~_eval(flt.child, objects)
    if isinstance(flt, Leaf):
        return _leaf(flt.field, flt, objects)
    raise QueryError(f"{type(flt).__name__} cannot be tested on result objects", 0)


def _leaf(field: Field, leaf: Leaf, objects: Sequence[JsonObject]) -> np.ndarray:
    n = len(objects)
    if field.kind == TIME:
        got = [time_ns(o.get(field.name)) for o in objects]
        present = np.array([t is not None for t in got], np.bool_)
        times = np.array([0 if t is None else t for t in got], np.int64)
        out = np.zeros(n, np.bool_)
        if present.any():
            out[present] = leaf.pred.on_numbers(times[present])
        return out
    texts = [field_text(o, field.name) for o in objects]
    spans = pack([None if t is None else t.encode() for t in texts])
    cand = np.ones(n, np.bool_)
    hit = leaf.pred.on_message(spans, cand) if field.kind == MESSAGE else leaf.pred.on_spans(spans, cand)
    return np.asarray(hit, np.bool_) & (spans.starts >= 0)


def pack(values: list[bytes | None]) -> Spans:
    """Values as spans into one byte array; a missing value is a span starting at -1."""
    starts = np.full(len(values), -1, np.int64)
    ends = np.full(len(values), -1, np.int64)
    pos = 0
    for k, v in enumerate(values):
        if v is not None:
            starts[k] = pos
            pos += len(v)
            ends[k] = pos
    data = np.frombuffer(b"".join(v for v in values if v is not None) or b"\0", np.uint8)
    return Spans(data, starts, ends)
