"""Parsing of the human units used in config and on the command line: durations, sizes, times."""

from __future__ import annotations

import datetime as _dt
import re
import time

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ns|us|ms|s|m|h|d|w)?\s*$")
_DURATION_NS = {
    "ns": 1,
    "us": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
    "d": 86400 * 1_000_000_000,
    "w": 7 * 86400 * 1_000_000_000,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?\s*$", re.IGNORECASE)
_SIZE_MULT = {
    "": 1,
    "B": 1,
    "K": 1000,
    "M": 1000**2,
    "G": 1000**3,
    "T": 1000**4,
    "KI": 1024,
    "MI": 1024**2,
    "GI": 1024**3,
    "TI": 1024**4,
}


def parse_duration_ns(text: str) -> int:
    """`"15m"` → ns. A bare number is seconds. Raises ValueError naming the text."""
    m = _DURATION_RE.match(str(text))
    if not m:
        raise ValueError(f"not a duration: {text!r} (expected e.g. 500ms, 15s, 5m, 2h, 7d)")
    return int(float(m.group(1)) * _DURATION_NS[m.group(2) or "s"])


def parse_duration_s(text: str) -> float:
    return parse_duration_ns(text) / 1e9


def parse_size(text: str | int) -> int:
    """`"64MiB"` → bytes; an int passes through. Raises ValueError naming the text."""
    if isinstance(text, int):
        return text
    m = _SIZE_RE.match(text)
    if not m:
        raise ValueError(f"not a size: {text!r} (expected e.g. 65536, 64KiB, 16MiB, 2GB)")
    unit = (m.group(2) or "").upper().rstrip("B")
    return int(float(m.group(1)) * _SIZE_MULT[unit])


def parse_time_ns(text: str, now_ns: int | None = None) -> int:
    """A query time: RFC 3339, epoch seconds (int or float), or relative to now (`15m` = 15 minutes ago)."""
    text = str(text).strip()
    if now_ns is None:
        now_ns = time.time_ns()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return int(float(text) * 1e9) if "." in text else int(text) * 1_000_000_000
    if _DURATION_RE.match(text) and text[-1].isalpha():
        return now_ns - parse_duration_ns(text)
    if text == "now":
        return now_ns
    try:
        stamp = _dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a time: {text!r} (expected RFC 3339, epoch seconds, or relative like 15m)") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=_dt.timezone.utc)
    delta = stamp - _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
    return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def parse_hostport(text: str) -> tuple[str, int]:
    """`"0.0.0.0:5514"`, `"[::1]:5514"` → (host, port). Raises ValueError."""
    host, sep, port = str(text).rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"not HOST:PORT: {text!r}")
    host = host.strip("[]")
    return host, int(port)
