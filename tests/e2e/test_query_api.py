"""End to end: syslog over TCP into a real `logjet serve`, read back through `/api/v1/query`,
`/api/v1/tail` and `logjet query` (both against `--url` and on the data dir)."""

from __future__ import annotations

import http.client
import json
import queue
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.e2e.clients import metric, send_tcp

pytestmark = pytest.mark.e2e

N = 300
HOSTS = ("alpha", "beta", "gamma")


def _get(url: str, **params) -> tuple[int, list[dict]]:
    full = url + "/api/v1/query?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(full, timeout=30) as resp:
            body = resp.read().decode()
            status = resp.status
    except urllib.error.HTTPError as exc:
        return exc.code, [json.loads(exc.read().decode())]
    return status, [json.loads(line) for line in body.splitlines() if line]


def _wait_rows(url: str, q: str, n: int, timeout: float = 30.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    rows: list[dict] = []
    while time.monotonic() < deadline:
        _, rows = _get(url, q=q)
        if len(rows) >= n:
            return rows
        time.sleep(0.1)
    return rows


def _read_lines(resp, out: queue.Queue) -> None:
    try:
        while True:
            line = resp.readline()
            if not line:
                break
            out.put(json.loads(line))
    except Exception:  # noqa: BLE001 - the test closed the connection under the read
        pass


def test_query_tail_and_cli(start_engine):
    engine = start_engine()
    url = engine.url
    lines = [
        f"<{(i % 8) + 8}>Nov 22 10:00:{i % 60:02d} {HOSTS[i % 3]} qapp[{100 + i}]: "
        f"e2eq seq={i} duration_ms={i * 10} {'Failed password' if i % 5 == 0 else 'Accepted'}"
        for i in range(N)
    ]
    sent = time.monotonic()
    send_tcp(engine.ports["syslog_tcp"], ("\n".join(lines) + "\n").encode())
    rows = _wait_rows(url, "e2eq app:qapp", N)
    assert len(rows) == N, f"{len(rows)} of {N} rows visible after {time.monotonic() - sent:.1f}s"
    assert {int(r["fields"]["seq"]) for r in rows} == set(range(N))
    times = [r["_time"] for r in rows]
    assert times == sorted(times, reverse=True)

    # Filters, limits and stats.
    status, failed = _get(url, q='e2eq "Failed password" host:alpha', limit="1000")
    assert status == 200
    assert {int(r["fields"]["seq"]) for r in failed} == {i for i in range(N) if i % 5 == 0 and i % 3 == 0}
    _, limited = _get(url, q="e2eq", limit="7")
    assert len(limited) == 7
    _, stats = _get(url, q="e2eq | stats count(), max(duration_ms) by (host)")
    assert stats == [
        {"host": h, "count()": N // 3, "max(duration_ms)": float(10 * max(i for i in range(N) if i % 3 == k))}
        for k, h in enumerate(HOSTS)
    ]
    _, hist = _get(url, q="e2eq | histogram(1m)")
    assert sum(h["count"] for h in hist) == N

    assert metric(url, "logjet_query_duration_seconds_count") >= 4

    # A bad query: 400 with the position.
    status, err = _get(url, q="e2eq AND (host:alpha")
    assert status == 400 and err == [{"error": "expected ')' before the end", "position": 20}]

    # Live tail: a line sent after the tail started arrives.
    got: queue.Queue = queue.Queue()
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.request("GET", "/api/v1/tail?q=e2etail")
        resp = conn.getresponse()
        assert resp.status == 200
        reader = threading.Thread(target=_read_lines, args=(resp, got), daemon=True)
        reader.start()
        time.sleep(0.5)
        send_tcp(engine.ports["syslog_tcp"], b"<14>Nov 22 10:01:00 alpha qapp[1]: e2etail hello\n")
        row = got.get(timeout=10)
        assert row["message"] == "e2etail hello" and row["host"] == "alpha"
    finally:
        conn.sock and conn.sock.shutdown(2)
        conn.close()
    reader.join(10)

    # The CLI, against the engine and on the data dir.
    def cli(*args):
        res = subprocess.run([sys.executable, "-m", "engine.cli", "query", *args], capture_output=True, timeout=120)
        assert res.returncode == 0, res.stderr.decode()
        return [json.loads(line) for line in res.stdout.decode().splitlines() if line]

    assert cli("--url", url, "e2eq | stats count()") == [{"count()": N}]
    assert len(cli("--url", url, "--limit", "3", "e2eq")) == 3
    assert cli("--data-dir", engine.data_dir, "e2eq host:beta | stats count()") == [{"count()": N // 3}]
    res = subprocess.run(
        [sys.executable, "-m", "engine.cli", "query", "--data-dir", engine.data_dir, "a (b"],
        capture_output=True,
        timeout=120,
    )
    assert res.returncode == 2 and b"position 4" in res.stderr
