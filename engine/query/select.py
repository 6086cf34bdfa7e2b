"""Choosing the output rows: the newest matches first, or the first matches in a sort order.

`newest` streams matching rows newest first (or oldest first), as `Rows` batches, without
reading more than it must. Units come newest block first; after each one, every pending match at least as new as the
next unit's newest row can be emitted, because no later unit holds a newer one. Parts written
in time order (the usual case) therefore emit block by block, in constant memory; overlapping
parts are merged correctly. With a limit, a block contributes at most its newest `remaining`
matches, and reading stops once the limit is out.

`sorted_rows` gathers sort keys and positions of every match (arrays, no rows), sorts them
once, and reads back only the rows it returns.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from engine.query.block import Block
from engine.query.limits import Deadline
from engine.query.plan import Unit, evaluate, trivial
from engine.query.pool import ordered_map
from engine.query.stages.sort import RowKeys, Sort
from engine.store.rows import Rows, concat


Piece = tuple[Block, np.ndarray, np.ndarray]  # (block, matching rows, their times)


def _take_first(pieces: list[Piece], oldest: bool) -> Rows:
    """Rows of (block, idx, times) pieces in one batch, newest (or oldest) first."""
    if len(pieces) == 1:
        blk, idx, _ = pieces[0]
        return blk.rows(idx if oldest else idx[::-1])
    rows = concat([blk.rows(idx) for blk, idx, _ in pieces])
    return rows.take(np.argsort(rows.time if oldest else -rows.time, kind="stable"))


def newest(
    units: list[Unit],
    start_ns: int | None,
    end_ns: int | None,
    limit: int | None,
    deadline: Deadline | None = None,
    oldest: bool = False,
) -> Iterator[Rows]:
    """Matching rows newest first; with `oldest`, oldest first (`sort by (_time)`, a Loki query
    read forward) by the same walk over time negated: units by their oldest row, each block's
    first rows under a limit, a watermark at the next unit's oldest row."""
    if limit is not None and limit <= 0:
        return
    sign = -1 if oldest else 1
    if oldest:
        units = sorted(units, key=lambda u: int(u.scope.block_min[u.block_number]))
    edges = [sign * (int(u.scope.block_min[u.block_number]) if oldest else u.max_time) for u in units]
    pending: list[Piece] = []  # not yet out; times signed, so that the next out is the largest
    emitted = 0
    results = ordered_map(lambda u: evaluate(u, start_ns, end_ns), units, inline=trivial, deadline=deadline)
    try:
        for k, (blk, idx) in enumerate(results):
            if limit is not None:
                keep = min(len(idx), limit - emitted)
                idx = idx[:keep] if oldest else idx[len(idx) - keep :]
            if len(idx):
                pending.append((blk, idx, sign * blk.time()[idx]))
            watermark = edges[k + 1] if k + 1 < len(units) else None
            out, pending = _split(pending, watermark, None if limit is None else limit - emitted)
            if out:
                batch = _take_first(out, oldest)
                emitted += len(batch)
                yield batch
            if limit is not None and emitted >= limit:
                return
        if pending:
            out, _ = _split(pending, None, None if limit is None else limit - emitted)
            if out:
                yield _take_first(out, oldest)
    finally:
        results.close()


def _split(pending: list[Piece], watermark: int | None, cap: int | None) -> tuple[list[Piece], list[Piece]]:
    """(pieces to emit now, pieces to keep): rows with time >= watermark (all when None), at
    most `cap` of them, newest first."""
    if not pending:
        return [], []
    if watermark is None and cap is None:
        return pending, []
    times = np.concatenate([t for _, _, t in pending])
    ready = np.ones(len(times), bool) if watermark is None else times >= watermark
    n_ready = int(ready.sum())
    if n_ready == 0:
        return [], pending
    if cap is not None and n_ready > cap:
        cut = np.partition(times[ready], n_ready - cap)[n_ready - cap]
        ready &= times >= cut
        # Ties at the cut may exceed the cap: keep the first ones found.
        extra = int(ready.sum()) - cap
        if extra > 0:
            ties = np.flatnonzero(ready & (times == cut))
            ready[ties[:extra]] = False
    out: list[Piece] = []
    keep: list[Piece] = []
    pos = 0
    for blk, idx, t in pending:
        r = ready[pos : pos + len(t)]
        pos += len(t)
        if r.all():
            out.append((blk, idx, t))
        elif r.any():
            out.append((blk, idx[r], t[r]))
            keep.append((blk, idx[~r], t[~r]))
        else:
            keep.append((blk, idx, t))
    if cap is not None and watermark is None:
        keep = []
    return out, keep


def sorted_rows(
    units: list[Unit],
    start_ns: int | None,
    end_ns: int | None,
    stage: Sort,
    limit: int | None,
    deadline: Deadline | None = None,
) -> Rows:
    """The first `limit` matching rows (all when None) in the stage's order."""
    keys = RowKeys(stage)
    preload = keys.preload()
    where: list[tuple[int, np.ndarray]] = []
    evaluated = ordered_map(lambda u: evaluate(u, start_ns, end_ns, preload), units, deadline=deadline)
    for k, (blk, idx) in enumerate(evaluated):
        if len(idx):
            keys.add(blk, idx)
            where.append((k, idx))
    if not where:
        return Rows.empty()
    order = keys.order()
    if limit is not None:
        order = order[:limit]
    unit_of = np.concatenate([np.full(len(idx), k, np.int64) for k, idx in where])
    row_of = np.concatenate([idx for _, idx in where])
    u, r = unit_of[order], row_of[order]
    pieces: list[Rows] = []
    positions = np.empty(len(order), np.int64)
    base = 0
    for k in np.unique(u).tolist():
        sel = np.flatnonzero(u == k)
        unit = units[k]
        pieces.append(unit.scope.block(unit.block_number).rows(r[sel]))
        positions[sel] = base + np.arange(len(sel))
        base += len(sel)
    rows = concat(pieces) if len(pieces) > 1 else pieces[0]
    return rows.take(positions)
