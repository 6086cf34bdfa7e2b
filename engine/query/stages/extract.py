"""`| extract "PATTERN" [from FIELD]`: fields cut out of a text by a pattern of literal text and
`<name>` placeholders (LogsQL's extract).

    pattern := [text] ( "<" name ">" text )*        name: a field name, `_` to skip, or
                                                    `plain:name` (no unquoting)

Matching, left to right: the text before the first placeholder is searched for (the first
place it occurs; a pattern that starts with a placeholder starts at the beginning); each
placeholder's value runs up to the first occurrence of the text after it, or to the end when
it is the pattern's last part. A value that starts with `"` is read as a quoted string (`\\"`
and the other JSON escapes) up to its closing quote and unquoted, unless the placeholder is
`<plain:name>`. When any text is not found, the object is left as it is: fields are made only
where the whole pattern matches. Two placeholders side by side (`<a><b>`) are refused: nothing
would say where one ends.

Cost: a few `str.find` calls per row, in Python, on rendered rows (see object_pipeline).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import NamedTuple

from engine.errors import LogjetError
from engine.query.stages.transform import FieldMaker


class BadPattern(LogjetError):
    """A pattern that cannot be used; `offset` is where in the pattern text."""

    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.offset = offset


class Placeholder(NamedTuple):
    name: str  # "" for `<_>`: matched and skipped
    plain: bool  # `<plain:name>`: the value as it is, never unquoted
    after: str  # the literal text that ends it ("" at the end of the pattern)


class Pattern(NamedTuple):
    head: str  # the literal text before the first placeholder
    parts: tuple[Placeholder, ...]

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parts if p.name]


def compile_pattern(text: str) -> Pattern:
    """Split a pattern into its head text and placeholders; raises BadPattern."""
    pieces: list[tuple[str, int]] = []  # literal text, then placeholder names at odd indexes
    i = 0
    lit_start = 0
    while True:
        j = text.find("<", i)
        if j < 0:
            break
        k = text.find(">", j + 1)
        inner = text[j + 1 : k] if k >= 0 else ""
        if k < 0 or not inner or any(c.isspace() or c in "<\"'" for c in inner):
            i = j + 1  # not a placeholder: a literal '<'
            continue
        pieces.append((text[lit_start:j], lit_start))
        pieces.append((inner, j))
        i = lit_start = k + 1
    pieces.append((text[lit_start:], lit_start))
    if len(pieces) == 1:
        raise BadPattern("the pattern has no <field> placeholder", 0)
    parts = []
    for n in range(1, len(pieces), 2):
        inner, at = pieces[n]
        after = pieces[n + 1][0]
        if not after and n + 2 < len(pieces):
            raise BadPattern(f"<{inner}> is right before another placeholder: put text between them", at)
        plain = inner.startswith("plain:")
        name = inner[len("plain:") :] if plain else inner
        if not name:
            raise BadPattern("a placeholder needs a name: <name>, or <_> to skip", at)
        parts.append(Placeholder("" if name == "_" else name, plain, after))
    return Pattern(pieces[0][0], tuple(parts))


def match(pattern: Pattern, s: str) -> dict[str, str] | None:
    """{name: value} of the placeholders, or None when the pattern does not match `s`."""
    pos = 0
    if pattern.head:
        at = s.find(pattern.head)
        if at < 0:
            return None
        pos = at + len(pattern.head)
    out: dict[str, str] = {}
    for p in pattern.parts:
        value: str | None = None
        if not p.plain and s.startswith('"', pos):
            quoted = _quoted(s, pos)
            if quoted is not None:
                value, pos = quoted
        if p.after:
            at = s.find(p.after, pos)
            if at < 0:
                return None
            if value is None:
                value = s[pos:at]
            pos = at + len(p.after)
        elif value is None:
            value = s[pos:]
            pos = len(s)
        if p.name:
            out[p.name] = value
    return out


def _quoted(s: str, pos: int) -> tuple[str, int] | None:
    """(the unquoted string, the position after its closing quote), or None when `s[pos:]` is
    not a whole JSON string."""
    j = pos + 1
    while True:
        j = s.find('"', j)
        if j < 0:
            return None
        backslashes = 0
        while s[j - 1 - backslashes] == "\\":
            backslashes += 1
        if backslashes % 2 == 0:
            break
        j += 1
    try:
        value = json.loads(s[pos : j + 1], strict=False)
    except ValueError:
        return None
    return (value, j + 1) if isinstance(value, str) else None


@dataclass(frozen=True)
class Extract(FieldMaker):
    pattern: Pattern

    def found(self, text: str) -> dict[str, str] | None:
        return match(self.pattern, text)
