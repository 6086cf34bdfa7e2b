"""`| unpack_logfmt [from FIELD] [fields (a, b, ...)]`: the `key=value` pairs of a logfmt text
(the message by default) as fields.

    pair  := key "=" value | key "=" "\"" quoted "\"" | key        separated by whitespace

A quoted value takes the JSON escapes (`\\"`, `\\\\`, `\\n`, `\\uXXXX`); a bare key (no `=`) and
`key=` are the empty value; a pair without a key (`=x`) is skipped. A quoted value that never
closes runs to the end of the text. The last pair of a key wins. Cost: a Python scan per row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from engine.query.stages.transform import FieldMaker
from engine.query.stages.unpack_json import wanted


def parse_logfmt(s: str) -> dict[str, str]:
    """The pairs of a logfmt text."""
    out: dict[str, str] = {}
    i, n = 0, len(s)
    while i < n:
        while i < n and s[i].isspace():
            i += 1
        if i >= n:
            break
        start = i
        while i < n and not s[i].isspace() and s[i] != "=":
            i += 1
        key = s[start:i]
        if i >= n or s[i] != "=":
            if key:
                out[key] = ""
            continue
        i += 1  # past '='
        if i < n and s[i] == '"':
            value, i = _quoted(s, i)
        else:
            vstart = i
            while i < n and not s[i].isspace():
                i += 1
            value = s[vstart:i]
        if key:
            out[key] = value
    return out


def _quoted(s: str, i: int) -> tuple[str, int]:
    """The quoted value starting at s[i] == '"', unescaped, and the position after it."""
    j = i + 1
    while j < len(s):
        if s[j] == "\\":
            j += 2
            continue
        if s[j] == '"':
            raw = s[i : j + 1]
            try:
                value = json.loads(raw, strict=False)
            except ValueError:  # an escape JSON does not know (\x41): keep the text as written
                value = raw[1:-1]
            return str(value), j + 1
        j += 1
    return s[i + 1 :], len(s)


@dataclass(frozen=True)
class UnpackLogfmt(FieldMaker):
    names: tuple[str, ...] = ()  # `fields (...)`: only these; () is every key

    def found(self, text: str) -> dict[str, str] | None:
        got = parse_logfmt(text)
        return wanted(got, self.names) if self.names else got
