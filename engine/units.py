"""The human units used in config and on the command line (durations, sizes, times, HOST:PORT):
their parsers, and the typed `Duration` and `ByteSize` that config values are read into once."""

from __future__ import annotations

import datetime as _dt
import re
import time
from typing import Any, Self

from engine.errors import LogjetError


class UnitError(LogjetError, ValueError):
    """Text that is not a duration, size, time or HOST:PORT; the message quotes it and shows the
    expected form. A ValueError too, so that callers catching that keep working."""


_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ns|us|ms|s|m|h|d|w)?\s*$")
DURATION_NS = {  # nanoseconds per unit (engine.query.logql.durations adds LogQL's)
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
# How a duration or size built from a number (not read from text) prints: the largest unit that
# divides it exactly; weeks are left out since "7d" reads better than "1w".
_DURATION_UNITS_SHOWN = ("d", "h", "m", "s", "ms", "us", "ns")
_SIZE_UNITS_SHOWN = {u: _SIZE_MULT[u.upper().rstrip("B")] for u in ("TiB", "GiB", "MiB", "KiB", "TB", "GB", "MB", "KB")}


def parse_duration_ns(text: str) -> int:
    """`"15m"` → ns. A bare number is seconds. Raises UnitError naming the text."""
    m = _DURATION_RE.match(str(text))
    if not m:
        raise UnitError(f"not a duration: {text!r} (expected e.g. 500ms, 15s, 5m, 2h, 7d)")
    return int(float(m.group(1)) * DURATION_NS[m.group(2) or "s"])


def parse_size(text: str | int) -> int:
    """`"64MiB"` → bytes; an int passes through. Raises UnitError naming the text."""
    if isinstance(text, int):
        return text
    m = _SIZE_RE.match(text)
    if not m:
        raise UnitError(f"not a size: {text!r} (expected e.g. 65536, 64KiB, 16MiB, 2GB)")
    unit = (m.group(2) or "").upper().rstrip("B")
    return int(float(m.group(1)) * _SIZE_MULT[unit])


def parse_time_ns(text: str, now_ns: int | None = None) -> int:
    """A query time: RFC 3339, epoch seconds (int or float), or relative to now (`15m` = 15 minutes ago)."""
    text = str(text).strip()
    if now_ns is None:
        now_ns = time.time_ns()
    m = re.fullmatch(r"(-?)(\d+)(?:\.(\d+))?", text)
    if m:  # exact to the nanosecond: a float would round the 19 digits of epoch ns
        ns = int(m.group(2)) * 1_000_000_000 + int(((m.group(3) or "") + "000000000")[:9])
        return -ns if m.group(1) else ns
    if _DURATION_RE.match(text) and text[-1].isalpha():
        return now_ns - parse_duration_ns(text)
    if text == "now":
        return now_ns
    try:
        return rfc3339_ns(text)
    except ValueError:
        raise UnitError(f"not a time: {text!r} (expected RFC 3339, epoch seconds, or relative like 15m)") from None


_FRACTION_RE = re.compile(r"\.(\d+)")


def rfc3339_ns(text: str, default_utc: bool = True) -> int:
    """An RFC 3339 time → ns since the epoch, with all nine digits of the fraction (Python's
    datetime keeps six). Without an offset: UTC, or ValueError when `default_utc` is false."""
    fraction = _FRACTION_RE.search(text)
    ns = int((fraction.group(1) + "000000000")[:9]) if fraction else 0
    stamp = _dt.datetime.fromisoformat(
        _FRACTION_RE.sub("", text, count=1).replace("Z", "+00:00").replace("z", "+00:00")
    )
    if stamp.tzinfo is None:
        if not default_utc:
            raise ValueError(f"{text!r} has no UTC offset")
        stamp = stamp.replace(tzinfo=_dt.timezone.utc)
    delta = stamp - _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
    return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + ns


def parse_hostport(text: str) -> tuple[str, int]:
    """`"0.0.0.0:5514"`, `"[::1]:5514"` → (host, port). Raises UnitError."""
    host, sep, port = str(text).rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UnitError(f"not HOST:PORT: {text!r}")
    host = host.strip("[]")
    return host, int(port)


class _UnitValue(int):
    """A whole number read from config text, that prints as it was written ("5s", "64MiB")."""

    text: str  # as written; for a value built from a number, its shortest exact spelling

    def __new__(cls, value: int, text: str = "") -> Self:
        self = super().__new__(cls, value)
        self.text = text or cls._spell(value)
        return self

    @classmethod
    def parse(cls, value: object) -> Self:
        """Read config text; a number is read as its text. Raises UnitError quoting the text."""
        text = str(value).strip()
        return cls(cls._read(text), text)

    @staticmethod
    def _read(text: str) -> int:
        raise NotImplementedError

    @staticmethod
    def _spell(value: int) -> str:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.text!r})"

    def __reduce__(self) -> tuple[type[Self], tuple[int, str]]:
        # Keeps the text across pickling, which settings go through into spawned workers.
        return type(self), (int(self), self.text)


class Duration(_UnitValue):
    """A span of time in whole nanoseconds, read from "250ms", "5s", "1h", "7d" or a number of
    seconds. Code uses `.ns` or `.seconds`: plain numbers, which JSON and msgpack encoders take."""

    @staticmethod
    def _read(text: str) -> int:
        return parse_duration_ns(text)

    @staticmethod
    def _spell(value: int) -> str:
        if value == 0:
            return "0s"
        unit = next(u for u in _DURATION_UNITS_SHOWN if value % DURATION_NS[u] == 0)
        return f"{value // DURATION_NS[unit]}{unit}"

    @property
    def ns(self) -> int:
        return int(self)

    @property
    def seconds(self) -> float:
        return int(self) / 1e9


class ByteSize(_UnitValue):
    """A number of bytes, read from "64MiB", "1G", "4KB" or a whole number. Code uses `.bytes`: a
    plain int, which JSON and msgpack encoders take."""

    @staticmethod
    def _read(text: str) -> int:
        return parse_size(text)

    @staticmethod
    def _spell(value: int) -> str:
        exact = [f"{value // mult}{unit}" for unit, mult in _SIZE_UNITS_SHOWN.items() if value and value % mult == 0]
        return min([*exact, str(value)], key=len)  # ties go to the binary units, listed first

    @property
    def bytes(self) -> int:
        return int(self)


class AutoByteSize(ByteSize):
    """A `ByteSize` that may also be "auto": the code that uses it derives the size at run time
    (`is_auto`), since the right value depends on the machine (`storage.min_free_bytes`: the
    size of the data dir's volume)."""

    AUTO = "auto"

    @classmethod
    def parse(cls, value: object) -> Self:
        text = str(value).strip()
        if text.lower() == cls.AUTO:
            return cls(-1, cls.AUTO)
        return super().parse(text)

    @property
    def is_auto(self) -> bool:
        return int(self) < 0

    @property
    def bytes(self) -> int:
        if self.is_auto:
            raise UnitError('an "auto" size has no bytes of its own: resolve it first')
        return int(self)


def units_dec_hook(type_: type, value: Any) -> Any:
    """msgspec `dec_hook` for structs with `Duration` and `ByteSize` fields: builds them from
    config text or numbers. A UnitError becomes msgspec's ValidationError, naming the key's path."""
    if isinstance(type_, type) and issubclass(type_, _UnitValue):
        return type_.parse(value)
    raise NotImplementedError(f"cannot decode {type_!r}")
