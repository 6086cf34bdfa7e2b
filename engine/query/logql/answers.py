"""The answers of Loki's query endpoints over a logjet catalog, as JSON-ready objects:
`query_range` (streams for a log query, a matrix for a metric query) and `query` (a vector or a
scalar). Every run goes through logjet's executor (`PreparedQuery`): the LogQL is translated to
a filter and stages, never evaluated beside them, so the index, the pruning, `query.timeout`
(the deadline) and `query.max_groups` apply as they do to logjet's own language.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from engine.query.catalog import Catalog
from engine.query.execute import PreparedQuery
from engine.query.language.parser import Query
from engine.query.limits import Deadline
from engine.query.logql import response
from engine.query.logql.metric import Evaluator, HistogramRun, Scalar, steps
from engine.query.logql.parser import parse
from engine.query.logql.streams import build_streams
from engine.query.logql.syntax import LogQLError, LogQuery
from engine.query.logql.translate import translate
from engine.query.objects import JsonObject
from engine.query.stages.base import Stage
from engine.query.stages.histogram import Histogram, HistogramAggregator
from engine.query.stages.sort import Sort

INSTANT_LOG_QUERY = (
    "log queries are not supported as an instant query type, please change your query to a range query type"
)


@dataclass
class Answers:
    """One request's runs over `catalog`, under `deadline` and `max_groups`; `lines`, `nbytes`
    and `blocks` count the rows its runs selected, their message bytes where read, and the
    blocks read (for the stats)."""

    catalog: Catalog
    max_groups: int | None = None
    deadline: Deadline | None = None
    lines: int = 0
    nbytes: int = 0
    blocks: int = 0
    started: float = field(default_factory=time.perf_counter)

    def histogram(self, text: str, run: HistogramRun) -> HistogramAggregator:
        stage = Histogram(run.step_ns, run.by, run.sum_bytes, run.offset_ns)
        prepared = PreparedQuery(
            text, run.start_ns, run.end_ns, max_groups=self.max_groups, query=Query(run.flt, (stage,))
        )
        agg = prepared.aggregator(self.catalog, self.deadline)
        assert isinstance(agg, HistogramAggregator)
        self.lines += sum(agg.counts.values())
        self.nbytes += sum(agg.sizes.values())
        self.blocks += prepared.stats.blocks_read
        return agg

    def streams(self, text: str, query: LogQuery, start_ns: int, end_ns: int, limit: int, forward: bool) -> JsonObject:
        flt, view = translate(query)
        stages: tuple[Stage, ...] = (Sort((("_time", False),)),) if forward else ()
        prepared = PreparedQuery(text, start_ns, end_ns, limit, query=Query(flt, stages))
        built = build_streams(prepared.row_batches(self.catalog, self.deadline), view)
        self.lines += built.entries
        self.nbytes += built.bytes
        return self._data("streams", built.result(), built.entries)

    def query_range(self, text: str, start_ns: int, end_ns: int, step_ns: int, limit: int, forward: bool) -> JsonObject:
        expr = parse(text)
        if isinstance(expr, LogQuery):
            return self.streams(text, expr, start_ns, end_ns, limit, forward)
        times = steps(start_ns, end_ns, step_ns)
        result = Evaluator(lambda run: self.histogram(text, run), times).evaluate(expr)
        out = response.matrix(result, times)
        return self._data("matrix", out, len(out))

    def instant(self, text: str, time_ns: int) -> JsonObject:
        expr = parse(text)
        if isinstance(expr, LogQuery):
            raise LogQLError(INSTANT_LOG_QUERY, 0)
        times = np.array([time_ns], np.int64)
        result = Evaluator(lambda run: self.histogram(text, run), times).evaluate(expr)
        if isinstance(result, Scalar):
            return self._data("scalar", response.scalar(result, time_ns), 1)
        out = response.vector(result, time_ns)
        return self._data("vector", out, len(out))

    def _data(self, kind: str, result: object, returned: int) -> JsonObject:
        exec_s = time.perf_counter() - self.started
        # resultType before result, result before stats: Grafana reads them in that order.
        return {
            "resultType": kind,
            "result": result,  # type: ignore[dict-item]
            "stats": response.stats(exec_s, self.lines, self.nbytes, returned),
        }
