"""Decoding of the rows that syslog detection marked as JSON into row columns, with msgspec.

A JSON row is one object per frame. Keys with a meaning in the message model fill row columns
(which keys, and in which priority, is `engine.parse.json_keys`); every other key becomes a field:

    level, severity             → severity 0-7: names (emerg ... debug, warn, fatal, trace, any
    (log.level)                   case), integers 0-7, numeric strings "0"-"7", and the
                                  pino/bunyan levels 10-60 (trace 10 ... fatal 60)
    host, hostname (host.name)  → host
    service, app, appname       → app
    (service.name)
    msg, message (_msg, log)    → message (a non-string value is kept as its JSON text; the
                                  names in brackets take strings only)
    time, timestamp, @timestamp → time: an RFC 3339 / ISO 8601 string (no offset = UTC), or an
    (_time, date)                 epoch number in s, ms, us or ns (told apart by magnitude), also
                                  as a string of digits

Names in brackets are used only when none of the others is usable; names a request or the
configuration gives come first. When two names of the same priority are present the first one
in the object wins and the other stays a field; a value that cannot be used (a level of 42, an
unparsable time) stays a field too, so no key is lost. Nested objects are flattened with "."
(`{"a": {"b": 1}}` → `a.b` = `1`); field values are bytes: strings as UTF-8, everything else
(numbers, true/false/null, lists) as its JSON text.

Per-row Python is the accepted cost here (JSON is the one format a kernel cannot cut): each row
is one `Decoder.decode` call on a memoryview slice (no copy), and RFC 3339 strings of the whole
batch are parsed by one kernel call.
Rows are decoded one by one rather than joined into one JSON array: a crafted row (`{"a":[1`)
could otherwise swallow its neighbour and shift every later row onto the wrong row number.
"""

from __future__ import annotations

from datetime import datetime, timezone
from collections.abc import Callable
from itertools import chain, repeat
from operator import itemgetter
from typing import Any, NamedTuple

import msgspec
import numpy as np

from engine.parse.json_keys import (
    DEFAULT_ROLES,
    PRIMARY_NAMES,
    ROLE_APP,
    ROLE_HOST,
    ROLE_MESSAGE,
    ROLE_SEVERITY,
    ROLE_TIME,
    SECONDARY_CANDIDATES,
    Candidate,
    KeyRoles,
)
from native_kernels.syslog import NO_VALUE, TS_NONE, TS_UTC
from native_kernels.timestamps import parse_rfc3339_spans

# One decoder for the process: msgspec decoders hold only configuration, so sharing is safe.
_DECODER = msgspec.json.Decoder()
_encode_json = msgspec.json.Encoder().encode

_SEVERITY_NAMES = {
    "emerg": 0,
    "emergency": 0,
    "panic": 0,
    "alert": 1,
    "crit": 2,
    "critical": 2,
    "fatal": 2,
    "err": 3,
    "error": 3,
    "warn": 4,
    "warning": 4,
    "notice": 5,
    "info": 6,
    "informational": 6,
    "information": 6,
    "debug": 7,
    "trace": 7,
}
# pino/bunyan numeric levels (disjoint from 0-7).
_SEVERITY_PINO = {10: 7, 20: 7, 30: 6, 40: 4, 50: 3, 60: 2}

# Epoch numbers: below 1e11 they are seconds (until year 5138), below 1e14 milliseconds, below
# 1e17 microseconds, else nanoseconds.
_EPOCH_SCALES = ((1e11, 10**9), (1e14, 10**6), (1e17, 10**3))
_INT64_MAX = 2**63 - 1
# Objects nested deeper than this are kept whole, as the JSON text of one field: field names
# stay short, and the recursion stays far from Python's limit.
MAX_FLATTEN_DEPTH = 16


