"""Decoding of the rows that syslog detection marked as JSON into row columns, with msgspec.

A JSON row is one object per frame. Top-level keys with a meaning in the message model fill row
columns; every other key becomes a field:

    level, severity             → severity 0-7: names (emerg ... debug, warn, fatal, trace, any
                                  case), integers 0-7, numeric strings "0"-"7", and the
                                  pino/bunyan levels 10-60 (trace 10 ... fatal 60)
    host, hostname              → host
    service, app, appname       → app
    msg, message                → message (a non-string value is kept as its JSON text)
    time, timestamp, @timestamp → time: an RFC 3339 / ISO 8601 string (no offset = UTC), or an
                                  epoch number in s, ms, us or ns (told apart by magnitude)

When two aliases are present the first one in the object wins and the other stays a field; a
value that cannot be used (a level of 42, an unparsable time) stays a field too, so no key is
lost. Nested objects are flattened with "." (`{"a": {"b": 1}}` → `a.b` = `1`); field values are
bytes: strings as UTF-8, everything else (numbers, true/false/null, lists) as its JSON text.

Per-row Python is the accepted cost here (DESIGN §4): each row is one `Decoder.decode` call on a
memoryview slice (no copy), and RFC 3339 strings of the whole batch are parsed by one kernel call.
Rows are decoded one by one rather than joined into one JSON array: a crafted row (`{"a":[1`)
could otherwise swallow its neighbour and shift every later row onto the wrong row number.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, NamedTuple

import msgspec
import numpy as np

from native_kernels.syslog import NO_VALUE, TS_NONE, TS_UTC
from native_kernels.timestamps import parse_rfc3339_spans

# One decoder for the process: msgspec decoders hold only configuration, so sharing is safe.
_DECODER = msgspec.json.Decoder()
_encode_json = msgspec.json.Encoder().encode

_SEVERITY_NAMES = {
    "emerg": 0, "emergency": 0, "panic": 0,
    "alert": 1,
    "crit": 2, "critical": 2, "fatal": 2,
    "err": 3, "error": 3,
    "warn": 4, "warning": 4,
    "notice": 5,
    "info": 6, "informational": 6, "information": 6,
    "debug": 7, "trace": 7,
}
# pino/bunyan numeric levels (disjoint from 0-7).
_SEVERITY_PINO = {10: 7, 20: 7, 30: 6, 40: 4, 50: 3, 60: 2}

_ROLE_SEVERITY, _ROLE_HOST, _ROLE_APP, _ROLE_MESSAGE, _ROLE_TIME = range(5)
_ROLES = {
    "level": _ROLE_SEVERITY, "severity": _ROLE_SEVERITY,
    "host": _ROLE_HOST, "hostname": _ROLE_HOST,
    "service": _ROLE_APP, "app": _ROLE_APP, "appname": _ROLE_APP,
    "msg": _ROLE_MESSAGE, "message": _ROLE_MESSAGE,
    "time": _ROLE_TIME, "timestamp": _ROLE_TIME, "@timestamp": _ROLE_TIME,
}

# Epoch numbers: below 1e11 they are seconds (until year 5138), below 1e14 milliseconds, below
# 1e17 microseconds, else nanoseconds.
_EPOCH_SCALES = ((1e11, 10**9), (1e14, 10**6), (1e17, 10**3))
_INT64_MAX = 2**63 - 1


class JsonRows(NamedTuple):
    """Columns of n decoded rows, in input order.

    `ok[i]` False: row i is not a JSON object; the caller keeps it as plain text and every other
    column of that row is a placeholder. `time_ns` is UTC, recv_ns where `ts_kind` is TS_NONE.
    `severity` 255 = none. `host`/`app`/`message` hold bytes or None. Fields are parallel:
    `field_row[k]` (int64 array), `field_key[k]`, `field_value[k]` (bytes), rows ascending."""

    ok: np.ndarray
    time_ns: np.ndarray
    ts_kind: np.ndarray
    severity: np.ndarray
    host: list
    app: list
    message: list
    field_row: np.ndarray
    field_key: list
    field_value: list


def _text(value: Any) -> bytes:
    if type(value) is str:
        return value.encode("utf-8", "surrogatepass")
    return _encode_json(value)


def _severity(value: Any) -> int:
    t = type(value)
    if t is str:
        s = value.strip().lower()
        if s in _SEVERITY_NAMES:
            return _SEVERITY_NAMES[s]
        if len(s) == 1 and "0" <= s <= "7":
            return ord(s) - 48
        return NO_VALUE
    if t is int:
        if 0 <= value <= 7:
            return value
        return _SEVERITY_PINO.get(value, NO_VALUE)
    return NO_VALUE


def _epoch_ns(value: Any) -> int | None:
    t = type(value)
    if t is not int and t is not float:
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return None
    magnitude = abs(value)
    for bound, scale in _EPOCH_SCALES:
        if magnitude < bound:
            ns = round(value * scale) if t is float else value * scale
            break
    else:
        ns = round(value) if t is float else value
    return int(ns) if -_INT64_MAX <= ns <= _INT64_MAX else None


def _iso_ns(text: str) -> int | None:
    """Slow path for strings the RFC 3339 kernel refused (space separator, no offset, +0000)."""
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    delta = dt - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000


def _flatten(prefix: str, obj: dict, row: int, rows: list, keys: list, values: list) -> None:
    for key, value in obj.items():
        name = prefix + key
        if type(value) is dict and value:
            _flatten(name + ".", value, row, rows, keys, values)
        else:
            rows.append(row)
            keys.append(name.encode("utf-8", "surrogatepass"))
            values.append(_text(value))


def decode_json_rows(data, starts: np.ndarray, ends: np.ndarray, recv_ns: int) -> JsonRows:
    """Decode rows `data[starts[i]:ends[i]]` (bytes, bytearray, memoryview or 1-D uint8 array).

    Reads `data` only during the call; the returned objects are new and owned by the caller."""
    view = memoryview(data).cast("B") if not isinstance(data, np.ndarray) else memoryview(
        np.ascontiguousarray(data, dtype=np.uint8).reshape(-1))
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    if starts.shape != ends.shape or starts.ndim != 1:
        raise ValueError("starts and ends must be 1-D arrays of the same length")
    n = starts.shape[0]
    if n and (starts.min() < 0 or ends.max() > len(view) or np.any(ends < starts)):
        raise ValueError("row spans must satisfy 0 <= start <= end <= len(data)")

    ok = np.zeros(n, np.bool_)
    time_ns = np.full(n, int(recv_ns), np.int64)
    ts_kind = np.full(n, TS_NONE, np.uint8)
    severity = np.full(n, NO_VALUE, np.uint8)
    host: list = [None] * n
    app: list = [None] * n
    message: list = [None] * n
    f_rows: list[int] = []
    f_keys: list[bytes] = []
    f_values: list[bytes] = []
    # Time strings wait for one kernel call: (row, field index or -1 when none was added yet).
    time_texts: list[bytes] = []
    time_rows: list[int] = []
    time_keys: list[str] = []

    decode = _DECODER.decode
    for i, (s, e) in enumerate(zip(starts.tolist(), ends.tolist())):
        try:
            obj = decode(view[s:e])
        except msgspec.DecodeError:
            continue
        if type(obj) is not dict:
            continue
        ok[i] = True
        seen = 0  # bit per role already filled
        for key, value in obj.items():
            role = _ROLES.get(key)
            if role is not None and not seen & (1 << role):
                if role == _ROLE_MESSAGE:
                    message[i] = _text(value)
                    seen |= 1 << role
                    continue
                if role == _ROLE_HOST or role == _ROLE_APP:
                    if type(value) in (str, int, float):
                        (host if role == _ROLE_HOST else app)[i] = _text(value)
                        seen |= 1 << role
                        continue
                elif role == _ROLE_SEVERITY:
                    sev = _severity(value)
                    if sev != NO_VALUE:
                        severity[i] = sev
                        seen |= 1 << role
                        continue
                elif role == _ROLE_TIME:
                    if type(value) is str:
                        time_texts.append(value.encode("utf-8", "surrogatepass"))
                        time_rows.append(i)
                        time_keys.append(key)
                        seen |= 1 << role
                        continue
                    ns = _epoch_ns(value)
                    if ns is not None:
                        time_ns[i] = ns
                        ts_kind[i] = TS_UTC
                        seen |= 1 << role
                        continue
            if type(value) is dict and value:
                _flatten(key + ".", value, i, f_rows, f_keys, f_values)
            else:
                f_rows.append(i)
                f_keys.append(key.encode("utf-8", "surrogatepass"))
                f_values.append(_text(value))

    if time_texts:
        lens = np.fromiter((len(t) for t in time_texts), np.int64, len(time_texts))
        t_ends = np.cumsum(lens)
        buf = np.frombuffer(b"".join(time_texts), np.uint8)
        t_ns, t_ok = parse_rfc3339_spans(buf, t_ends - lens, t_ends)
        late_rows: list[int] = []
        for k, row in enumerate(time_rows):
            ns = int(t_ns[k]) if t_ok[k] else _iso_ns(time_texts[k].decode("utf-8", "replace"))
            if ns is not None:
                time_ns[row] = ns
                ts_kind[row] = TS_UTC
            else:  # not a time after all: keep it as a field
                late_rows.append(k)
        if late_rows:
            for k in late_rows:
                f_rows.append(time_rows[k])
                f_keys.append(time_keys[k].encode("utf-8", "surrogatepass"))
                f_values.append(time_texts[k])
            order = sorted(range(len(f_rows)), key=f_rows.__getitem__)
            f_rows = [f_rows[k] for k in order]
            f_keys = [f_keys[k] for k in order]
            f_values = [f_values[k] for k in order]

    return JsonRows(ok, time_ns, ts_kind, severity, host, app, message,
                    np.array(f_rows, np.int64), f_keys, f_values)
