"""Request bodies for the push protocols of `logjet bench ingest --proto loki|otlp`, built before timing.

The pool holds NDJSON records (`generate.render_json`: time, host, app, level, pid, msg); a body
is one request of up to `send.HTTP_BATCH` of them, shaped as the shippers send them:

    loki   a PushRequest (Loki's push.proto), snappy-compressed as Promtail and Alloy send it:
           one stream per app (8 in the synthetic data: "about ten streams per push"), labels
           {app, env}, each entry's host and level as structured metadata, its msg the line
    otlp   an ExportLogsServiceRequest (protobuf, uncompressed, the OTLP/HTTP exporter's
           default): one resource per app (service.name, host.name), one scope, each record's
           level as severity number and text, body the msg, attributes host and pid
"""

from __future__ import annotations

import time

import cramjam
import msgspec

PROTOS = ("loki", "otlp")
PATHS = {"loki": "/loki/api/v1/push", "otlp": "/v1/logs"}
CONTENT_TYPES = {"loki": "application/x-protobuf", "otlp": "application/x-protobuf"}
# Syslog-style level names → OTLP severity numbers (the first of each level's four).
_SEVERITY = {"emerg": 21, "alert": 21, "crit": 21, "err": 17, "error": 17, "warning": 13, "warn": 13}
_SEVERITY |= {"notice": 10, "info": 9, "debug": 5}
_decode = msgspec.json.Decoder().decode


def _records(lines: list[bytes]) -> dict[str, list[dict]]:
    """The records of NDJSON `lines`, grouped by app in order of first appearance."""
    by_app: dict[str, list[dict]] = {}
    for line in lines:
        record = _decode(line)
        by_app.setdefault(str(record.get("app", "")), []).append(record)
    return by_app


def loki_body(lines: list[bytes], now_ns: int) -> bytes:
    from engine.push.proto import push_pb2

    request = push_pb2.PushRequest()
    k = 0
    for app, records in _records(lines).items():
        stream = request.streams.add(labels=f'{{app="{app}", env="bench"}}')
        for r in records:
            entry = stream.entries.add(line=str(r.get("msg", "")))
            entry.timestamp.seconds, entry.timestamp.nanos = divmod(now_ns + k, 10**9)
            k += 1
            for name in ("host", "level"):
                if name in r:
                    entry.structuredMetadata.add(name=name, value=str(r[name]))
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


def otlp_body(lines: list[bytes], now_ns: int) -> bytes:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    request = ExportLogsServiceRequest()
    k = 0
    for app, records in _records(lines).items():
        rl = request.resource_logs.add()
        rl.resource.attributes.add(key="service.name").value.string_value = app
        rl.resource.attributes.add(key="host.name").value.string_value = "bench-node"
        sl = rl.scope_logs.add()
        sl.scope.name = "bench"
        for r in records:
            level = str(r.get("level", ""))
            log = sl.log_records.add(
                time_unix_nano=now_ns + k, severity_number=_SEVERITY.get(level, 0), severity_text=level
            )
            k += 1
            log.body.string_value = str(r.get("msg", ""))
            log.attributes.add(key="host").value.string_value = str(r.get("host", ""))
            log.attributes.add(key="pid").value.int_value = int(r.get("pid", 0))
    return request.SerializeToString()


def body(proto: str, framed: bytes) -> bytes:
    """The `proto` request body of the newline-framed NDJSON records in `framed`."""
    lines = [line for line in framed.split(b"\n") if line]
    build = loki_body if proto == "loki" else otlp_body
    return build(lines, time.time_ns())
