"""Decoding rows of one known flat shape into msgspec Structs instead of dicts.

A shipper sends the same flat object every time (`{"time", "host", "app", "level", "pid",
"msg"}`); once a chunk of rows showed the shape, `engine.parse.json_rows` tries the next chunk
with a `FlatShape` of it. A Struct with one required field per key and unknown keys refused
decodes only objects with exactly those keys (about 40% cheaper than a dict, and its values are
read as tuples, without hashing a key); `native_kernels.json_order` then checks the keys' order
in the bytes, which a Struct does not keep, unless the order cannot change the row
(`order_free`). Any row that fails either check sends the whole chunk back to the dict decoder,
so what a Struct decodes is exactly what the dict path would have seen.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable

import msgspec
import numpy as np
from msgspec.structs import astuple

from engine.parse.json_keys import PRIMARY_NAMES, SECONDARY_CANDIDATES
from engine.parse.json_shapes import Path, Plan
from native_kernels.json_order import keys_in_order, plain_key

# Shapes with more keys than this are left to the dict decoder (a Struct per shape is a class).
MAX_FLAT_KEYS = 64


class FlatShape:
    """The Struct decoder of one flat shape (top-level keys in order) and the plan of it;
    `decode_rows` gives the objects and a column per key path."""

    __slots__ = ("keys", "plan", "_decode", "_ordered", "_paths", "_raw_keys")

    def __init__(self, keys: tuple[str, ...], plan: Plan):
        self.keys = keys
        self.plan = plan
        self._decode = _struct_decoder(keys)
        self._paths = [(key,) for key in keys]
        self._ordered = not order_free(keys, plan)
        self._raw_keys = [key.encode() for key in keys]

    @staticmethod
    def fits(keys: tuple[Any, ...]) -> bool:
        """Whether a shape can have a FlatShape: flat, a few plain keys."""
        return 0 < len(keys) <= MAX_FLAT_KEYS and all(type(k) is str and plain_key(k) for k in keys)

    def decode_rows(
        self, view: memoryview, data: np.ndarray, starts: np.ndarray, ends: np.ndarray
    ) -> dict[Path, list[Any]] | None:
        """Per key path, the values of rows `view[starts[i]:ends[i]]` (the plan's columns);
        None unless every row is an object of exactly this shape's keys, in order (where the
        order changes what the plan makes of it)."""
        try:
            objs = list(map(self._decode, map(view.__getitem__, map(slice, starts.tolist(), ends.tolist()))))
        except (ValueError, RecursionError):  # msgspec's errors are ValueErrors
            return None
        if self._ordered and not keys_in_order(data, starts, ends, self._raw_keys).all():
            return None
        cols: dict[Path, list[Any]] = {(): objs}
        # rows of values, transposed: one C-level pass for every column at once
        cols.update(zip(self._paths, map(list, zip(*map(astuple, objs)))))
        return cols


@lru_cache(maxsize=64)  # shapes that take turns chunk by chunk make their class once
def _struct_decoder(keys: tuple[str, ...]) -> Callable[[memoryview], Any]:
    """The decode function of a Struct with one required field per key, unknown keys refused."""
    names = [f"k{i}" for i in range(len(keys))]
    struct: Any = msgspec.defstruct(
        "FlatRow", [(name, Any) for name in names], rename=dict(zip(names, keys)), forbid_unknown_fields=True, gc=False
    )
    return msgspec.json.Decoder(struct).decode


def order_free(keys: tuple[str, ...], plan: Plan) -> bool:
    """Whether the general path makes the same of these keys in any order: at most one field is
    left (the fields keep the object's order), and no column has two keys that could fill it
    (the first usable one wins). Names that reach into an object (`host.name`) find nothing in a
    flat shape; a row where one holds an object goes down the general path as a dict anyway."""
    if len(plan.fields) > 1:
        return False
    seen: set[int] = set()
    for key in keys:
        roles = {role for role, _, path, _ in SECONDARY_CANDIDATES.get(key, ()) if not path}
        if key in PRIMARY_NAMES:
            roles.add(PRIMARY_NAMES[key])
        if not seen.isdisjoint(roles):
            return False
        seen |= roles
    return True
