"""A TOML writer for the small shapes the benchmarks write: tables and arrays of tables whose
values are strings, integers, booleans, lists of those, and inline tables.

Strings are basic strings ("..." with escapes), except the values of keys named as literal
(regexes): those are literal strings ('...', no escapes, so a regex reads as written) unless
they hold a single quote or a control character, which only a basic string can.
"""

from __future__ import annotations

import re

BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
# Characters a literal string cannot hold: its own delimiter, and control characters but tab.
_NOT_LITERAL = re.compile(r"['\x00-\x08\x0a-\x1f\x7f]")
_BASIC_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def string(s: str, literal: bool = False) -> str:
    if literal and not _NOT_LITERAL.search(s):
        return f"'{s}'"
    out = []
    for ch in s:
        if ch in _BASIC_ESCAPES:
            out.append(_BASIC_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def key(k: str) -> str:
    return k if BARE_KEY.fullmatch(k) else string(k)


def value(v) -> str:
    # bool first: it is an int subclass, and TOML spells it in lower case.
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return string(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{key(k)} = {value(x)}" for k, x in v.items()) + " }" if v else "{}"
    raise TypeError(f"cannot write {type(v).__name__} as TOML: {v!r}")


def table(header: str, items: dict, literal: tuple[str, ...] = ()) -> str:
    """`[header]` (or `[[header]]` when given as "[name]") and its `key = value` lines; string
    values of the keys in `literal` as literal strings where they can be."""
    lines = [f"[{header}]"]
    for k, v in items.items():
        text = string(v, literal=True) if k in literal and isinstance(v, str) else value(v)
        lines.append(f"{key(k)} = {text}")
    return "\n".join(lines) + "\n"


def array_of_tables(name: str, rows: list[dict], literal: tuple[str, ...] = ()) -> str:
    return "\n".join(table(f"[{key(name)}]", row, literal) for row in rows)
