"""`| unpack_logfmt [from FIELD] [fields (a, b, ...)]`: the `key=value` pairs of a logfmt text
(the message by default) as fields.

    pair  := key "=" value | key "=" "\"" quoted "\"" | key        separated by whitespace

A quoted value takes the JSON escapes (`\\"`, `\\\\`, `\\n`, `\\uXXXX`); a bare key (no `=`) and
`key=` are the empty value; a pair without a key (`=x`) is skipped. A quoted value that never
closes runs to the end of the text. The last pair of a key wins. Cost: one regex pass per row.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from engine.query.stages.transform import FieldMaker
from engine.query.stages.unpack_json import wanted

# One pair: a key (up to whitespace or '='), then optionally '=' and a value: a quoted string
# up to its closing quote, the rest of the text after an unclosed quote, or a bare run up to
# whitespace. One regex pass instead of a Python loop per character (~10x faster on a message).
_PAIR = re.compile(r'\s*([^\s=]*)(?:=(?:("(?:[^"\\]|\\.)*")|"(.*)$|(\S*)))?', re.S)


def parse_logfmt(s: str) -> dict[str, str]:
    """The pairs of a logfmt text."""
    out: dict[str, str] = {}
    for m in _PAIR.finditer(s):
        key, quoted, unclosed, bare = m.groups()
        if not key:
            continue  # whitespace at the end, or a pair without a key (`=x`)
        if quoted is not None and "\\" not in quoted:
            out[key] = quoted[1:-1]  # nothing to unescape
        elif quoted is not None:
            try:
                value = json.loads(quoted, strict=False)
            except ValueError:  # an escape JSON does not know (\x41): keep the text as written
                value = quoted[1:-1]
            out[key] = str(value)
        else:
            out[key] = unclosed if unclosed is not None else (bare or "")
    return out


@dataclass(frozen=True)
class UnpackLogfmt(FieldMaker):
    names: tuple[str, ...] = ()  # `fields (...)`: only these; () is every key

    def found(self, text: str) -> dict[str, str] | None:
        got = parse_logfmt(text)
        return wanted(got, self.names) if self.names else got
