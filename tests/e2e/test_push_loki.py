"""End to end: `POST /loki/api/v1/push` on a real `logjet serve`, rows read back over the query API.

Protobuf bodies are built from Loki's push.proto by the protobuf library and snappy-compressed as
Promtail sends them; JSON bodies as Loki documents them, plain and gzipped; and a real Loki client
library (loki-logger-handler, JSON + gzip, from its own thread) pushes through Python logging.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import logging
import os
import signal
import time
import urllib.parse
import urllib.request

import cramjam
import pytest

from engine.push.proto import push_pb2
from engine.config import Ingest
from tests.e2e.clients import metric, wait_until, wait_written, worker_pids
from tests.e2e.push_clients import post, refused, rows_of

pytestmark = pytest.mark.e2e

PUSH = "/loki/api/v1/push"
PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}
# A base time a minute back with every nanosecond digit set, to see them all come back.
BASE_NS = (time.time_ns() // 10**9 - 60) * 10**9 + 123_456_789


def _rfc3339(ns: int) -> str:
    seconds, frac = divmod(ns, 10**9)
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


def _snappy(data: bytes) -> bytes:
    return bytes(cramjam.snappy.compress_raw(data))


def _one_stream(labels: str, lines: list[str]) -> push_pb2.PushRequest:
    """A PushRequest of one stream whose entry i holds lines[i], at BASE_NS + i."""
    req = push_pb2.PushRequest()
    stream = req.streams.add(labels=labels)
    for i, line in enumerate(lines):
        entry = stream.entries.add(line=line)
        entry.timestamp.seconds, entry.timestamp.nanos = divmod(BASE_NS + i, 10**9)
    return req


def test_protobuf_snappy_push_labels_metadata_and_nanoseconds(shared_engine):
    req = push_pb2.PushRequest()
    for s in range(3):
        stream = req.streams.add(labels=f'{{job="loki-pb", hostname="node-{s}", level="warn", env="prod"}}')
        for i in range(50):
            entry = stream.entries.add(line=f"stream {s} line {i:02d} took {i}ms")
            entry.timestamp.seconds, entry.timestamp.nanos = divmod(BASE_NS + s * 1000 + i, 10**9)
            if i % 10 == 0:
                entry.structuredMetadata.add(name="trace_id", value=f"t{s}{i}")
                entry.structuredMetadata.add(name="job", value="from-metadata")
    before = metric(shared_engine.url, "logjet_received_messages_total", protocol="loki")
    status, body, _ = post(shared_engine.url + PUSH, _snappy(req.SerializeToString()), PROTOBUF)
    assert (status, body) == (204, b"")
    rows = rows_of(shared_engine, "app:loki-pb", 150)
    assert metric(shared_engine.url, "logjet_received_messages_total", protocol="loki") == before + 150
    for row in rows:
        s, i = int(row["message"].split()[1]), int(row["message"].split()[3])
        assert row["message"] == f"stream {s} line {i:02d} took {i}ms"
        assert row["_time"] == _rfc3339(BASE_NS + s * 1000 + i)
        # job → app and hostname → host, both kept as fields too (LogQL selectors read them);
        # level → severity 4 (warning) and kept; env a field.
        assert (row["host"], row["app"], row["severity"]) == (f"node-{s}", "loki-pb", 4)
        want = {"job": "loki-pb", "hostname": f"node-{s}", "level": "warn", "env": "prod"}
        if i % 10 == 0:
            want |= {"trace_id": f"t{s}{i}", "metadata.job": "from-metadata"}
        assert row["fields"] == want


def test_json_push_plain_and_gzip(shared_engine):
    def body(tag: str) -> bytes:
        values = [[str(BASE_NS + i), f"{tag} json line {i:02d}"] for i in range(20)]
        values.append([str(BASE_NS + 99), f"{tag} json line 99", {"user": "alice", "message": "kept"}])
        return json.dumps(
            {"streams": [{"stream": {"app": f"loki-{tag}", "host": "web-1", "severity": "error"}, "values": values}]}
        ).encode()

    assert post(shared_engine.url + PUSH, body("plain"), JSON)[0] == 204
    headers = JSON | {"Content-Encoding": "gzip"}
    assert post(shared_engine.url + PUSH, gzip.compress(body("gz")), headers)[0] == 204
    for tag in ("plain", "gz"):
        rows = rows_of(shared_engine, f"app:loki-{tag}", 21)
        assert [r["message"] for r in rows] == [f"{tag} json line {i:02d}" for i in [*range(20), 99]]
        assert {(r["host"], r["severity"]) for r in rows} == {("web-1", 3)}
        assert rows[-1]["_time"] == _rfc3339(BASE_NS + 99)
        # A metadata pair named like a key logjet sets itself is kept under metadata.<name>.
        assert rows[-1]["fields"] == {"user": "alice", "metadata.message": "kept"}
        assert rows[0]["fields"] == {}


def test_a_real_loki_client_library(shared_engine):
    from loki_logger_handler.loki_logger_handler import LokiLoggerHandler

    handler = LokiLoggerHandler(
        url=shared_engine.url + PUSH,
        labels={"application": "loki-lib", "environment": "test"},
        timeout=0.2,
        compressed=True,
        enable_structured_loki_metadata=True,
        loki_metadata={"region": "eu-1"},
    )
    logger = logging.getLogger("test_push_loki.library")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        for i in range(30):
            logger.warning("library message %02d", i)
        rows = rows_of(shared_engine, "app:loki-lib", 30)
    finally:
        logger.removeHandler(handler)
    for i, row in enumerate(rows):
        # The library sends each record as a JSON object line; logjet keeps the line as sent.
        line = json.loads(row["message"])
        assert line["message"] == f"library message {i:02d}" and line["level"] == "WARNING"
        assert row["app"] == "loki-lib"
        assert row["fields"]["environment"] == "test" and row["fields"]["region"] == "eu-1"


def test_a_push_the_parsers_shortcut_leaves_is_stored_by_the_general_path(shared_engine):
    # A protobuf push goes to a parser whole; entries the parser's shortcut does not take (a
    # metadata level that names no level, a time before 1973, a name twice) still become rows,
    # by the JSON frames the API would have made.
    req = _one_stream('{job="loki-gp", env="gp"}', [f"general path line {i}" for i in range(10)])
    for i, entry in enumerate(req.streams[0].entries):
        entry.structuredMetadata.add(name="level", value="chatty" if i == 3 else "info")
    assert post(shared_engine.url + PUSH, _snappy(req.SerializeToString()), PROTOBUF)[0] == 204
    rows = rows_of(shared_engine, "app:loki-gp", 10)
    assert [r["message"] for r in rows] == [f"general path line {i}" for i in range(10)]
    assert [r["severity"] for r in rows if r["message"] != "general path line 3"] == [6] * 9
    odd = next(r for r in rows if r["message"] == "general path line 3")
    assert odd["fields"]["level"] == "chatty" and odd["fields"]["env"] == "gp"


def test_many_short_entries_under_long_labels_are_stored_in_batches(shared_engine):
    # 30,000 empty entries are a small body, but each row carries the stream's ten long labels:
    # as one column batch they would pass what the column ring takes, so the API sends the
    # request as frames, in as many batches as they need, and the parsers carry on.
    url = shared_engine.url
    labels = ", ".join(f'wide{i}="{"v" * 50}"' for i in range(10))
    req = push_pb2.PushRequest()
    stream = req.streams.add(labels=f'{{app="loki-wide", {labels}}}')
    for _ in range(30_000):
        stream.entries.add()
    parsers = worker_pids(shared_engine, "parser")
    before = metric(url, "logjet_written_rows_total")
    assert post(url + PUSH, _snappy(req.SerializeToString()), PROTOBUF)[0] == 204
    assert wait_written(url, before + 30_000) >= before + 30_000
    assert worker_pids(shared_engine, "parser") == parsers


def test_a_protobuf_entry_past_max_message_bytes_is_cut_and_counted(shared_engine):
    url = shared_engine.url
    req = push_pb2.PushRequest()
    stream = req.streams.add(labels='{app="loki-long"}')
    stream.entries.add(line="short one")
    stream.entries.add(line="long " + "y" * (Ingest().max_message_bytes + 100))
    before = metric(url, "logjet_truncated_messages_total")
    assert post(url + PUSH, _snappy(req.SerializeToString()), PROTOBUF)[0] == 204
    assert len(rows_of(shared_engine, "app:loki-long", 1)) == 1  # the cut one is no JSON: a plain row
    assert wait_until(lambda: metric(url, "logjet_truncated_messages_total") == before + 1, 10, "the cut counted")


def test_a_protobuf_line_that_is_not_utf8_is_a_400(shared_engine):
    # The protobuf library checks strings as the API reads the body: a parser never sees it.
    req = push_pb2.PushRequest()
    req.streams.add(labels='{app="loki-utf"}').entries.add(line="x")
    raw = req.SerializeToString().replace(b"\x12\x01x", b"\x12\x01\xff")
    assert "PushRequest" in refused(shared_engine.url, PUSH, _snappy(raw), PROTOBUF, 400, "bad_protobuf")
    assert rows_of(shared_engine, "app:loki-utf", 0, timeout=1) == []


def test_bad_bodies_are_400s_counted_and_store_nothing(shared_engine):
    url = shared_engine.url
    good = push_pb2.PushRequest()
    good.streams.add(labels='{app="loki-bad"}').entries.add(line="never stored")
    raw = good.SerializeToString()
    assert "snappy" in refused(url, PUSH, raw, PROTOBUF, 400, "bad_encoding")  # not compressed
    assert "PushRequest" in refused(url, PUSH, _snappy(b"\xff\xff\xff\xff"), PROTOBUF, 400, "bad_protobuf")
    bad_labels = push_pb2.PushRequest()
    bad_labels.streams.add(labels="app=loki-bad").entries.add(line="never stored")
    error = refused(url, PUSH, _snappy(bad_labels.SerializeToString()), PROTOBUF, 400, "bad_labels")
    assert "app=loki-bad" in error
    assert "Loki push request" in refused(url, PUSH, b'{"streams": 7}', JSON, 400, "bad_json")
    not_entry = json.dumps({"streams": [{"stream": {"app": "loki-bad"}, "values": [["notatime", "x"]]}]})
    assert "streams[0].values[0]" in refused(url, PUSH, not_entry.encode(), JSON, 400, "bad_json")
    gz = JSON | {"Content-Encoding": "gzip"}
    assert "gzip" in refused(url, PUSH, b"not gzip at all", gz, 400, "bad_encoding")
    refused(url, PUSH, b"line", {"Content-Type": "text/plain"}, 415, "bad_content_type")
    refused(url, PUSH, b"{}", JSON | {"Content-Encoding": "compress"}, 415, "bad_encoding")
    # The engine is still up and stored none of it.
    assert post(url + PUSH, _snappy(raw.replace(b"loki-bad", b"loki-okk")), PROTOBUF)[0] == 204
    rows_of(shared_engine, "app:loki-okk", 1)
    assert rows_of(shared_engine, "app:loki-bad", 0, timeout=1) == []


def test_bodies_over_the_limit_are_413_before_and_after_decompression(start_engine, tmp_path):
    conf = tmp_path / "small.toml"
    conf.write_text('[ingest]\nhttp_max_body = "64KiB"\n')
    engine = start_engine("--config", str(conf))
    big = json.dumps({"streams": [{"stream": {"app": "big"}, "values": [[str(BASE_NS), "x" * 70_000]]}]}).encode()
    refused(engine.url, PUSH, big, JSON, 413, "too_large")
    # 100 KiB of JSON that gzips to a few hundred bytes: refused for what it would become.
    assert len(gzip.compress(big)) < 65536
    refused(engine.url, PUSH, gzip.compress(big), JSON | {"Content-Encoding": "gzip"}, 413, "too_large")
    refused(engine.url, PUSH, _snappy(b"\0" * 70_000), PROTOBUF, 413, "too_large")
    small = json.dumps({"streams": [{"stream": {"app": "small"}, "values": [[str(BASE_NS), "fits"]]}]})
    assert post(engine.url + PUSH, small.encode(), JSON)[0] == 204
    assert [r["message"] for r in rows_of(engine, "app:small", 1)] == ["fits"]


def test_full_rings_answer_503_with_retry_after_and_lose_nothing(start_engine, tmp_path):
    # Small rings, and a heartbeat timeout longer than the parsers stay stopped (a push waits
    # 10 s for ring space before its 503).
    conf = tmp_path / "bp.toml"
    conf.write_text(
        '[rings]\nraw_ring_bytes = "1MiB"\n[ingest]\nbatch_bytes = 65536\n[supervisor]\nheartbeat_timeout = "60s"\n'
    )
    engine = start_engine("--config", str(conf), name="bp-loki")
    pids = worker_pids(engine, "parser")

    def push(k: int) -> tuple[int, bytes, dict[str, str]]:
        values = [[str(BASE_NS + i), f"bp push {k} entry {i} " + "x" * 100] for i in range(1000)]
        body = json.dumps({"streams": [{"stream": {"app": "loki-bp", "push": str(k)}, "values": values}]})
        return post(engine.url + PUSH, body.encode(), JSON)

    before = metric(engine.url, "logjet_ingest_requests_rejected_total", route=PUSH, reason="unavailable")
    accepted = []
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        for k in range(40):
            status, body, headers = push(k)
            if status != 204:
                break
            accepted.append(k)
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    assert status == 503 and headers["Retry-After"] == "1", (status, body)
    assert "retry" in json.loads(body)["error"]
    assert metric(engine.url, "logjet_ingest_requests_rejected_total", route=PUSH, reason="unavailable") == before + 1
    assert accepted, "the rings took no push at all"
    # The shipper retries the refused push; every accepted entry is stored once, the refused
    # push's only from its retry.
    assert push(k)[0] == 204
    rows = rows_of(engine, "app:loki-bp", 1000 * (len(accepted) + 1), timeout=60)
    assert len({r["message"] for r in rows}) == len(rows)


def test_a_big_push_is_decoded_off_the_event_loop_and_stored_whole(shared_engine):
    n = 12_000  # ~2.5 MB of JSON: past the size decoded in a thread
    values = [[str(BASE_NS + i), f"big push entry {i:05d} " + "z" * 180] for i in range(n)]
    body = json.dumps({"streams": [{"stream": {"app": "loki-big"}, "values": values}]}).encode()
    assert len(body) > 2 << 20
    assert post(shared_engine.url + PUSH, body, JSON)[0] == 204
    rows = rows_of(shared_engine, "app:loki-big", n, timeout=60)
    assert [r["message"][:20] for r in rows] == [f"big push entry {i:05d}" for i in range(n)]


def test_pushed_entries_read_back_through_the_loki_read_api(shared_engine):
    # What Promtail pushes, Grafana reads: a selector on a label that became a column (host)
    # and on one that is only a field (job, which also filled app) find the same entries,
    # with their nanosecond times.
    req = _one_stream('{job="loki-rt", host="rt-1", level="error"}', [f"round trip {i}" for i in range(5)])
    assert post(shared_engine.url + PUSH, _snappy(req.SerializeToString()), PROTOBUF)[0] == 204
    rows_of(shared_engine, "app:loki-rt", 5)
    span = {"start": str(BASE_NS - 10**9), "end": str(BASE_NS + 10**9), "limit": "100"}
    for selector in ('{job="loki-rt"}', '{host="rt-1", app="loki-rt"} |= "round"'):
        url = shared_engine.url + "/loki/api/v1/query_range?" + urllib.parse.urlencode({"query": selector, **span})
        with urllib.request.urlopen(url, timeout=30) as resp:
            got = json.loads(resp.read())
        entries = sorted((int(ts), line) for s in got["data"]["result"] for ts, line in s["values"])
        assert entries == [(BASE_NS + i, f"round trip {i}") for i in range(5)], selector
        assert {s["stream"]["detected_level"] for s in got["data"]["result"]} == {"error"}


def test_a_promtail_sized_push_goes_to_the_parsers(shared_engine):
    # Promtail and Alloy batch up to 1 MiB of lines: with labels and timestamps the protobuf is
    # past what a parser takes whole, so the API cuts it into pieces, each for a parser.
    lines = [f"promtail line {i:05d} " + "q" * 160 for i in range(6000)]
    raw = _one_stream('{job="loki-promtail", env="batch"}', lines).SerializeToString()
    assert len(raw) > 1 << 20
    url = shared_engine.url
    before = metric(url, "logjet_push_requests_total", route=PUSH, decoded_by="parser")
    assert post(url + PUSH, _snappy(raw), PROTOBUF)[0] == 204
    assert metric(url, "logjet_push_requests_total", route=PUSH, decoded_by="parser") == before + 1
    rows = rows_of(shared_engine, "app:loki-promtail", 6000, timeout=60)
    assert [r["message"][:19] for r in rows] == [f"promtail line {i:05d}" for i in range(6000)]
