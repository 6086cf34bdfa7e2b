"""`_id` (engine.query.row_id) and a row's context (engine.query.context, /api/v1/context) over
real parts: ids that do not depend on where a row is stored, and the rows of the same host and
app around a row, in arrival order."""

from __future__ import annotations

import asyncio

import msgspec
import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from engine.api import context_routes, query_routes
from engine.config import Query, Settings
from engine.query.catalog import Catalog
from engine.query.context import RowNotFound, around
from engine.query.execute import run_to_objects
from engine.query.row_id import BadRowId, RowId, format_id, parse_id, row_ids
from engine.units import units_dec_hook
from tests.engine.query.conftest import T0
from tests.engine.query.rowgen import build_rows, record, write_records

S = 10**9


def _ids(records) -> list[str]:
    rows = build_rows(records)
    return row_ids(rows, np.arange(len(rows)))


def test_ids_read_back_and_tell_rows_apart():
    base = dict(time=T0, recv=T0 + 5, host=b"web-1", app=b"sshd", message=b"hello")
    variants = [
        base,
        {**base, "host": b"web-2"},
        {**base, "app": b"cron"},
        {**base, "host": b"sshd", "app": b"web-1"},  # host and app swapped
        {**base, "host": None},
        {**base, "message": b"hello!"},
        {**base, "time": T0 + 1},
        {**base, "recv": T0 + 6},
        {**base, "time": -S - 123},  # before 1970
    ]
    ids = _ids([record(**v) for v in variants])
    assert len(set(ids)) == len(ids)
    for rid, v in zip(ids, variants):
        assert len(rid) == 42 and rid == rid.lower()
        parsed = parse_id(rid)
        assert (parsed.time, parsed.recv) == (v["time"], v["recv"])
        assert format_id(parsed) == rid
    assert parse_id(ids[0].upper()) == parse_id(ids[0])


@pytest.mark.parametrize("bad", ["", "123", "zz" * 21, "0" * 16 + "." + "0" * 16 + "." + "0" * 7, "x" * 500])
def test_a_bad_id_is_a_named_error(bad):
    with pytest.raises(BadRowId, match="not a row id"):
        parse_id(bad)


def test_an_id_does_not_depend_on_where_the_row_is_stored(tmp_path):
    records = [record(time=T0 + i * S, host=b"h%d" % (i % 3), app=b"a", message=b"m%d" % i) for i in range(50)]
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    write_records(one, records, block_rows=7)
    write_records(two, records[:20], seq=1)  # other parts, other dictionaries, other blocks
    write_records(two, records[20:], seq=2)
    a = {o["message"]: o["_id"] for o in run_to_objects(one, "*")}
    b = {o["message"]: o["_id"] for o in run_to_objects(two, "*")}
    assert a == b and len(set(a.values())) == 50
    assert [o["_id"] for o in run_to_objects(one, "m7 | fields _id")] == [a["m7"]]


