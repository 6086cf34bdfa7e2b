"""OTLP/HTTP log bodies (`POST /v1/logs`), protobuf or JSON, to row frames.

Protobuf is `ExportLogsServiceRequest` from the `opentelemetry-proto` package; JSON is its
OTLP JSON mapping (lowerCamelCase names, 64-bit integers as strings, trace and span ids as
hex, bytes as base64), decoded by msgspec into the structs below. Each log record becomes a
row:

    body                               message (a non-string body as its JSON text)
    time_unix_nano                     time (0: observed_time_unix_nano; both 0: receive time)
    resource service.name              app
    resource host.name                 host
    severity_number 1-24               severity: TRACE/DEBUG 7, INFO 6, WARN 4, ERROR 3, FATAL 2
                                       (none: severity_text, read as a level name)
    severity_text                      a field, unless it only names the number's level
                                       (INFO for 9, WARN2 for 14, WARNING, CRITICAL for FATAL)
    event_name                         a field
    trace_id, span_id                  fields, as lowercase hex
    resource, scope and record         fields: resource, then scope (`scope.name`,
      attributes                       `scope.version`, its attributes), then the record's;
                                       kvlists flatten to `a.b`, arrays are kept as JSON text

A protobuf body of the common shape is not decoded here but by a parser, straight to the same
rows (engine.parse.otlp_rows, held to these frames by its tests); see `parser_check`.

A record attribute whose name a resource or scope attribute already has is kept as
`attr.<name>`, so neither value is lost. What only repeats a column (service.name, host.name,
the standard severity text) is not stored again as a field: every field costs the parser and
the store about as much as the rest of the row.
"""

from __future__ import annotations

import base64
import time
from typing import Any, Iterable

import msgspec
import numpy as np
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.logs.v1.logs_pb2 import SeverityNumber
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from engine.push.bodies import PushRefused, parse_protobuf
from engine.push.rows import (
    BODY_GROWTH,
    NS_AS_INTEGER,
    Frames,
    Shared,
    encode_text,
    encode_value,
    frames_bytes,
    none_cut,
    pairs_json,
    time_json,
)
from native_kernels.otlp_wire import R_SCOPE, R_SIZE, S_RES_E, S_RES_S, S_SCOPE_E, S_SCOPE_S, walk
from native_kernels.protobuf_wire import WALK_OK

REQUEST = "an OTLP ExportLogsServiceRequest"  # what a body that is none is not, in a refusal
ATTR_PREFIX = "attr."
# Keys a record sets on its own, after the shared ones: a shared attribute of the same name is
# renamed rather than duplicated.
_COLUMN_ATTRS = frozenset({"host.name", "service.name"})
_OWN_KEYS = frozenset({"severity", "severity_text", "event_name", "trace_id", "span_id"})
# OTLP severity numbers (1-24, four per level) → syslog severities; 0 is "unspecified".
_SEVERITY = (None, *[7] * 8, *[6] * 4, *[4] * 4, *[3] * 4, *[2] * 4)
# The severity texts that only name a number's level (the spec's short names, with the 2-4
# suffix for the band's later numbers, and what Python logging calls WARN and FATAL).
_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
_ALIASES = {"WARN": ("WARNING",), "FATAL": ("CRITICAL",)}
_PLAIN_TEXTS: tuple[frozenset[str], ...] = (
    frozenset(),
    *(
        frozenset({level, f"{level}{n - 4 * k}" if n > 4 * k + 1 else level, *_ALIASES.get(level, ())})
        for k, level in enumerate(_LEVELS)
        for n in range(4 * k + 1, 4 * k + 5)
    ),
)


def severity_json(number: int, text: str) -> bytes:
    """The record's `,"severity":...` and `,"severity_text":...` pieces."""
    mapped = _SEVERITY[number] if 0 <= number < len(_SEVERITY) else None
    if mapped is not None:
        plain = not text or text.upper() in _PLAIN_TEXTS[number]
        return b',"severity":%d' % mapped + (b"" if plain else b',"severity_text":' + encode_text(text))
    # No number: the text is the level (the row decoder reads names; one it does not know
    # stays a field named severity).
    return b',"severity":' + encode_text(text) if text else b""


def _ids_json(trace_id: str, span_id: str, event_name: str) -> bytes:
    out = b""
    if trace_id:
        out += b',"trace_id":"' + trace_id.encode() + b'"'
    if span_id:
        out += b',"span_id":"' + span_id.encode() + b'"'
    if event_name:
        out += b',"event_name":' + encode_text(event_name)
    return out


