"""The Loki routes on an aiohttp test server over a data dir of parts: parameters as Loki reads
them, the `[query]` limits and their plain-text errors, and the tail WebSocket."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import msgspec
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from engine.api import loki_routes, query_routes
from engine.api.loki_params import parse_timestamp
from engine.config import Query, Settings
from engine.units import units_dec_hook
from tests.engine.query.conftest import T0
from tests.engine.query.rowgen import record, write_records

S = 10**9


def _run(data_dir, body, **limits):
    settings = Settings(data_dir=data_dir, query=msgspec.convert(limits, Query, dec_hook=units_dec_hook))

    async def main():
        app = web.Application()
        queries = query_routes.install(app, settings, None, None)
        loki_routes.install(app, queries, None)
        async with TestClient(TestServer(app)) as client:
            return await (body(client, queries) if body.__code__.co_argcount == 2 else body(client))

    return asyncio.run(main())


def test_loki_times_and_steps_as_loki_reads_them():
    assert parse_timestamp("1700000000") == 1_700_000_000 * S
    assert parse_timestamp("1700000000123456789") == 1_700_000_000_123_456_789
    assert parse_timestamp("1700000000.5") == 1_700_000_000_500_000_000
    assert parse_timestamp("2023-11-14T22:13:20.000000123Z") == 1_700_000_000 * S + 123


def test_query_range_get_and_post(data_dir):
    async def body(client):
        params = {"query": '{app="sshd"}', "start": str(T0 - S), "end": str(T0 + 1000 * S), "limit": "1"}
        r = await client.get("/loki/api/v1/query_range", params=params)
        assert r.status == 200 and r.content_type == "application/json"
        got = await r.json()
        assert got["status"] == "success" and got["data"]["resultType"] == "streams"
        assert [v for s in got["data"]["result"] for v in s["values"]] == [
            [str(T0 + 30 * S), "Accepted publickey for admin from 10.0.0.2 port 22 ssh2"]
        ]
        form = {
            "query": 'sum(count_over_time({app="sshd"}[1m]))',
            "start": str(T0 // S),
            "end": str(T0 // S + 60),
            "step": "60000ms",
        }
        r = await client.post("/loki/api/v1/query_range", data=form)
        got = await r.json()
        assert got["data"]["result"] == [{"metric": {}, "values": [[T0 / S, "1"], [T0 / S + 60, "1"]]}]
        r = await client.get("/loki/api/v1/query", params={"query": "vector(1)+vector(1)", "time": "4"})
        assert (await r.json())["data"]["result"] == [{"metric": {}, "value": [4.0, "2"]}]

    _run(data_dir, body)


def test_metadata_routes(data_dir):
    async def body(client):
        span = {"start": str(T0 - S), "end": str(T0 + 1000 * S)}
        r = await client.get("/loki/api/v1/labels", params=span)
        assert await r.json() == {
            "status": "success",
            "data": ["app", "detected_level", "facility", "host", "severity"],
        }
        r = await client.get("/loki/api/v1/label/host/values", params={**span, "query": '{app="sshd"}'})
        assert (await r.json())["data"] == ["web-1", "web-2"]
        r = await client.get("/loki/api/v1/series", params=[("match[]", '{app="nginx"}'), *span.items()])
        assert (await r.json())["data"] == [
            {"app": "nginx", "detected_level": "info", "facility": "user", "host": "web-1", "severity": "info"}
        ]
        r = await client.get("/loki/api/v1/index/stats", params={**span, "query": '{app="nginx"}'})
        assert (await r.json())["entries"] == 1
        r = await client.get("/loki/api/v1/index/volume", params={**span, "query": '{app=~".+"}'})
        got = await r.json()
        assert got["data"]["resultType"] == "vector" and len(got["data"]["result"]) == 4
        r = await client.get("/loki/api/v1/status/buildinfo")
        assert (await r.json())["version"]
        r = await client.get("/loki/api/v1/detected_fields", params={"query": '{app="x"}'})
        assert (await r.json())["fields"] == []

    _run(data_dir, body)


def test_bad_requests_are_plain_text_400s(data_dir):
    async def body(client):
        cases = [
            ("/loki/api/v1/query_range", {"query": '{app="x"'}, "parse error at line 1, col 9: syntax error"),
            ("/loki/api/v1/query_range", {"query": '{app="x"} | line_format "x"'}, "`| line_format`"),
            ("/loki/api/v1/query_range", {"query": '{app="x"}', "start": "soon"}, "invalid start"),
            ("/loki/api/v1/query_range", {"query": '{app="x"}', "step": "0"}, "zero or negative"),
            ("/loki/api/v1/query_range", {"query": '{app="x"}', "direction": "up"}, "invalid direction"),
            ("/loki/api/v1/query_range", {"query": '{app="x"}', "limit": "5000000"}, "query.max_rows_limit"),
            ("/loki/api/v1/query_range", {}, "missing query"),
            ("/loki/api/v1/query", {"query": '{app="x"}'}, "not supported as an instant query"),
            ("/loki/api/v1/series", {}, "at least one match[]"),
            ("/loki/api/v1/label/a-b/values", {}, "invalid label name"),
        ]
        for path, params, words in cases:
            r = await client.get(path, params=params)
            text = await r.text()
            assert r.status == 400 and r.content_type == "text/plain", (path, params, text)
            assert words in text, (params, text)

    _run(data_dir, body)


def test_limits_too_many_timeout_and_size(data_dir):
    async def busy(client, queries):
        while queries.queries.try_enter():
            pass
        try:
            r = await client.get("/loki/api/v1/query_range", params={"query": '{app="sshd"}'})
            assert r.status == 429 and r.headers["Retry-After"] == "1"
            assert "query.max_concurrent" in await r.text()
        finally:
            for _ in range(queries.queries.capacity):
                queries.queries.leave()

    _run(data_dir, busy, max_concurrent=2)

    async def slow(client):
        params = {"query": 'sum(count_over_time({app=~".+"}[1m]))', "start": str(T0 - S), "end": str(T0 + 999 * S)}
        r = await client.get("/loki/api/v1/query_range", params=params)
        assert r.status == 503 and "query.timeout" in await r.text()

    _run(data_dir, slow, timeout="1ns")

    async def big(client):
        params = {"query": '{app=~".+"}', "start": str(T0 - S), "end": str(T0 + 999 * S)}
        r = await client.get("/loki/api/v1/query_range", params=params)
        assert r.status == 400 and "query.max_response_bytes" in await r.text()

    _run(data_dir, big, max_response_bytes="1KiB")


def test_tail_sends_history_then_new_rows(tmp_path):
    d = str(tmp_path)
    write_records(d, [record(time=T0, message=b"old hello", app=b"tailapp")], seq=1)

    async def body(client):
        params = {"query": '{app="tailapp"} |= "hello"', "start": str(T0 - S), "limit": "10"}
        async with client.ws_connect("/loki/api/v1/tail", params=params) as ws:
            first = json.loads((await ws.receive(timeout=5)).data)
            assert [v[1] for s in first["streams"] for v in s["values"]] == ["old hello"]
            await asyncio.to_thread(
                write_records,
                d,
                [
                    record(time=T0 + S, message=b"new hello", app=b"tailapp"),
                    record(time=T0 + 2 * S, message=b"bye", app=b"tailapp"),
                ],
                seq=2,
            )
            second = json.loads((await ws.receive(timeout=5)).data)
            labels = {"app": "tailapp", "severity": "info", "facility": "user", "detected_level": "info"}
            assert second["streams"] == [{"stream": labels, "values": [[str(T0 + S), "new hello"]]}]
        r = await client.get("/loki/api/v1/tail", params={"query": 'rate({app="x"}[1m])'})
        assert r.status == 400 and "only a log query" in await r.text()

    _run(d, body)


def test_tails_count_against_max_tails(tmp_path):
    d = str(tmp_path)
    write_records(d, [record(time=T0, message=b"x", app=b"a")], seq=1)

    async def body(client):
        async with client.ws_connect("/loki/api/v1/tail", params={"query": '{app="a"}'}):
            r = await client.get("/loki/api/v1/tail", params={"query": '{app="a"}'})
            assert r.status == 429 and "query.max_tails" in await r.text()
        # The client went away: its slot is given back within a poll or two.
        deadline = asyncio.get_running_loop().time() + 5
        while True:
            try:
                async with client.ws_connect("/loki/api/v1/tail", params={"query": '{app="a"}'}) as ws:
                    assert not ws.closed
                    break
            except aiohttp.WSServerHandshakeError as exc:
                assert exc.status == 429 and asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.1)

    _run(d, body, max_tails=1)
