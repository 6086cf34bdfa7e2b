"""`| sort by (f1 [desc], f2 ...)`: order rows or objects by field values.

Order: a field sorts as numbers when every value it has is a number, else as bytes (text);
rows without a value come first (last with `desc`). Ties keep the newest row first.

On rows in parts the executor (`select.sorted_rows`) gathers only the sort keys and row
positions of the matching rows, sorts those, and reads back just the rows it outputs; the
`keys` helper here turns one block's rows into those keys. On objects `table` sorts in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from engine.query.field_names import TIME, resolve
from engine.query.objects import Json, JsonObject
from engine.query.stages.base import Stage
from engine.query.stages.field_list import object_value
from engine.query.values import column
from native_kernels.numbers import parse_number

if TYPE_CHECKING:
    from engine.query.block import Block


@dataclass(frozen=True)
class Sort(Stage):
    keys: tuple[tuple[str, bool], ...]  # (field name, descending)
    position: int = 0

    def table(self, objects: list[JsonObject]) -> list[JsonObject]:
        out = list(objects)
        for name, desc in reversed(self.keys):  # stable sorts, least significant key first
            vals = [object_value(o, name) for o in out]
            key = _object_keys(vals)
            order = sorted(range(len(out)), key=key.__getitem__, reverse=desc)
            out = [out[i] for i in order]
        return out


def _number(v: Json) -> float | None:
    """The value as a number: numbers (not booleans) as they are, numeric strings parsed."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return v
    return parse_number(v.encode()) if isinstance(v, str) else None


def _object_keys(vals: list[Json]) -> list[tuple[int, float | str]]:
    nums = [_number(v) for v in vals]
    numeric = all(n is not None for v, n in zip(vals, nums) if v is not None)
    out: list[tuple[int, float | str]] = []
    for v, n in zip(vals, nums):
        if v is None:
            out.append((0, 0))
        elif numeric and n is not None:
            out.append((1, n))
        else:
            out.append((1, str(v)))
    return out


class RowKeys:
    """Sort keys of rows in parts, for one run: per block, arrays; at the end, one lexsort."""

    def __init__(self, stage: Sort):
        self.fields = [(resolve(name), desc) for name, desc in stage.keys]
        self.columns = [column(f) for f, _ in self.fields]
        self.parts: list[list[np.ndarray]] = []

    def preload(self) -> list[str]:
        return ["_time"] + [n for c in self.columns for n in c.preload()]

    def add(self, blk: Block, idx: np.ndarray) -> None:
        keys = []
        for (f, _), c in zip(self.fields, self.columns):
            keys.append(
                blk.time()[idx] if f.name == "_time" else (blk.recv()[idx] if f.kind == TIME else c.ids(blk, idx))
            )
        keys.append(blk.time()[idx])
        self.parts.append(keys)

    def order(self) -> np.ndarray:
        """Positions (into the concatenation of every block's rows, in `add` order) sorted."""
        if not self.parts:
            return np.empty(0, np.int64)
        cols = [np.concatenate([p[k] for p in self.parts]) for k in range(len(self.fields) + 1)]
        lex = [-cols[-1]]  # tie-break: newest first
        for k in reversed(range(len(self.fields))):
            f, desc = self.fields[k]
            key = cols[k] if f.kind == TIME else self.columns[k].order_keys(cols[k])[cols[k]]
            lex.append(-key if desc else key)
        return np.lexsort(lex)
