"""End to end: bodies whose Content-Encoding is broken, on every HTTP ingest route of a real
`logjet serve`: a prompt 400 naming the encoding (the body sent after the headers, as a client
with a big body does), the push routes' rejections counted, and no traceback in
the engine's log; and whole gzip and deflate bodies (gzip of two members too) still go in."""

from __future__ import annotations

import gzip
import json
import socket
import urllib.parse
import zlib

import pytest

from tests.e2e.push_clients import post, rows_of
from tests.e2e.clients import metric

pytestmark = pytest.mark.e2e

LOKI = "/loki/api/v1/push"
OTLP = "/v1/logs"
# (path, Content-Type) of every route that takes messages over HTTP.
ROUTES = (
    ("/api/v1/ingest", "application/x-ndjson"),
    ("/insert/elasticsearch/_bulk", "application/x-ndjson"),
    (LOKI, "application/json"),
    (OTLP, "application/json"),
)
LOKI_BODY = json.dumps({"streams": [{"stream": {"app": "enc"}, "values": [["1", "x" * 200]] * 20}]}).encode()
BROKEN = {
    "bad gzip": ("gzip", b"not gzip at all"),
    "bad deflate": ("deflate", b"not deflate at all"),
    "deflate cut short": ("deflate", zlib.compress(LOKI_BODY)[:-40]),
    "gzip cut short": ("gzip", gzip.compress(LOKI_BODY)[:-40]),
}


def _raw_post(url: str, path: str, ctype: str, encoding: str, body: bytes) -> tuple[int, bytes]:
    """POST with the headers and the body in two sends; the answer's (status, body). The socket
    timeout only guards against a hang: the answer must come once the body is in."""
    host, port = urllib.parse.urlsplit(url).netloc.split(":")
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {ctype}\r\nContent-Encoding: {encoding}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(head.encode())
        sock.sendall(body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


@pytest.mark.parametrize("path, ctype", ROUTES)
def test_broken_encodings_are_prompt_400s_without_a_traceback(shared_engine, path, ctype):
    url = shared_engine.url
    rejected = metric(url, "logjet_ingest_requests_rejected_total", route=path, reason="bad_encoding")
    for what, (encoding, body) in BROKEN.items():
        status, answer = _raw_post(url, path, ctype, encoding, body)
        assert status == 400, (what, status, answer)
        assert encoding in answer.decode(), (what, answer)
    if path in (LOKI, OTLP):
        after = metric(url, "logjet_ingest_requests_rejected_total", route=path, reason="bad_encoding")
        assert after == rejected + len(BROKEN)
    log = shared_engine.log_text()
    assert "Unhandled exception" not in log and "Error handling request" not in log and "Traceback" not in log


def test_whole_gzip_and_deflate_bodies_still_go_in(shared_engine):
    url = shared_engine.url
    lines = [json.dumps({"app": "enc-ok", "message": f"enc-ok {i}"}).encode() for i in range(4)]
    headers = {"Content-Type": "application/x-ndjson"}
    two_members = gzip.compress(lines[0] + b"\n") + gzip.compress(lines[1] + b"\n")
    assert post(url + "/api/v1/ingest", two_members, headers | {"Content-Encoding": "gzip"})[0] == 200
    assert (
        post(url + "/api/v1/ingest", zlib.compress(lines[2] + b"\n"), headers | {"Content-Encoding": "deflate"})[0]
        == 200
    )
    raw = zlib.compressobj(wbits=-15)
    bare = raw.compress(lines[3] + b"\n") + raw.flush()  # deflate without zlib's header
    assert post(url + "/api/v1/ingest", bare, headers | {"Content-Encoding": "deflate"})[0] == 200
    got = sorted(r["message"] for r in rows_of(shared_engine, "app:enc-ok", 4))
    assert got == [f"enc-ok {i}" for i in range(4)]


def test_a_compressed_query_body_is_refused_by_name(shared_engine):
    body = gzip.compress(json.dumps({"q": "app:enc-ok"}).encode())
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    status, answer, _ = post(shared_engine.url + "/api/v1/query", body, headers)
    assert status == 400 and json.loads(answer)["error"] == "Content-Encoding 'gzip': send the query body uncompressed"
