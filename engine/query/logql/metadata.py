"""The answers of Loki's metadata endpoints: label names and values, series, index stats and
volume, over a logjet catalog.

Without a query to narrow them, label names and values come from metadata only (each part's
dictionaries, its index's value lists): they are cheap, and, like Loki's, they are per part,
so a value may come from a part that also holds rows outside [start, end). With a query (the
label browser's `query=`, `match[]`, index stats, volume) the matching rows are counted by one
histogram run grouped by the labels asked for. Byte figures in index stats and volume are
estimates (rows × the average raw bytes per row of the parts in the range), as Loki's index
figures are estimates: reading every message to measure it would cost what the query costs.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from engine.query.logql.answers import Answers
from engine.query.logql.labels import STREAM_LABELS, code_label, coded, field_of, label_value
from engine.query.logql.metric import Evaluator, HistogramRun
from engine.query.logql.parser import parse_log_query
from engine.query.logql.response import matrix, vector
from engine.query.logql.syntax import LogQLError, LogQuery, RangeAgg, VectorAgg
from engine.query.logql.translate import translate
from engine.query.objects import JsonObject
from engine.query.scope import PartScope
from engine.store.index_format import u8_code
from engine.store.rows import NO_VALUE

Labels = dict[str, str]


def _selector(text: str) -> LogQuery:
    query = parse_log_query(text)
    if query.stages:
        raise LogQLError("only label matchers are supported", query.pos)
    return query


def u8_codes(scope: PartScope, column: str) -> set[int]:
    """The severity (or facility) codes the part's rows have: from its index, else its blocks."""
    index = scope.index
    values = index.values(column) if index is not None else None
    if values is not None and all(v.isdigit() for v in values):
        return {u8_code(column, v) for v in values} - {NO_VALUE}
    codes: set[int] = set()
    for b in range(scope.nblocks):
        codes.update(np.unique(scope.block(b).u8(column)).tolist())
    return codes - {NO_VALUE}


def label_names(answers: Answers, start_ns: int, end_ns: int) -> list[str]:
    scopes = answers.catalog.scopes(start_ns, end_ns)
    out = []
    for name in STREAM_LABELS:
        column = field_of(name).name
        if coded(name):
            present = any(u8_codes(s, column) for s in scopes)
        else:
            present = any(s.dicts.get(column) for s in scopes)
        if present:
            out.append(name)
    return sorted(out)


def label_values(answers: Answers, name: str, start_ns: int, end_ns: int, query: str | None) -> list[str]:
    if query:
        found = _label_sets(answers, [query], start_ns, end_ns, (name,))
        return sorted({labels[name] for labels in found if name in labels})
    if name not in STREAM_LABELS:
        return []  # a field: like structured metadata in Loki, not listed without a query
    column = field_of(name).name
    values: set[str] = set()
    for scope in answers.catalog.scopes(start_ns, end_ns):
        if coded(name):
            values.update(v for c in u8_codes(scope, column) if (v := code_label(name, c)))
        else:
            values.update(v.decode("utf-8", "replace") for v in scope.dicts.get(column, []))
    return sorted(values)


def series(answers: Answers, matches: list[str], start_ns: int, end_ns: int) -> list[Labels]:
    found = {tuple(sorted(s.items())) for s in _label_sets(answers, matches, start_ns, end_ns, STREAM_LABELS)}
    return [dict(s) for s in sorted(found)]


def _label_sets(
    answers: Answers, queries: Iterable[str], start_ns: int, end_ns: int, names: tuple[str, ...]
) -> list[Labels]:
    """The distinct label sets (over `names`) of the rows matching any of `queries`."""
    fields = tuple(dict.fromkeys(field_of(n) for n in names))
    out: list[Labels] = []
    for text in queries:
        flt, _ = translate(_selector(text))
        span = max(1, end_ns - start_ns)
        agg = answers.histogram(text, HistogramRun(flt, fields, False, span, start_ns, start_ns, end_ns))
        for g in np.unique(agg.cells().group).tolist():
            key = agg.key(g)
            labels = {n: v for n in names if (v := label_value(n, key.get(field_of(n).name)))}
            out.append(labels)
    return out


def _row_bytes(answers: Answers, start_ns: int, end_ns: int) -> float:
    """The average raw bytes of a row in the parts of the range."""
    scopes = answers.catalog.scopes(start_ns, end_ns)
    rows = sum(s.rows for s in scopes)
    return sum(s.part.meta.raw_bytes for s in scopes) / rows if rows else 0.0


def index_stats(answers: Answers, query: str, start_ns: int, end_ns: int) -> JsonObject:
    flt, _ = translate(_selector(query))
    fields = tuple(dict.fromkeys(field_of(n) for n in STREAM_LABELS))
    span = max(1, end_ns - start_ns)
    agg = answers.histogram(query, HistogramRun(flt, fields, False, span, start_ns, start_ns, end_ns))
    cells = agg.cells()
    entries = int(cells.rows.sum())
    streams = {
        tuple((n, label_value(n, agg.key(g).get(field_of(n).name))) for n in STREAM_LABELS)
        for g in np.unique(cells.group).tolist()
    }
    return {
        "streams": len(streams),
        "chunks": answers.blocks,
        "entries": entries,
        "bytes": int(entries * _row_bytes(answers, start_ns, end_ns)),
    }


def volume(
    answers: Answers,
    query: str,
    start_ns: int,
    end_ns: int,
    step_ns: int | None,
    limit: int,
    target_labels: tuple[str, ...],
) -> tuple[str, list[JsonObject]]:
    """(result type, result) of index/volume (step None: a vector at `end_ns`) or
    index/volume_range: estimated bytes by `target_labels`, or by the query's label names."""
    selector = _selector(query)
    names = target_labels or tuple(dict.fromkeys(m.name for m in selector.matchers))
    per_row = _row_bytes(answers, start_ns, end_ns)
    window = step_ns if step_ns is not None else max(1, end_ns - start_ns)
    expr = VectorAgg("sum", RangeAgg("count_over_time", selector, window), names)
    times = (
        np.array([end_ns], np.int64)
        if step_ns is None
        else start_ns + step_ns * np.arange((end_ns - start_ns) // step_ns + 1, dtype=np.int64)
    )
    result = Evaluator(lambda run: answers.histogram(query, run), times).evaluate(expr)
    assert isinstance(result, dict)
    for s in result.values():
        s.values = np.round(s.values * per_row)
    ranked = sorted(result, key=lambda k: -float(np.where(result[k].present, result[k].values, 0).sum()))
    kept = {k: result[k] for k in ranked[:limit]}
    if step_ns is None:
        return "vector", vector(kept, end_ns)
    return "matrix", matrix(kept, times)
