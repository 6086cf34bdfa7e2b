"""`| unpack_json [from FIELD] [fields (a, b, ...)]`: the keys of a JSON object held in a field
(the message by default) as fields.

Nested objects become dotted names (`{"a": {"b": 1}}`: `a.b`), as JSON rows are stored at
ingest; strings are their text, and numbers, true/false/null and arrays their JSON text. With
`fields (...)` only those names are written (a name also takes the keys nested under it: `a`
takes `a.b`). A value that is not a JSON object (bad JSON, a number, an array) leaves the object
as it is. Cost: one msgspec decode per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from engine.query.stages.transform import FieldMaker

_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


def unpack(text: str) -> dict[str, str] | None:
    """The flattened keys of a JSON object, or None when `text` is not one."""
    try:
        value = _decode(text)
    except msgspec.DecodeError:
        return None
    if not isinstance(value, dict):
        return None
    out: dict[str, str] = {}
    _flatten(value, "", out)
    return out


def _flatten(obj: dict[str, Any], prefix: str, out: dict[str, str]) -> None:
    for key, value in obj.items():
        name = prefix + key
        if isinstance(value, dict) and value:
            _flatten(value, name + ".", out)
        elif isinstance(value, str):
            out[name] = value
        else:
            out[name] = _encode(value).decode()


def wanted(found: dict[str, str], names: tuple[str, ...]) -> dict[str, str]:
    """The entries of `found` named in `names`, or nested under one of them."""
    return {k: v for k, v in found.items() if any(k == n or k.startswith(n + ".") for n in names)}


@dataclass(frozen=True)
class UnpackJson(FieldMaker):
    names: tuple[str, ...] = ()  # `fields (...)`: only these; () is every key

    def found(self, text: str) -> dict[str, str] | None:
        got = unpack(text)
        return wanted(got, self.names) if got and self.names else got
