"""A small fixed data set written as real parts, shared by the filter and stage tests."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.query.catalog import Catalog
from engine.query.execute import PreparedQuery
from engine.store.rows import KV_SD
from tests.engine.query.rowgen import record, write_records

T0 = int(dt.datetime(2026, 11, 22, 10, tzinfo=dt.timezone.utc).timestamp()) * 10**9
S = 10**9

# id: (seconds after T0, fields); every row gets msgid = its id so tests can name rows.
ROWS = {
    "r1": dict(
        dt=0,
        host=b"web-1",
        app=b"sshd",
        severity=4,
        facility=4,
        format=2,
        message=b"Failed password for root from 10.0.0.1 port 22 ssh2",
        procid=b"100",
    ),
    "r2": dict(
        dt=30,
        host=b"web-2",
        app=b"sshd",
        severity=6,
        facility=4,
        format=2,
        message=b"Accepted publickey for admin from 10.0.0.2 port 22 ssh2",
        procid=b"2000",
    ),
    "r3": dict(
        dt=61,
        host=b"db-1",
        app=b"app",
        severity=3,
        facility=16,
        format=1,
        message=b'level=error msg="upstream timeout" duration_ms=3000 user=root',
        fields=[(b"level", b"error"), (b"msg", b"upstream timeout"), (b"duration_ms", b"3000"), (b"user", b"root")],
    ),
    "r4": dict(
        dt=62,
        host=b"db-1",
        app=b"app",
        severity=6,
        facility=16,
        format=1,
        message=b"level=info msg=done duration_ms=12.5 user=alice",
        fields=[(b"level", b"info"), (b"msg", b"done"), (b"duration_ms", b"12.5"), (b"user", b"alice")],
    ),
    "r5": dict(
        dt=125,
        host=None,
        app=None,
        severity=255,
        facility=255,
        format=0,
        message=b"FAILED to start: ERROR code 7 (naive)",
    ),
    "r6": dict(
        dt=126,
        host=b"test-3",
        app=b"cron",
        severity=7,
        facility=9,
        format=1,
        message=b"CMD (run-parts /etc/cron.hourly) failedx",
        procid=b"abc",
        fields=[(b"meta@1.seq", KV_SD, b"5"), (b"user", b"")],
    ),
    "r7": dict(
        dt=400,
        host=b"web-1",
        app=b"nginx",
        severity=6,
        facility=1,
        format=3,
        message=b'{"status": 500}',
        fields=[(b"status", b"500"), (b"duration_ms", b"x")],
    ),
}


def make_records():
    return [
        record(time=T0 + spec.pop("dt") * S, msgid=rid.encode(), **spec)
        for rid, spec in ((rid, dict(spec)) for rid, spec in ROWS.items())
    ]


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("query-data")
    recs = make_records()
    # Two parts with tiny blocks, so that queries cross blocks and parts.
    write_records(str(d), recs[:4], block_rows=2, seq=1)
    write_records(str(d), recs[4:], block_rows=2, seq=2)
    return str(d)


@pytest.fixture
def run(data_dir):
    def run(query: str, start=None, end=None, limit=None) -> list[dict]:
        return list(PreparedQuery(query, start, end, limit).objects(Catalog(data_dir)))

    return run


@pytest.fixture
def ids(run):
    def ids(query: str, **kw) -> list[str]:
        return [o["msgid"] for o in run(query, **kw)]

    return ids