class JsonRows(NamedTuple):
    """Columns of n decoded rows, in input order.

    `ok[i]` False: row i is not a JSON object the decoder accepts (syntax, invalid UTF-8,
    nesting too deep, not an object); the caller keeps it as plain text, and every other column
    of that row is a placeholder. No row's failure touches another row.
    `time_ns` is UTC, recv_ns where `ts_kind` is TS_NONE.
    `severity` 255 = none. `host`/`app`/`message` hold bytes or None. Fields are parallel:
    `field_row[k]` (int64 array), `field_key[k]`, `field_value[k]` (bytes), rows ascending."""

    ok: np.ndarray
    time_ns: np.ndarray
    ts_kind: np.ndarray
    severity: np.ndarray
    host: list[bytes | None]
    app: list[bytes | None]
    message: list[bytes | None]
    field_row: np.ndarray
    field_key: list[bytes]
    field_value: list[bytes]


def _text(value: Any) -> bytes:
    # msgspec refuses lone surrogates while decoding, so strict UTF-8 encoding cannot fail
    return value.encode() if type(value) is str else _encode_json(value)


def _name_text(value: Any) -> bytes | None:
    """A host or app value as bytes; None for a type those columns do not take."""
    t = type(value)
    if t is str:
        return value.encode()  # type: ignore[no-any-return]
    if t is int or t is float:
        return _encode_json(value)
    return None


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
            return int(value)
        return _SEVERITY_PINO.get(value, NO_VALUE)
    return NO_VALUE


def _epoch_ns(value: Any) -> int | None:
    t = type(value)
    if t is not int and t is not float:
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return None
    magnitude = abs(value)
    scale = 1
    for bound, s in _EPOCH_SCALES:
        if magnitude < bound:
            scale = s
            break
    if t is float:  # whole and fractional part apart: 1700000000.25 s is exactly ...250 ms
        whole = int(value)
        ns = whole * scale + round((value - whole) * scale)
    else:
        ns = value * scale
    return ns if -_INT64_MAX <= ns <= _INT64_MAX else None


