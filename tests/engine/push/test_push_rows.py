"""Push bodies → frames → the parser's own JSON row decoder: what each entry becomes, in process.

Loki bodies are built from push.proto and OTLP ones from opentelemetry-proto by the protobuf
library; the frames are read back by `engine.parse.json_rows.decode_json_rows`, the code the
parser workers run, so these check the columns a row will get without starting an engine.
"""

from __future__ import annotations

import gzip
import json
import zlib

import cramjam
import numpy as np
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from engine.errors import LogjetError
from engine.parse.json_rows import decode_json_rows
from engine.push import otlp
from engine.push.bodies import PushRefused, inflate, unsnappy
from engine.push.loki import LokiDecoder, parse_labels, parser_takes
from engine.push.proto import push_pb2
from engine.ipc.raw_batch import FRAME_OVERHEAD
from engine.push.rows import Frames, frames_bytes
from native_kernels.framing import TRUNCATED

NS = 1_764_700_000_123_456_789


def _rows(frames: Frames):
    buf, starts, ends, flags = frames.packed(1 << 20)
    assert not flags.any()
    rows = decode_json_rows(buf, starts, ends, 0)
    assert rows.ok.all()
    fields: list[dict[bytes, bytes]] = [{} for _ in range(len(starts))]
    for r, k, v in zip(rows.field_row.tolist(), rows.field_key, rows.field_value):
        fields[r][k] = v
    return rows, fields


def test_labels_text_with_escapes():
    assert parse_labels(r'{job="a\"b", path="C:\\x", multi="l1\nl2",  empty=""}') == {
        "job": 'a"b',
        "path": "C:\\x",
        "multi": "l1\nl2",
        "empty": "",
    }
    assert parse_labels("{}") == {}
    for bad in ('job="x"', "{job=x}", '{job="x" host="y"}', '{="x"}', '{job="x"'):
        with pytest.raises(PushRefused) as exc:
            parse_labels(bad)
        assert exc.value.status == 400 and exc.value.reason == "bad_labels"
        assert isinstance(exc.value, LogjetError)


def test_loki_entries_become_rows_with_columns_and_fields():
    req = push_pb2.PushRequest()
    stream = req.streams.add(labels='{instance="10.0.0.5:9100", service_name="api", detected_level="error", time="t"}')
    e = stream.entries.add(line="boom")
    e.timestamp.seconds, e.timestamp.nanos = divmod(NS, 10**9)
    e.structuredMetadata.add(name="trace_id", value="abc")
    e.structuredMetadata.add(name="instance", value="dup")
    stream.entries.add(line="no time")  # timestamp 0: the receive time
    rows, fields = _rows(LokiDecoder().protobuf(req.SerializeToString()))
    assert rows.time_ns[0] == NS and rows.time_ns[1] > NS
    assert rows.host == [b"10.0.0.5:9100"] * 2 and rows.app == [b"api"] * 2
    assert rows.severity.tolist() == [3, 3] and rows.message == [b"boom", b"no time"]
    assert fields[0] == {
        b"trace_id": b"abc",
        b"metadata.instance": b"dup",
        b"instance": b"10.0.0.5:9100",
        b"service_name": b"api",
        b"detected_level": b"error",
        b"label.time": b"t",
    }


def test_times_before_1973_are_not_misread_as_microseconds():
    frames = LokiDecoder().json(b'{"streams": [{"stream": {}, "values": [["86400000000001", "a day in"]]}]}')
    rows, _ = _rows(frames)
    assert rows.time_ns.tolist() == [86_400_000_000_001]


def test_otlp_severities_bodies_and_ids():
    req = ExportLogsServiceRequest()
    sl = req.resource_logs.add().scope_logs.add()
    for number in (1, 5, 9, 13, 17, 21, 24):
        r = sl.log_records.add(time_unix_nano=NS, severity_number=number)
        r.body.string_value = str(number)
    r = sl.log_records.add(severity_text="Warning", span_id=b"\x01" * 8)
    r.body.array_value.values.add().int_value = 7
    sl.log_records.add(severity_number=99, severity_text="notaname")  # out of range, unknown text
    rows, fields = _rows(otlp.protobuf(req.SerializeToString()))
    assert rows.severity.tolist()[:8] == [7, 7, 6, 4, 3, 2, 2, 4]
    assert rows.message[7] == b"[7]" and rows.message[8] == b""
    assert fields[7] == {b"span_id": b"01" * 8}
    assert rows.severity[8] == 255 and fields[8] == {b"severity": b"notaname"}


