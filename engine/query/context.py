"""A row's context: the rows of the same host and app around it, in arrival order.

    around(catalog, row_id, before, after) -> Context(host, app, hit, rows)

The row is found by its `_id` (engine.query.row_id): the rows with its `_time`, then its
`_recv`, then its digest. Its neighbours are the rows with the same host and app (both may be
absent: "no host" is a value like any other) whose `_time` lies in a window around its own,
listed in arrival order: `_recv` (the receive batch), then `_time`, then the order in storage.
The window starts at a second each side and grows eightfold on a side that holds too few
rows until it holds `before` (`after`) rows or reaches the oldest (newest) row stored, so a
busy source costs a second of its rows and a quiet one a few more steps. Only sort keys are
gathered from the window; just the rows returned are read whole.

A sender's rows normally arrive in time order, so the rows nearest in time are the rows nearest
in arrival; a row whose time is far off its arrival (a sender with a wrong clock) is listed where
it arrived only if its time falls in the window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.errors import LogjetError
from engine.query.catalog import Catalog
from engine.query.field_eval import Leaf
from engine.query.field_names import resolve
from engine.query.filters.base import Filter
from engine.query.filters.boolean import All, And, Not
from engine.query.filters.exists import Exists
from engine.query.filters.phrase import Phrase
from engine.query.limits import Deadline
from engine.query.objects import JsonObject
from engine.query.plan import evaluate, plan
from engine.query.pool import ordered_map
from engine.query.render import row_objects
from engine.query.row_id import RowId, format_id, row_ids
from engine.query.scope import Scope
from engine.store.rows import Rows, concat

FIRST_WINDOW_NS = 10**9
GROWTH = 8
MAX_AROUND = 1000  # rows each side at most: a context is for reading, not for export


class RowNotFound(LogjetError):
    """No stored row has this `_id` (never stored, or deleted by retention)."""


@dataclass
class Context:
    host: str | None
    app: str | None
    hit: int  # the row's index in `rows`
    rows: list[JsonObject]


def _equals(field: str, value: bytes | None) -> Filter:
    f = resolve(field)
    return Not(Leaf(f, Exists())) if value is None else Leaf(f, Phrase(value))


def _read(piece: tuple[Scope, int], idx: np.ndarray) -> Rows:
    scope, block_number = piece
    return scope.block(block_number).rows(idx)


def _find(catalog: Catalog, rid: RowId, deadline: Deadline | None) -> Rows | None:
    """The row named by `rid` (a Rows of one), or None."""
    start, end = rid.time, rid.time + 1
    units = plan(catalog.scopes(start, end), All(), start, end)
    want = format_id(rid)
    for blk, idx in ordered_map(lambda u: evaluate(u, start, end, ("_recv",)), units, deadline=deadline):
        idx = idx[blk.recv()[idx] == rid.recv]
        if not len(idx):
            continue
        rows = blk.rows(idx)
        for k, got in enumerate(row_ids(rows, np.arange(len(rows)))):
            if got == want:
                return rows.take(np.array([k]))
    return None


class _Window:
    """Sort keys of the rows matching a filter with start <= _time < end, and where they are."""

    def __init__(self, catalog: Catalog, flt: Filter, start: int, end: int, deadline: Deadline | None):
        self.start, self.end = start, end
        self.pieces: list[tuple[Scope, int]] = []
        times, recvs, pieces, rows = [], [], [], []
        units = plan(catalog.scopes(start, end), flt, start, end)
        for k, (blk, idx) in enumerate(
            ordered_map(lambda u: evaluate(u, start, end, ("_time", "_recv")), units, deadline=deadline)
        ):
            if not len(idx):
                continue
            pieces.append(np.full(len(idx), len(self.pieces), np.int64))
            self.pieces.append((units[k].scope, units[k].block_number))
            times.append(blk.time()[idx])
            recvs.append(blk.recv()[idx])
            rows.append(idx)
        empty = np.empty(0, np.int64)
        self.time = np.concatenate(times) if times else empty
        self.recv = np.concatenate(recvs) if recvs else empty
        self.piece = np.concatenate(pieces) if pieces else empty
        self.row = np.concatenate(rows) if rows else empty


def _arrival(before: _Window, after: _Window) -> tuple[np.ndarray, ...]:
    """(recv, time, piece, row) of both windows together, in arrival order. Pieces come newest
    block first, so for rows equal in `_recv` and `_time` the older piece is the one numbered
    higher: the order within a block is the order of storage."""
    offset = len(before.pieces)
    recv = np.concatenate([before.recv, after.recv])
    time = np.concatenate([before.time, after.time])
    piece = np.concatenate([before.piece, after.piece + offset])
    row = np.concatenate([before.row, after.row])
    order = np.lexsort((row, -piece, time, recv))
    return recv[order], time[order], piece[order], row[order]


def around(catalog: Catalog, rid: RowId, before: int, after: int, deadline: Deadline | None = None) -> Context:
    """The rows around the row `rid` (see the module docstring); raises RowNotFound."""
    hit = _find(catalog, rid, deadline)
    if hit is None:
        raise RowNotFound(f"no stored row has the id {format_id(rid)} (deleted by retention, or never stored)")
    host, app = hit.value("host", 0), hit.value("app", 0)
    flt = And((_equals("host", host), _equals("app", app)))
    scopes = catalog.scopes()
    oldest = min((s.min_time for s in scopes), default=rid.time)
    newest = max((s.max_time for s in scopes), default=rid.time)
    t = rid.time
    wb = wa = FIRST_WINDOW_NS
    early = _Window(catalog, flt, t - wb, t + 1, deadline)
    late = _Window(catalog, flt, t + 1, t + 1 + wa, deadline)
    while True:
        recv, time, piece, row = _arrival(early, late)
        at = _position(recv, time, piece, row, rid, early, late)
        more_before = at < before and early.start > oldest
        more_after = len(recv) - 1 - at < after and late.end <= newest
        if not (more_before or more_after):
            break
        if more_before:
            wb *= GROWTH
            early = _Window(catalog, flt, t - wb, t + 1, deadline)
        if more_after:
            wa *= GROWTH
            late = _Window(catalog, flt, t + 1, t + 1 + wa, deadline)
    lo, hi = max(0, at - before), min(len(recv), at + after + 1)
    pieces = early.pieces + late.pieces
    rows = _take(pieces, piece[lo:hi], row[lo:hi])
    return Context(_text(host), _text(app), at - lo, row_objects(rows))


def _position(
    recv: np.ndarray, time: np.ndarray, piece: np.ndarray, row: np.ndarray, rid: RowId, *windows: _Window
) -> int:
    """Where the row `rid` is in the arrival order (it is in the windows: it was found). Rows
    sharing its time and batch (a burst with second-precision stamps) are read a block at a
    time."""
    pieces = [p for w in windows for p in w.pieces]
    want = format_id(rid)
    same = np.flatnonzero((time == rid.time) & (recv == rid.recv))
    for p in np.unique(piece[same]).tolist():
        at = same[piece[same] == p]
        rows = _read(pieces[p], row[at])
        ids = row_ids(rows, np.arange(len(at)))
        if want in ids:
            return int(at[ids.index(want)])
    raise RowNotFound(f"the row {want} went away while its context was read (merged or deleted): try again")


def _take(pieces: list[tuple[Scope, int]], piece: np.ndarray, row: np.ndarray) -> Rows:
    """Rows (piece[i], row[i]) in this order, reading each block once."""
    if not len(piece):
        return Rows.empty()
    parts: list[Rows] = []
    positions = np.empty(len(piece), np.int64)
    base = 0
    for p in np.unique(piece).tolist():
        sel = np.flatnonzero(piece == p)
        order = np.argsort(row[sel], kind="stable")
        parts.append(_read(pieces[p], row[sel][order]))
        positions[sel[order]] = base + np.arange(len(sel))
        base += len(sel)
    rows = concat(parts) if len(parts) > 1 else parts[0]
    return rows.take(positions)


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("utf-8", "replace")
