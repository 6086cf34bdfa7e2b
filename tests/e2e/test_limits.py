"""End to end: the bounds on syslog connections and on silences in a real `logjet serve`.

`ingest.max_connections` (one more connection is accepted and closed, counted and logged),
`ingest.idle_timeout` (silent TCP and TLS connections are closed by the server, their partial
last line stored), accept errors under a tiny descriptor limit (EMFILE counted and logged, the
engine serving again once connections close), and silences refused past 100 matchers or a year.
"""

from __future__ import annotations

import json
import socket
import sys
import urllib.error
import urllib.request

import pytest

from bench.engine import EngineProcess
from tests.e2e.clients import metric
from tests.e2e.test_framing import wait_query
from tests.e2e.test_tls import client_context, connect, wait_metric
from tests.tlsca import make_tls_files

pytestmark = pytest.mark.e2e

WAIT_S = 20.0  # every wait polls until its condition holds, at most this long
# Runs the engine with a descriptor limit (soft and hard: the engine raises soft to hard).
NOFILE_WRAPPER = (
    "import os, resource, sys; n = int(sys.argv[1]); resource.setrlimit(resource.RLIMIT_NOFILE, (n, n)); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])"
)


def _config(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _closed_by_server(sock: socket.socket) -> bool:
    """True when the server closes the connection (EOF or reset) within WAIT_S."""
    sock.settimeout(WAIT_S)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def _post(url: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_connections_beyond_the_cap_are_closed_and_silences_are_bounded(start_engine, tmp_path):
    conf = _config(tmp_path, "cap.toml", "[ingest]\nmax_connections = 2\n")
    engine = start_engine("--receivers", "1", "--config", conf)
    port = engine.ports["syslog_tcp"]
    with socket.create_connection(("127.0.0.1", port)) as first, socket.create_connection(("127.0.0.1", port)):
        first.sendall(b"<13>held connection t=cap\n")
        assert len(wait_query(engine.url, "t:cap", 1, WAIT_S)) == 1  # both are accepted by now
        with socket.create_connection(("127.0.0.1", port)) as third:
            assert _closed_by_server(third)
        assert metric(engine.url, "logjet_rejected_connections_total", protocol="tcp", reason="max_connections") == 1
    assert "connections open (ingest.max_connections); closing a new one" in engine.log_text()

    silences = engine.url + "/api/v1/silences"
    matcher = {"name": "host", "value": "web1"}
    status, body = _post(silences, {"matchers": [matcher] * 101, "duration": "1h"})
    assert status == 400 and "at most 100 matchers" in body["error"], body
    status, body = _post(silences, {"matchers": [matcher], "duration": "366d"})
    assert status == 400 and "within a year" in body["error"], body
    status, body = _post(silences, {"matchers": [matcher], "endsAt": "2999-01-01T00:00:00Z"})
    assert status == 400 and "within a year" in body["error"], body
    status, body = _post(silences, {"matchers": [matcher] * 100, "duration": "365d"})
    assert status == 200 and body["silenceID"], body


def test_idle_tcp_and_tls_connections_are_closed_and_their_partial_lines_stored(start_engine, tmp_path):
    tls = make_tls_files(tmp_path / "tls")
    conf = _config(
        tmp_path,
        "idle.toml",
        f'[ingest]\nidle_timeout = "1s"\n[tls]\ncert_file = "{tls.server_cert}"\nkey_file = "{tls.server_key}"\n',
    )
    engine = start_engine("--syslog-tls", "127.0.0.1:0", "--config", conf)
    with socket.create_connection(("127.0.0.1", engine.ports["syslog_tcp"])) as tcp:
        tls_sock = connect(engine.ports["syslog_tls"], client_context(tls.ca_cert))
        try:
            tcp.sendall(b"whole tcp t=idle\npartial tcp t=idle")
            tls_sock.sendall(b"whole tls t=idle\npartial tls t=idle")
            assert _closed_by_server(tcp)
            assert _closed_by_server(tls_sock)
        finally:
            tls_sock.close()
    rows = wait_query(engine.url, "t:idle", 4, WAIT_S)
    assert sorted(r["message"] for r in rows) == [
        f"{m} t=idle" for m in ("partial tcp", "partial tls", "whole tcp", "whole tls")
    ]
    assert not any("truncated" in r["_flags"] for r in rows)  # the tails are stored as on a close
    for protocol in ("tcp", "tls"):
        assert wait_metric(engine.url, "logjet_idle_connections_closed_total", 1, protocol=protocol) == 1


def test_out_of_descriptors_is_counted_logged_and_outlived(tmp_path):
    limit = 128  # each worker starts with fewer than 40 open
    engine = EngineProcess(
        str(tmp_path / "data"), "--retention", "0", "--receivers", "1", log_path=str(tmp_path / "engine.log")
    )
    engine.args = [sys.executable, "-c", NOFILE_WRAPPER, str(limit), *engine.args[1:]]
    clients: list[socket.socket] = []
    try:
        engine.start()
        port = engine.ports["syslog_tcp"]
        for _ in range(limit + 20):  # more than the receiver can hold: the rest wait in the backlog
            clients.append(socket.create_connection(("127.0.0.1", port)))
        assert wait_metric(engine.url, "logjet_accept_errors_total", 1, reason="emfile") >= 1
        assert "accept failed (emfile): Too many open files" in engine.log_text()
        for c in clients:
            c.close()
        clients.clear()
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"<13>served again t=emfile\n")
        assert len(wait_query(engine.url, "t:emfile", 1, WAIT_S)) == 1
    finally:
        for c in clients:
            c.close()
        engine.stop()