def _iso_ns(text: str) -> int | None:
    """Slow path for strings the RFC 3339 kernel refused (space separator, no offset, +0000,
    an epoch as a string of digits: VictoriaLogs takes `"_time": "1700000000"`)."""
    if text.isascii() and text[:1].isdigit() and text.replace(".", "", 1).isdigit():
        return _epoch_ns(float(text) if "." in text else int(text))
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    delta = dt - datetime(1970, 1, 1, tzinfo=timezone.utc)
    ns = (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000
    return ns if -_INT64_MAX <= ns <= _INT64_MAX else None


def _flatten(
    prefix: str,
    obj: dict[str, Any],
    row: int,
    rows: list[int],
    keys: list[bytes],
    values: list[bytes],
    depth: int = 1,
) -> None:
    for key, value in obj.items():
        name = prefix + key
        if type(value) is dict and value and depth < MAX_FLATTEN_DEPTH:
            _flatten(name + ".", value, row, rows, keys, values, depth + 1)
        else:
            rows.append(row)
            keys.append(name.encode())
            values.append(_text(value))


class _Columns:
    """The per-row outputs while a batch is decoded (plain lists: cheaper than numpy per item)."""

    __slots__ = (
        "recv_ns",
        "severity",
        "time_ns",
        "ts_kind",
        "host",
        "app",
        "message",
        "time_texts",
        "time_rows",
        "time_keys",
    )

    def __init__(self, n: int, recv_ns: int) -> None:
        self.recv_ns = recv_ns
        self.severity = [NO_VALUE] * n
        self.time_ns = [recv_ns] * n
        self.ts_kind = [TS_NONE] * n
        self.host: list[bytes | None] = [None] * n
        self.app: list[bytes | None] = [None] * n
        self.message: list[bytes | None] = [None] * n
        # RFC 3339 strings wait for one kernel call over the batch
        self.time_texts: list[bytes] = []
        self.time_rows: list[int] = []
        self.time_keys: list[str] = []

    def forget(self, i: int) -> None:
        """Undo whatever row i set: it becomes a plain-text row."""
        self.severity[i] = NO_VALUE
        self.time_ns[i] = self.recv_ns
        self.ts_kind[i] = TS_NONE
        self.host[i] = self.app[i] = self.message[i] = None
        while self.time_rows and self.time_rows[-1] == i:
            self.time_rows.pop()
            self.time_texts.pop()
            self.time_keys.pop()


_MISSING = object()
_ALL_ROLES = (1 << 5) - 1


def _dig(value: Any, path: tuple[str, ...]) -> Any:
    """The value at `path` inside nested objects, or _MISSING."""
    for name in path:
        if type(value) is not dict or name not in value:
            return _MISSING
        value = value[name]
    return value


def _remove(obj: dict[str, Any], key: str, path: tuple[str, ...]) -> None:
    """Delete the value at `key` + `path`, and the objects it leaves empty."""
    if not path:
        obj.pop(key, None)
        return
    parents = [obj]
    node = obj.get(key)
    for name in path[:-1]:
        if type(node) is not dict:
            return
        parents.append(node)
        node = node.get(name)
    if type(node) is not dict or path[-1] not in node:
        return
    del node[path[-1]]
    names = (key, *path[:-1])
    while not node and parents:  # an object left empty goes too: no `host = {}` field
        parent = parents.pop()
        del parent[names[len(parents)]]
        node = parent


def _take_primary(obj: dict[str, Any], i: int, out: _Columns, primary: dict[str, int]) -> int:
    """The built-in names only (no configured or requested ones): the first usable one of each
    role in the object fills its column and leaves `obj`; returns the mask of roles filled."""
    seen = 0
    for key in [k for k in obj if k in primary]:
        role = primary[key]
        if seen & (1 << role):
            continue
        value = obj[key]
        t = type(value)
        if role == ROLE_MESSAGE:
            out.message[i] = _text(value)
        elif role == ROLE_HOST or role == ROLE_APP:
            if t is not str and t is not int and t is not float:
                continue
            (out.host if role == ROLE_HOST else out.app)[i] = _text(value)
        elif role == ROLE_SEVERITY:
            sev = _severity(value)
            if sev == NO_VALUE:
                continue
            out.severity[i] = sev
        elif t is str:  # ROLE_TIME: the text, parsed later for the whole batch at once
            out.time_texts.append(value.encode())
            out.time_rows.append(i)
            out.time_keys.append(key)
        else:
            ns = _epoch_ns(value)
            if ns is None:
                continue
            out.time_ns[i] = ns
            out.ts_kind[i] = TS_UTC
        seen |= 1 << role
        del obj[key]
    return seen


def _take_ranked(
    obj: dict[str, Any], i: int, out: _Columns, by_key: dict[str, tuple[Candidate, ...]], filled: int = 0
) -> None:
    """Move the best usable value of each column role not in the mask `filled` from `obj` into
    row i of `out` (lowest rank; the first in the object among equals); the rest stays in `obj`
    and becomes fields. What a value can fill is written out here: no call per candidate."""
    best: list[tuple[int, str, tuple[str, ...], Any] | None] = [None] * 5
    for key in [k for k in obj if k in by_key]:
        top = obj[key]
        for role, rank, path, strict in by_key[key]:
            chosen = best[role]
            if (chosen is not None and chosen[0] <= rank) or filled & (1 << role):
                continue
            if not path:
                value = top
            elif len(path) == 1:  # host.name, log.level: one level down, without a call
                value = top.get(path[0], _MISSING) if type(top) is dict else _MISSING
            else:
                value = _dig(top, path)
            t = type(value)
            if role == ROLE_MESSAGE:
                if t is str:
                    got = value.encode()
                elif strict or value is _MISSING:
                    continue
                else:
                    got = _encode_json(value)
            elif role == ROLE_HOST or role == ROLE_APP:
                if t is str:
                    got = value.encode()
                elif t is int or t is float:
                    got = _encode_json(value)
                else:
                    continue
            elif role == ROLE_SEVERITY:
                got = _severity(value)
                if got == NO_VALUE:
                    continue
            elif t is str:  # ROLE_TIME: the text, parsed later for the whole batch at once
                got = value
            else:
                got = _epoch_ns(value)
                if got is None:
                    continue
            best[role] = (rank, key, path, got)
    for role, chosen in enumerate(best):
        if chosen is None:
            continue
        _, key, path, got = chosen
        if role == ROLE_MESSAGE:
            out.message[i] = got
        elif role == ROLE_HOST:
            out.host[i] = got
        elif role == ROLE_APP:
            out.app[i] = got
        elif role == ROLE_SEVERITY:
            out.severity[i] = got
        elif type(got) is str:  # ROLE_TIME, text
            out.time_texts.append(got.encode())
            out.time_rows.append(i)
            out.time_keys.append(".".join((key, *path)))
        else:
            out.time_ns[i] = got
            out.ts_kind[i] = TS_UTC
    for chosen in best:
        if chosen is None:
            continue
        _, key, path, _ = chosen
        if not path:
            obj.pop(key, None)
        elif len(path) == 1 and type(node := obj.get(key)) is dict and path[0] in node:
            del node[path[0]]
            if not node:  # an object left empty goes too: no `host = {}` field
                del obj[key]
        else:
            _remove(obj, key, path)


# Shapes remembered per KeyRoles; past this many the memory starts over (see decode_json_rows).
MAX_PLANS = 4096


class _Plan(NamedTuple):
    """What the general path does with every flat object of one shape (its keys, in order),
    worked out once: the key that fills each column (None: none does; `*_strict`: a string
    only), and the other keys, which become fields, their names encoded already. Values still
    decide: a value a column cannot use, or a field whose value is an object, sends the row
    down the general path."""

    message: str | None
    message_strict: bool
    host: str | None
    app: str | None
    severity: str | None
    time: str | None
    get: Callable[[dict[str, Any]], Any] | None
    single: bool
    names: list[bytes]


def _plan(shape: tuple[str, ...]) -> _Plan | None:
    """The plan of `shape` under the built-in names, or None when values alone decide (a key
    that reaches into a nested object: `host.name` as host → name)."""
    chosen: dict[int, tuple[str, bool]] = {}
    for key in shape:
        role = PRIMARY_NAMES.get(key)
        if role is not None and role not in chosen:
            chosen[role] = (key, False)
    for key in shape:
        for role, _, path, strict in SECONDARY_CANDIDATES.get(key, ()):
            if role in chosen:
                continue
            if path:
                return None
            chosen[role] = (key, strict)
    rest = [key for key in shape if key not in {key for key, _ in chosen.values()}]
    key_of = {role: key for role, (key, _) in chosen.items()}
    return _Plan(
        key_of.get(ROLE_MESSAGE),
        chosen.get(ROLE_MESSAGE, ("", False))[1],
        key_of.get(ROLE_HOST),
        key_of.get(ROLE_APP),
        key_of.get(ROLE_SEVERITY),
        key_of.get(ROLE_TIME),
        itemgetter(*rest) if rest else None,
        len(rest) == 1,
        [key.encode() for key in rest],
    )


def _column(values: list[Any], strict: bool | None, bad: set[int]) -> list[bytes | None]:
    """A group's message (`strict`: strings only), host or app (`strict` None) values as
    bytes; the position of a value the column refuses goes into `bad`."""
    if _STR_ONLY.issuperset(map(type, values)):  # the usual case: one comprehension
        return [v.encode() for v in values]
    got: list[bytes | None] = []
    for p, v in enumerate(values):
        if type(v) is str:
            got.append(v.encode())
        elif strict is False:
            got.append(_encode_json(v))
        else:
            text = None if strict else _name_text(v)
            if text is None:
                bad.add(p)
            got.append(text)
    return got


def _severities(values: list[Any], bad: set[int]) -> list[int]:
    levels = _LEVELS  # a shipper sends a handful of level spellings: each is judged once
    got = [levels.get(v, -1) if type(v) is str else v if type(v) is int and 0 <= v <= 7 else -1 for v in values]
    if -1 in got:
        for p in [p for p, sev in enumerate(got) if sev == -1]:
            v = got[p] = _severity(values[p])
            if type(values[p]) is str and len(levels) < 1024:
                levels[values[p]] = v
    if NO_VALUE in got:
        bad.update(p for p, sev in enumerate(got) if sev == NO_VALUE)
    return got


def _times(values: list[Any], bad: set[int]) -> tuple[list[bytes | None], list[int | None]]:
    """A group's time values: RFC 3339 texts (parsed later, for the batch) and epoch numbers."""
    types = set(map(type, values))
    if _STR_ONLY.issuperset(types):
        return [v.encode() for v in values], []
    if _INT_ONLY.issuperset(types) and _NS_INT <= min(values) and max(values) <= _INT64_MAX:
        # an integer past 1e17 is already ns (see _EPOCH_SCALES): OTLP's and Loki's times
        return [None] * len(values), values
    texts: list[bytes | None] = []
    nss: list[int | None] = []
    for p, v in enumerate(values):
        if type(v) is str:
            texts.append(v.encode())
            nss.append(None)
            continue
        ns = _epoch_ns(v)
        if ns is None:
            bad.add(p)
        texts.append(None)
        nss.append(ns)
    return texts, nss


def _apply_group(
    plan: _Plan,
    rows: list[int],
    objs: list[dict[str, Any]],
    out: _Columns,
    f_rows: list[int],
    f_keys: list[bytes],
    f_values: list[bytes],
) -> set[int]:
    """Rows of one shape by its plan, a column at a time (a comprehension per column instead of
    a call per row); returns the positions in `rows` left to the general path, unwritten."""
    bad: set[int] = set()
    n = len(rows)
    message = host = app = None
    severity: list[int] | None = None
    texts: list[bytes | None] = []
    nss: list[int | None] = []
    if plan.message is not None:
        message = _column(list(map(itemgetter(plan.message), objs)), plan.message_strict or False, bad)
    if plan.host is not None:
        host = _column(list(map(itemgetter(plan.host), objs)), None, bad)
    if plan.app is not None:
        app = _column(list(map(itemgetter(plan.app), objs)), None, bad)
    if plan.severity is not None:
        severity = _severities(list(map(itemgetter(plan.severity), objs)), bad)
    if plan.time is not None:
        texts, nss = _times(list(map(itemgetter(plan.time), objs)), bad)
    m = len(plan.names)
    encoded: list[bytes] = []
    if plan.get is not None:
        values = list(map(plan.get, objs))
        flat = values if plan.single else list(chain.from_iterable(values))
        if dict in set(map(type, flat)):  # a nested field: that row's keys are not the plan's
            bad.update(p // m for p, v in enumerate(flat) if type(v) is dict)
        encoded = [v.encode() if type(v) is str else _encode_json(v) for v in flat]
    keep = [p for p in range(n) if p not in bad] if bad else None
    for col, got in ((out.message, message), (out.host, host), (out.app, app), (out.severity, severity)):
        if got is not None:
            _put(col, rows, got, keep)
    if plan.time is not None:
        if keep is None and not nss:  # RFC 3339 texts, all of them
            out.time_texts.extend(texts)  # type: ignore[arg-type]  # no None without nss
            out.time_rows.extend(rows)
            out.time_keys.extend(repeat(plan.time, n))
        elif keep is None and texts.count(None) == n:  # epoch numbers, all of them
            _put(out.time_ns, rows, nss, None)
            _put(out.ts_kind, rows, [TS_UTC] * n, None)
        else:
            for p in range(n) if keep is None else keep:
                text = texts[p]
                if text is not None:
                    out.time_texts.append(text)
                    out.time_rows.append(rows[p])
                    out.time_keys.append(plan.time)
                else:
                    out.time_ns[rows[p]] = nss[p]  # type: ignore[assignment]  # kept rows have one
                    out.ts_kind[rows[p]] = TS_UTC
    if m:
        kept = rows if keep is None else [rows[p] for p in keep]
        if keep is not None:
            encoded = list(chain.from_iterable(encoded[p * m : p * m + m] for p in keep))
        f_rows.extend(chain.from_iterable(repeat(i, m) for i in kept) if m > 1 else kept)
        f_keys.extend(plan.names * len(kept))
        f_values.extend(encoded)
    return bad


def _put(col: list[Any], rows: list[int], got: list[Any], keep: list[int] | None) -> None:
    """`col[rows[p]] = got[p]` for the positions `keep` (None: all)."""
    if keep is not None:
        for p in keep:
            col[rows[p]] = got[p]
    elif len(rows) == len(col):  # the group is the whole batch, rows 0..n-1: one copy
        col[:] = got
    else:
        for i, value in zip(rows, got):
            col[i] = value


_STR_ONLY = frozenset((str,))
_INT_ONLY = frozenset((int,))
_NS_INT = 10**17
# Level strings seen → their severity (NO_VALUE for one that is not a level), bounded.
_LEVELS: dict[str, int] = {}


def _remember(plans: dict[tuple[str, ...], Any], shape: tuple[str, ...]) -> _Plan | None:
    if len(plans) >= MAX_PLANS:  # a sender inventing keys per row: start over
        plans.clear()
    plan = plans[shape] = _plan(shape)
    return plan


def _decode_all(
    view: memoryview, spans: list[tuple[int, int]], plans: dict[tuple[str, ...], Any]
) -> list[dict[str, Any]] | None:
    """Every row decoded by one `map` (no Python frame per row), or None when any row is not
    a JSON object: then the caller decodes row by row, so one bad row costs only itself.
    Also None when the first row's shape has no plan (nested documents): holding every row's
    objects at once only makes the garbage collector's passes longer for those."""
    try:
        first = _DECODER.decode(view[slice(*spans[0])])
        if type(first) is not dict or plans.get(tuple(first), _MISSING) is None:
            return None
        decoded = list(map(_DECODER.decode, map(view.__getitem__, map(slice, *zip(*spans)))))
    except (ValueError, RecursionError):
        return None
    return decoded if _DICT_ONLY.issuperset(map(type, decoded)) else None


_DICT_ONLY = frozenset((dict,))


def _general(
    obj: dict[str, Any],
    i: int,
    out: _Columns,
    roles: KeyRoles,
    f_rows: list[int],
    f_keys: list[bytes],
    f_values: list[bytes],
) -> bool:
    """Row i by the general path (any object, any names); False: it stays plain text."""
    mark = len(f_rows)
    try:
        if not roles.by_key.keys().isdisjoint(obj):
            if not roles.plain:
                _take_ranked(obj, i, out, roles.by_key)
            elif (
                filled := _take_primary(obj, i, out, roles.primary)
            ) != _ALL_ROLES and not roles.secondary.keys().isdisjoint(obj):
                _take_ranked(obj, i, out, roles.secondary, filled)  # other shippers' names, for what is left
        if not obj:
            return True
        values = obj.values()
        if dict in map(type, values):
            _flatten("", obj, i, f_rows, f_keys, f_values)
        else:  # the common flat object: three list extensions, no call per key
            f_rows.extend(repeat(i, len(obj)))
            f_keys.extend([k.encode() for k in obj])
            f_values.extend([v.encode() if type(v) is str else _encode_json(v) for v in values])
    except Exception:  # noqa: BLE001 - whatever one row does, it costs that row only
        del f_rows[mark:], f_keys[mark:], f_values[mark:]
        out.forget(i)
        return False
    return True


def decode_json_rows(
    data: bytes | bytearray | memoryview | np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    recv_ns: int,
    roles: KeyRoles = DEFAULT_ROLES,
    fast: bool = True,
) -> JsonRows:
    """Decode rows `data[starts[i]:ends[i]]` (bytes, bytearray, memoryview or 1-D uint8 array).

    Reads `data` only during the call; the returned objects are new and owned by the caller.
    `fast=False` decodes every row by the general path alone (the reference the tests hold the
    shape plans to)."""
    view = (
        memoryview(data).cast("B")
        if not isinstance(data, np.ndarray)
        else memoryview(np.ascontiguousarray(data, dtype=np.uint8).reshape(-1).data)
    )
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    if starts.shape != ends.shape or starts.ndim != 1:
        raise ValueError("starts and ends must be 1-D arrays of the same length")
    n = starts.shape[0]
    if n and (starts.min() < 0 or ends.max() > len(view) or np.any(ends < starts)):
        raise ValueError("row spans must satisfy 0 <= start <= end <= len(data)")

    ok = [False] * n
    out = _Columns(n, int(recv_ns))
    f_rows: list[int] = []
    f_keys: list[bytes] = []
    f_values: list[bytes] = []

    decode = _DECODER.decode
    plans = roles.plans if roles.plain and fast else None
    # rows by shape, for the shapes with a plan: (plan, row numbers, objects)
    groups: dict[tuple[str, ...], Any] = {}
    spans = list(zip(starts.tolist(), ends.tolist()))
    decoded = _decode_all(view, spans, plans) if plans is not None and spans else None
    if plans is not None and decoded is not None:
        shape_of = list(map(tuple, decoded))
        distinct = {shape: plans.get(shape, _MISSING) for shape in set(shape_of)}
        for shape, plan in distinct.items():
            distinct[shape] = _remember(plans, shape) if plan is _MISSING else plan
        if None not in distinct.values():  # every shape has a plan: rows go by shape, no decoding left
            if len(distinct) == 1:  # the usual batch, one shipper's one shape
                shape, plan = distinct.popitem()
                groups[shape] = (plan, list(range(n)), decoded)
            else:
                for shape, plan in distinct.items():
                    groups[shape] = (plan, [], [])
                for i, (shape, obj) in enumerate(zip(shape_of, decoded)):
                    group = groups[shape]
                    group[1].append(i)
                    group[2].append(obj)
            spans = []
    for i, (s, e) in enumerate(spans):
        if decoded is not None:
            obj = decoded[i]
        else:
            try:
                obj = decode(view[s:e])
            except (ValueError, RecursionError):
                # msgspec.DecodeError (syntax), UnicodeDecodeError (invalid UTF-8), or nesting
                # deeper than the decoder goes: this row alone stays plain text.
                continue
            if type(obj) is not dict:
                continue
        if plans is not None:
            group = groups.get(shape := tuple(obj), _MISSING)
            if group is _MISSING:
                if (plan := plans.get(shape, _MISSING)) is _MISSING:
                    plan = _remember(plans, shape)
                group = groups[shape] = None if plan is None else (plan, [], [])
            if group is not None:
                group[1].append(i)
                group[2].append(obj)
                continue
        ok[i] = _general(obj, i, out, roles, f_rows, f_keys, f_values)
    for plan, rows, objs in filter(None, groups.values()):
        try:
            left = _apply_group(plan, rows, objs, out, f_rows, f_keys, f_values)
        except Exception:  # noqa: BLE001 - it raised before writing: each row on its own
            left = set(range(len(rows)))
        for p, i in enumerate(rows):
            ok[i] = p not in left or _general(objs[p], i, out, roles, f_rows, f_keys, f_values)
    f_order = np.array(f_rows, np.int64)
    if f_order.size > 1 and bool((f_order[1:] < f_order[:-1]).any()):
        # shapes were written a group at a time: rows ascending again (stable: a row's own
        # fields keep their order)
        by_row = np.argsort(f_order, kind="stable")
        f_rows = f_order[by_row].tolist()
        pick = itemgetter(*by_row.tolist())  # two or more: itemgetter gives a tuple
        f_keys = list(pick(f_keys))
        f_values = list(pick(f_values))

    time_ns = np.array(out.time_ns, np.int64)
    ts_kind = np.array(out.ts_kind, np.uint8)
    if out.time_texts:
        texts = out.time_texts
        lens = np.fromiter(map(len, texts), np.int64, len(texts))
        t_ends = np.cumsum(lens)
        t_ns, t_ok = parse_rfc3339_spans(np.frombuffer(b"".join(texts), np.uint8), t_ends - lens, t_ends)
        rows = np.array(out.time_rows, np.int64)
        time_ns[rows[t_ok]] = t_ns[t_ok]
        ts_kind[rows[t_ok]] = TS_UTC
        late: list[int] = []
        for k in np.flatnonzero(~t_ok).tolist():  # odd forms: the slow path, one by one
            ns = _iso_ns(texts[k].decode())
            if ns is None:  # not a time after all: keep it as a field
                late.append(k)
            else:
                time_ns[rows[k]] = ns
                ts_kind[rows[k]] = TS_UTC
        if late:
            f_rows += [out.time_rows[k] for k in late]
            f_keys += [out.time_keys[k].encode() for k in late]
            f_values += [texts[k] for k in late]
            order = sorted(range(len(f_rows)), key=f_rows.__getitem__)
            f_rows = [f_rows[k] for k in order]
            f_keys = [f_keys[k] for k in order]
            f_values = [f_values[k] for k in order]

    return JsonRows(
        np.array(ok, np.bool_),
        time_ns,
        ts_kind,
        np.array(out.severity, np.uint8),
        out.host,
        out.app,
        out.message,
        np.array(f_rows, np.int64),
        f_keys,
        f_values,
    )
