"""A brute-force model of the query language over plain records (see rowgen.py), written from
the rules as documented, one record at a time, for the property test to compare against.
"""

from __future__ import annotations

import math
import re

import numpy as np

from engine.store.rows import FORMATS, NO_VALUE

TOKEN_RE = re.compile(rb"[A-Za-z0-9_\x80-\xff]+")
NUMBER_RE = re.compile(rb"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
COLUMNS = ("host", "app", "procid", "msgid", "source")


def ascii_lower(b: bytes) -> bytes:
    return bytes(c + 32 if 65 <= c <= 90 else c for c in b)


def tokens(msg: bytes) -> list[bytes]:
    return [ascii_lower(t) for t in TOKEN_RE.findall(msg)]


def is_token_byte(c: int) -> bool:
    return TOKEN_RE.fullmatch(bytes([c])) is not None


def aligned(msg: bytes, needle: bytes, ignore_case: bool, right: bool = True) -> bool:
    """needle occurs in msg; where it starts/ends with a token byte, on a token boundary."""
    hay = ascii_lower(msg) if ignore_case else msg
    nd = ascii_lower(needle) if ignore_case else needle
    if not nd:
        return True
    for p in range(len(hay) - len(nd) + 1):
        if hay[p : p + len(nd)] != nd:
            continue
        if is_token_byte(nd[0]) and p > 0 and is_token_byte(hay[p - 1]):
            continue
        e = p + len(nd)
        if right and is_token_byte(nd[-1]) and e < len(hay) and is_token_byte(hay[e]):
            continue
        return True
    return False


def number(v) -> float | None:
    if isinstance(v, (int, float)):
        return float(v)
    if v is None or NUMBER_RE.fullmatch(v) is None:
        return None
    return float(v)


def values(rec: dict, name: str) -> list:
    """Every value the record has for a field (columns: zero or one; keys: all pairs)."""
    if name in COLUMNS:
        return [] if rec[name] is None else [rec[name]]
    if name in ("severity", "facility"):
        return [] if rec[name] == NO_VALUE else [rec[name]]
    if name == "format":
        return [FORMATS[rec["format"]].encode()]
    if name == "message":
        return [rec["message"]]
    if name in ("_time", "_recv"):
        return [rec[name[1:]]]
    return [v for k, _, v in rec["fields"] if k == name.encode()]


def first(rec: dict, name: str):
    vals = values(rec, name)
    return vals[0] if vals else None


def json_value(name: str, v):
    if v is None:
        return None
    if name in ("severity", "facility") or isinstance(v, int):
        return v
    return v.decode("utf-8", "replace")


def sort_key_factory(recs: list[dict], name: str):
    """The documented sort rule: numbers when every present value is one, else bytes; none lowest."""
    present = [first(r, name) for r in recs if first(r, name) is not None]
    numeric = all(number(v) is not None for v in present)

    def key(rec):
        v = first(rec, name)
        if v is None:
            return (0, 0)
        return (1, number(v)) if numeric else (1, v)

    return key


def quantile(vals: list[float], q: float) -> float:
    return float(np.quantile(np.array(vals), q))


def close(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b