def shared_of(resource: dict[str, Any], scope_name: str, scope_version: str, scope: dict[str, Any]) -> Shared:
    """What every record of one scope carries: host and app, resource and scope fields."""
    host, app = resource.get("host.name"), resource.get("service.name")
    columns = {"host": host if type(host) is str else None, "app": app if type(app) is str else None}
    # Used as columns, they are not fields as well (see the module docstring).
    fields = {k: v for k, v in resource.items() if not (k in _COLUMN_ATTRS and type(v) is str)}
    if scope_name:
        fields["scope.name"] = scope_name
    if scope_version:
        fields["scope.version"] = scope_version
    for key, value in scope.items():
        fields.setdefault(key, value)
    return Shared(columns, fields, ATTR_PREFIX, _OWN_KEYS)


# --- protobuf ---------------------------------------------------------------------------------


def parser_check(body: bytes, max_len: int) -> tuple[int, int] | None:
    """(records, the most bytes their frames take: `rows.frames_bytes`) of the protobuf request
    `body`, when a parser can make its rows from the body itself (engine.parse.otlp_rows): it
    has the shape the wire walk takes and no record's frame could reach `max_len` (so none is
    cut); None: decode it into frames here."""
    w = walk(np.frombuffer(body, np.uint8))
    if w.status != WALK_OK or not len(w.records):
        return None
    shared = w.scopes[:, S_RES_E] - w.scopes[:, S_RES_S] + w.scopes[:, S_SCOPE_E] - w.scopes[:, S_SCOPE_S]
    record_shared = shared[w.records[:, R_SCOPE]]
    worst = int((w.records[:, R_SIZE] + record_shared).max())
    if not none_cut(worst, max_len):
        return None
    # A shared piece's frame bytes are at most BODY_GROWTH times its wire bytes, as a record's.
    repeated = BODY_GROWTH * int(record_shared.sum())
    return len(w.records), frames_bytes(len(w.records), repeated, len(body))


def _pb_value(v: Any) -> Any:
    """An AnyValue as a Python value."""
    kind = v.WhichOneof("value")
    if kind == "string_value":
        return v.string_value
    if kind == "int_value":
        return v.int_value
    if kind == "bool_value":
        return v.bool_value
    if kind == "double_value":
        return v.double_value
    if kind == "kvlist_value":
        return {kv.key: _pb_value(kv.value) for kv in v.kvlist_value.values}
    if kind == "array_value":
        return [_pb_value(x) for x in v.array_value.values]
    if kind == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    return None


def _pb_attrs(attributes: Iterable[Any]) -> dict[str, Any]:
    return {kv.key: _pb_value(kv.value) for kv in attributes}


def resource_attributes(message: bytes) -> dict[str, Any]:
    """The attributes of a serialized Resource."""
    return _pb_attrs(Resource.FromString(message).attributes)


def scope_parts(message: bytes) -> tuple[str, str, dict[str, Any]]:
    """Name, version and attributes of a serialized InstrumentationScope."""
    scope = InstrumentationScope.FromString(message)
    return scope.name, scope.version, _pb_attrs(scope.attributes)


def protobuf(body: bytes, now: int | None = None) -> Frames:
    """An ExportLogsServiceRequest as frames; `now` (ns) is the time of records without one
    (None: the clock's)."""
    request = parse_protobuf(ExportLogsServiceRequest(), body, REQUEST)
    frames = Frames()
    # The per-record loop is the route's cost: Frames.add is inlined, severities are encoded
    # once per (number, text).
    append, join, enc = frames.items.append, b"".join, encode_text
    severities: dict[tuple[int, str], bytes] = {}
    now = time.time_ns() if now is None else now
    for rl in request.resource_logs:
        resource = _pb_attrs(rl.resource.attributes)
        for sl in rl.scope_logs:
            scope = sl.scope
            shared = shared_of(resource, scope.name, scope.version, _pb_attrs(scope.attributes))
            taken, head, tail = shared.taken, shared.head, shared.tail
            for r in sl.log_records:
                ns = r.time_unix_nano or r.observed_time_unix_nano or now
                line = r.body
                if line.WhichOneof("value") == "string_value":
                    message = enc(line.string_value)
                else:
                    message = _message_json(_pb_value(line))
                key = (r.severity_number, r.severity_text)
                severity = severities.get(key)
                if severity is None:
                    severity = severities[key] = severity_json(*key)
                trace, span, event = r.trace_id, r.span_id, r.event_name
                own = _ids_json(trace.hex(), span.hex(), event) if trace or span or event else b""
                if r.attributes:
                    own += pairs_json(_pb_attrs(r.attributes), taken, ATTR_PREFIX)
                stamp = b"%d" % ns if ns >= NS_AS_INTEGER else time_json(ns)
                append(join((b'{"time":', stamp, b',"message":', message, head, severity, own, tail)))
    return frames


def _message_json(value: Any) -> bytes:
    # No body at all is an empty message, not the text "null".
    return b'""' if value is None else encode_value(value)


# --- JSON -------------------------------------------------------------------------------------


class _KeyValue(msgspec.Struct):
    key: str
    value: _AnyValue | None = None


class _KvList(msgspec.Struct):
    values: list[_KeyValue] = []


class _Array(msgspec.Struct):
    values: list[_AnyValue] = []


