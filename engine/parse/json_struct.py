"""Decoding rows of one known shape, nested objects included, into msgspec Structs instead of dicts.

A shipper sends the same object every time: flat (`{"time", "host", "app", "level", "pid",
"msg"}`) or nested (Filebeat's `{"@timestamp", "message", "log": {"level", "file": {"path"}},
"host": {"name"}, ...}`); once a chunk of rows showed the shape, `engine.parse.json_rows` tries
the next chunk with a `StructShape` of it. A Struct per object of the shape, with one required
field per key and unknown keys refused, decodes only objects with exactly those keys, nested
objects where the shape has them (about half the cost of dicts, and its values are read as
tuples, without hashing a key); `native_kernels.json_order` then checks the keys' order in the
bytes, which a Struct does not keep, unless the order cannot change the row (`order_free`, flat
shapes only). Any row that fails either check sends the whole chunk back to the dict decoder, so
what a Struct decodes is exactly what the dict path would have seen.
"""

from __future__ import annotations

from functools import lru_cache
from operator import attrgetter
from typing import Any, Callable

import msgspec
import numpy as np
from msgspec.structs import astuple

from engine.parse.json_keys import PRIMARY_NAMES, SECONDARY_CANDIDATES
from engine.parse.json_shapes import Path, Plan, Shape
from native_kernels.json_order import keys_in_order, plain_key

# Shapes with more keys than this (nested ones counted) are left to the dict decoder: a Struct
# per object of a shape is a class.
MAX_STRUCT_KEYS = 64
# The value of a one-key object's Struct (its field is `k0`, see _struct_type).
_FIRST = attrgetter("k0")


def shape_keys(shape: Shape) -> list[str]:
    """Every key of `shape` in the order the bytes of an object of it hold them: each nested
    object's keys right after its own key (pre-order)."""
    keys: list[str] = []
    for entry in shape:
        if type(entry) is str:
            keys.append(entry)
        else:
            keys.append(entry[0])
            keys += shape_keys(entry[1])
    return keys


def _containers(shape: Shape, at: Path = ()) -> list[tuple[Path, list[Path]]]:
    """(path of an object, paths of its values) for the top object and each nested one,
    parents first: the order its values' columns are read in."""
    out: list[tuple[Path, list[Path]]] = [(at, [(*at, e if type(e) is str else e[0]) for e in shape])]
    for entry in shape:
        if type(entry) is not str:
            out += _containers(entry[1], (*at, entry[0]))
    return out


class StructShape:
    """The Struct decoder of one shape (keys in order, nested objects as `(key, shape)`) and the
    plan of it; `decode_rows` gives the objects and a column per key path."""

    __slots__ = ("shape", "plan", "_decode", "_ordered", "_containers", "_raw_keys", "_nested")

    def __init__(self, shape: Shape, plan: Plan):
        self.shape = shape
        self.plan = plan
        self._decode = _struct_decoder(shape)
        self._containers = _containers(shape)
        self._nested = len(self._containers) > 1
        self._ordered = self._nested or not order_free(shape, plan)
        self._raw_keys = [key.encode() for key in shape_keys(shape)]

    @staticmethod
    def fits(shape: Shape, plan: Plan) -> bool:
        """Whether a shape can have a StructShape: a few plain keys, and every nested object one
        the plan reads into (an object the plan takes whole, a message, stays a dict's)."""
        keys = shape_keys(shape)
        if not 0 < len(keys) <= MAX_STRUCT_KEYS or not all(type(k) is str and plain_key(k) for k in keys):
            return False
        nested = {path for path, _ in _containers(shape)[1:]}
        return nested == {path for path, _ in plan.nodes}

    def decode_rows(
        self, view: memoryview, data: np.ndarray, starts: np.ndarray, ends: np.ndarray
    ) -> dict[Path, list[Any]] | None:
        """Per key path, the values of rows `view[starts[i]:ends[i]]` (the plan's columns, and
        the nested objects'); None unless every row is an object of exactly this shape's keys, in
        order (where the order changes what the plan makes of it)."""
        try:
            objs = list(map(self._decode, map(view.__getitem__, map(slice, starts.tolist(), ends.tolist()))))
        except (ValueError, RecursionError):  # msgspec's errors are ValueErrors
            return None
        if self._ordered and not keys_in_order(data, starts, ends, self._raw_keys, self._nested).all():
            return None
        cols: dict[Path, list[Any]] = {(): objs}
        for path, values in self._containers:
            if len(values) == 1:  # Filebeat's `host: {name}`: one attribute read, no tuple
                cols[values[0]] = list(map(_FIRST, cols[path]))
            elif objs:  # rows of values, transposed: one C-level pass for every value at once
                cols.update(zip(values, map(list, zip(*map(astuple, cols[path])))))
            else:
                cols.update((value, []) for value in values)
        return cols


@lru_cache(maxsize=64)  # shapes that take turns chunk by chunk make their classes once
def _struct_decoder(shape: Shape) -> Callable[[memoryview], Any]:
    """The decode function of the Struct of `shape`."""
    return msgspec.json.Decoder(_struct_type(shape)).decode


def _struct_type(shape: Shape) -> Any:
    """A Struct with one required field per key (a nested shape's own Struct for an object of
    it, Any for a value kept whole), unknown keys refused."""
    fields: list[tuple[str, Any]] = []
    names: dict[str, str] = {}
    for i, entry in enumerate(shape):
        name = f"k{i}"
        if type(entry) is str:
            fields.append((name, Any))
            names[name] = entry
        else:
            fields.append((name, _struct_type(entry[1])))
            names[name] = entry[0]
    return msgspec.defstruct("ShapeRow", fields, rename=names, forbid_unknown_fields=True, gc=False)


def order_free(keys: Shape, plan: Plan) -> bool:
    """Whether the general path makes the same of a flat shape's keys in any order: at most one
    field is left (the fields keep the object's order), and no column has two keys that could
    fill it (the first usable one wins). Names that reach into an object (`host.name`) find
    nothing in a flat shape; a row where one holds an object goes down the general path as a dict
    anyway. A nested shape is never order-free (its objects' keys are fields in their order)."""
    if len(plan.fields) > 1 or not all(type(key) is str for key in keys):
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
