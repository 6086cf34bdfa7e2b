"""`Bound.rows(blk)`, the matching rows of a whole block named without masks, is exactly
`flatnonzero(eval(blk, every row))` for each bound that offers it: field pairs as numbers and
as spans (a key twice in a row counted once), dictionary and u8 tables, index bitmaps of a
key's values and of a message token; and a query over whole blocks, which takes that path,
counts what the records say."""

from __future__ import annotations

import random

import numpy as np
import pytest

from engine.config import Storage
from engine.query.catalog import Catalog
from engine.query.execute import PreparedQuery
from engine.query.field_eval import FieldRowsBound, MessageBound, PairsBound, TableBound
from engine.query.filters.boolean import _AndBound
from engine.query.language.parser import parse
from engine.store.index_build import make_index_builder
from tests.engine.query.rowgen import record, write_records

BASE = 1_795_000_000 * 10**9
HOSTS = [b"web-1", b"web-2", b"web-3", b"db-1", b"db-2"]


def _records(n: int) -> list[dict]:
    rng = random.Random(11)
    out = []
    for i in range(n):
        fields = []
        if rng.random() < 0.6:
            fields.append((b"ms", str(rng.randrange(5000)).encode()))
        if rng.random() < 0.15:
            fields.append((b"ms", rng.choice([b"4999", b"12", b"n/a", b""])))  # a key twice in a row
        if rng.random() < 0.5:
            fields.append((b"status", rng.choice([b"200", b"404", b"503"])))
        word = rng.choice(["user", "session", "kernel"])
        message = f"{word} {rng.getrandbits(256):064x} done".encode()  # room for the index
        out.append(
            record(
                time=BASE + i * 10**6,
                message=message,
                host=rng.choice(HOSTS),
                severity=rng.randrange(8),
                fields=fields,
            )
        )
    return out


def _ms(r: dict) -> list[bytes]:
    return [v for k, _, v in r["fields"] if k == b"ms"]


CASES = [
    ("ms:>2500", PairsBound, lambda r: any(v.isdigit() and int(v) > 2500 for v in _ms(r))),
    ("ms:4999", PairsBound, lambda r: b"4999" in _ms(r)),
    ("ms:12*", PairsBound, lambda r: any(v.startswith(b"12") for v in _ms(r))),
    ("status:503", FieldRowsBound, lambda r: any(k == b"status" and v == b"503" for k, _, v in r["fields"])),
    ("host:web-2", TableBound, lambda r: r["host"] == b"web-2"),
    ("host:web*", TableBound, lambda r: r["host"].startswith(b"web")),
    ("severity:<3", TableBound, lambda r: r["severity"] < 3),
    ("user", MessageBound, lambda r: r["message"].startswith(b"user ")),
    (
        "host:web-2 ms:>2500",
        _AndBound,
        lambda r: r["host"] == b"web-2" and any(v.isdigit() and int(v) > 2500 for v in _ms(r)),
    ),
    ("host:web* NOT ms:4999", _AndBound, lambda r: r["host"].startswith(b"web") and b"4999" not in _ms(r)),
    (
        "severity:<3 user ms:12*",
        _AndBound,
        lambda r: r["severity"] < 3 and r["message"].startswith(b"user ") and any(v.startswith(b"12") for v in _ms(r)),
    ),
]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("bound-rows"))
    records = _records(6000)
    write_records(folder, records, block_rows=700, level=1, index_builder=make_index_builder(Storage()))
    return Catalog(folder), records


@pytest.mark.parametrize("text,kind,pred", CASES, ids=[c[0] for c in CASES])
def test_rows_is_eval_over_every_row(indexed, text, kind, pred):
    catalog, records = indexed
    (scope,) = catalog.scopes(None, None)
    bound = parse(text).filter.bind(scope)
    assert isinstance(bound, kind)
    named_somewhere = False
    for b in range(scope.nblocks):
        blk = scope.block(b)
        named = bound.rows(blk)
        if named is None:
            continue
        named_somewhere = True
        want = np.flatnonzero(bound.eval(blk, np.ones(blk.n, np.bool_)))
        assert named.dtype.kind == "i"
        np.testing.assert_array_equal(named, want)
    assert named_somewhere
    expect = sum(1 for r in records if pred(r))
    assert list(PreparedQuery(f"{text} | stats count() as n").objects(catalog)) == [{"n": expect}]


def test_a_message_test_that_reads_messages_names_no_rows(indexed):
    catalog, _ = indexed
    (scope,) = catalog.scopes(None, None)
    bound = parse('"user 0"*').filter.bind(scope)
    assert isinstance(bound, MessageBound)
    assert bound.rows(scope.block(0)) is None


def test_a_dictionary_column_with_stored_bitmaps_names_rows_from_them(indexed):
    catalog, records = indexed
    (scope,) = catalog.scopes(None, None)
    assert scope.index is not None and scope.index.stores_bitmaps("host")
    bound = parse("host:db-1").filter.bind(scope)
    assert isinstance(bound, TableBound)
    for b in range(scope.nblocks):
        blk = scope.block(b)
        np.testing.assert_array_equal(bound.rows(blk), np.flatnonzero(blk.ids("host") == bound.only))
    assert bound._part_rows is not None  # from the bitmaps: no column was read for it
    # A share of the part above STORED_ROWS_MAX_SHARE reads the column instead.
    wide = parse("host:web*").filter.bind(scope)
    assert isinstance(wide, TableBound)
    np.testing.assert_array_equal(
        wide.rows(scope.block(0)), np.flatnonzero(np.isin(scope.block(0).ids("host"), np.flatnonzero(wide.table)))
    )
    assert wide._part_rows is None