class _AnyValue(msgspec.Struct, rename="camel"):
    string_value: str | None = None
    bool_value: bool | None = None
    int_value: int | str | None = None
    double_value: float | str | None = None
    array_value: _Array | None = None
    kvlist_value: _KvList | None = None
    bytes_value: str | None = None


class _Resource(msgspec.Struct):
    attributes: list[_KeyValue] = []


class _Scope(msgspec.Struct):
    name: str = ""
    version: str = ""
    attributes: list[_KeyValue] = []


class _LogRecord(msgspec.Struct, rename="camel"):
    time_unix_nano: int | str = 0
    observed_time_unix_nano: int | str = 0
    severity_number: int | str = 0  # the enum's number, or its name as protobuf's JSON allows
    severity_text: str = ""
    body: _AnyValue | None = None
    attributes: list[_KeyValue] = []
    trace_id: str = ""
    span_id: str = ""
    event_name: str = ""


class _ScopeLogs(msgspec.Struct, rename="camel"):
    scope: _Scope | None = None
    log_records: list[_LogRecord] = []


class _ResourceLogs(msgspec.Struct, rename="camel"):
    resource: _Resource | None = None
    scope_logs: list[_ScopeLogs] = []


class _Request(msgspec.Struct, rename="camel"):
    resource_logs: list[_ResourceLogs] = []


_json_request = msgspec.json.Decoder(_Request)
_HEX = frozenset("0123456789abcdef")


def _json_value(v: _AnyValue | None) -> Any:
    """An OTLP JSON AnyValue as a Python value; ValueError for a malformed one."""
    if v is None:
        return None
    if v.string_value is not None:
        return v.string_value
    if v.int_value is not None:
        return int(v.int_value)
    if v.bool_value is not None:
        return v.bool_value
    if v.double_value is not None:
        return float(v.double_value)
    if v.kvlist_value is not None:
        return {kv.key: _json_value(kv.value) for kv in v.kvlist_value.values}
    if v.array_value is not None:
        return [_json_value(x) for x in v.array_value.values]
    if v.bytes_value is not None:
        base64.b64decode(v.bytes_value, validate=True)  # binascii.Error is a ValueError
        return v.bytes_value
    return None


def _json_attrs(attributes: list[_KeyValue]) -> dict[str, Any]:
    return {kv.key: _json_value(kv.value) for kv in attributes}


def _hex_id(text: str, size: int, name: str) -> str:
    text = text.lower()
    if text and (len(text) != 2 * size or not _HEX.issuperset(text)):
        raise ValueError(f"{name} {text!r} is not {size} bytes of hex")
    return text


def _uint64(value: int | str) -> int:
    n = int(value)
    if not 0 <= n < 2**64:
        raise ValueError(f"{value!r} is not an unsigned 64-bit integer")
    return n


def json(body: bytes) -> Frames:
    """An OTLP JSON ExportLogsServiceRequest as frames."""
    try:
        request = _json_request.decode(body)
    except msgspec.DecodeError as exc:
        raise PushRefused(400, "bad_json", f"the body is not an OTLP JSON logs request: {exc}") from None
    frames = Frames()
    now = time.time_ns()
    for i, rl in enumerate(request.resource_logs):
        for j, sl in enumerate(rl.scope_logs):
            where = f"resourceLogs[{i}].scopeLogs[{j}]"
            try:
                resource = _json_attrs(rl.resource.attributes) if rl.resource else {}
                scope = sl.scope or _Scope()
                shared = shared_of(resource, scope.name, scope.version, _json_attrs(scope.attributes))
            except ValueError as exc:
                raise PushRefused(400, "bad_json", f"{where}: an attribute's value is malformed: {exc}") from None
            for k, r in enumerate(sl.log_records):
                try:
                    frames.add(*_json_record(r, shared, now))
                except ValueError as exc:
                    raise PushRefused(400, "bad_json", f"{where}.logRecords[{k}]: {exc}") from None
    return frames


def _json_record(r: _LogRecord, shared: Shared, now: int) -> tuple[int, bytes, Shared, bytes]:
    ns = _uint64(r.time_unix_nano) or _uint64(r.observed_time_unix_nano) or now
    if ns >= 2**63:
        raise ValueError(f"time {ns} is past the year 2262")
    line = r.body
    if line is not None and line.string_value is not None:
        message = encode_text(line.string_value)
    else:
        message = _message_json(_json_value(line))
    # ValueError names an unknown enum name
    number = SeverityNumber.Value(r.severity_number) if isinstance(r.severity_number, str) else r.severity_number
    own = severity_json(number, r.severity_text) + _ids_json(
        _hex_id(r.trace_id, 16, "traceId"), _hex_id(r.span_id, 8, "spanId"), r.event_name
    )
    if r.attributes:
        own += pairs_json(_json_attrs(r.attributes), shared.taken, ATTR_PREFIX)
    return ns, message, shared, own
