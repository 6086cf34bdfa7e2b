"""Running a query: parse, plan over the catalog, select rows, aggregate, render JSON objects.

    run_to_objects(data_dir, query, start_ns, end_ns, limit) -> iterator of dicts

parses eagerly (a bad query raises `QueryError` before anything is read) and then yields
objects lazily: matching rows newest first, or the result of the aggregation. `PreparedQuery`
is the same in two steps, yielding lists of objects (`chunks`) for streaming over HTTP.

Shape of a run. Stages before the first aggregating stage (stats, histogram, top, uniq) select
rows: without a sort, rows stream newest first under the smallest limit (`select.newest`);
with a sort, keys are gathered and only the output rows are read (`select.sorted_rows`). An
aggregation reads its columns block by block over the thread pool and folds them in the
calling thread (whole blocks that the index's block counts answer are folded without a read:
`block_counts`); stages after it work on its objects. `fields` only shapes output. From the
first stage that makes fields (extract, unpack_*, math, filter) on, rows are rendered as objects
and the stages run on those (engine.query.object_pipeline); the rows are chosen as above by the
filter and the stages before it, and as few are read as the stages after it let. The `limit`
argument caps the objects returned, whatever they are; `default_limit` is the cap on rows when
no limit is given (aggregations are not cut by it).

Limits (engine.query.limits): `max_groups` caps what an aggregation holds (TooManyGroups, a
QueryError), and a run given a `Deadline` raises QueryTimeout between blocks once it passes.

Not thread-safe per run (one generator, one consumer); any number of runs may go at once.
"""

from __future__ import annotations

import functools
import time
from typing import Generator, Iterable, Iterator, Sequence

import numpy as np

from engine.query.block_counts import add_counted, split_counted
from engine.query.catalog import Catalog
from engine.query.errors import QueryError
from engine.query.filters.base import TRUE
from engine.query.language.parser import Query, parse
from engine.query.limits import Deadline
from engine.query.object_pipeline import head, needed_fields, run_stages
from engine.query.objects import JsonObject
from engine.query.plan import PlanStats, Unit, evaluate, plan
from engine.query.pool import ordered_map
from engine.query.render import row_objects
from engine.query.scope import RowsScope
from engine.query.select import newest, sorted_rows
from engine.query.stages.base import AggregatingStage, Aggregator, Stage
from engine.query.stages.field_list import Fields
from engine.query.stages.limit import Limit
from engine.query.stages.row_filter import RowFilter
from engine.query.stages.sort import Sort
from engine.query.stages.transform import Transform
from engine.query.time_fold import fold_time
from engine.store.rows import Rows, concat

CHUNK = 1000  # objects per chunk: small enough to stream, big enough to amortise a write
# Parsed queries by text: a dashboard asks the same few again and again, and a parsed query is
# an immutable value (frozen filters and stages; each run makes its own state from them). A
# query that does not parse raises each time.
_parse = functools.lru_cache(maxsize=256)(parse)

__all__ = ["PreparedQuery", "QueryError", "run_to_objects", "prepare"]


def _min(*values: int | None) -> int | None:
    vals = [v for v in values if v is not None]
    return min(vals) if vals else None


def _concat(batches: Iterable[Rows]) -> Rows:
    listed = list(batches)
    if not listed:
        return Rows.empty()
    return listed[0] if len(listed) == 1 else concat(listed)


def _oldest_first(stages: Sequence[Stage]) -> bool:
    """The row stages are `sort by (_time)` with limits after it only: rows oldest first, which
    `newest` walks to without gathering every match's sort key."""
    cuts = [s for s in stages if isinstance(s, (Sort, Limit))]
    return (
        bool(cuts)
        and isinstance(cuts[0], Sort)
        and cuts[0].keys == (("_time", False),)
        and not any(isinstance(s, Sort) for s in cuts[1:])
    )


def _rows_units(rows: Rows) -> list[Unit]:
    if not len(rows):
        return []
    scope = RowsScope(rows)
    return [Unit(scope, TRUE, 0, scope.max_time, True)]


