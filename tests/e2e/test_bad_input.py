"""End to end: bad input costs at most that message, never a worker; HTTP ingest takes JSON.

Binary garbage, impossible dates, a 10 MB line, an over-long octet frame, a half-open
connection, non-UTF-8 bytes, and HTTP bodies that are not JSON objects.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request

import pytest

from tests.e2e.clients import all_rows, column_values, field_column, messages, metric, octet_frames, send_tcp

pytestmark = pytest.mark.e2e


def _wait_rows(engine, predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        rows = all_rows(engine.data_dir)
        if predicate(rows) or time.monotonic() > deadline:
            return rows
        time.sleep(0.3)


def _post(url: str, body: bytes, content_type: str = "application/x-ndjson"):
    req = urllib.request.Request(
        url + "/api/v1/ingest", data=body, method="POST", headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_garbage_and_huge_input_cost_only_themselves(start_engine):
    engine = start_engine(name="bad")
    port = engine.ports["syslog_tcp"]
    restarts_before = metric(engine.url, "logjet_worker_restarts_total")
    garbage = bytes(range(256)) * 40  # every byte value, NULs and newlines included
    huge = b"<13>Nov 22 10:00:00 h app: " + b"A" * (10 << 20) + b"\n"
    payload = b"".join(
        [
            b"<13>Nov 22 10:00:00 h app: before t=bad seq=0\n",
            garbage + b"\n",
            b"<13>1 2026-13-45T99:99:99Z h app - - - impossible date t=bad seq=1\n",
            b"<13>Feb 30 25:61:61 h app: impossible 3164 date t=bad seq=2\n",
            huge,
            b"<13>Nov 22 10:00:00 h app: \xff\xfe not utf-8 \xc3\x28 t=bad seq=3\n",
            b"<999>1 - - - - - - pri out of range t=bad seq=4\n",
            b"<13>Nov 22 10:00:00 h app: after t=bad seq=5\n",
        ]
    )
    send_tcp(port, payload)
    # A half-open connection: connects, sends half a line, never finishes; must not block others.
    half = socket.create_connection(("127.0.0.1", port))
    half.sendall(b"<13>Nov 22 10:00:00 h app: half a li")
    # An over-long octet-counted frame, then a good one on the same connection.
    long_frame = b"<13>1 - h app - - - " + b"B" * 200_000
    send_tcp(port, octet_frames([long_frame, b"<13>1 - h app - - - octet after t=bad seq=6"]))
    rows = _wait_rows(engine, lambda r: sum(1 for t in field_column(r, b"t") if t == b"bad") >= 7)
    seqs = sorted(int(s) for t, s in zip(field_column(rows, b"t"), field_column(rows, b"seq")) if t == b"bad" and s)
    assert seqs == [0, 1, 2, 3, 4, 5, 6]
    msgs = messages(rows)
    truncated = [m for m in msgs if m.startswith(b"A" * 100)]
    assert len(truncated) == 1 and len(truncated[0]) <= 65536
    assert any(m.startswith(b"B" * 100) and len(m) == 65536 - len(b"<13>1 - h app - - - ") for m in msgs)
    assert metric(engine.url, "logjet_truncated_messages_total") >= 2
    assert any(b"\xff\xfe not utf-8" in m for m in msgs), "bytes are kept as received"
    assert metric(engine.url, "logjet_worker_restarts_total") == restarts_before
    half.close()


def test_http_ingest_ndjson_and_array(start_engine):
    engine = start_engine(name="http")
    lines = [
        json.dumps(
            {
                "level": "error",
                "service": "billing",
                "host": "api-1",
                "msg": f"charge failed seq={i}",
                "user": {"id": i},
                "time": "2026-11-22T10:00:00Z",
            }
        )
        for i in range(1000)
    ]
    status, body = _post(engine.url, ("\n".join(lines) + "\n").encode())
    assert (status, body) == (200, {"accepted": 1000})
    status, body = _post(
        engine.url, json.dumps([{"message": "from array", "level": 6}] * 3).encode(), "application/json"
    )
    assert (status, body) == (200, {"accepted": 3})
    status, body = _post(engine.url, b'{"ok": 1}\nthis is not json\n')
    assert status == 400 and body["position"] == 10 and "line 2" in body["error"]
    rows = _wait_rows(engine, lambda r: len(r) >= 1003)
    assert len(rows) == 1003
    apps = column_values(rows, "app")
    assert apps.count(b"billing") == 1000
    billing = [i for i, a in enumerate(apps) if a == b"billing"]
    assert {int(rows.severity[i]) for i in billing} == {3}
    assert set(field_column(rows, b"user.id")) >= {b"0", b"999"}
    assert metric(engine.url, "logjet_received_messages_total", protocol="http") == 1003


def test_http_ingest_takes_bodies_up_to_its_limit(start_engine, tmp_path):
    """Bodies bigger than a ring record are split into batches and stored in full; over
    `http_max_body` is 413; a line the JSON decoder rejects costs that line only."""
    config = tmp_path / "http.toml"
    config.write_text('[ingest]\nhttp_max_body = "24MiB"\n')
    engine = start_engine("--config", str(config), name="bighttp")
    n = 100_000
    lines = [json.dumps({"host": "bulk", "msg": f"bulk line {i} " + "x" * (i % 300), "seq": i}) for i in range(n)]
    deep = "{" + '"a":{' * 5000 + "1" + "}" * 5001
    lines.insert(n // 2, deep)
    body = ("\n".join(lines) + "\n").encode()
    assert 16 << 20 < len(body) < 24 << 20
    status, reply = _post(engine.url, body)
    assert (status, reply) == (200, {"accepted": n + 1})
    status, reply = _post(
        engine.url,
        json.dumps([{"host": "array", "msg": "y" * 100, "seq": i} for i in range(60_000)]).encode(),
        "application/json",
    )
    assert (status, reply) == (200, {"accepted": 60_000})
    too_big = b'{"msg": "z"}\n' * ((25 << 20) // 13)
    req = urllib.request.Request(engine.url + "/api/v1/ingest", data=too_big, method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=60)
    assert info.value.code == 413
    info.value.close()
    rows = _wait_rows(engine, lambda r: len(r) >= n + 1 + 60_000, timeout=60)
    hosts = column_values(rows, "host")
    assert hosts.count(b"bulk") == n and hosts.count(b"array") == 60_000
    assert sorted(int(s) for h, s in zip(hosts, field_column(rows, b"seq")) if h == b"bulk") == list(range(n))
    [odd] = [i for i, m in enumerate(messages(rows)) if m.startswith(b'{"a":{"a":')]
    assert rows.format[odd] == 0 and rows.flags[odd] & 16  # plain, parse_fallback
    assert metric(engine.url, "logjet_dropped_messages_total", reason="parse_fallback") == 1
