"""End to end: frames are the sender's messages exactly, over real sockets into `logjet serve`.

The cases a forwarder produces: octet-counted frames that end in LF (rsyslog, syslog-ng),
datagrams with a trailer, and plain lines that start with digits on a fresh connection.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request

import pytest

from tests.e2e.clients import metric, octet_frames, send_tcp, send_udp

pytestmark = pytest.mark.e2e


def query(url: str, q: str, limit: int = 10_000) -> list[dict]:
    full = url + "/api/v1/query?" + urllib.parse.urlencode({"q": q, "limit": limit})
    with urllib.request.urlopen(full, timeout=30) as resp:
        return [json.loads(line) for line in resp.read().decode().splitlines() if line]


def wait_query(url: str, q: str, n: int, timeout: float = 30.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        rows = query(url, q)
        if len(rows) >= n or time.monotonic() > deadline:
            return rows
        time.sleep(0.3)


def test_forwarded_frames_keep_no_trailer_and_fields_answer_right(shared_engine):
    """rsyslog's octet-counted RSYSLOG_SyslogProtocol23Format ends each frame with LF; the
    message, and a key=value field at its end, must not keep it."""
    n = 300
    msgs = [b"<14>1 2026-11-22T10:00:00Z relay fwdapp - - - GET /x/%d status=%d" % (i, 200 + i % 4) for i in range(n)]
    send_tcp(shared_engine.ports["syslog_tcp"], octet_frames([m + b"\n" for m in msgs]))
    udp = [
        b"<14>1 2026-11-22T10:00:00Z relay udpfwd - - - datagram %d status=%d%s" % (i, 200 + i % 4, t)
        for i, t in enumerate([b"\n", b"\r\n", b"\x00", b""] * 25)
    ]
    send_udp(shared_engine.ports["syslog_udp"], udp)
    rows = wait_query(shared_engine.url, "app:fwdapp", n)
    assert sorted(r["message"] for r in rows) == sorted(m.split(b"- - - ")[1].decode() for m in msgs)
    assert all(not r["message"].endswith(("\n", "\r", "\x00")) for r in rows)
    assert len(query(shared_engine.url, "app:fwdapp status:203")) == n // 4
    assert len(query(shared_engine.url, "app:fwdapp status:>=202")) == n // 2
    stats = query(shared_engine.url, "app:fwdapp | stats count() by (status)")
    assert {s["status"]: int(s["count()"]) for s in stats} == {str(200 + k): n // 4 for k in range(4)}
    rows = wait_query(shared_engine.url, "app:udpfwd", 100)
    assert len(rows) == 100
    assert all(r["message"].startswith("datagram ") and r["message"][-3:].isdigit() for r in rows)
    assert len(query(shared_engine.url, "app:udpfwd status:203")) == 25


def test_lines_starting_with_digits_are_lines(shared_engine):
    """HPC/BGL-style lines on a fresh connection: never read as octet counts."""
    lf_before = metric(shared_engine.url, "logjet_tcp_framing_total", framing="lf")
    lines = [
        b"%d node-%d unix.hw state_change.unavailable 1077804742 1 Component State Change: digitline"
        % (134681 + i, i % 300)
        for i in range(2_000)
    ]
    send_tcp(shared_engine.ports["syslog_tcp"], b"\n".join(lines) + b"\n", chunk=7)
    rows = wait_query(shared_engine.url, "digitline", 2_000)
    assert sorted(r["message"].encode() for r in rows) == sorted(lines)
    assert metric(shared_engine.url, "logjet_tcp_framing_total", framing="lf") == lf_before + 1
    assert all(r["host"] == "127.0.0.1" and "host_from_source" in r["_flags"] for r in rows)
