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

import gc
from datetime import datetime, timezone
from itertools import chain, repeat
from operator import itemgetter
from typing import Any, NamedTuple

import msgspec
import numpy as np

from engine.parse.json_keys import (
    DEFAULT_ROLES,
    ROLE_APP,
    ROLE_HOST,
    ROLE_MESSAGE,
    ROLE_SEVERITY,
    Candidate,
    KeyRoles,
)
from engine.parse.json_struct import StructShape
from engine.parse.json_shapes import MAX_FLATTEN_DEPTH, Path, Plan, Shape, plan_of, shape_of
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


# Shapes remembered per KeyRoles; past this many the memory starts over (see _plan_for).
MAX_PLANS = 4096


def _column(values: list[Any], strict: bool | None, bad: set[int]) -> list[bytes | None]:
    """A group's message (`strict`: strings only), host or app (`strict` None) values as
    bytes; the position of a value the column refuses goes into `bad`."""
    if _STR_ONLY.issuperset(map(type, values)):  # the usual case: one comprehension
        return list(map(str.encode, values))
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


def _field_texts(values: list[Any], bad: set[int]) -> list[bytes]:
    """A group's values of one field as bytes (strings as UTF-8, anything else as JSON text);
    the position of an object with keys, which the shape has as a value, goes into `bad`."""
    types = set(map(type, values))
    if _STR_ONLY.issuperset(types):
        if values.count(values[0]) == len(values):  # a shipper's constant (agent.version): once
            return [values[0].encode()] * len(values)
        return list(map(str.encode, values))
    if dict in types:  # not of this shape: such a row goes down the general path
        bad.update(p for p, v in enumerate(values) if type(v) is dict and v)
    if str not in types:
        return list(map(_encode_json, values))
    return [v.encode() if type(v) is str else _encode_json(v) for v in values]


def _severities(values: list[Any], bad: set[int]) -> list[int]:
    levels = _LEVELS  # a shipper sends a handful of level spellings: each is judged once
    if _STR_ONLY.issuperset(map(type, values)):
        got = list(map(levels.get, values, repeat(-1)))
    else:
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
        return list(map(str.encode, values)), []
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


def _columns(plan: Plan, objs: list[dict[str, Any]]) -> dict[Path, list[Any]] | None:
    """Every value the plan reads, a list per path (one `map` each, no call per row): the nested
    objects', the columns' and the fields'. None when some row is not of the plan's shape (a
    nested object with other keys, or no object at all)."""
    cols: dict[Path, list[Any]] = {(): objs}
    try:
        for path, keys in plan.nodes:
            col = cols[path] = list(map(itemgetter(path[-1]), cols[path[:-1]]))
            # Every key of a node is read below, and reading a key out of anything but an object
            # raises: so one key and a length of 1 is that key alone, and more keys are compared
            # in order (the order of its fields).
            if len(keys) == 1:
                if set(map(len, col)) != {1}:
                    return None
            elif not all(map(keys.__eq__, map(tuple, col))):
                return None
        for leaf in (plan.message, plan.host, plan.app, plan.severity, plan.time, *plan.fields):
            if leaf is not None and leaf not in cols:
                cols[leaf] = list(map(itemgetter(leaf[-1]), cols[leaf[:-1]]))
    except (KeyError, TypeError):
        return None
    return cols


def _apply_group(
    plan: Plan,
    rows: list[int],
    objs: list[dict[str, Any]],
    out: _Columns,
    f_rows: list[int],
    f_keys: list[bytes],
    f_values: list[bytes],
) -> set[int] | None:
    """Rows of one shape by its plan, a column at a time (a comprehension per column instead of
    a call per row); returns the positions in `rows` left to the general path, unwritten, or
    None, with nothing written, when not every row is of the plan's nested shape."""
    cols = _columns(plan, objs)
    if cols is None:
        return None
    return _apply_columns(plan, rows, cols, out, f_rows, f_keys, f_values)


