"""LogQL text → tokens: identifiers, strings ("..." with Go's escapes, `raw`), numbers, durations
and sizes (`250ms`, `2.5KiB`), ranges (`[5m]`, read whole as Loki's lexer does), operators.

Errors are `LogQLError`s at the offending character, worded as Loki words them where it can.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.query.logql.syntax import LogQLError

IDENT, STRING, NUMBER, UNIT_NUMBER, RANGE, OP, END = "IDENT", "STRING", "NUMBER", "UNIT", "RANGE", "OP", "$end"

# Longest first, so that `|=` is not read as `|` then `=`.
_OPS = (
    "|=", "|~", "|>", "!=", "!~", "!>", "=~", "==", ">=", "<=",
    "|", "=", ">", "<", "{", "}", "(", ")", ",", "+", "-", "*", "/", "%", "^",
)  # fmt: skip
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER_RE = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_UNIT_RE = re.compile(r"[A-Za-zµ]+")
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"', "'": "'"}
_HEX = {"x": 2, "u": 4, "U": 8}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str  # the value: a string's content, an operator, a range's inside
    pos: int


def tokenize(text: str) -> list[Token]:
    out: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c == "#":  # a comment runs to the end of the line, as in Loki
            while i < n and text[i] != "\n":
                i += 1
            continue
        if c == '"':
            value, i2 = _quoted(text, i)
            out.append(Token(STRING, value, i))
            i = i2
            continue
        if c == "`":
            end = text.find("`", i + 1)
            if end < 0:
                raise LogQLError("literal not terminated", i)
            out.append(Token(STRING, text[i + 1 : end], i))
            i = end + 1
            continue
        if c == "[":
            end = text.find("]", i + 1)
            if end < 0:
                raise LogQLError("missing closing ']' in duration", i)
            out.append(Token(RANGE, text[i + 1 : end].strip(), i))
            i = end + 1
            continue
        if c == "$":
            raise LogQLError("unexpected $: a Grafana variable ($__interval, $__auto, ...) was not replaced", i)
        m = _NUMBER_RE.match(text, i)
        if m and (c.isdigit() or c == "."):
            unit = _UNIT_RE.match(text, m.end())
            if unit:
                end = unit.end()
                # Compound durations such as 1h30m.
                while (more := re.match(r"\d+(?:\.\d+)?[A-Za-zµ]+", text[end:])) is not None:
                    end += more.end()
                out.append(Token(UNIT_NUMBER, text[i:end], i))
                i = end
            else:
                out.append(Token(NUMBER, m.group(), i))
                i = m.end()
            continue
        m = _IDENT_RE.match(text, i)
        if m:
            out.append(Token(IDENT, m.group(), i))
            i = m.end()
            continue
        op = next((o for o in _OPS if text.startswith(o, i)), None)
        if op is None:
            raise LogQLError(f"syntax error: unexpected character {c!r}", i)
        out.append(Token(OP, op, i))
        i += len(op)
    out.append(Token(END, "", n))
    return out


def _quoted(text: str, start: int) -> tuple[str, int]:
    """A double-quoted string with Go's escapes → (value, index after the closing quote)."""
    out: list[str] = []
    i, n = start + 1, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            return "".join(out), i + 1
        if c == "\n":
            break
        if c != "\\":
            out.append(c)
            i += 1
            continue
        if i + 1 >= n:
            break
        e = text[i + 1]
        if e in _ESCAPES:
            out.append(_ESCAPES[e])
            i += 2
        elif e in _HEX:
            digits = text[i + 2 : i + 2 + _HEX[e]]
            if len(digits) != _HEX[e] or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise LogQLError(f"invalid escape sequence \\{e} in a string", i)
            out.append(chr(int(digits, 16)))
            i += 2 + _HEX[e]
        elif e in "01234567":
            digits = text[i + 1 : i + 4]
            if len(digits) != 3 or not all(d in "01234567" for d in digits):
                raise LogQLError("invalid octal escape in a string", i)
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            raise LogQLError(
                f"invalid escape sequence \\{e} in a string (write \\\\{e}, or use a `backtick` string)", i
            )
    raise LogQLError("literal not terminated", start)
