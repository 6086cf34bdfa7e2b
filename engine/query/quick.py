"""Answering an aggregation from block counts alone, where the work is small and bounded.

The HTTP API runs queries on threads so that its event loop stays free; the trip to a thread
and back is most of what `* | stats count()` or `app:sshd | stats by (host) count()` cost. Such
a query reads no row when every block it covers is answered by its part's block counts
(engine.query.block_counts), and then its whole cost is bounded by the value combinations of
a few parts: it can run where the request is handled. `quick_answer` runs it when it can prove
that bound before doing anything, and says no (None) otherwise:

- an aggregation over stored rows (no sort, limit or field-making stage before it) whose
  aggregator counts whole combinations (`Aggregator.counted_columns`);
- a filter of `*`, AND, OR, NOT and leaves on block-count columns only (QUICK_COLUMNS), so that
  binding it to a part tests at most that part's dictionary of those columns;
- at most QUICK_PARTS parts, every one already open with its block counts loaded (nothing
  is read from disk), each dictionary the filter tests at most QUICK_VALUES values long, at
  most QUICK_ENTRIES (block, combination) entries in all (the work that is per entry), and
  at most QUICK_GROUPS groups out, counted as the product of the dictionaries of the columns
  the aggregation groups by (a Python object each);
- after planning, every unit answered by block counts (a block cut by the time range is not).

A query past its deadline raises QueryTimeout as a threaded run would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.query.block_counts import add_counted, split_counted
from engine.query.field_eval import Leaf
from engine.query.field_names import DICT, U8
from engine.query.filters.base import Filter
from engine.query.filters.boolean import All, And, Not, Or
from engine.query.plan import PlanStats, plan
from engine.query.stages.base import AggregatingStage
from engine.query.stages.field_list import Fields
from engine.store.index_build import COUNT_COLUMNS
from engine.store.rows import U8_COLUMNS

if TYPE_CHECKING:
    from engine.query.catalog import Catalog
    from engine.query.execute import PreparedQuery
    from engine.query.limits import Deadline
    from engine.query.objects import JsonObject
    from engine.query.scope import PartScope

QUICK_COLUMNS = frozenset(COUNT_COLUMNS)
# Bounds that keep a quick answer well under a millisecond: a part's combinations are at most
# index_build.MAX_COUNT_COMBOS, but parts from a normal flush and merge hold a few hundred.
QUICK_PARTS = 8
QUICK_VALUES = 4096
QUICK_ENTRIES = 1 << 17
QUICK_GROUPS = 256
U8_VALUES = 256


def filter_columns(flt: Filter) -> frozenset[str] | None:
    """The columns a filter tests, when it is made of `*`, AND, OR, NOT and leaves on u8 and
    dictionary columns only; None otherwise."""
    if isinstance(flt, All):
        return frozenset()
    if isinstance(flt, (And, Or)):
        out: frozenset[str] = frozenset()
        for child in flt.children:
            got = filter_columns(child)
            if got is None:
                return None
            out |= got
        return out
    if isinstance(flt, Not):
        return filter_columns(flt.child)
    if isinstance(flt, Leaf) and flt.field.kind in (DICT, U8):
        return frozenset((flt.field.name,))
    return None


def _ready(scope: PartScope, tested: frozenset[str], needed: frozenset[str]) -> bool:
    """The part's block counts are loaded and hold `needed`; its dictionaries of `tested` are
    short."""
    columns = scope.loaded_counts()
    if columns is None or not needed <= frozenset(columns):
        return False
    return all(len(scope.dicts.get(name, ())) <= QUICK_VALUES for name in tested)


def _small(scopes: list[PartScope], grouped: frozenset[str]) -> bool:
    """The parts' block count entries, and the groups the aggregation may make, are few."""
    entries = 0
    for scope in scopes:
        assert scope.index is not None  # _ready: loaded
        counts = scope.index.block_counts()
        entries += len(counts.combo) if counts is not None else 0
    if entries > QUICK_ENTRIES:
        return False
    groups = 1
    for name in grouped:
        groups *= U8_VALUES if name in U8_COLUMNS else sum(len(s.dicts.get(name, ())) for s in scopes) + 1
        if groups > QUICK_GROUPS:
            return False
    return True


def quick_answer(prepared: PreparedQuery, catalog: Catalog, deadline: Deadline | None) -> list[list[JsonObject]] | None:
    """The whole answer as `PreparedQuery.chunks` gives it, when block counts alone make it with
    bounded work (see the module docstring); None when the query must run the usual way."""
    if prepared.aggregation is None or prepared.objects_from is not None:
        return None
    at, stage = prepared.aggregation
    pre = prepared.query.stages[:at]
    if not isinstance(stage, AggregatingStage) or any(not isinstance(s, Fields) for s in pre):
        return None
    tested = filter_columns(prepared.query.filter)
    if tested is None or not tested <= QUICK_COLUMNS:
        return None
    agg = stage.aggregator(prepared.max_groups)
    needed = agg.counted_columns()
    if needed is None:
        return None
    scopes = catalog.open_scopes(prepared.start, prepared.end)
    if scopes is None or len(scopes) > QUICK_PARTS:
        return None
    # Groups come from the `by` fields (every aggregation that counts whole combinations has one).
    grouped = frozenset(f.name for f in getattr(stage, "by", ()))
    if not all(_ready(s, tested, needed | tested) for s in scopes) or not _small(scopes, grouped):
        return None
    if deadline is not None:
        deadline.check()
    stats = PlanStats()  # the query's own only if this answers it: a threaded run plans again
    units = plan(scopes, prepared.query.filter, prepared.start, prepared.end, stats)
    counted, rest = split_counted(units, agg)
    if rest:
        return None
    prepared.stats = stats
    add_counted(counted, agg)
    return prepared.finish(agg)
