"""Live tail: the rows of parts that appear after the tail started, filtered, oldest first.

A tail remembers the part files it has seen (at start: all of them, so only new rows are
sent). Each `poll` lists the partitions, and reads every part it has not seen yet, once:
a row is never sent twice, because a part is never read twice and a merged part (one that
names the parts it replaces) is skipped: its rows were sent from its inputs. The one gap: a
flushed part merged away before any poll saw it (within one poll interval) is not sent.
`history` gives the newest rows from before the tail started (a Loki tail's backfill), read
from exactly the parts the tail has seen, so that no row comes both ways.

Stages that take one row at a time (extract, unpack_json, unpack_logfmt, math, filter,
fields) apply to each poll's rows; stages that need every row (sort, limit, aggregations) are
refused, since a tail never ends.

Not thread-safe: one tail, one poller at a time (the HTTP handler runs `poll` on a thread).
"""

from __future__ import annotations

import os

import numpy as np

from engine.query.catalog import Catalog
from engine.query.errors import QueryError
from engine.query.execute import PreparedQuery
from engine.query.objects import JsonObject
from engine.query.plan import evaluate, plan
from engine.query.render import row_objects
from engine.query.select import newest
from engine.query.stages.field_list import Fields
from engine.query.stages.transform import Transform
from engine.store.rows import Rows, concat

POLL_S = 0.2  # how often a tail looks for new parts: well inside the 1 s visibility budget


class Tail:
    def __init__(self, data_dir: str, prepared: PreparedQuery):
        for s in prepared.query.stages:
            if not isinstance(s, (Fields, Transform)):
                raise QueryError(
                    "a tail takes a filter and stages that take one row at a time "
                    "(fields, extract, extract_regexp, unpack_json, unpack_logfmt, math, filter)",
                    s.position,
                )
        self.prepared = prepared
        self.stages = prepared.query.stages  # every one, as checked
        self.catalog = Catalog.get(data_dir)
        self.seen = set(self.catalog.list_paths()[0])

    def poll(self) -> list[JsonObject]:
        """Objects of the matching rows of parts new since the last poll, oldest first."""
        rows = self.poll_rows()
        if not len(rows):
            return []
        stages = list(self.stages)
        first = stages[0] if stages else None
        if isinstance(first, Fields):
            objs = first.render(rows)
            stages.pop(0)
        else:
            objs = row_objects(rows)
        for s in stages:
            objs = s.table(objs)
        return objs

    def history(self, start_ns: int | None, limit: int) -> Rows:
        """The newest `limit` matching rows (at or after `start_ns`) of the parts the tail has
        seen, oldest first: what came before the rows `poll` will send, and none of them."""
        scopes = [s for p in sorted(self.seen) if (s := self.catalog.scope(p)) is not None]
        replaced = {name for s in scopes for name in s.replaces}
        scopes = [s for s in scopes if os.path.basename(s.path) not in replaced]
        units = plan(scopes, self.prepared.query.filter, start_ns, None)
        batches = list(newest(units, start_ns, None, limit))
        if not batches:
            return Rows.empty()
        rows = concat(batches) if len(batches) > 1 else batches[0]
        return rows.take(np.argsort(rows.time, kind="stable"))

    def poll_rows(self) -> Rows:
        """The matching rows of parts new since the last poll, oldest first."""
        paths = self.catalog.list_paths()[0]
        listed = set(paths)
        new = [p for p in paths if p not in self.seen]
        self.catalog.forget(self.seen - listed)
        self.seen = listed  # parts that vanished are forgotten; names are never reused
        if not new:
            return Rows.empty()
        batches: list[Rows] = []
        flt = self.prepared.query.filter
        for path in sorted(new):
            scope = self.catalog.scope(path)
            if scope is None or scope.replaces:
                continue  # damaged, or merged from parts whose rows were already sent
            for unit in plan([scope], flt, None, None):
                blk, idx = evaluate(unit, None, None)
                if len(idx):
                    batches.append(blk.rows(idx))
        if not batches:
            return Rows.empty()
        rows = concat(batches) if len(batches) > 1 else batches[0]
        return rows.take(np.argsort(rows.time, kind="stable"))