def _source_records() -> list[dict]:
    """web-1/sshd lines 0..29 a second apart (one batch per 10), interleaved with another host's
    and another app's lines, and rows with no host."""
    out = []
    for i in range(30):
        recv = T0 + (i // 10 + 1) * 10 * S
        out.append(record(time=T0 + i * S, recv=recv, host=b"web-1", app=b"sshd", message=b"line %d" % i))
        out.append(record(time=T0 + i * S, recv=recv, host=b"web-2", app=b"sshd", message=b"other host %d" % i))
        out.append(record(time=T0 + i * S, recv=recv, host=b"web-1", app=b"cron", message=b"other app %d" % i))
        out.append(record(time=T0 + i * S, recv=recv, host=None, app=b"sshd", message=b"no host %d" % i))
    return out


def _id_of(data_dir: str, query: str) -> str:
    (obj,) = list(run_to_objects(data_dir, query))
    return obj["_id"]


def test_context_is_the_same_source_in_arrival_order(tmp_path):
    d = str(tmp_path)
    write_records(d, _source_records()[:60], block_rows=8, seq=1)  # two parts, small blocks
    write_records(d, _source_records()[60:], block_rows=8, seq=2)
    catalog = Catalog.get(d)
    ctx = around(catalog, parse_id(_id_of(d, '"line 12"')), 5, 3)
    assert (ctx.host, ctx.app) == ("web-1", "sshd")
    assert [o["message"] for o in ctx.rows] == [f"line {i}" for i in range(7, 16)]
    assert ctx.rows[ctx.hit]["message"] == "line 12" and ctx.hit == 5
    # At the edges: what there is.
    ctx = around(catalog, parse_id(_id_of(d, '"line 1"')), 5, 0)
    assert [o["message"] for o in ctx.rows] == ["line 0", "line 1"] and ctx.hit == 1
    # No host is a value like any other.
    ctx = around(catalog, parse_id(_id_of(d, '"no host 3"')), 1, 1)
    assert [o["message"] for o in ctx.rows] == ["no host 2", "no host 3", "no host 4"]
    assert ctx.host is None


def test_arrival_order_is_receive_batch_first(tmp_path):
    # A sender whose clock jumps back: the later batch holds older stamps, and comes after.
    d = str(tmp_path)
    rows = [record(time=T0 + i * S, recv=T0 + 100 * S, host=b"h", app=b"a", message=b"first %d" % i) for i in range(3)]
    rows += [
        record(time=T0 - (3 - i) * S, recv=T0 + 200 * S, host=b"h", app=b"a", message=b"second %d" % i)
        for i in range(3)
    ]
    write_records(d, rows)
    ctx = around(Catalog.get(d), parse_id(_id_of(d, '"first 2"')), 10, 10)
    assert [o["message"] for o in ctx.rows] == ["first 0", "first 1", "first 2", "second 0", "second 1", "second 2"]
    assert ctx.hit == 2


def test_the_window_widens_for_a_quiet_source(tmp_path):
    # One line an hour, among a busy source: eight lines either side are days apart.
    d = str(tmp_path)
    quiet = [record(time=T0 + i * 3600 * S, host=b"quiet", app=b"cron", message=b"tick %d" % i) for i in range(40)]
    busy = [record(time=T0 + i * S // 10, host=b"busy", app=b"web", message=b"req %d" % i) for i in range(2000)]
    write_records(d, quiet + busy)
    ctx = around(Catalog.get(d), parse_id(_id_of(d, '"tick 20"')), 8, 8)
    assert [o["message"] for o in ctx.rows] == [f"tick {i}" for i in range(12, 29)]


def test_a_row_not_stored_is_not_found(tmp_path):
    d = str(tmp_path)
    write_records(d, _source_records())
    rid = parse_id(_id_of(d, '"line 3"'))
    with pytest.raises(RowNotFound, match="no stored row"):
        around(Catalog.get(d), RowId(rid.time, rid.recv, rid.digest ^ 1), 1, 1)


def _client_run(data_dir, body, **limits):
    settings = Settings(data_dir=data_dir, query=msgspec.convert(limits, Query, dec_hook=units_dec_hook))

    async def main():
        app = web.Application()
        context_routes.install(app, query_routes.install(app, settings, None, None))
        async with TestClient(TestServer(app)) as client:
            return await body(client)

    return asyncio.run(main())


def test_context_route(tmp_path):
    d = str(tmp_path)
    write_records(d, _source_records())
    rid = _id_of(d, '"line 20"')

    async def body(client):
        r = await client.get("/api/v1/context", params={"row": rid, "before": "2", "after": "1"})
        assert r.status == 200 and r.content_type == "application/json"
        got = await r.json()
        assert (got["host"], got["app"], got["hit"]) == ("web-1", "sshd", 2)
        assert [o["message"] for o in got["rows"]] == ["line 18", "line 19", "line 20", "line 21"]
        assert got["rows"][2]["_id"] == rid
        r = await client.get("/api/v1/context", params={"row": rid})
        assert len((await r.json())["rows"]) == 30  # 20 before asked, 20 there
        for params, message in [
            ({"row": "nope"}, "not a row id"),
            ({"row": rid, "before": "-1"}, "before: expected a count of rows from 0 to 1000"),
            ({"row": rid, "after": "1001"}, "after: expected a count"),
        ]:
            r = await client.get("/api/v1/context", params=params)
            assert r.status == 400
            body = await r.json()
            assert message in body["error"] and body["position"] is None
        other = format_id(parse_id(rid)._replace(digest=0))
        r = await client.get("/api/v1/context", params={"row": other})
        assert r.status == 404 and "no stored row" in (await r.json())["error"]

    _client_run(d, body)


def test_context_route_shares_the_query_timeout(tmp_path):
    d = str(tmp_path)
    write_records(d, _source_records())
    rid = _id_of(d, '"line 20"')

    async def body(client):
        r = await client.get("/api/v1/context", params={"row": rid})
        assert r.status == 503 and "query.timeout" in (await r.json())["error"]

    _client_run(d, body, timeout="1ns")
