"""End to end: `POST /v1/logs` (OTLP/HTTP) on a real `logjet serve`, rows read back over the query API.

The real OpenTelemetry Python SDK and its OTLP/HTTP log exporter send through Python logging,
inside a span (so records carry trace and span ids), protobuf and gzipped; requests are also
built with `opentelemetry-proto` directly (every kind of attribute value) and in the OTLP JSON
mapping (hex ids, 64-bit integers as strings).
"""

from __future__ import annotations

import json
import time

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from tests.e2e.clients import metric, wait_written, worker_pids
from tests.e2e.push_clients import post, refused, rows_of

pytestmark = pytest.mark.e2e

LOGS = "/v1/logs"
PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}
BASE_NS = (time.time_ns() // 10**9 - 60) * 10**9 + 987_654_321


def test_the_opentelemetry_sdk_exporter(shared_engine):
    from opentelemetry._logs import SeverityNumber
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    resource = Resource.create({"service.name": "otel-sdk", "host.name": "node-7", "deployment.environment": "test"})
    provider = LoggerProvider(resource=resource)
    exporter = OTLPLogExporter(endpoint=shared_engine.url + LOGS, compression=Compression.Gzip)
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    logger = provider.get_logger("test_push_otlp.sdk")
    tracer = TracerProvider(resource=resource).get_tracer("test")
    levels = ((SeverityNumber.INFO, "INFO"), (SeverityNumber.WARN, "WARN"), (SeverityNumber.ERROR, "ERROR"))
    try:
        with tracer.start_as_current_span("checkout") as span:
            for i in range(20):
                number, text = levels[i % 3]
                logger.emit(
                    severity_number=number, severity_text=text, body=f"order {i:02d} placed", attributes={"order.id": i}
                )
            ids = span.get_span_context()
        assert provider.force_flush(10_000)
    finally:
        provider.shutdown()
    rows = rows_of(shared_engine, "app:otel-sdk", 20)
    for i, row in enumerate(rows):
        assert row["message"] == f"order {i:02d} placed"
        assert (row["host"], row["app"], row["severity"]) == ("node-7", "otel-sdk", (6, 4, 3)[i % 3])
        fields = row["fields"]
        assert fields["trace_id"] == f"{ids.trace_id:032x}" and fields["span_id"] == f"{ids.span_id:016x}"
        assert fields["order.id"] == str(i)
        assert fields["deployment.environment"] == "test"
        # service.name and host.name are the app and host columns; standard severity texts
        # only repeat the severity: neither is stored again as a field.
        assert "service.name" not in fields and "host.name" not in fields and "severity_text" not in fields
        assert fields["scope.name"] == "test_push_otlp.sdk"
    assert metric(shared_engine.url, "logjet_received_messages_total", protocol="otlp") >= 20


def _request(app: str) -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    for key, value in (("service.name", app), ("host.name", "pb-host")):
        rl.resource.attributes.add(key=key).value.string_value = value
    sl = rl.scope_logs.add()
    sl.scope.name, sl.scope.version = "pb.scope", "1.2"
    for i in range(10):
        r = sl.log_records.add(time_unix_nano=BASE_NS + i, severity_number=17, severity_text="ERROR")
        if i == 9:
            r.severity_text = "E_BAD"  # not the number's level name: kept
        r.body.string_value = f"pb record {i}"
        r.trace_id, r.span_id = bytes(range(16)), bytes(range(8))
        r.attributes.add(key="int").value.int_value = -(2**62)
        r.attributes.add(key="float").value.double_value = 1.5
        r.attributes.add(key="flag").value.bool_value = True
        r.attributes.add(key="raw").value.bytes_value = b"\x00\xff"
        r.attributes.add(key="list").value.array_value.values.add().string_value = "a"
        kv = r.attributes.add(key="http").value.kvlist_value.values.add(key="status")
        kv.value.int_value = 503
        r.attributes.add(key="host.name").value.string_value = "record-level"
    # A record with no time (observed time is used), a map body and no severity number.
    r = sl.log_records.add(observed_time_unix_nano=BASE_NS + 50, severity_text="warning")
    r.body.kvlist_value.values.add(key="event").value.string_value = "login"
    return req


def test_protobuf_request_every_attribute_kind(shared_engine):
    status, body, headers = post(shared_engine.url + LOGS, _request("otel-pb").SerializeToString(), PROTOBUF)
    assert (status, body, headers["Content-Type"]) == (200, b"", "application/x-protobuf")
    rows = rows_of(shared_engine, "app:otel-pb", 11)
    assert rows[9]["fields"].pop("severity_text") == "E_BAD"
    for i, row in enumerate(rows[:10]):
        assert row["message"] == f"pb record {i}" and row["severity"] == 3 and row["host"] == "pb-host"
        assert row["fields"] == {
            "int": str(-(2**62)),
            "float": "1.5",
            "flag": "true",
            "raw": "AP8=",
            "list": '["a"]',
            "http.status": "503",
            "host.name": "record-level",
            "scope.name": "pb.scope",
            "scope.version": "1.2",
            "trace_id": "000102030405060708090a0b0c0d0e0f",
            "span_id": "0001020304050607",
        }
    last = rows[10]
    assert json.loads(last["message"]) == {"event": "login"} and last["severity"] == 4
    assert last["_time"].endswith(".987654371Z")
    # Content-Type without the x- is protobuf too.
    other = {"Content-Type": "application/protobuf"}
    assert post(shared_engine.url + LOGS, _request("otel-pb2").SerializeToString(), other)[0] == 200
    rows_of(shared_engine, "app:otel-pb2", 11)


def test_json_request_hex_ids_and_string_integers(shared_engine):
    record = {
        "timeUnixNano": str(BASE_NS),
        "severityNumber": 9,
        "severityText": "INFO",
        "body": {"stringValue": "json record"},
        "traceId": "5B8EFFF798038103D269B633813FC60C",
        "spanId": "EEE19B7EC3C1B174",
        "attributes": [
            {"key": "big", "value": {"intValue": "9007199254740993"}},
            {"key": "nested", "value": {"kvlistValue": {"values": [{"key": "a", "value": {"boolValue": False}}]}}},
        ],
    }
    body = {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "otel-json"}}]},
                "scopeLogs": [{"scope": {"name": "json.scope"}, "logRecords": [record]}],
            }
        ]
    }
    status, answer, headers = post(shared_engine.url + LOGS, json.dumps(body).encode(), JSON)
    assert (status, json.loads(answer), headers["Content-Type"]) == (200, {}, "application/json")
    [row] = rows_of(shared_engine, "app:otel-json", 1)
    assert row["message"] == "json record" and row["severity"] == 6 and row["_time"].endswith(".987654321Z")
    assert row["fields"]["trace_id"] == "5b8efff798038103d269b633813fc60c"
    assert row["fields"]["span_id"] == "eee19b7ec3c1b174"
    assert row["fields"]["big"] == "9007199254740993" and row["fields"]["nested.a"] == "false"


