"""The contract of the stages that work on one row object at a time (extract, unpack_json,
unpack_logfmt, math, filter), and the reading and writing of a field in an object.

Such a stage turns each row (or result object) into itself with more fields, or drops it
(`filter`). The executor runs it on rendered row objects (engine.query.object_pipeline): the
fields it makes exist only in the query's answer, so every stage after it (filter, stats, sort,
fields, ...) runs on objects too. A stage may carry a condition (LogsQL's `if (...)`): rows that
do not match it pass through untouched.

Where a field goes: a row object keeps its columns at the top (`host`, `message`, ...) and its
field keys under `fields`; a name that is a column (or `_msg`) is written at the top, any other
into `fields`, where `| fields`, `sort`, `stats` and `filter` find it. A result object (after
an aggregation) is flat: the name is a key of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

import msgspec
import numpy as np

from engine.query.field_names import ALIASES
from engine.query.objects import Json, JsonObject
from engine.query.stages.base import Stage
from engine.query.stages.field_list import object_value

if TYPE_CHECKING:
    from engine.query.filters.base import Filter

_encode = msgspec.json.Encoder().encode


class Transform(Stage):
    """A stage applied to each object on its own; `apply` changes the object in place."""

    condition: Filter | None = None  # `if (...)`: only objects matching it are changed

    def apply(self, obj: JsonObject) -> None:
        raise NotImplementedError

    def table(self, objects: list[JsonObject]) -> list[JsonObject]:
        if self.condition is None:
            for obj in objects:
                self.apply(obj)
            return objects
        # Imported here: the filter machinery imports the stage modules through the parser.
        from engine.query.object_filter import matching

        for obj, hit in zip(objects, matching(self.condition, objects)):
            if hit:
                self.apply(obj)
        return objects


def field_text(obj: JsonObject, name: str) -> str | None:
    """The field's value as text (numbers as JSON writes them, lists and objects as JSON text),
    or None when the object has none."""
    v = object_value(obj, ALIASES.get(name, name))
    if v is None or isinstance(v, str):
        return v
    return _encode(v).decode()


def time_ns(value: object) -> int | None:
    """A time as an object holds it (RFC 3339 text, as rows render it, or nanoseconds) in ns,
    exactly (a float would round the last digits away); None when it is none."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str) or not value:
        return None
    try:
        return int(np.datetime64(value.rstrip("Zz"), "ns").astype(np.int64))
    except ValueError:
        return None


def set_field(obj: JsonObject, name: str, value: Json) -> None:
    """Set a field: at the top for a row column or a result key, else among the row's `fields`."""
    name = ALIASES.get(name, name)
    fields = obj.get("fields")
    if name in obj or not isinstance(fields, dict):
        obj[name] = value
    else:
        fields[name] = value


def has_value(obj: JsonObject, name: str) -> bool:
    """The object has a non-empty value for the field (keep_original_fields keeps those)."""
    v = object_value(obj, ALIASES.get(name, name))
    return v is not None and v != ""


@dataclass(frozen=True)
class Output:
    """What an unpacking or extracting stage does with what it found (LogsQL's options)."""

    prefix: str = ""  # result_prefix: prepended to every name it writes
    keep_original: bool = False  # keep_original_fields: never overwrite a non-empty value
    skip_empty: bool = False  # skip_empty_results: never write an empty value

    def write(self, obj: JsonObject, found: Mapping[str, str]) -> None:
        for key, value in found.items():
            name = self.prefix + key
            if self.skip_empty and value == "":
                continue
            if self.keep_original and has_value(obj, name):
                continue
            set_field(obj, name, value)


@dataclass(frozen=True, kw_only=True)
class FieldMaker(Transform):
    """A stage that reads one field's text (`from FIELD`, the message by default) and writes
    what it `found` there as fields; a text it finds nothing in leaves the object as it is."""

    source: str = "message"
    output: Output = field(default_factory=Output)
    condition: Filter | None = None
    position: int = 0

    def found(self, text: str) -> Mapping[str, str] | None:
        raise NotImplementedError

    def apply(self, obj: JsonObject) -> None:
        text = field_text(obj, self.source)
        if not text:
            return
        got = self.found(text)
        if got:
            self.output.write(obj, got)
