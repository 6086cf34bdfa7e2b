"""Field filters answered from the index's bitmaps of a key's values (a key of few values) give
the same matches as reading the values: alone, beside other filters, under NOT, per block."""

from __future__ import annotations

import random

import pytest

from engine.config import Storage
from engine.query.catalog import Catalog
from engine.query.execute import PreparedQuery
from engine.query.field_eval import FieldRowsBound, PairsBound
from engine.query.language.parser import parse
from engine.query.values import format_time
from engine.store.index_build import make_index_builder
from tests.engine.query.rowgen import record, write_records

BASE = 1_795_000_000 * 10**9
STATUSES = [b"200", b"201", b"404", b"503", b""]


def _records(n: int) -> list[dict]:
    rng = random.Random(7)
    out = []
    for i in range(n):
        fields = []
        if rng.random() < 0.7:
            fields.append((b"status", rng.choice(STATUSES)))
        if rng.random() < 0.1:
            fields.append((b"status", rng.choice(STATUSES)))  # a key twice in a row
        fields.append((b"req", str(rng.randrange(10**6)).encode()))  # too many values for bitmaps
        message = f"request {rng.getrandbits(128):032x} done".encode()  # data that gives the index room
        out.append(record(time=BASE + i * 10**6, message=message, app=rng.choice([b"a", b"b"]), fields=fields))
    return out


def _statuses(r: dict) -> list[bytes]:
    return [v for k, _, v in r["fields"] if k == b"status"]


CASES = [
    ("status:503", lambda r: b"503" in _statuses(r)),
    ("status:>=404", lambda r: any(v and int(v) >= 404 for v in _statuses(r))),
    ("status:20*", lambda r: any(v.startswith(b"20") for v in _statuses(r))),
    ("status:*", lambda r: any(_statuses(r))),
    ("status:999", lambda r: False),
    ("app:a status:503", lambda r: r["app"] == b"a" and b"503" in _statuses(r)),
    ("NOT status:503", lambda r: b"503" not in _statuses(r)),
    ("status:503 OR status:404", lambda r: bool({b"503", b"404"} & set(_statuses(r)))),
]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("fields"))
    records = _records(5000)
    write_records(folder, records, block_rows=512, level=1, index_builder=make_index_builder(Storage()))
    return Catalog(folder), records


def test_the_part_keeps_bitmaps_of_the_few_valued_key_only(indexed):
    catalog, _ = indexed
    (scope,) = catalog.scopes(None, None)
    assert scope.index is not None
    assert scope.index.values("field:status") is not None
    assert scope.index.values("field:req") is None
    assert isinstance(parse("status:503").filter.bind(scope), FieldRowsBound)
    assert isinstance(parse("req:17").filter.bind(scope), PairsBound)


@pytest.mark.parametrize("text,pred", CASES, ids=[c[0] for c in CASES])
def test_field_rows_match_the_records(indexed, text, pred):
    catalog, records = indexed
    want = [r for r in records if pred(r)]
    assert list(PreparedQuery(f"{text} | stats count() as n").objects(catalog)) == [{"n": len(want)}]
    by_app = list(PreparedQuery(f"{text} | stats count() as n by (app)").objects(catalog))
    assert {o["app"]: o["n"] for o in by_app} == {
        a: sum(1 for r in want if r["app"] == a.encode())
        for a in ("a", "b")
        if any(r["app"] == a.encode() for r in want)
    }
    # Rows, not counts: the newest matches, one object each.
    newest = list(PreparedQuery(f"{text} | limit 5").objects(catalog))
    assert [o["_time"] for o in newest] == [format_time(r["time"]) for r in want[::-1][:5]]