def _apply_columns(
    plan: Plan,
    rows: list[int],
    cols: dict[Path, list[Any]],
    out: _Columns,
    f_rows: list[int],
    f_keys: list[bytes],
    f_values: list[bytes],
) -> set[int]:
    """`_apply_group` once the plan's values are read (`_columns`, or a StructShape's columns)."""
    bad: set[int] = set()
    n = len(rows)
    message = host = app = None
    severity: list[int] | None = None
    texts: list[bytes | None] = []
    nss: list[int | None] = []
    if plan.message is not None:
        message = _column(cols[plan.message], plan.message_strict, bad)
    if plan.host is not None:
        host = _column(cols[plan.host], None, bad)
    if plan.app is not None:
        app = _column(cols[plan.app], None, bad)
    if plan.severity is not None:
        severity = _severities(cols[plan.severity], bad)
    if plan.time is not None:
        texts, nss = _times(cols[plan.time], bad)
    m = len(plan.names)
    encoded: list[bytes] = []
    if m:
        leaves = [_field_texts(cols[path], bad) for path in plan.fields]
        encoded = leaves[0] if m == 1 else list(chain.from_iterable(zip(*leaves)))
    keep = [p for p in range(n) if p not in bad] if bad else None
    for col, got in ((out.message, message), (out.host, host), (out.app, app), (out.severity, severity)):
        if got is not None:
            _put(col, rows, got, keep)
    if plan.time is not None:
        if keep is None and not nss:  # RFC 3339 texts, all of them
            out.time_texts.extend(texts)  # type: ignore[arg-type]  # no None without nss
            out.time_rows.extend(rows)
            out.time_keys.extend(repeat(plan.time_key, n))
        elif keep is None and texts.count(None) == n:  # epoch numbers, all of them
            _put(out.time_ns, rows, nss, None)
            _put(out.ts_kind, rows, [TS_UTC] * n, None)
        else:
            for p in range(n) if keep is None else keep:
                text = texts[p]
                if text is not None:
                    out.time_texts.append(text)
                    out.time_rows.append(rows[p])
                    out.time_keys.append(plan.time_key)
                else:
                    out.time_ns[rows[p]] = nss[p]  # type: ignore[assignment]  # kept rows have one
                    out.ts_kind[rows[p]] = TS_UTC
    if m:
        kept = rows if keep is None else [rows[p] for p in keep]
        if keep is not None:
            encoded = list(chain.from_iterable(encoded[p * m : p * m + m] for p in keep))
        f_rows.extend(chain.from_iterable(zip(*repeat(kept, m))) if m > 1 else kept)
        f_keys.extend(plan.names * len(kept))
        f_values.extend(encoded)
    return bad


def _put(col: list[Any], rows: list[int], got: list[Any], keep: list[int] | None) -> None:
    """`col[rows[p]] = got[p]` for the positions `keep` (None: all)."""
    if keep is not None:
        for p in keep:
            col[rows[p]] = got[p]
    elif rows and rows[-1] - rows[0] == len(rows) - 1:  # a run of rows (a chunk's): one copy
        col[rows[0] : rows[-1] + 1] = got
    else:
        for i, value in zip(rows, got):
            col[i] = value


_STR_ONLY = frozenset((str,))
_INT_ONLY = frozenset((int,))
_NS_INT = 10**17
# Level strings seen → their severity (NO_VALUE for one that is not a level), bounded.
_LEVELS: dict[str, int] = {}


def _plan_for(plans: dict[Shape, Plan | None], shape: Shape) -> Plan | None:
    plan = plans.get(shape, _MISSING)
    if plan is _MISSING:
        if len(plans) >= MAX_PLANS:  # a sender inventing keys per row: start over
            plans.clear()
        plan = plans[shape] = plan_of(shape)
    return plan  # type: ignore[return-value]


