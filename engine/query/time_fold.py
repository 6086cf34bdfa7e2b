"""Folding `_time` ranges that every match must satisfy (`_time:5m app:sshd`) into the query's
[start, end), so they prune parts and blocks like the API's time range and leave the rest of
the filter to the index (a block wholly inside the range is then counted from block counts).

Only ranges at the top of the filter (alone, or children of the top AND) are folded: there
they are exactly a narrower [start, end). Bounds must be whole nanoseconds; anything else
stays a filter.
"""

from __future__ import annotations

from engine.query.field_eval import Leaf
from engine.query.field_names import TIME
from engine.query.filters.base import Filter
from engine.query.filters.boolean import All, And
from engine.query.filters.range import Range


def _window(flt: Filter) -> tuple[int | None, int | None] | None:
    """[start, end) of a `_time` range leaf with whole-ns bounds; None for anything else."""
    if not (isinstance(flt, Leaf) and flt.field.kind == TIME and flt.field.name == "_time"):
        return None
    r = flt.pred
    if not isinstance(r, Range):
        return None
    lo, hi = r.lo, r.hi
    if (lo is not None and type(lo) is not int) or (hi is not None and type(hi) is not int):
        return None
    start = None if lo is None else (lo if r.lo_incl else lo + 1)
    end = None if hi is None else (hi + 1 if r.hi_incl else hi)
    return start, end


def fold_time(flt: Filter, start: int | None, end: int | None) -> tuple[Filter, int | None, int | None]:
    """(the filter without its top-level `_time` ranges, start, end narrowed by them)."""
    children = list(flt.children) if isinstance(flt, And) else [flt]
    kept: list[Filter] = []
    for c in children:
        w = _window(c)
        if w is None:
            kept.append(c)
            continue
        if w[0] is not None:
            start = w[0] if start is None else max(start, w[0])
        if w[1] is not None:
            end = w[1] if end is None else min(end, w[1])
    if len(kept) == len(children):
        return flt, start, end
    rest: Filter = All() if not kept else kept[0] if len(kept) == 1 else And(tuple(kept))
    return rest, start, end
