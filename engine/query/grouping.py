"""Group numbers for `by (f1, f2, ...)`: per selected row, a dense int64 group that means the same
combination of values in every block of the query.

No field: one group. One field: the group is the field's query-wide value id (0 = no value),
so grouping costs nothing beyond reading the ids. Several fields: the ids are combined into
one int64 per row, made unique per block with numpy (counting, or sorting when the codes
span far more values than there are rows), and each distinct combination is given a
group through a dict (Python per distinct combination per block, never per row). A
`TimeBucket` (`_time:1m`) groups like a field whose value is the bucket's start.

The groups a query holds grow with the data, so a `GroupCap` (`query.max_groups`) stops the
query after the block that passes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from engine.query.field_names import DICT, U8, Field
from engine.query.limits import GroupCap
from engine.query.objects import JsonObject
from engine.query.values import GroupBy, column

if TYPE_CHECKING:
    from engine.query.block import Block

GroupKey = tuple[int, ...]  # the query-wide value id of each `by` field


def _distinct(codes: np.ndarray, span: int) -> tuple[np.ndarray, np.ndarray]:
    """(distinct codes ascending, index of each code's among them) of codes in [0, span): by
    counting when the span is small next to the rows (a pass, where a sort is n log n: a
    block's `by (host, app)` is 50 x 10 codes over 65536 rows), else by sorting."""
    if span <= max(1 << 16, 4 * len(codes)):
        present = np.bincount(codes, minlength=span) > 0
        uniq = np.flatnonzero(present)
        where = np.zeros(span, np.int64)
        where[uniq] = np.arange(len(uniq))
        return uniq, where[codes]
    uniq, inverse = np.unique(codes, return_inverse=True)
    return uniq, inverse.reshape(-1)


class Grouper:
    def __init__(self, by: list[GroupBy], cap: GroupCap | None = None):
        self.by = by
        self.cap = cap
        self.columns = [column(f) for f in by]
        self._groups: dict[GroupKey, int] = {}
        self._keys: list[GroupKey] = []

    def preload(self) -> list[str]:
        return [name for c in self.columns for name in c.preload()]

    def groups(self, blk: Block, idx: np.ndarray) -> np.ndarray:
        """Group per row of `idx`; `size` afterwards bounds every group handed out. Raises
        TooManyGroups past the cap."""
        if not self.columns:
            return np.zeros(len(idx), np.int64)
        ids = [c.ids(blk, idx) for c in self.columns]
        if len(ids) == 1:
            self._check()
            return ids[0]
        sizes = [c.size for c in self.columns]
        if np.prod(np.asarray(sizes, np.float64)) < 2.0**62:
            combined = np.zeros(len(idx), np.int64)
            for s, v in zip(sizes, ids):
                combined = combined * s + v  # sizes grow per block: the code is block-local
            uniq, inverse = _distinct(combined, int(np.prod(sizes)))
            keys: list[GroupKey] = []
            for code in uniq.tolist():
                parts: list[int] = []
                for s in reversed(sizes):
                    code, part = divmod(code, s)
                    parts.append(part)
                keys.append(tuple(reversed(parts)))
        else:  # too many values to pack: unique rows of the id matrix (slower, same result)
            uniq, inverse = np.unique(np.stack(ids, axis=1), axis=0, return_inverse=True)
            keys = [tuple(row) for row in uniq.tolist()]
        table = np.empty(len(keys), np.int64)
        for k, key in enumerate(keys):
            g = self._groups.get(key)
            if g is None:
                g = self._groups[key] = len(self._keys)
                self._keys.append(key)
            table[k] = g
        self._check()
        groups: np.ndarray = table[inverse.reshape(-1)]
        return groups

    def counted_columns(self) -> frozenset[str] | None:
        """The `by` fields when every one is a u8 or dictionary column (so that groups can be
        taken from value combinations: engine.query.block_counts), else None."""
        if not all(isinstance(f, Field) and f.kind in (DICT, U8) for f in self.by):
            return None
        return frozenset(f.name for f in self.by)

    def counts(self, blk: Block, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(groups, rows per group) of the selected rows, for aggregations that only count.
        Raises TooManyGroups past the cap."""
        if len(self.columns) == 1:
            got = self.columns[0].id_counts(blk, idx)
            self._check()
            return got
        if not self.columns:
            return np.zeros(1, np.int64), np.array([len(idx)], np.int64)
        counts = np.bincount(self.groups(blk, idx))
        nz = np.flatnonzero(counts)
        return nz, counts[nz]

    @property
    def held(self) -> int:
        """Groups (distinct values, or combinations of them) this run keeps in memory."""
        if len(self.columns) == 1:
            return self.columns[0].held
        return len(self._keys)

    def _check(self) -> None:
        if self.cap is not None:
            self.cap.check(self.held)

    @property
    def size(self) -> int:
        if not self.columns:
            return 1
        if len(self.columns) == 1:
            return self.columns[0].size
        return len(self._keys)

    def key(self, g: int) -> JsonObject:
        """{field name: JSON value} of group g."""
        if not self.columns:
            return {}
        ids = (g,) if len(self.columns) == 1 else self._keys[g]
        return {f.name: c.value(v) for f, c, v in zip(self.by, self.columns, ids)}

    def sort_keys(self, groups: list[int]) -> list[tuple[float, ...]]:
        """Keys ordering `groups` by their values, field by field (no value first)."""
        if len(self.columns) == 1:  # a group is its value's id: one lookup for them all
            vids = np.asarray(groups, np.int64)
            return [(k,) for k in self.columns[0].order_keys(vids)[vids].tolist()]
        ids = [self._keys[g] if self.columns else () for g in groups]
        used = [np.array([key[k] for key in ids], np.int64) for k in range(len(self.columns))]
        orders = [c.order_keys(u) for c, u in zip(self.columns, used)]
        return [tuple(float(o[v]) for o, v in zip(orders, key)) for key in ids]


class GroupCounter:
    """Rows per group over a run, for the aggregations that only count (`top`, `uniq`)."""

    def __init__(self, grouper: Grouper):
        self.grouper = grouper
        self.counts = np.zeros(0, np.int64)  # by group number

    def add(self, blk: Block, idx: np.ndarray) -> int:
        """Count the selected rows; returns how many groups got their first rows."""
        groups, counts = self.grouper.counts(blk, idx)
        return self._add(groups, counts)

    def add_counted(self, blk: Block, idx: np.ndarray, weights: np.ndarray) -> int:
        """`add` where selected row `idx[i]` stands for `weights[i]` rows (a value combination)."""
        sums = np.bincount(self.grouper.groups(blk, idx), weights=weights).astype(np.int64)
        groups = np.flatnonzero(sums)
        return self._add(groups, sums[groups])

    def _add(self, groups: np.ndarray, counts: np.ndarray) -> int:
        size = self.grouper.size
        if len(self.counts) < size:
            grown = np.zeros(max(size, 2 * len(self.counts)), np.int64)
            grown[: len(self.counts)] = self.counts
            self.counts = grown
        new = int(np.count_nonzero(self.counts[groups] == 0))
        self.counts[groups] += counts  # groups are distinct
        return new