class PreparedQuery:
    """A parsed, checked query with its time range, output cap and group cap."""

    def __init__(
        self,
        text: str,
        start_ns: int | None = None,
        end_ns: int | None = None,
        limit: int | None = None,
        default_limit: int | None = None,
        max_groups: int | None = None,
        query: Query | None = None,
    ):
        self.text = text
        # `query`: a query built by another language (LogQL); `text` then only names it.
        self.query = _parse(text) if query is None else query
        # `_time` ranges every match must meet become the time range (time_fold).
        flt, self.start, self.end = fold_time(self.query.filter, start_ns, end_ns)
        if flt is not self.query.filter:
            self.query = Query(flt, self.query.stages)
        if limit is not None and limit < 0:
            raise QueryError("limit must be 0 or more", 0)
        stages = self.query.stages
        aggs = [(i, s) for i, s in enumerate(stages) if isinstance(s, AggregatingStage)]
        if len(aggs) > 1:
            raise QueryError("a query takes one of stats, histogram, top or uniq", aggs[1][1].position)
        self.aggregation = aggs[0] if aggs else None  # (where it is among the stages, the stage)
        self.limit = limit if limit is not None or self.aggregation is not None else default_limit
        # Where the stages start running on objects: the first that makes fields, unless it
        # comes after the aggregation (which then hands it objects anyway).
        made = next((i for i, s in enumerate(stages) if isinstance(s, Transform)), None)
        before_agg = made is not None and (self.aggregation is None or made < self.aggregation[0])
        self.objects_from = made if before_agg else None
        self.max_groups = max_groups
        self.stats = PlanStats()

    @property
    def aggregating(self) -> bool:
        return self.aggregation is not None

    def objects(self, catalog: Catalog) -> Iterator[JsonObject]:
        for chunk in self.chunks(catalog):
            yield from chunk

    def chunks(self, catalog: Catalog, deadline: Deadline | None = None) -> Generator[list[JsonObject], None, None]:
        """Lists of result objects (at most CHUNK each), in output order. Past `deadline` the
        generator raises QueryTimeout (checked between blocks)."""
        return self._run(self._plan(catalog), deadline)

    def row_batches(self, catalog: Catalog, deadline: Deadline | None = None) -> Iterator[Rows]:
        """The rows a query without aggregation answers, as `Rows` batches in output order (for
        renderers other than JSON objects, such as the Loki API's streams)."""
        if self.aggregation is not None or self.objects_from is not None:
            raise QueryError("a query with stats, histogram, top or a stage that makes fields answers objects", 0)
        return self._row_batches(self._plan(catalog), self.query.stages, deadline, self.limit)

    def aggregator(self, catalog: Catalog, deadline: Deadline | None = None) -> Aggregator:
        """The aggregating stage's state once every selected row went in (the stages after it
        are not applied), for callers that read it as arrays rather than objects."""
        if self.aggregation is None or self.objects_from is not None:
            raise QueryError("the query has no stats, histogram or top stage on stored rows", 0)
        at, agg = self.aggregation
        return self._feed(self._plan(catalog), self.query.stages[:at], agg, deadline)

    def _plan(self, catalog: Catalog) -> list[Unit]:
        t0 = time.perf_counter()
        scopes = catalog.scopes(self.start, self.end)
        units = plan(scopes, self.query.filter, self.start, self.end, self.stats)
        self.stats.extra["plan_s"] = time.perf_counter() - t0
        return units

    def chunks_over_rows(self, rows: Rows) -> Generator[list[JsonObject], None, None]:
        """The same over rows in memory (warm-up, tests)."""
        scopes = [RowsScope(rows)] if len(rows) else []
        return self._run(plan(scopes, self.query.filter, self.start, self.end, self.stats), None)

    def _run(self, units: list[Unit], deadline: Deadline | None) -> Generator[list[JsonObject], None, None]:
        stages = self.query.stages
        if self.objects_from is not None:
            yield from self._objects(units, deadline)
        elif self.aggregation is None:
            yield from self._rows(units, list(stages), deadline)
        else:
            at, agg = self.aggregation
            yield from self._aggregate(units, stages[:at], agg, deadline)

    # --- rows --------------------------------------------------------------------------------
    def _rows(
        self, units: list[Unit], stages: Sequence[Stage], deadline: Deadline | None
    ) -> Iterator[list[JsonObject]]:
        fields = [s for s in stages if isinstance(s, Fields)]
        for rows in self._row_batches(units, stages, deadline, self.limit):
            yield from self._render(rows, fields)

    def _row_batches(
        self, units: list[Unit], stages: Sequence[Stage], deadline: Deadline | None, cap: int | None
    ) -> Iterator[Rows]:
        """The rows the row stages choose, at most `cap`, as batches in output order."""
        sorts = [s for s in stages if isinstance(s, Sort)]
        if not sorts or _oldest_first(stages):
            limit = _min(cap, *(s.n for s in stages if isinstance(s, Limit)))
            yield from newest(units, self.start, self.end, limit, deadline, oldest=bool(sorts))
            return
        rows = self._materialize(units, stages, cap, deadline)
        if cap is not None and len(rows) > cap:
            rows = rows.take(np.arange(cap))
        yield rows

    # --- objects -----------------------------------------------------------------------------
    def _objects(self, units: list[Unit], deadline: Deadline | None) -> Iterator[list[JsonObject]]:
        """From the first stage that makes fields on, the stages run on rendered rows."""
        assert self.objects_from is not None
        stages = self.query.stages
        pre, post = stages[: self.objects_from], stages[self.objects_from :]
        # Stages that keep every row (field-making stages, fields) let the output cap reach
        # the reading: only as many rows are read and rendered as can come out.
        one_to_one = not any(isinstance(s, (Sort, RowFilter, AggregatingStage)) for s in post)
        cap = _min(self.limit, *(s.n for s in post if isinstance(s, Limit))) if one_to_one else None
        fields = [s for s in pre if isinstance(s, Fields)]
        needed = needed_fields(post)
        if not fields and needed is not None:
            fields = [Fields(tuple(needed))]
        rendered = (
            chunk for rows in self._row_batches(units, pre, deadline, cap) for chunk in self._render(rows, fields)
        )
        yield from head(run_stages(rendered, post, self.max_groups, deadline, CHUNK), self.limit)

    def _render(self, rows: Rows, fields: list[Fields]) -> Iterator[list[JsonObject]]:
        for lo in range(0, len(rows), CHUNK):
            idx = np.arange(lo, min(len(rows), lo + CHUNK))
            if fields:
                objs = fields[0].render(rows.take(idx) if len(rows) > CHUNK else rows)
                for f in fields[1:]:
                    objs = f.table(objs)
            else:
                objs = row_objects(rows, idx)
            yield objs

    def _materialize(
        self, units: list[Unit], stages: Sequence[Stage], cap: int | None, deadline: Deadline | None
    ) -> Rows:
        """The rows that sort and limit stages select, in their order."""
        cuts = [s for s in stages if isinstance(s, (Sort, Limit))]
        sorts = [(i, s) for i, s in enumerate(cuts) if isinstance(s, Sort)]
        if not sorts:
            limit = _min(cap, *(s.n for s in cuts if isinstance(s, Limit)))
            return _concat(newest(units, self.start, self.end, limit, deadline))
        sort_at, sort = sorts[0]
        head, tail = cuts[:sort_at], cuts[sort_at + 1 :]
        start, end = self.start, self.end
        l0 = _min(*(s.n for s in head if isinstance(s, Limit)))
        if l0 is not None:
            units = _rows_units(_concat(newest(units, start, end, l0, deadline)))
            start = end = None
        k = tail[0].n if tail and isinstance(tail[0], Limit) else None
        if not any(isinstance(s, Sort) for s in tail):
            k = _min(k, cap, *(s.n for s in tail if isinstance(s, Limit)))
        rows = sorted_rows(units, start, end, sort, k, deadline)
        for s in tail:
            if isinstance(s, Limit):
                rows = rows.take(np.arange(min(len(rows), s.n)))
            elif len(rows):
                rows = sorted_rows(_rows_units(rows), None, None, s, None)
        return rows

    # --- aggregation -------------------------------------------------------------------------
    def _aggregate(
        self,
        units: list[Unit],
        pre: Sequence[Stage],
        stage: AggregatingStage,
        deadline: Deadline | None,
    ) -> Iterator[list[JsonObject]]:
        yield from self.finish(self._feed(units, pre, stage, deadline))

    def finish(self, agg: Aggregator) -> list[list[JsonObject]]:
        """The answer's chunks from the aggregating stage's state once every row went in: the
        stages after it, then the output cap."""
        assert self.aggregation is not None
        objs = agg.result()
        for s in self.query.stages[self.aggregation[0] + 1 :]:
            objs = s.table(objs)
        if self.limit is not None:
            objs = objs[: self.limit]
        return [objs[lo : lo + CHUNK] for lo in range(0, len(objs), CHUNK)]

    def _feed(
        self, units: list[Unit], pre: Sequence[Stage], stage: AggregatingStage, deadline: Deadline | None
    ) -> Aggregator:
        start, end = self.start, self.end
        if any(isinstance(s, (Sort, Limit)) for s in pre):
            units = _rows_units(self._materialize(units, pre, None, deadline))
            start = end = None
        agg = stage.aggregator(self.max_groups)
        counted, units = split_counted(units, agg)
        if counted:
            add_counted(counted, agg)
            if agg.done():
                return agg
        preload = agg.preload()
        # A block whose filter reads no message, for an aggregation that reads no message or
        # every pair, is evaluated here: it costs tens of microseconds, less than the trip to
        # a pool thread and back (a wake-up, which an idle VM makes dearer).
        light = not any(name in ("message", "kv") for name in preload)
        cheap = (lambda u: u.bound.light) if light else None
        evaluated = ordered_map(lambda u: evaluate(u, start, end, preload), units, inline=cheap, deadline=deadline)
        try:
            for blk, idx in evaluated:
                if len(idx):
                    agg.add(blk, idx)
                if agg.done():
                    break
        finally:
            evaluated.close()
        return agg


def prepare(
    query: str,
    start_ns: int | None = None,
    end_ns: int | None = None,
    limit: int | None = None,
    default_limit: int | None = None,
    max_groups: int | None = None,
) -> PreparedQuery:
    """Parse and check; raises QueryError. See PreparedQuery for the limits."""
    return PreparedQuery(query, start_ns, end_ns, limit, default_limit, max_groups)


def run_to_objects(
    data_dir: str, query: str, start_ns: int | None = None, end_ns: int | None = None, limit: int | None = None
) -> Iterator[JsonObject]:
    """Objects answering `query` over the parts in `data_dir` (see the module docstring)."""
    prepared = prepare(query, start_ns, end_ns, limit)
    return prepared.objects(Catalog.get(data_dir))