def test_bad_requests_are_400s_and_415s_counted(shared_engine):
    url = shared_engine.url
    assert "ExportLogsServiceRequest" in refused(url, LOGS, b"\xff\xff\xff", PROTOBUF, 400, "bad_protobuf")
    assert "OTLP JSON" in refused(url, LOGS, b'{"resourceLogs": 5}', JSON, 400, "bad_json")
    bad_id = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "xyz", "body": {"stringValue": "x"}}]}]}]}
    error = refused(url, LOGS, json.dumps(bad_id).encode(), JSON, 400, "bad_json")
    assert "resourceLogs[0].scopeLogs[0].logRecords[0]" in error and "traceId" in error
    bad_int = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"timeUnixNano": "soon"}]}]}]}
    refused(url, LOGS, json.dumps(bad_int).encode(), JSON, 400, "bad_json")
    refused(url, LOGS, b"x", {"Content-Type": "text/plain"}, 415, "bad_content_type")
    # gzip the server cannot inflate
    gz = PROTOBUF | {"Content-Encoding": "gzip"}
    refused(url, LOGS, b"not gzip", gz, 400, "bad_encoding")
    assert rows_of(shared_engine, "app:otel-never", 0, timeout=0.5) == []


def test_many_empty_records_under_a_wide_resource_are_stored_in_batches(shared_engine):
    # 30,000 empty records are a small body, but each row carries the resource's ten long
    # attributes: as one column batch they would pass what the column ring takes, so the API
    # sends the request as frames, in as many batches as they need, and the parsers carry on.
    url = shared_engine.url
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.add(key="service.name").value.string_value = "otel-wide"
    for i in range(10):
        rl.resource.attributes.add(key=f"wide{i}").value.string_value = "v" * 50
    sl = rl.scope_logs.add()
    for _ in range(30_000):
        sl.log_records.add()
    parsers = worker_pids(shared_engine, "parser")
    before = metric(url, "logjet_written_rows_total")
    assert post(url + LOGS, req.SerializeToString(), PROTOBUF)[0] == 200
    assert wait_written(url, before + 30_000) >= before + 30_000
    assert worker_pids(shared_engine, "parser") == parsers


def test_collector_sized_requests_go_to_the_parsers(shared_engine):
    # The OpenTelemetry Collector's batch processor sends 8,192 records: past what a parser
    # takes whole, so the API cuts it into pieces that each go to a parser, rather than decoding
    # it itself; so is a request of 4 MB. A JSON request is decoded in the API.
    url = shared_engine.url
    sent = {}
    for app, n, pad in (("otel-collector", 8192, 120), ("otel-huge", 9000, 400)):
        req = ExportLogsServiceRequest()
        rl = req.resource_logs.add()
        rl.resource.attributes.add(key="service.name").value.string_value = app
        sl = rl.scope_logs.add()
        for i in range(n):
            rec = sl.log_records.add(time_unix_nano=BASE_NS + i, severity_number=9)
            rec.body.string_value = f"collector record {i:05d} " + "p" * pad
            rec.attributes.add(key="i").value.int_value = i
        sent[app] = body = req.SerializeToString()
        assert len(body) > 1 << 20
    assert len(sent["otel-huge"]) > 3 << 20
    for app in sent:
        before = metric(url, "logjet_push_requests_total", route=LOGS, decoded_by="parser")
        assert post(url + LOGS, sent[app], PROTOBUF)[0] == 200
        assert metric(url, "logjet_push_requests_total", route=LOGS, decoded_by="parser") == before + 1
    before = metric(url, "logjet_push_requests_total", route=LOGS, decoded_by="api")
    one = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"stringValue": "json record"}}]}]}]}
    assert post(url + LOGS, json.dumps(one).encode(), JSON)[0] == 200
    assert metric(url, "logjet_push_requests_total", route=LOGS, decoded_by="api") == before + 1
    rows = rows_of(shared_engine, "app:otel-collector", 8192, timeout=60)
    assert [r["message"][:22] for r in rows] == [f"collector record {i:05d}" for i in range(8192)]
    assert {r["fields"]["i"] for r in rows[:3]} == {"0", "1", "2"}
    assert len(rows_of(shared_engine, "app:otel-huge", 9000, timeout=60)) == 9000
