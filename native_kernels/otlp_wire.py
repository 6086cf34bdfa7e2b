"""A walk over an OTLP `ExportLogsServiceRequest` in protobuf wire format: its log records'
parts as spans of the body and numbers, for the parser to make rows of without JSON.

The walk takes the common shape only: record attribute values that are strings, integers or
booleans (or unset), a string body (or none), each message field at most once. Anything else
(doubles, arrays, kvlists, bytes values, a non-string body, a message field given twice, which
protobuf merges, a group) makes it give up with a status; the caller then takes the general
path (engine.push.otlp), which knows every case. Strings are not checked for UTF-8 here: the API
parsed the body with the protobuf library before it was accepted.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from native_kernels.jit import kernel
from native_kernels.protobuf_wire import length as _length
from native_kernels.protobuf_wire import skip as _skip
from native_kernels.protobuf_wire import tag as _tag
from native_kernels.protobuf_wire import varint as _varint
from native_kernels.protobuf_wire import WALK_DAMAGED, WALK_GENERAL, WALK_OK

# Attribute value kinds.
VALUE_NONE = 0
VALUE_STRING = 1
VALUE_BOOL = 2
VALUE_INT = 3

# Columns of `records` (int64 each).
R_SCOPE = 0  # index into scopes
R_TIME = 1  # time_unix_nano (fixed64, as int64: negative means 2**63 or later)
R_OBSERVED = 2
R_SEVERITY = 3  # severity_number as protobuf reads an enum (int32)
R_TEXT_S = 4  # severity_text span
R_TEXT_E = 5
R_BODY_S = 6  # string body span (-1: none)
R_BODY_E = 7
R_TRACE_S = 8
R_TRACE_E = 9
R_SPAN_S = 10
R_SPAN_E = 11
R_EVENT_S = 12
R_EVENT_E = 13
R_ATTR_0 = 14  # the record's attributes: attrs[R_ATTR_0:R_ATTR_1]
R_ATTR_1 = 15
R_SIZE = 16  # the record's bytes on the wire
RECORD_COLUMNS = 17

# Columns of `attrs`: key span, value kind, value span (string) or value (bool, int).
A_KEY_S = 0
A_KEY_E = 1
A_KIND = 2
A_VAL_S = 3
A_VAL_E = 4
ATTR_COLUMNS = 5

# Columns of `scopes`: the resource's index, and the Resource and InstrumentationScope messages
# as spans (-1: absent), each parsed by the caller (a handful per body).
S_RESOURCE = 0
S_RES_S = 1
S_RES_E = 2
S_SCOPE_S = 3
S_SCOPE_E = 4
SCOPE_COLUMNS = 5


class Walk(NamedTuple):
    """What `walk` found: `status` (WALK_*), and the tables above, cut to their rows."""

    status: int
    records: npt.NDArray[np.int64]
    attrs: npt.NDArray[np.int64]
    scopes: npt.NDArray[np.int64]


@kernel
def _fixed64(buf, pos):
    v = np.int64(0)
    for k in range(8):
        v |= np.int64(buf[pos + k]) << (8 * k)
    return v


@kernel
def _value(buf, pos, end, attrs, a):
    """AnyValue buf[pos:end] into attrs[a] (kind and value); returns a status."""
    seen = 0
    attrs[a, A_KIND] = VALUE_NONE
    while pos < end:
        field, wire, pos = _tag(buf, pos, end)
        if pos < 0:
            return WALK_DAMAGED
        seen += 1
        if field == 1 and wire == 2:
            ln, pos = _length(buf, pos, end)
            if pos < 0:
                return WALK_DAMAGED
            attrs[a, A_KIND] = VALUE_STRING
            attrs[a, A_VAL_S] = pos
            attrs[a, A_VAL_E] = pos + ln
            pos += ln
        elif (field == 2 or field == 3) and wire == 0:
            v, pos = _varint(buf, pos, end)
            if pos < 0:
                return WALK_DAMAGED
            attrs[a, A_KIND] = VALUE_BOOL if field == 2 else VALUE_INT
            attrs[a, A_VAL_S] = (v != 0) if field == 2 else v
        else:
            return WALK_GENERAL  # another kind of value (or a field of a newer schema)
    return WALK_OK if seen <= 1 else WALK_GENERAL


@kernel
def _key_value(buf, pos, end, attrs, a):
    """KeyValue buf[pos:end] into attrs[a]."""
    keys = values = 0
    attrs[a, A_KEY_S] = attrs[a, A_KEY_E] = pos
    attrs[a, A_KIND] = VALUE_NONE
    while pos < end:
        field, wire, pos = _tag(buf, pos, end)
        if pos < 0:
            return WALK_DAMAGED
        if wire == 2 and (field == 1 or field == 2):
            ln, pos = _length(buf, pos, end)
            if pos < 0:
                return WALK_DAMAGED
            if field == 1:
                keys += 1
                attrs[a, A_KEY_S] = pos
                attrs[a, A_KEY_E] = pos + ln
            else:
                values += 1
                status = _value(buf, pos, pos + ln, attrs, a)
                if status != WALK_OK:
                    return status
            pos += ln
        else:
            pos = _skip(buf, pos, end, wire)
            if pos < 0:
                return WALK_DAMAGED if pos == -1 else WALK_GENERAL
    return WALK_OK if keys <= 1 and values <= 1 else WALK_GENERAL


@kernel
def _record(buf, pos, end, rec, attrs, n_attrs):
    """LogRecord buf[pos:end] into rec (a row of records); returns (status, attributes used)."""
    for c in range(RECORD_COLUMNS):
        rec[c] = 0
    rec[R_BODY_S] = rec[R_BODY_E] = -1
    rec[R_ATTR_0] = rec[R_ATTR_1] = n_attrs
    rec[R_SIZE] = end - pos
    bodies = 0
    while pos < end:
        field, wire, pos = _tag(buf, pos, end)
        if pos < 0:
            return WALK_DAMAGED, n_attrs
        if (field == 1 or field == 11) and wire == 1:
            if pos + 8 > end:
                return WALK_DAMAGED, n_attrs
            rec[R_TIME if field == 1 else R_OBSERVED] = _fixed64(buf, pos)
            pos += 8
        elif field == 2 and wire == 0:
            v, pos = _varint(buf, pos, end)
            if pos < 0:
                return WALK_DAMAGED, n_attrs
            v &= 0xFFFFFFFF  # an enum is an int32
            rec[R_SEVERITY] = v - (1 << 32) if v >= (1 << 31) else v
        elif wire == 2 and (field == 3 or field == 5 or field == 6 or field == 9 or field == 10 or field == 12):
            ln, pos = _length(buf, pos, end)
            if pos < 0:
                return WALK_DAMAGED, n_attrs
            if field == 3:
                rec[R_TEXT_S], rec[R_TEXT_E] = pos, pos + ln
            elif field == 5:
                bodies += 1
                if bodies > 1 or _value(buf, pos, pos + ln, attrs, n_attrs) != WALK_OK:
                    return WALK_GENERAL, n_attrs
                kind = attrs[n_attrs, A_KIND]
                if kind == VALUE_STRING:
                    rec[R_BODY_S], rec[R_BODY_E] = attrs[n_attrs, A_VAL_S], attrs[n_attrs, A_VAL_E]
                elif kind != VALUE_NONE:
                    return WALK_GENERAL, n_attrs
            elif field == 6:
                status = _key_value(buf, pos, pos + ln, attrs, n_attrs)
                if status != WALK_OK:
                    return status, n_attrs
                n_attrs += 1
                rec[R_ATTR_1] = n_attrs
            elif field == 9:
                rec[R_TRACE_S], rec[R_TRACE_E] = pos, pos + ln
            elif field == 10:
                rec[R_SPAN_S], rec[R_SPAN_E] = pos, pos + ln
            else:
                rec[R_EVENT_S], rec[R_EVENT_E] = pos, pos + ln
            pos += ln
        else:
            pos = _skip(buf, pos, end, wire)
            if pos < 0:
                return (WALK_DAMAGED if pos == -1 else WALK_GENERAL), n_attrs
    return WALK_OK, n_attrs


@kernel
def _scope_logs(buf, pos, end, resource, scopes, n_scopes, records, n_records, attrs, n_attrs):
    """ScopeLogs buf[pos:end]; returns (status, records used, attributes used)."""
    scopes[n_scopes, S_RESOURCE] = resource
    scopes[n_scopes, S_SCOPE_S] = scopes[n_scopes, S_SCOPE_E] = -1
    seen = 0
    while pos < end:
        field, wire, pos = _tag(buf, pos, end)
        if pos < 0:
            return WALK_DAMAGED, n_records, n_attrs
        if wire == 2 and (field == 1 or field == 2):
            ln, pos = _length(buf, pos, end)
            if pos < 0:
                return WALK_DAMAGED, n_records, n_attrs
            if field == 1:
                seen += 1
                if seen > 1:
                    return WALK_GENERAL, n_records, n_attrs
                scopes[n_scopes, S_SCOPE_S], scopes[n_scopes, S_SCOPE_E] = pos, pos + ln
            else:
                status, n_attrs = _record(buf, pos, pos + ln, records[n_records], attrs, n_attrs)
                if status != WALK_OK:
                    return status, n_records, n_attrs
                records[n_records, R_SCOPE] = n_scopes
                n_records += 1
            pos += ln
        else:
            pos = _skip(buf, pos, end, wire)
            if pos < 0:
                return (WALK_DAMAGED if pos == -1 else WALK_GENERAL), n_records, n_attrs
    return WALK_OK, n_records, n_attrs


@kernel
def _walk(buf, records, attrs, scopes):
    """Returns (status, records, attributes, scopes) found."""
    end = buf.shape[0]
    pos = 0
    n_records = n_attrs = n_scopes = n_resources = 0
    while pos < end:
        field, wire, pos = _tag(buf, pos, end)
        if pos < 0:
            return WALK_DAMAGED, 0, 0, 0
        if not (field == 1 and wire == 2):
            pos = _skip(buf, pos, end, wire)
            if pos < 0:
                return (WALK_DAMAGED if pos == -1 else WALK_GENERAL), 0, 0, 0
            continue
        ln, pos = _length(buf, pos, end)
        if pos < 0:
            return WALK_DAMAGED, 0, 0, 0
        rl_end = pos + ln
        res_s = res_e = -1
        first_scope = n_scopes
        while pos < rl_end:  # ResourceLogs
            field, wire, pos = _tag(buf, pos, rl_end)
            if pos < 0:
                return WALK_DAMAGED, 0, 0, 0
            if wire == 2 and (field == 1 or field == 2):
                ln, pos = _length(buf, pos, rl_end)
                if pos < 0:
                    return WALK_DAMAGED, 0, 0, 0
                if field == 1:
                    if res_s >= 0:
                        return WALK_GENERAL, 0, 0, 0
                    res_s, res_e = pos, pos + ln
                else:
                    status, n_records, n_attrs = _scope_logs(
                        buf, pos, pos + ln, n_resources, scopes, n_scopes, records, n_records, attrs, n_attrs
                    )
                    if status != WALK_OK:
                        return status, 0, 0, 0
                    n_scopes += 1
                pos += ln
            else:
                pos = _skip(buf, pos, rl_end, wire)
                if pos < 0:
                    return (WALK_DAMAGED if pos == -1 else WALK_GENERAL), 0, 0, 0
        for s in range(first_scope, n_scopes):
            scopes[s, S_RES_S], scopes[s, S_RES_E] = res_s, res_e
        n_resources += 1
    return WALK_OK, n_records, n_attrs, n_scopes


def walk(body: npt.NDArray[np.uint8]) -> Walk:
    """The records of the ExportLogsServiceRequest in `body` (see the module docstring)."""
    # Every record, attribute and scope takes at least two bytes (a tag and a length).
    bound = len(body) // 2 + 1
    records = np.empty((bound, RECORD_COLUMNS), np.int64)
    attrs = np.empty((bound, ATTR_COLUMNS), np.int64)
    scopes = np.empty((bound, SCOPE_COLUMNS), np.int64)
    status, n_records, n_attrs, n_scopes = _walk(body, records, attrs, scopes)
    return Walk(int(status), records[:n_records], attrs[:n_attrs], scopes[:n_scopes])


@kernel
def _magnitude(v):
    """|v| as uint64 (INT64_MIN too)."""
    return np.uint64(v) if v >= 0 else np.uint64(-(v + 1)) + np.uint64(1)


@kernel
def _decimal_lengths(values, offsets):
    offsets[0] = 0
    ten = np.uint64(10)
    for i in range(values.shape[0]):
        m = _magnitude(values[i])
        digits = 1
        while m >= ten:
            m //= ten
            digits += 1
        offsets[i + 1] = offsets[i] + digits + (1 if values[i] < 0 else 0)


@kernel
def _decimal_write(values, offsets, out):
    ten = np.uint64(10)
    for i in range(values.shape[0]):
        m = _magnitude(values[i])
        pos = offsets[i + 1]
        while True:
            pos -= 1
            out[pos] = np.uint8(48 + m % ten)
            m //= ten
            if m == 0:
                break
        if values[i] < 0:
            out[pos - 1] = 45  # "-"


def decimals(values: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """(offsets, data): each integer's decimal text, as Python's `b"%d"` writes it."""
    values = np.ascontiguousarray(values, np.int64)
    offsets = np.empty(len(values) + 1, np.int64)
    _decimal_lengths(values, offsets)
    out = np.empty(int(offsets[-1]), np.uint8)
    _decimal_write(values, offsets, out)
    return offsets, out
