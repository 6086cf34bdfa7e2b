"""`/api/v1/query` and `/api/v1/tail` on an aiohttp test server over a data dir of parts."""

from __future__ import annotations

import asyncio
import json
import types

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from engine.api import query_routes
from tests.engine.query.conftest import T0
from tests.engine.query.rowgen import record, write_records


def _client_run(data_dir, body):
    async def main():
        app = web.Application()
        query_routes.install(app, types.SimpleNamespace(data_dir=data_dir), None, None)
        async with TestClient(TestServer(app)) as client:
            return await body(client)

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
