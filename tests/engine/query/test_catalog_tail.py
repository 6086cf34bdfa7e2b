"""The part catalog (merged parts, vanished and damaged files) and the live tail."""

from __future__ import annotations

import os

from engine.query.catalog import Catalog
from engine.query.execute import PreparedQuery, prepare
from engine.query.tail import Tail
from tests.engine.query.conftest import S, T0
from tests.engine.query.rowgen import record, write_records


def _recs(n, start, tag):
    return [
        record(time=T0 + (start + i) * S, message=f"{tag} row {i}".encode(), msgid=f"{tag}{i}".encode())
        for i in range(n)
    ]


def count(d):
    return list(PreparedQuery("* | stats count()").objects(Catalog(d)))[0]["count()"]


def test_merged_part_hides_the_parts_it_replaces(tmp_path):
    d = str(tmp_path)
    a = write_records(d, _recs(3, 0, "a"), seq=1)
    b = write_records(d, _recs(2, 10, "b"), seq=2)
    assert count(d) == 5
    names = [os.path.basename(p) for p in a + b]
    write_records(
        d,
        _recs(3, 0, "a") + _recs(2, 10, "b"),
        seq=3,
        level=1,
        index_builder=lambda rows, blocks, w, frames: {"replaces": names},
    )
    assert count(d) == 5  # the inputs are still listed, but replaced
    for p in a + b:
        os.unlink(p)
    assert count(d) == 5


def test_vanished_and_damaged_parts(tmp_path):
    d = str(tmp_path)
    cat = Catalog(d)
    (p,) = write_records(d, _recs(3, 0, "a"), seq=1)
    assert len(cat.scopes()) == 1
    bad = os.path.join(os.path.dirname(p), "p0_1_test_00000999.ljp")
    with open(bad, "wb") as f:
        f.write(b"not a part at all" * 10)
    assert [s.path for s in cat.scopes()] == [p]
    os.unlink(p)
    assert cat.scopes() == []


def test_time_range_prunes_partitions(tmp_path):
    d = str(tmp_path)
    write_records(d, _recs(2, 0, "a"), seq=1)
    write_records(d, _recs(2, 86400 * 3, "b"), seq=2)
    cat = Catalog(d)
    assert len(cat.scopes()) == 2
    assert len(cat.scopes(T0 + 86400 * 2 * S, None)) == 1


def test_tail_sends_new_rows_once(tmp_path):
    d = str(tmp_path)
    first = write_records(d, _recs(2, 0, "old"), seq=1)
    tail = Tail(d, prepare("row -skip"))
    assert tail.poll() == []
    write_records(d, _recs(3, 5, "new") + [record(time=T0, message=b"skip row", msgid=b"s")], seq=2)
    got = tail.poll()
    assert [o["msgid"] for o in got] == ["new0", "new1", "new2"]  # oldest first
    assert tail.poll() == []
    # A merge of everything so far: its rows were sent already.
    names = [os.path.basename(p) for p in first]
    write_records(d, _recs(2, 0, "old"), seq=3, level=1, index_builder=lambda r, b, w, f: {"replaces": names})
    assert tail.poll() == []


def test_tail_fields_only(tmp_path):
    import pytest

    from engine.query.errors import QueryError

    with pytest.raises(QueryError):
        Tail(str(tmp_path), prepare("x | stats count()"))
    tail = Tail(str(tmp_path), prepare("x | fields msgid"))
    write_records(str(tmp_path), [record(time=T0, message=b"x", msgid=b"m")], seq=1)
    assert tail.poll() == [{"msgid": "m"}]


def test_tail_takes_the_stages_that_make_fields(tmp_path):
    import pytest

    from engine.query.errors import QueryError

    for refused in ("x | sort by (host)", 'x | extract "n=<n>" | limit 3', "x | unpack_logfmt | top by (n)"):
        with pytest.raises(QueryError, match="a tail takes a filter"):
            Tail(str(tmp_path), prepare(refused))
    tail = Tail(
        str(tmp_path), prepare('x | extract "n=<n> " | math n * 2 as twice | filter twice:>5 | fields msgid, twice')
    )
    write_records(
        str(tmp_path),
        [record(time=T0 + i * S, message=f"x n={i} end".encode(), msgid=f"m{i}".encode()) for i in range(5)],
    )
    assert tail.poll() == [{"msgid": "m3", "twice": 6}, {"msgid": "m4", "twice": 8}]
