"""`| fields f1, f2`: keep only these fields of each row or object.

On rows it renders just those fields (cheaper than whole rows): columns by their names, a
field key as its first value in the row (`null` when the row has none), SD params as
`<sd-id>.<param>`, `_id` as in whole rows (engine.query.row_id). On objects (after an
aggregation, or whole rendered rows) it picks the keys, looking into a row object's `fields`
and `sd` for field keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from engine.query.field_names import DICT, FORMAT, KV, MESSAGE, TIME, U8, resolve
from engine.query.objects import Json, JsonObject
from engine.query.render import format_times
from engine.query.row_id import ROW_ID, row_ids
from engine.query.stages.base import Stage
from engine.store.rows import FORMATS, NO_VALUE, Rows


@dataclass(frozen=True)
class Fields(Stage):
    names: tuple[str, ...]
    position: int = 0

    def table(self, objects: list[JsonObject]) -> list[JsonObject]:
        return [{n: object_value(o, n) for n in self.names} for o in objects]

    def render(self, rows: Rows) -> list[JsonObject]:
        cols = {name: _column_values(rows, name) for name in self.names}
        return [{name: cols[name][i] for name in self.names} for i in range(len(rows))]


def _text(b: bytes | None) -> str | None:
    return None if b is None else b.decode("utf-8", "replace")


def _column_values(rows: Rows, name: str) -> Sequence[Json]:
    n = len(rows)
    if name == ROW_ID:
        return row_ids(rows, np.arange(n))
    f = resolve(name)
    if f.kind == TIME:
        return format_times(rows.time if f.name == "_time" else rows.recv)
    if f.kind == U8:
        return [None if v == NO_VALUE else v for v in getattr(rows, f.name).tolist()]
    if f.kind == FORMAT:
        return [FORMATS[v] if v < len(FORMATS) else str(v) for v in rows.format.tolist()]
    if f.kind == DICT:
        values = [None] + [_text(v) for v in rows.dicts[f.name]]
        return [values[i] for i in rows.ids[f.name].tolist()]
    if f.kind == MESSAGE:
        return [_text(rows.message(i)) for i in range(n)]
    assert f.kind == KV
    out: list[Json] = [None] * n
    try:
        kid = rows.dicts["fieldkey"].index(f.name.encode()) + 1
    except ValueError:
        return out
    hits = np.flatnonzero(rows.kv_key == kid)
    owners = np.searchsorted(rows.kv_ptr, hits, side="right") - 1
    for j, r in zip(hits[::-1].tolist(), owners[::-1].tolist()):  # reversed: the first value wins
        out[r] = _text(rows.kv_data[rows.kv_off[j] : rows.kv_off[j + 1]].tobytes())
    return out


def object_value(obj: JsonObject, name: str) -> Json:
    """A field of a result object: a key, else a row object's field or SD param."""
    if name in obj:
        return obj[name]
    fields = obj.get("fields")
    if isinstance(fields, Mapping) and name in fields:
        return fields[name]
    sd = obj.get("sd")
    if isinstance(sd, Mapping):
        for i in range(len(name)):
            if name[i] == "." and name[:i] in sd:
                params = sd[name[:i]]
                return params.get(name[i + 1 :]) if isinstance(params, Mapping) else None
    return None