def _decode_rows(view: memoryview, starts: list[int], ends: list[int]) -> list[Any]:
    """Every row decoded, by one `map` (no Python frame per row) unless some row fails: then row
    by row, so one bad row costs only itself (None in its place)."""
    decode = _DECODER.decode
    try:
        return list(map(decode, map(view.__getitem__, map(slice, starts, ends))))
    except (ValueError, RecursionError):
        pass
    decoded: list[Any] = []
    for s, e in zip(starts, ends):
        try:
            decoded.append(decode(view[s:e]))
        except (ValueError, RecursionError):
            # msgspec.DecodeError (syntax), UnicodeDecodeError (invalid UTF-8), or nesting
            # deeper than the decoder goes: this row alone stays plain text.
            decoded.append(None)
    return decoded


def _by_shape(
    plans: dict[Shape, Plan | None], rows: list[int], objs: list[dict[str, Any]]
) -> list[tuple[Plan | None, list[int], list[dict[str, Any]]]]:
    """Rows of one top-level shape split by their whole shape (nested objects too), each part
    with its plan (None: the general path takes it)."""
    parts: dict[Shape, tuple[list[int], list[dict[str, Any]]]] = {}
    for i, obj in zip(rows, objs):
        part = parts.get(shape := shape_of(obj))
        if part is None:
            part = parts[shape] = ([], [])
        part[0].append(i)
        part[1].append(obj)
    return [(_plan_for(plans, shape), part[0], part[1]) for shape, part in parts.items()]


def _apply_plans(
    plans: dict[Shape, Plan | None],
    rows: list[int],
    objs: list[dict[str, Any]],
    ok: list[bool],
    out: _Columns,
    roles: KeyRoles,
    f_rows: list[int],
    f_keys: list[bytes],
    f_values: list[bytes],
) -> None:
    """Rows of one top-level shape: by the plan of the first row's whole shape when every row
    has it, else split by whole shape, each part by its own plan; the general path takes the
    rows no plan could."""
    parts = [(_plan_for(plans, shape_of(objs[0])), rows, objs)]
    split = False
    while parts:
        plan, rows, objs = parts.pop()
        left = None
        if plan is not None:
            try:
                left = _apply_group(plan, rows, objs, out, f_rows, f_keys, f_values)
            except Exception:  # noqa: BLE001 - it raised before writing: each row on its own
                left = set(range(len(rows)))
        if left is None:
            if not split and len(rows) > 1:
                split = True
                parts = _by_shape(plans, rows, objs)
                continue
            left = set(range(len(rows)))
        for p, (i, obj) in enumerate(zip(rows, objs)):
            ok[i] = p not in left or _general(obj, i, out, roles, f_rows, f_keys, f_values)


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


# Rows decoded and written at a time: a plan reads every row's objects once per nested object
# and per value, and a chunk's objects stay in the CPU's cache for those passes (a batch of
# 2,000 Filebeat documents does not); the memory of one chunk's objects is reused by the next.
CHUNK_ROWS = 512


# A chunk this long, all of one top-level shape, makes the first row's whole shape the one the
# next chunk tries first.
STRUCT_MIN_ROWS = 64


def _struct_chunk(
    struct: StructShape,
    view: memoryview,
    data: np.ndarray,
    lo: int,
    starts: np.ndarray,
    ends: np.ndarray,
    roles: KeyRoles,
    ok: list[bool],
    out: _Columns,
    f_rows: list[int],
    f_keys: list[bytes],
    f_values: list[bytes],
) -> bool:
    """Rows lo, lo + 1, ... by the Struct decoder of `struct` and its plan; False, with nothing
    written, when some row is not of that shape (the dict decoder takes the chunk)."""
    cols = struct.decode_rows(view, data, starts, ends)
    if cols is None:
        return False
    rows = list(range(lo, lo + len(starts)))
    try:
        left = _apply_columns(struct.plan, rows, cols, out, f_rows, f_keys, f_values)
    except Exception:  # noqa: BLE001 - it raised before writing: the dict decoder's turn
        return False
    ok[lo : lo + len(rows)] = [True] * len(rows)
    for p in sorted(left):  # a value the plan does not take (an object, a level of 42): as a dict
        i = rows[p]
        obj = _DECODER.decode(view[int(starts[p]) : int(ends[p])])
        ok[i] = _general(obj, i, out, roles, f_rows, f_keys, f_values)
    return True


