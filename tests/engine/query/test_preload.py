"""What a stage has a pool worker decompress before it reads a block (`Block.preload`): a field
key's first values read that key's pairs only, never every pair of the block; and a grouping or
`count_uniq` over a field key counts what the records hold."""

from __future__ import annotations

import random
from collections import Counter

from engine.config import Storage
from engine.query.block import first_value
from engine.query.catalog import Catalog
from engine.query.execute import PreparedQuery
from engine.store import layout
from engine.store.index_build import make_index_builder
from tests.engine.query.rowgen import record, write_records

BASE = 1_795_000_000 * 10**9


def _records(n: int) -> list[dict]:
    rng = random.Random(5)
    out = []
    for i in range(n):
        fields = [(b"status", rng.choice([b"200", b"404", b"503"]))]
        if rng.random() < 0.5:
            fields.append((b"path", f"/p/{rng.randrange(50)}".encode()))
        out.append(record(time=BASE + i * 10**6, message=b"GET done", fields=fields))
    return out


def _catalog(tmp_path_factory, records):
    folder = str(tmp_path_factory.mktemp("preload"))
    write_records(folder, records, block_rows=4096, level=1, index_builder=make_index_builder(Storage()))
    return Catalog(folder)


def test_a_keys_first_values_read_its_pairs_alone(tmp_path_factory):
    catalog = _catalog(tmp_path_factory, _records(5000))
    (scope,) = catalog.scopes(None, None)
    blk = scope.block(0)
    blk.preload([first_value("status"), first_value("no-such-key")])
    key_id = scope.key_id(b"status")
    assert f"first:{key_id}" in blk._spans
    # Every pair's values (the logical kv streams) were not decoded.
    assert layout.KV_DATA not in blk._columns and layout.KV_LEN not in blk._columns


def test_groups_and_distinct_counts_of_a_key_match_the_records(tmp_path_factory):
    records = _records(5000)
    catalog = _catalog(tmp_path_factory, records)

    def first(r: dict, key: bytes):
        return next((v.decode() for k, _, v in r["fields"] if k == key), None)

    want = Counter(first(r, b"path") for r in records)
    got = {o["path"]: o["n"] for o in PreparedQuery("* | stats count() as n by (path)").objects(catalog)}
    assert got == dict(want)
    (n,) = PreparedQuery("* | stats count_uniq(path) as n").objects(catalog)
    assert n == {"n": len([p for p in want if p is not None])}
