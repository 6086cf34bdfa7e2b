"""End to end: query clients that go away mid-answer (a reset connection) on a real `logjet
serve` with one query slot: nothing is logged above debug, and the slot is free again, so the
next query is answered (not refused with 429 for ever). /api/v1/query and Loki's query_range
with the client gone before the answer ends; /api/v1/tail and Loki's tail WebSocket while they
stream."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time
import urllib.parse
import urllib.request

import aiohttp
import pytest

from tests.e2e.clients import query_api, wait_until, wait_written

pytestmark = pytest.mark.e2e

ROWS = 20_000
PAD = "p" * 1000  # ~1 KiB rows: the answer is far bigger than the sockets' buffers
CONFIG = """
[query]
max_concurrent = 1
max_tails = 1
"""


def _reset_after(url: str, target: str, read: int) -> None:
    """GET `target`, read `read` bytes of the answer (0: none), then close with a reset. A 429
    (the one slot not yet given back by the query before) is asked again."""
    host, port = urllib.parse.urlsplit(url).netloc.split(":")
    for _ in range(300):
        with socket.create_connection((host, int(port)), timeout=60) as sock:
            sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            got = b""
            while len(got) < read:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                got += chunk
            if read and got.startswith(b"HTTP/1.1 429"):
                time.sleep(0.1)
                continue
            assert not read or len(got) >= read, f"the answer ended before the client went away: {got[:200]!r}"
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
    raise AssertionError("the query slot stayed taken")


def _log_size(engine) -> int:
    with open(engine.log_path, "rb") as f:
        return len(f.read())


def _no_errors(engine, since: int) -> None:
    """Nothing above debug about it in the engine's log after byte `since`."""
    with open(engine.log_path, "rb") as f:
        log = f.read()[since:].decode("utf-8", "replace")
    for bad in ("ERROR", "Traceback", "Unhandled exception", "Error handling request"):
        assert bad not in log, log[-4000:]


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from bench.engine import EngineProcess

    tmp = tmp_path_factory.mktemp("away")
    (tmp / "away.toml").write_text(CONFIG)
    eng = EngineProcess(
        str(tmp / "data"), "--retention", "0", "--config", str(tmp / "away.toml"), log_path=str(tmp / "engine.log")
    )
    eng.start()
    body = "".join(json.dumps({"app": "away", "message": f"away {i} {PAD}"}) + "\n" for i in range(ROWS)).encode()
    lines = body.splitlines(keepends=True)
    for k in range(0, ROWS, 2000):
        req = urllib.request.Request(
            eng.url + "/api/v1/ingest",
            data=b"".join(lines[k : k + 2000]),
            headers={"Content-Type": "application/x-ndjson"},
        )
        with urllib.request.urlopen(req, timeout=60) as resp:
            assert resp.status == 200
    wait_written(eng.url, ROWS)
    yield eng
    eng.stop()


def _slot_is_free(engine) -> None:
    status = wait_until(
        lambda: query_api(engine.url, {"q": "app:away", "limit": "1"})[0] == 200 or None, 30, "the slot"
    )
    assert status


def test_query_client_reset_mid_answer(engine):
    since = _log_size(engine)
    for _ in range(3):
        _reset_after(engine.url, "/api/v1/query?q=app:away&limit=10000", 1 << 16)
        _slot_is_free(engine)
    _no_errors(engine, since)


def test_loki_query_range_client_gone_before_the_answer(engine):
    since = _log_size(engine)
    q = urllib.parse.urlencode({"query": '{app="away"}', "limit": "5000", "since": "1h"})
    for _ in range(3):
        _reset_after(engine.url, f"/loki/api/v1/query_range?{q}", 0)
        _slot_is_free(engine)
    _no_errors(engine, since)


def test_tail_client_reset_while_streaming(engine):
    since = _log_size(engine)
    _reset_after(engine.url, "/api/v1/tail?q=app:away", 1)  # the headers: the tail is open
    # One tail at a time: a second one is served only once the first has let go.
    wait_until(lambda: _tail_opens(engine.url), 30, "the tail slot")
    _no_errors(engine, since)


def _tail_opens(url: str) -> bool:
    async def once() -> int:
        async with aiohttp.ClientSession() as session:
            async with session.get(url + "/api/v1/tail", params={"q": "app:away"}) as resp:
                return resp.status

    return asyncio.run(once()) == 200


def test_loki_tail_websocket_client_gone(engine):
    since = _log_size(engine)

    async def run() -> None:
        async with aiohttp.ClientSession() as session:
            # The tail slot of the last test's client is given back at the tail's next poll.
            for _ in range(100):
                try:
                    ws = await session.ws_connect(
                        engine.url + "/loki/api/v1/tail", params={"query": '{app="away"}', "limit": "1000"}
                    )
                    break
                except aiohttp.WSServerHandshakeError as exc:
                    assert exc.status == 429
                    await asyncio.sleep(0.2)
            else:
                raise AssertionError("the tail slot never came back")
            await ws.receive(timeout=30)  # the first rows: the tail streams
            assert ws._response.connection is not None
            ws._response.connection.transport.abort()  # gone without a close frame

    asyncio.run(run())
    wait_until(lambda: _tail_opens(engine.url), 30, "the tail slot")
    _no_errors(engine, since)