def _learn_struct(roles: KeyRoles, plans: dict[Shape, Plan | None], obj: dict[str, Any]) -> None:
    """Remember the shape of `obj` as the one to try first, when it has a plan a Struct fits."""
    shape = shape_of(obj)
    struct = roles.struct
    if struct is not None and struct.shape == shape:
        return
    plan = _plan_for(plans, shape)
    roles.struct = StructShape(shape, plan) if plan is not None and StructShape.fits(shape, plan) else None


def _decode_chunk(
    view: memoryview,
    data: np.ndarray,
    lo: int,
    span: tuple[np.ndarray, np.ndarray],
    starts: list[int],
    ends: list[int],
    roles: KeyRoles,
    fast: bool,
    ok: list[bool],
    out: _Columns,
    f_rows: list[int],
    f_keys: list[bytes],
    f_values: list[bytes],
) -> None:
    """Rows lo, lo + 1, ... (spans `starts`, `ends`, also as arrays in `span`); the decoded
    objects die with this call."""
    plans = roles.plans if roles.plain and fast else None
    if plans is not None and roles.struct is not None:
        if _struct_chunk(roles.struct, view, data, lo, *span, roles, ok, out, f_rows, f_keys, f_values):
            return
        roles.struct = None  # the shape changed: tried again once a chunk shows one
    decoded = _decode_rows(view, starts, ends)
    live = list(range(lo, lo + len(starts)))
    if not _DICT_ONLY.issuperset(map(type, decoded)):  # rows that are not objects stay plain text
        live = [i for i, obj in zip(live, decoded) if type(obj) is dict]
        decoded = [obj for obj in decoded if type(obj) is dict]
    if plans is None:
        for i, obj in zip(live, decoded):
            ok[i] = _general(obj, i, out, roles, f_rows, f_keys, f_values)
        return
    # rows by their top-level keys (a tuple per row, cheap); nested objects are told apart only
    # where a group's rows turn out not to share the first one's whole shape
    tops = list(map(tuple, decoded))
    groups: dict[tuple[str, ...], tuple[list[int], list[dict[str, Any]]]]
    if tops and tops.count(tops[0]) == len(tops):  # the usual chunk, one shipper's one shape
        groups = {tops[0]: (live, decoded)}
        if len(tops) >= STRUCT_MIN_ROWS:
            _learn_struct(roles, plans, decoded[0])
    else:
        groups = {}
        for i, top, obj in zip(live, tops, decoded):
            group = groups.get(top)
            if group is None:
                group = groups[top] = ([], [])
            group[0].append(i)
            group[1].append(obj)
    for rows, objs in groups.values():
        _apply_plans(plans, rows, objs, ok, out, roles, f_rows, f_keys, f_values)


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

    data_u8 = np.frombuffer(view, np.uint8)
    ok = [False] * n
    out = _Columns(n, int(recv_ns))
    f_rows: list[int] = []
    f_keys: list[bytes] = []
    f_values: list[bytes] = []

    # The cyclic garbage collector waits for the batch: decoded JSON holds no cycles (reference
    # counting frees it all, before the collector is back), yet a Filebeat document is 8 dicts,
    # and the passes that so many new containers set off cost more than decoding them.
    collecting = gc.isenabled()
    gc.disable()
    try:
        starts_l, ends_l = starts.tolist(), ends.tolist()
        for lo in range(0, n, CHUNK_ROWS):
            hi = lo + CHUNK_ROWS
            span = (starts[lo:hi], ends[lo:hi])
            _decode_chunk(
                view, data_u8, lo, span, starts_l[lo:hi], ends_l[lo:hi], roles, fast, ok, out, f_rows, f_keys, f_values
            )
    finally:
        if collecting:
            gc.enable()
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
