"""Reading and writing one field of a result object (a rendered row, or an aggregation's
object), for the stages that work on objects.

A row object keeps its columns at the top (`host`, `message`, ...) and its field keys under
`fields`: a name that is a column (or `_msg`) is read and written at the top, any other among
`fields`, where `| fields`, `sort`, `stats` and `filter` find it. A result object after an
aggregation is flat: the name is a key of it.
"""

from __future__ import annotations

import msgspec
import numpy as np

from engine.query.field_names import ALIASES
from engine.query.objects import Json, JsonObject
from engine.query.stages.field_list import object_value

_encode = msgspec.json.Encoder().encode


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
