"""Running the stages that follow a field-making stage (extract, unpack_json, unpack_logfmt,
math, filter) on a stream of row objects.

The executor selects rows as for any query (filter, and the sort and limit stages before the
first field-making one), renders them as objects, and hands the stream of chunks here. Stages
then apply chunk by chunk (rendering only the fields they read when what comes out is not whole
rows: an aggregation, or `fields`): field-making stages, `filter` and `fields` map each chunk, `limit`
cuts the stream (and stops the reading behind it), `sort` gathers every object first, and an
aggregation folds the stream into its result (engine.query.object_aggregate), after which the
remaining stages apply to that result. Memory: a chunk at a time, except what `sort` gathers
(capped by `query.max_groups` objects) and the aggregation's groups (capped the same way).
"""

from __future__ import annotations

from typing import Iterable, Iterator, Sequence

from engine.query.errors import QueryError
from engine.query.field_names import ALIASES
from engine.query.limits import Deadline
from engine.query.object_aggregate import object_aggregator
from engine.query.objects import JsonObject
from engine.query.stages.base import AggregatingStage, Stage
from engine.query.stages.field_list import Fields
from engine.query.stages.histogram import Histogram
from engine.query.stages.limit import Limit
from engine.query.stages.sort import Sort
from engine.query.stages.stats import Stats
from engine.query.stages.top import Top
from engine.query.stages.transform import Transform
from engine.query.stages.uniq import Uniq

Chunks = Iterable[list[JsonObject]]


def needed_fields(stages: Sequence[Stage]) -> list[str] | None:
    """The fields the stages read before their answer stops being rows (an aggregation, or
    `fields`), so that only those are rendered; None when whole rows come out."""
    names: set[str] = set()
    for stage in stages:
        if isinstance(stage, Transform):
            names |= stage.reads()
        elif isinstance(stage, Sort):
            names |= {name for name, _ in stage.keys}
        elif isinstance(stage, Fields):
            return _column_names(names | set(stage.names))
        elif isinstance(stage, (Stats, Top, Uniq)):
            names |= {g.name for g in stage.by}
            if isinstance(stage, Stats):
                names |= {f.field.name for f in stage.funcs if f.field is not None}
            return _column_names(names)
        elif isinstance(stage, Histogram):
            names |= {"_time"} | {f.name for f in stage.by} | ({"message"} if stage.sum_bytes else set())
            return _column_names(names)
        elif not isinstance(stage, Limit):
            return None  # a stage this does not know: whole rows, to be safe
    return None


def _column_names(names: set[str]) -> list[str]:
    # `_msg` is rendered under its own name: read it as the column it stands for
    return sorted({ALIASES.get(n, n) for n in names})


def run_stages(
    chunks: Chunks,
    stages: Sequence[Stage],
    max_groups: int | None,
    deadline: Deadline | None,
    chunk_size: int,
) -> Iterator[list[JsonObject]]:
    """The stages applied to the stream of object chunks, as a stream of chunks."""
    stream: Iterator[list[JsonObject]] = _checked(chunks, deadline)
    for k, stage in enumerate(stages):
        if isinstance(stage, AggregatingStage):
            agg = object_aggregator(stage, max_groups)
            for chunk in stream:
                agg.add(chunk)
                if agg.done():
                    break
            objs = agg.result()
            for later in stages[k + 1 :]:
                objs = later.table(objs)
            yield from _split(objs, chunk_size)
            return
        if isinstance(stage, Sort):
            stream = _split(stage.table(_gather(stream, max_groups, stage)), chunk_size)
        elif isinstance(stage, Limit):
            stream = _head(stream, stage.n)
        else:
            stream = _mapped(stream, stage)
    yield from stream


def _checked(chunks: Chunks, deadline: Deadline | None) -> Iterator[list[JsonObject]]:
    for chunk in chunks:
        if deadline is not None:
            deadline.check()
        yield chunk


def _mapped(stream: Iterator[list[JsonObject]], stage: Stage) -> Iterator[list[JsonObject]]:
    for chunk in stream:
        out = stage.table(chunk)
        if out:
            yield out


def _head(stream: Iterator[list[JsonObject]], n: int) -> Iterator[list[JsonObject]]:
    left = n
    if left <= 0:
        return
    for chunk in stream:
        if len(chunk) >= left:
            yield chunk[:left]
            return
        left -= len(chunk)
        yield chunk


def head(stream: Iterator[list[JsonObject]], n: int | None) -> Iterator[list[JsonObject]]:
    """At most `n` objects of the stream (all when None)."""
    return stream if n is None else _head(stream, n)


def _gather(stream: Iterator[list[JsonObject]], cap: int | None, stage: Sort) -> list[JsonObject]:
    out: list[JsonObject] = []
    for chunk in stream:
        out.extend(chunk)
        if cap is not None and len(out) > cap:
            raise QueryError(
                f"sort after a stage that makes fields holds more than {cap} rows (query.max_groups); "
                "narrow the query, or sort by a stored field before that stage",
                stage.position,
            )
    return out


def _split(objs: list[JsonObject], size: int) -> Iterator[list[JsonObject]]:
    for lo in range(0, len(objs), size):
        yield objs[lo : lo + size]