def test_snappy_and_encodings():
    data = b"x" * 1000
    assert unsnappy(bytes(cramjam.snappy.compress_raw(data)), 1000) == data
    with pytest.raises(PushRefused) as exc:
        unsnappy(bytes(cramjam.snappy.compress_raw(data)), 999)  # told by the header, nothing unpacked
    assert (exc.value.status, exc.value.reason) == (413, "too_large")
    for bad in (b"", b"\xff" * 11, b"\x05abc"):
        with pytest.raises(PushRefused) as exc:
            unsnappy(bad, 1000)
        assert exc.value.status == 400
    assert inflate(gzip.compress(data), "gzip", 1000) == data and inflate(zlib.compress(data), "deflate", 1000) == data
    with pytest.raises(PushRefused) as exc:
        inflate(gzip.compress(data), "gzip", 999)  # one byte over once inflated
    assert (exc.value.status, exc.value.reason) == (413, "too_large")
    with pytest.raises(PushRefused) as exc:
        inflate(zlib.compress(data)[:-6], "deflate", 1000)
    assert (exc.value.status, exc.value.reason) == (400, "bad_encoding")
    assert inflate(bytes(cramjam.snappy.compress_raw(data)), "snappy", 1000) == data
    with pytest.raises(PushRefused) as exc:
        inflate(b"", "lzma", 10)
    assert exc.value.status == 415


def test_an_entry_longer_than_max_message_bytes_is_cut_and_flagged():
    body = b'{"streams": [{"stream": {}, "values": [["0", "short"], ["0", "%s"]]}]}' % (b"y" * 500)
    frames = LokiDecoder().json(body)
    buf, starts, ends, flags = frames.packed(100)
    assert (ends - starts).tolist() == [len(frames.items[0]), 100]
    assert flags.tolist() == [0, TRUNCATED]
    assert np.frombuffer(buf, np.uint8)[starts[1]] == ord("{")


def test_otlp_json_severity_as_a_number_or_its_enum_name():
    records = [{"severityNumber": 17}, {"severityNumber": "SEVERITY_NUMBER_WARN"}, {"body": {"intValue": "5"}}]
    body = {"resourceLogs": [{"scopeLogs": [{"logRecords": records}]}]}
    rows, _ = _rows(otlp.json(json.dumps(body).encode()))
    assert rows.severity.tolist() == [3, 4, 255] and rows.message[2] == b"5"
    records[1]["severityNumber"] = "SEVERITY_NUMBER_LOUD"
    with pytest.raises(PushRefused) as exc:
        otlp.json(json.dumps(body).encode())
    assert exc.value.status == 400 and "logRecords[1]" in str(exc.value)


def test_a_request_goes_whole_only_when_its_frames_fit_one_raw_batch():
    # Each of 5,000 empty records carries the resource's 500 bytes of attributes: frames of
    # 2.5 MB from a 10 KB body, more than a raw batch of 1 MiB holds.
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    for i in range(10):
        rl.resource.attributes.add(key=f"wide{i}").value.string_value = "v" * 50
    sl = rl.scope_logs.add()
    for _ in range(5000):
        sl.log_records.add()
    body = req.SerializeToString()
    checked = otlp.parser_check(body, 65536)
    assert checked is not None and checked[0] == 5000
    assert checked[1] > 1 << 20  # not for one raw batch of 1 MiB
    assert checked[1] <= 16 << 20
    # The reckoning is never less than what the frames take in a raw batch.
    taken = sum(map(len, otlp.protobuf(body).items)) + 5000 * FRAME_OVERHEAD
    assert checked[1] > taken - 1


def test_the_loki_reckoning_of_frames_is_never_less_than_they_take():
    req = push_pb2.PushRequest()
    for labels in ('{app="a", env="prod"}', "{" + ", ".join(f'w{i}="{"v" * 40}"' for i in range(8)) + "}"):
        stream = req.streams.add(labels=labels)
        for i in range(300):
            entry = stream.entries.add(line="x" * (i % 7))
            if i % 2:
                entry.structuredMetadata.add(name="", value="")
                entry.structuredMetadata.add(name="app", value="y")  # prefixed: metadata.app
    body = req.SerializeToString()
    decoder = LokiDecoder()
    frames = decoder.protobuf(body)
    taken = sum(map(len, frames.items)) + len(frames) * FRAME_OVERHEAD
    repeated = sum(len(s.entries) * decoder.stream_bytes(s.labels) for s in req.streams)
    assert frames_bytes(len(frames), repeated, len(body)) > taken - 1


def test_a_loki_request_with_an_entry_that_might_be_cut_is_not_for_a_parser():
    req = push_pb2.PushRequest()
    stream = req.streams.add(labels='{app="a"}')
    stream.entries.add(line="short")
    decoder = LokiDecoder()
    sizes = [decoder.stream_bytes(s.labels) for s in req.streams]
    assert parser_takes(req.SerializeToString(), sizes, 65536)
    stream.entries.add(line="x" * 10_000)  # its frame could pass 65536 bytes: cut, and counted, by the API
    assert not parser_takes(req.SerializeToString(), sizes, 65536)
    assert parser_takes(req.SerializeToString(), sizes, 1 << 20)
    assert not parser_takes(b"\x0a\xff\xff", [], 65536)  # damaged: the API refuses it
