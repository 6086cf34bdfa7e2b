"""`/api/v1/query` and `/api/v1/tail` on an aiohttp test server over a data dir of parts, with
the `[query]` limits and their errors."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import msgspec
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from engine.api import query_routes
from engine.config import Query, Settings, Storage
from engine.query.execute import CHUNK, prepare
from engine.query.quick import quick_answer
from engine.store.index_build import INDEX_MIN_ROWS, make_index_builder
from engine.units import units_dec_hook
from tests.engine.query.conftest import T0
from tests.engine.query.rowgen import record, write_records


def _client_run(data_dir, body, **limits):
    """body(client) against the routes over `data_dir`, with these `[query]` settings; a body
    taking two arguments also gets the QueryRoutes."""
    settings = Settings(data_dir=data_dir, query=msgspec.convert(limits, Query, dec_hook=units_dec_hook))

    async def main():
        app = web.Application()
        routes = query_routes.install(app, settings, None, None)
        async with TestClient(TestServer(app)) as client:
            return await (body(client, routes) if body.__code__.co_argcount == 2 else body(client))

    return asyncio.run(main())


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line]


def test_query_rows_stats_and_errors(data_dir):
    async def body(client):
        r = await client.get("/api/v1/query", params={"q": "app:sshd", "limit": "1"})
        assert r.status == 200 and r.headers["Content-Type"] == "application/x-ndjson"
        assert [o["msgid"] for o in _lines(await r.text())] == ["r2"]
        r = await client.get("/api/v1/query", params={"q": "* | stats count() by (app)"})
        assert {o["app"]: o["count()"] for o in _lines(await r.text())}["sshd"] == 2
        r = await client.post("/api/v1/query", json={"q": "failed", "limit": 5})
        assert [o["msgid"] for o in _lines(await r.text())] == ["r5", "r1"]
        r = await client.post("/api/v1/query", data={"q": "host:web-1"})
        assert [o["msgid"] for o in _lines(await r.text())] == ["r7", "r1"]
        r = await client.get("/api/v1/query", params={"q": "*", "start": str(T0 // 10**9 + 100)})
        assert [o["msgid"] for o in _lines(await r.text())] == ["r7", "r6", "r5"]
        r = await client.get("/api/v1/query", params={"q": "a (b"})
        assert r.status == 400 and await r.json() == {"error": "expected ')' before the end", "position": 4}
        r = await client.get("/api/v1/query", params={"q": "*", "start": "soon"})
        assert r.status == 400 and (await r.json())["position"] is None
        r = await client.get("/api/v1/query", params={"q": "*", "limit": "-1"})
        assert r.status == 400

    _client_run(data_dir, body)


def test_tail_streams_new_rows(tmp_path):
    d = str(tmp_path)
    write_records(d, [record(time=T0, message=b"old hello", msgid=b"old")], seq=1)

    async def body(client):
        resp = await client.get("/api/v1/tail", params={"q": "hello"})
        assert resp.status == 200
        await asyncio.sleep(0.3)
        await asyncio.to_thread(
            write_records,
            d,
            [
                record(time=T0 + 1, message=b"new hello", msgid=b"new"),
                record(time=T0 + 2, message=b"bye", msgid=b"bye"),
            ],
            seq=2,
        )
        line = await asyncio.wait_for(resp.content.readline(), 5)
        assert json.loads(line)["msgid"] == "new"
        resp.close()

    _client_run(d, body)


def test_row_limits(data_dir):
    async def body(client):
        r = await client.get("/api/v1/query", params={"q": "*"})
        assert [o["msgid"] for o in _lines(await r.text())] == ["r7", "r6", "r5"]  # query.max_rows: the newest
        r = await client.get("/api/v1/query", params={"q": "*", "limit": "5"})
        assert len(_lines(await r.text())) == 5
        r = await client.get("/api/v1/query", params={"q": "* | stats count() by (msgid)"})
        assert len(_lines(await r.text())) == 7  # aggregations are not cut by max_rows
        r = await client.get("/api/v1/query", params={"q": "*", "limit": "6"})
        assert r.status == 400 and await r.json() == {
            "error": "limit: 6 is more than query.max_rows_limit = 5; "
            "ask for fewer rows, or narrow the query (a filter or a shorter time range)",
            "position": None,
        }
        r = await client.post("/api/v1/query", json={"q": "*", "limit": 6})
        assert r.status == 400 and "query.max_rows_limit" in (await r.json())["error"]

    _client_run(data_dir, body, max_rows=3, max_rows_limit=5)


def test_timeout_is_a_503_naming_the_setting(data_dir):
    async def body(client):
        r = await client.get("/api/v1/query", params={"q": "* | stats count() by (host)"})
        assert r.status == 503 and r.headers["Content-Type"] == "application/json"
        assert await r.json() == {"error": "query timed out after 0.0 s (query.timeout)", "position": None}

    _client_run(data_dir, body, timeout="1ns")


def test_group_cap_is_a_400_with_the_position(data_dir):
    async def body(client):
        q = "host:* | stats count() by (msgid)"
        r = await client.get("/api/v1/query", params={"q": q})
        assert r.status == 400
        assert await r.json() == {
            "error": "stats by (msgid) holds more than 3 groups (query.max_groups); "
            "group by a field with fewer values, or narrow the query",
            "position": q.index("stats"),
        }
        r = await client.get("/api/v1/query", params={"q": "* | stats count() by (format)"})
        assert r.status == 200 and len(_lines(await r.text())) == 4

    _client_run(data_dir, body, max_groups=3)


def test_response_byte_cap_ends_the_stream_or_refuses(tmp_path):
    d = str(tmp_path)
    records = [record(time=T0 + i, message=b"x" * 300, app=b"small", msgid=f"m{i}".encode()) for i in range(8)]
    write_records(d, records + [record(time=T0 + 100, message=b"y" * 2000, msgid=b"big")], seq=1)

    async def body(client):
        r = await client.get("/api/v1/query", params={"q": "app:small"})
        assert r.status == 200
        text = await r.text()
        *rows, last = _lines(text)
        assert 0 < len(rows) < 8 and [o["msgid"] for o in rows] == [f"m{i}" for i in range(7, 7 - len(rows), -1)]
        assert len(text.encode()) - len(text.splitlines()[-1]) - 1 <= 1024
        assert last["position"] is None and "query.max_response_bytes = 1024" in last["error"]
        r = await client.get("/api/v1/query", params={"q": "*"})  # the newest row alone is past the cap
        assert r.status == 400 and "query.max_response_bytes" in (await r.json())["error"]
        r = await client.get("/api/v1/query", params={"q": "app:small | stats count()"})
        assert _lines(await r.text()) == [{"count()": 8}]

    _client_run(d, body, max_response_bytes="1KiB")


def test_one_query_more_than_max_concurrent_gets_429_at_once(data_dir):
    async def body(client, routes):
        assert routes.queries.capacity == 2 and routes.threads._max_workers == 2
        assert routes.queries.try_enter() and routes.queries.try_enter()  # two queries running
        try:
            r = await client.get("/api/v1/query", params={"q": "*"})
            assert r.status == 429 and r.headers["Retry-After"] == "1"
            assert await r.json() == {
                "error": "too many queries at once: 2 are running (query.max_concurrent); retry in 1 s",
                "position": None,
            }
        finally:
            routes.queries.leave()
        r = await client.get("/api/v1/query", params={"q": "*", "limit": "1"})
        assert r.status == 200 and len(_lines(await r.text())) == 1
        for _ in range(100):  # the slot comes back once the finished query is closed
            if routes.queries.held == 1:
                break
            await asyncio.sleep(0.01)
        assert routes.queries.held == 1

    _client_run(data_dir, body, max_concurrent=2)


def test_tails_have_their_own_cap(tmp_path):
    d = str(tmp_path)
    write_records(d, [record(time=T0, message=b"old", msgid=b"old")], seq=1)

    async def body(client, routes):
        first = await client.get("/api/v1/tail", params={"q": "hello"})
        assert first.status == 200
        r = await client.get("/api/v1/tail", params={"q": "hello"})
        assert r.status == 429 and r.headers["Retry-After"] == "1"
        assert "query.max_tails" in (await r.json())["error"]
        r = await client.get("/api/v1/query", params={"q": "*"})  # queries are counted apart
        assert r.status == 200
        first.close()
        for _ in range(100):  # the tail notices its client left within a poll
            if routes.tails.held == 0:
                break
            await asyncio.sleep(0.05)
        again = await client.get("/api/v1/tail", params={"q": "hello"})
        assert again.status == 200
        again.close()

    _client_run(d, body, max_tails=1)


def test_a_client_that_does_not_read_loses_its_slot_at_the_timeout(tmp_path, caplog):
    caplog.set_level(logging.INFO, "logjet.api")
    d = str(tmp_path)
    write_records(d, [record(time=T0 + i, message=b"z" * 1000, app=b"big") for i in range(30_000)], seq=1)

    async def body(client, routes):
        host, port = client.server.host, client.server.port
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(f"GET /api/v1/query?q=app:big&limit=30000 HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        await writer.drain()  # and never read: 30 MB do not fit in the socket buffers
        try:
            await asyncio.sleep(0.2)
            assert routes.queries.held == 1
            for _ in range(100):
                if routes.queries.held == 0:
                    break
                await asyncio.sleep(0.05)
            assert routes.queries.held == 0
        finally:
            writer.close()

    _client_run(d, body, timeout="1s")
    assert "not read within query.timeout: connection closed" in caplog.text


def test_what_the_query_does_not_say_is_a_400_naming_it(data_dir):
    async def get(client, path, params):
        r = await client.get(path, params=params)
        return r.status, await r.json() if r.status != 200 else _lines(await r.text())

    async def body(client):
        # LogsQL's regex filter: once a word "~" and a phrase (200, no rows), now what it says
        status, rows = await get(client, "/api/v1/query", {"q": 'app:~"^ss"'})
        assert status == 200 and [o["msgid"] for o in rows] == ["r2", "r1"]
        for q, position, words in [
            ('foo"bar"', 3, "right after 'foo'"),
            ("getUser(id)", 0, "unknown function getUser()"),
            ("* | frobnicate", 4, "unknown stage 'frobnicate'"),
            ("_time:>5m", 6, "ambiguous"),
            ("#tag", 0, "comment"),
            ("* | sort by (host) offset 5", 19, "offset is not supported"),
        ]:
            status, err = await get(client, "/api/v1/query", {"q": q})
            assert status == 400 and err["position"] == position and words in err["error"], (q, err)
        status, err = await get(client, "/api/v1/query", {"query": "app:sshd"})
        assert status == 400 and err == {
            "error": "unknown parameter 'query' (the query goes in q); this route takes q, start, end, limit",
            "position": None,
        }
        status, err = await get(client, "/api/v1/query", [("q", "a"), ("q", "b")])
        assert status == 400 and err["error"].startswith("q is given twice")
        status, err = await get(client, "/api/v1/query", {"q": "*", "start": "200", "end": "100"})
        assert status == 400 and "start (200) is not before end (100)" in err["error"]
        status, err = await get(client, "/api/v1/query", {"q": "*", "end": "yesterday"})
        assert status == 400 and err["error"].startswith("end: not a time")
        r = await client.post("/api/v1/query", json={"q": ["app:sshd"]})
        assert r.status == 400 and (await r.json())["error"] == 'q: expected a string or a number, got ["app:sshd"]'
        r = await client.post("/api/v1/query?q=app:sshd", json={"q": "app:cron"})
        assert r.status == 400 and "q is given twice (the second time in the body)" in (await r.json())["error"]
        status, err = await get(client, "/api/v1/tail", {"q": "hello", "limit": "5"})
        assert status == 400 and err["error"] == "unknown parameter 'limit'; this route takes q"
        status, err = await get(client, "/api/v1/tail", {"q": "* | stats count()"})
        assert status == 400 and err["position"] == 4

    _client_run(data_dir, body)


def test_a_small_whole_answer_is_one_plain_response_a_long_one_streams(tmp_path):
    d = str(tmp_path)
    n = 2 * CHUNK + 10  # three chunks of rows
    write_records(d, [record(time=T0 + i, message=b"row", msgid=f"m{i}".encode()) for i in range(n)], seq=1)

    async def body(client):
        r = await client.get("/api/v1/query", params={"q": "* | stats count()"})
        assert r.status == 200 and r.headers["Content-Type"] == "application/x-ndjson"
        assert "Transfer-Encoding" not in r.headers and int(r.headers["Content-Length"]) > 0
        assert _lines(await r.text()) == [{"count()": n}]
        r = await client.get("/api/v1/query", params={"q": "nothing-matches-this"})
        assert r.status == 200 and await r.text() == "" and r.headers["Content-Length"] == "0"
        r = await client.get("/api/v1/query", params={"q": "*", "limit": "5"})  # done at the limit
        assert "Transfer-Encoding" not in r.headers
        assert [o["msgid"] for o in _lines(await r.text())] == [f"m{i}" for i in range(n - 1, n - 6, -1)]
        r = await client.get("/api/v1/query", params={"q": "*", "limit": str(n)})
        assert r.headers["Transfer-Encoding"] == "chunked"
        assert [o["msgid"] for o in _lines(await r.text())] == [f"m{i}" for i in range(n - 1, -1, -1)]

    _client_run(d, body)


def test_an_answer_from_block_counts_is_made_inline_with_the_same_limits(tmp_path):
    d = str(tmp_path)
    recs = [
        record(time=T0 + i, host=b"web-%d" % (i % 3), app=b"sshd" if i % 2 else b"cron", msgid=b"m%d" % i)
        for i in range(INDEX_MIN_ROWS)
    ]
    write_records(d, recs, block_rows=256, seq=1, level=1, index_builder=make_index_builder(Storage()))
    q = "app:sshd | stats count() by (host)"
    sshd = [i for i in range(INDEX_MIN_ROWS) if i % 2]
    want = [{"host": f"web-{h}", "count()": sum(1 for i in sshd if i % 3 == h)} for h in range(3)]

    async def body(client, routes):
        r = await client.get("/api/v1/query", params={"q": q})  # on a thread: opens the part
        assert r.status == 200 and _lines(await r.text()) == want
        assert quick_answer(prepare(q), routes.catalog, None) is not None  # so the next is inline
        for _ in range(100):  # the threaded query's slot comes back once it is closed
            if routes.queries.held == 0:
                break
            await asyncio.sleep(0.01)
        r = await client.get("/api/v1/query", params={"q": q})
        assert r.status == 200 and r.headers["Content-Type"] == "application/x-ndjson"
        assert _lines(await r.text()) == want
        r = await client.get("/api/v1/query", params={"q": q, "limit": "1"})
        assert _lines(await r.text()) == want[:1]
        r = await client.get("/api/v1/query", params={"q": "* | stats count() by (host, app)"})  # 6 groups
        assert r.status == 400 and "query.max_groups" in (await r.json())["error"]
        assert routes.queries.held == 0  # an inline answer gives its slot back at once
        assert routes.queries.try_enter()  # the one slot taken: one more is refused
        try:
            r = await client.get("/api/v1/query", params={"q": q})
            assert r.status == 429
        finally:
            routes.queries.leave()

    _client_run(d, body, max_groups=3, max_concurrent=1)

    async def timed_out(client):
        r = await client.get("/api/v1/query", params={"q": q})
        assert r.status == 503 and await r.json() == {
            "error": "query timed out after 0.0 s (query.timeout)",
            "position": None,
        }

    _client_run(d, timed_out, timeout="1ns")


def test_memory_goes_back_once_no_query_ran_for_the_idle_time(data_dir, monkeypatch):
    """Threaded queries in a row keep the memory they free for the next (no trim between them:
    each would fault its buffers in again); it goes back once none ran for TRIM_AFTER_IDLE_S,
    once, and not again while nothing runs."""
    trims: list[float] = []
    monkeypatch.setattr(query_routes, "give_back", lambda: trims.append(time.monotonic()))
    monkeypatch.setattr(query_routes, "TRIM_AFTER_IDLE_S", 0.5)

    async def body(client, routes):
        q = "* | stats count() by (host)"
        assert quick_answer(prepare(q), routes.catalog, None) is None  # run on the threads
        started = time.monotonic()
        while time.monotonic() - started < 0.8:  # longer than the idle time, never idle that long
            r = await client.get("/api/v1/query", params={"q": q})
            assert r.status == 200 and routes.queries.held == 0  # each slot free at once
            last = time.monotonic()  # the last query has left by now
            await asyncio.sleep(0.05)
        assert trims == []  # none while queries kept coming
        await asyncio.sleep(last + 0.8 - time.monotonic())
        assert len(trims) == 1 and trims[0] >= last + 0.5 - 0.05  # once idle long enough
        await asyncio.sleep(0.8)
        assert len(trims) == 1  # nothing ran since: nothing to trim

    _client_run(data_dir, body)
