"""An OTLP protobuf logs request (a frame the API flagged `OTLP_REQUEST`) straight to the row
columns the JSON row decoder would make of its JSON frames (engine.push.otlp), without them.

The wire walk (native_kernels.otlp_wire) finds each record's parts; strings stay spans of the
body, so per record only numbers are touched. What is the same for a scope (host, app, the
resource's and scope's fields, the severities) is worked out once, through the same JSON the
general path writes and reads, so it cannot drift from it. Anything the shortcut does not cover
returns None and the caller takes the general path (frames, then the JSON row decoder): an
uncommon value kind, a field name that could fill a column or that repeats, a time before
1973, a record that might pass the frame length limit.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import msgspec
import numpy as np
import numpy.typing as npt
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from engine.parse.json_keys import DEFAULT_ROLES, ROLE_APP, ROLE_HOST, ROLE_SEVERITY
from engine.parse.json_rows import _severity
from engine.push import otlp
from engine.push.rows import NS_AS_INTEGER, none_cut
from native_kernels.dictionary import DictionaryEncoder
from native_kernels.gather import take_spans
from native_kernels.otlp_wire import (
    A_KEY_E,
    A_KEY_S,
    A_KIND,
    A_VAL_E,
    A_VAL_S,
    R_ATTR_0,
    R_ATTR_1,
    R_BODY_E,
    R_BODY_S,
    R_EVENT_E,
    R_EVENT_S,
    R_OBSERVED,
    R_SCOPE,
    R_SEVERITY,
    R_SIZE,
    R_SPAN_E,
    R_SPAN_S,
    R_TEXT_E,
    R_TEXT_S,
    R_TIME,
    R_TRACE_E,
    R_TRACE_S,
    S_RES_E,
    S_RES_S,
    S_SCOPE_E,
    S_SCOPE_S,
    VALUE_BOOL,
    VALUE_INT,
    VALUE_NONE,
    VALUE_STRING,
    decimals,
    walk,
)
from native_kernels.protobuf_wire import WALK_OK
from native_kernels.syslog import NO_VALUE

_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode
# The columns each name could fill (the decoder's candidates). Every row's frame fills time and
# message first, and host and app where its resource has them; a field named for one of those
# stays a field, as the first usable key of a column wins. One named for a column the row does
# not fill would fill it: such rows go the general path.
_ROLES = {key: frozenset(c.role for c in candidates) for key, candidates in DEFAULT_ROLES.by_key.items()}
_NONE: frozenset[int] = frozenset()


def _needs(name: str, host: bytes | None, app: bytes | None) -> bool | None:
    """Whether a field `name` is safe only where the row has a severity (True), safe anyway
    (False), or would fill the scope's missing host or app (None)."""
    roles = _ROLES.get(name, _NONE)
    if (ROLE_HOST in roles and host is None) or (ROLE_APP in roles and app is None):
        return None
    return ROLE_SEVERITY in roles


class OtlpRows(NamedTuple):
    """The rows of one request: `data` holds every string the spans point at (the body, then
    the pieces made here); a span of -1 is none. Fields are in row order, a row's in the order
    of its JSON frame's keys."""

    data: npt.NDArray[np.uint8]
    time_ns: npt.NDArray[np.int64]
    severity: npt.NDArray[np.uint8]
    host: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]
    app: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]
    message: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]
    field_row: npt.NDArray[np.int64]
    field_key: tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]
    field_value: tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]


class _Pieces:
    """Byte strings appended after the body, each once: their spans in the joined buffer."""

    def __init__(self, base: int) -> None:
        self.parts: list[bytes] = []
        self.at: dict[bytes, int] = {}
        self.pos = base

    def span(self, value: bytes) -> tuple[int, int]:
        start = self.at.get(value)
        if start is None:
            start = self.at[value] = self.pos
            self.parts.append(value)
            self.pos += len(value)
        return start, start + len(value)

    def block(self, offsets: npt.NDArray[np.int64], data: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
        """Append (offsets, data) values whole; their spans as an (n, 2) array."""
        at = self.pos
        self.parts.append(data.tobytes())
        self.pos += len(data)
        return np.stack([offsets[:-1] + at, offsets[1:] + at], axis=1)


def _field_bytes(value: Any) -> bytes:
    """A decoded JSON field value as the row decoder stores it."""
    return value.encode() if type(value) is str else _encode(value)


class _Scope(NamedTuple):
    host: bytes | None
    app: bytes | None
    taken: frozenset[str]  # record attribute names that get the prefix
    tail: list[tuple[bytes, bytes]]  # the shared fields, as stored
    tail_keys: frozenset[str]
    tail_needs_severity: bool  # a shared field is named for the severity column
    size: int  # bytes of its JSON pieces


# Scopes already worked out, by their Resource and InstrumentationScope bytes: a sender pushes
# the same few every time. Cleared when it holds this many, so a sender inventing them cannot
# grow it.
MAX_CACHED_SCOPES = 4096
_scopes: dict[tuple[bytes, bytes], _Scope | None] = {}


def _scope(resource: bytes, scope: bytes) -> _Scope | None:
    """A scope's shared columns and fields, by the general path's own `shared_of` and a JSON
    round trip of its tail (so repeated or renamed names come out as the decoder sees them);
    None: the shortcut does not apply."""
    key = (resource, scope)
    if key in _scopes:
        return _scopes[key]
    if len(_scopes) >= MAX_CACHED_SCOPES:
        _scopes.clear()
    name, version, attributes = otlp.scope_parts(scope)
    shared = otlp.shared_of(otlp.resource_attributes(resource), name, version, attributes)
    head = _decode(b"{" + shared.head[1:] + b"}") if shared.head else {}
    tail = _decode(b"{" + shared.tail[1:]) if len(shared.tail) > 1 else {}
    host, app = head.get("host"), head.get("app")
    host, app = None if host is None else host.encode(), None if app is None else app.encode()
    needs = [_needs(k, host, app) for k in tail]
    got = None
    # A field the decoder would take for a column, or flatten, is left to the general path.
    if None not in needs and dict not in set(map(type, tail.values())):
        got = _Scope(
            host,
            app,
            shared.taken,
            [(k.encode(), _field_bytes(v)) for k, v in tail.items()],
            frozenset(tail),
            any(needs),
            len(shared.head) + len(shared.tail),
        )
    _scopes[key] = got
    return got


def _severity_of(number: int, text: bytes) -> tuple[int, bytes, bytes]:
    """(severity column, field name, field value) of a record's severity number and text, as
    the general path writes them and the decoder reads them back (name b"": no field)."""
    piece = otlp.severity_json(number, text.decode())
    obj = _decode(b"{" + piece[1:] + b"}") if piece else {}
    level, name, value = NO_VALUE, b"", b""
    if "severity" in obj:
        level = obj["severity"] if type(obj["severity"]) is int else _severity(obj["severity"])
        if level == NO_VALUE:  # not a level name: it stays a field
            name, value = b"severity", obj["severity"].encode()
    if "severity_text" in obj:
        name, value = b"severity_text", obj["severity_text"].encode()
    return level, name, value


def _int32(v: int) -> int:
    return v - (1 << 32) if v >= 1 << 31 else v


def _unique(values: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """`np.unique(values, return_inverse=True)`, by a table when the values are few and small
    (they are: a few severities, texts, names and scopes), which costs a tenth of a sort."""
    low, high = int(values.min()), int(values.max())
    if high - low >= 1 << 16:
        return np.unique(values, return_inverse=True)
    present = np.zeros(high - low + 1, np.bool_)
    present[values - low] = True
    distinct = np.flatnonzero(present)
    index = np.empty(len(present), np.int64)
    index[distinct] = np.arange(len(distinct))
    return distinct + low, index[values - low]


def _distinct(
    body: npt.NDArray[np.uint8], starts: npt.NDArray[np.int64], ends: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], list[bytes]]:
    """Each span's index among the distinct values, and those values in order."""
    ids, new = DictionaryEncoder().encode(body, starts, ends)
    return ids.astype(np.int64) - 1, [value for _, value in new]


def otlp_rows(frame: bytes, now: int, max_len: int) -> OtlpRows | None:
    """The rows of the ExportLogsServiceRequest `frame`; None: take the general path."""
    body = np.frombuffer(frame, np.uint8)
    w = walk(body)
    if w.status != WALK_OK or not len(w.records):
        return None
    rec, attrs = w.records, w.attrs
    n = len(rec)
    # Times: the record's, else the observed one, else the receive time; ns as integers only.
    t = rec[:, R_TIME]
    t = np.where(t != 0, t, rec[:, R_OBSERVED])
    t = np.where(t != 0, t, now)
    if bool((t < NS_AS_INTEGER).any()):  # before 1973, or (negative) past 2**63
        return None
    scopes: list[_Scope] = []
    for rs, re_, ss, se in w.scopes[:, [S_RES_S, S_RES_E, S_SCOPE_S, S_SCOPE_E]].tolist():
        got = _scope(frame[rs:re_] if rs >= 0 else b"", frame[ss:se] if ss >= 0 else b"")
        if got is None:
            return None
        scopes.append(got)
    rec_scope = rec[:, R_SCOPE]
    scope_size = np.array([s.size for s in scopes], np.int64)
    if not none_cut(int((rec[:, R_SIZE] + scope_size[rec_scope]).max()), max_len):
        return None
    pieces = _Pieces(len(frame))
    columns = []
    for which in ("host", "app"):  # one piece per scope
        spans = np.array([pieces.span(v) if (v := getattr(s, which)) is not None else (-1, -1) for s in scopes])
        columns.append((spans[rec_scope, 0].copy(), spans[rec_scope, 1].copy()))
    message = (rec[:, R_BODY_S].copy(), rec[:, R_BODY_E].copy())
    none = message[0] < 0
    message[0][none] = message[1][none] = 0  # no body: an empty message

    # Each field as (row, slot, key span, value span); slots order a row's fields as its frame.
    f_row: list[npt.NDArray[np.int64]] = []
    f_slot: list[npt.NDArray[np.int64]] = []
    f_spans: list[npt.NDArray[np.int64]] = []

    def add(rows: npt.NDArray[np.int64], slot: npt.NDArray[np.int64] | int, spans: npt.NDArray[np.int64]) -> None:
        f_row.append(rows)
        f_slot.append(np.broadcast_to(np.asarray(slot, np.int64), rows.shape))
        f_spans.append(spans.reshape(-1, 4))

    # Severity: each distinct (number, text) judged once.
    text_id, texts = _distinct(body, rec[:, R_TEXT_S], rec[:, R_TEXT_E])
    number = rec[:, R_SEVERITY]
    # (text, number) as one integer: dense for the numbers OTLP defines (0-24), else wide.
    shift = 5 if bool(((number >= 0) & (number < 32)).all()) else 32
    pair, inverse = _unique((text_id << shift) | (number & ((1 << shift) - 1)))
    judged = [_severity_of(_int32(p & ((1 << shift) - 1)), texts[p >> shift]) for p in pair.tolist()]
    severity = np.array([level for level, _, _ in judged], np.uint8)[inverse]
    sev_spans = np.array([(*pieces.span(k), *pieces.span(v)) for _, k, v in judged], np.int64)
    with_field = np.array([bool(k) for _, k, _ in judged])[inverse]
    for s_idx, scope in enumerate(scopes):
        if scope.tail_needs_severity and bool((severity[rec_scope == s_idx] == NO_VALUE).any()):
            return None  # a shared field named for the severity column, in a row without one
    if with_field.any():
        rows = np.flatnonzero(with_field)
        add(rows, 0, sev_spans[inverse[rows]])
    for slot, (s_col, e_col, name) in enumerate(
        ((R_TRACE_S, R_TRACE_E, b"trace_id"), (R_SPAN_S, R_SPAN_E, b"span_id"), (R_EVENT_S, R_EVENT_E, b"event_name")),
        start=1,
    ):
        rows = np.flatnonzero(rec[:, e_col] > rec[:, s_col])
        if not len(rows):
            continue
        key = pieces.span(name)
        ids = rec[rows][:, [s_col, e_col]]
        if name != b"event_name":  # ids as lowercase hex
            ids = np.array([pieces.span(frame[s:e].hex().encode()) for s, e in ids.tolist()], np.int64)
        add(rows, slot, np.concatenate([np.broadcast_to(np.array(key, np.int64), ids.shape), ids], axis=1))

    width = 0
    if len(attrs):
        counts = rec[:, R_ATTR_1] - rec[:, R_ATTR_0]
        width = int(counts.max())
        a_row = np.repeat(np.arange(n, dtype=np.int64), counts)
        a_pos = np.arange(len(attrs), dtype=np.int64) - np.repeat(rec[:, R_ATTR_0], counts)
        key_id, keys = _distinct(body, attrs[:, A_KEY_S], attrs[:, A_KEY_E])
        # The name each attribute gets in its row: prefixed where its scope has it already.
        combo, inverse = _unique(rec_scope[a_row] * len(keys) + key_id)
        stored: dict[bytes, int] = {}
        final_of_combo = []
        needs_of_combo = []
        for c in combo.tolist():
            scope, name = scopes[c // len(keys)], keys[c % len(keys)].decode()
            final = otlp.ATTR_PREFIX + name if name in scope.taken else name
            needs = _needs(final, scope.host, scope.app)
            if needs is None or final in scope.tail_keys:
                return None
            final_of_combo.append(stored.setdefault(final.encode(), len(stored)))
            needs_of_combo.append(needs)
        if any(needs_of_combo) and bool((severity[a_row[np.array(needs_of_combo)[inverse]]] == NO_VALUE).any()):
            return None  # a field named for the severity column, in a row without one
        final_id = np.array(final_of_combo, np.int64)[inverse]
        order = np.sort(a_row * len(stored) + final_id)
        if bool((order[1:] == order[:-1]).any()):
            return None  # a name twice in one record: the general path keeps the last value
        key_span = np.array([pieces.span(k) for k in stored], np.int64).reshape(-1, 2)[final_id]
        kind = attrs[:, A_KIND]
        val = np.empty((len(attrs), 2), np.int64)
        is_str = kind == VALUE_STRING
        val[is_str] = attrs[is_str][:, [A_VAL_S, A_VAL_E]]
        where = np.flatnonzero(kind == VALUE_NONE)
        if len(where):  # an attribute without a value is a JSON null
            val[where] = pieces.span(b"null")
        where = np.flatnonzero(kind == VALUE_BOOL)
        if len(where):
            true, false = pieces.span(b"true"), pieces.span(b"false")
            val[where] = np.where(attrs[where, A_VAL_S, None] != 0, true, false)
        where = np.flatnonzero(kind == VALUE_INT)
        if len(where):
            val[where] = pieces.block(*decimals(attrs[where, A_VAL_S]))
        add(a_row, 4 + a_pos, np.concatenate([key_span, val], axis=1))

    for s_idx, scope in enumerate(scopes):
        if not scope.tail:
            continue
        rows = np.flatnonzero(rec_scope == s_idx)
        if not len(rows):
            continue
        tail = np.array([(*pieces.span(k), *pieces.span(v)) for k, v in scope.tail], np.int64)
        m = len(tail)
        slots = np.arange(4 + width, 4 + width + m, dtype=np.int64)
        add(np.repeat(rows, m), np.tile(slots, len(rows)), np.tile(tail, (len(rows), 1)))

    data = np.concatenate([body, np.frombuffer(b"".join(pieces.parts), np.uint8)]) if pieces.parts else body
    if f_row:
        rows = np.concatenate(f_row)
        spans = np.concatenate(f_spans)
        order = np.lexsort((np.concatenate(f_slot), rows))
        rows, spans = rows[order], spans[order]
        keys_packed = take_spans(data, spans[:, 0], spans[:, 1])
        values_packed = take_spans(data, spans[:, 2], spans[:, 3])
    else:
        rows = np.empty(0, np.int64)
        keys_packed = values_packed = (np.zeros(1, np.int64), np.empty(0, np.uint8))
    return OtlpRows(data, t, severity, columns[0], columns[1], message, rows, keys_packed, values_packed)


def warm_up_request() -> bytes:
    """A small request with every kind of part the shortcut takes, for kernel warm-ups."""
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    rl.resource.attributes.add(key="service.name").value.string_value = "warm-up"
    sl = rl.scope_logs.add()
    sl.scope.name = "warm-up"
    record = sl.log_records.add(time_unix_nano=NS_AS_INTEGER, severity_number=9, severity_text="INFO")
    record.body.string_value = "warm-up"
    record.attributes.add(key="n").value.int_value = -1
    record.attributes.add(key="b").value.bool_value = True
    record.trace_id = bytes(16)
    return request.SerializeToString()
