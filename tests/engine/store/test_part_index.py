"""engine.store.index_build and index_read: every lookup against a brute-force scan of the rows, stored and derived
bitmaps alike; blooms without false negatives; the field cardinality cap; damage; size."""

import random

import numpy as np
import pytest

from bench.generate import messages
from bench.rows import rows_from_lines, sort_by_time
from engine.config import Storage
from engine.store import index_build
from engine.store.index_build import make_index_builder
from engine.store.index_read import PartIndex
from engine.store.part_reader import Part, PartDamaged, PartOptions, write_part
from engine.store.rows import DICT_COLUMNS, FORMATS, NO_VALUE
from native_kernels.tokens import tokenize

START = 1_700_000_000


def _mixed_lines(n: int) -> list[bytes]:
    rng = random.Random(5)
    lines = messages(n // 2, seed=1, now=START) + messages(n // 4, seed=2, rfc5424=True, now=START)
    for i in range(n - len(lines)):
        kind = rng.randrange(3)
        if kind == 0:
            lines.append(
                b'<%d>1 2023-11-14T22:13:%02dZ box%d app%d %d ID%d [meta@1 zone="z%d" seq="%d"] sd row %d'
                % (rng.randrange(192), i % 60, i % 3, i % 4, i, i % 5, i % 2, i, i)
            )
        elif kind == 1:
            lines.append(
                b'{"level": "warn", "service": "svc%d", "region": "r%d", "msg": "json row %d"}' % (i % 3, i % 2, i)
            )
        else:
            lines.append(b"plain text row %d color=%s" % (i, [b"red", b"green", b"blue"][i % 3]))
    return lines


@pytest.fixture(scope="module")
def rows():
    return sort_by_time(rows_from_lines(_mixed_lines(6000), recv_ns=START * 10**9))


def _truth(rows, column, value):
    out = []
    for i in range(len(rows)):
        if column in DICT_COLUMNS:
            hit = rows.value(column, i) == value
        elif column in ("severity", "facility"):
            v = int(getattr(rows, column)[i])
            hit = v != NO_VALUE and str(v).encode() == value
        elif column == "format":
            hit = FORMATS[int(rows.format[i])].encode() == value
        else:
            key = column.split(":", 1)[1].encode()
            hit = any(k == key and v == value for k, _, v in rows.fields(i))
        if hit:
            out.append(i)
    return out


def _truth_values(rows, column):
    if column in DICT_COLUMNS:
        return {rows.value(column, i) for i in range(len(rows))} - {None}
    if column in ("severity", "facility"):
        return {str(int(v)).encode() for v in getattr(rows, column) if v != NO_VALUE}
    if column == "format":
        return {FORMATS[int(v)].encode() for v in rows.format}
    key = column.split(":", 1)[1].encode()
    return {v for i in range(len(rows)) for k, _, v in rows.fields(i) if k == key}


def _share(monkeypatch, share):
    # The whole index and its base columns' part of it alike.
    monkeypatch.setattr(index_build, "INDEX_SHARE", share)
    monkeypatch.setattr(index_build, "SMALL_PART_SHARE", share)


def _write(tmp_path, rows, **storage):
    path = str(tmp_path / "p.ljp")
    write_part(
        path,
        rows,
        PartOptions(
            level=0,
            instance="i",
            flush_id="f",
            block_rows=1024,
            fsync=False,
            index_builder=make_index_builder(Storage(**storage)),
        ),
    )
    return path


@pytest.mark.parametrize("share", [10.0, 0.0], ids=["stored", "derived"])
def test_value_rows_match_a_scan(tmp_path, rows, monkeypatch, share):
    _share(monkeypatch, share)
    path = _write(tmp_path, rows, index_max_values=16)
    with Part(path) as part:
        idx = PartIndex(part)
        meta = part.meta.index
        if share:
            # Whatever the room, a near-unique column (procid here) gets no bitmaps.
            sparse = {c for c in index_build.BASE_COLUMNS if index_build._too_many_values(rows, c)}
            assert sparse and sparse <= set(meta["derived"])
            assert set(index_build.BASE_COLUMNS) - sparse <= set(meta["stored"])
        else:
            assert set(meta["stored"]) == set() and set(meta["derived"]) == set(index_build.BASE_COLUMNS)
        columns = list(index_build.BASE_COLUMNS) + ["field:color", "field:meta@1.zone", "field:region", "field:level"]
        for column in columns:
            values = idx.values(column)
            if column.startswith("field:") and not share:
                assert values is None and idx.value_rows(column, b"red") is None
                continue
            assert set(values) == _truth_values(rows, column), column
            for value in sorted(values)[:12]:
                truth = _truth(rows, column, value)
                for _ in range(2):  # the second time from what the first kept (derived ones are)
                    got = idx.value_rows(column, value)
                    assert list(got) == truth, (column, value)
                    got.add(1 << 31)  # the caller's own copy: changing it changes nothing kept
            assert len(idx.value_rows(column, b"no such value")) == 0
        assert idx.value_rows("field:no-such-key", b"x") is None
        assert idx.size_bytes() == part.head.index_bytes > 0


def test_field_cardinality_cap(tmp_path, rows, monkeypatch):
    _share(monkeypatch, 10.0)
    path = _write(tmp_path, rows, index_max_values=3)
    with Part(path) as part:
        idx = PartIndex(part)
        assert set(idx.values("field:color")) == {b"red", b"green", b"blue"}
        assert idx.values("field:meta@1.seq") is None  # one value per row: over the cap
        assert idx.value_rows("field:meta@1.seq", b"1") is None
    path = _write(tmp_path, rows, index_max_values=0)
    with Part(path) as part:
        assert PartIndex(part).values("field:color") is None


def test_blooms_have_no_false_negatives(tmp_path, rows):
    path = _write(tmp_path, rows)
    rng = random.Random(3)
    with Part(path) as part:
        idx = PartIndex(part)
        n_blocks = len(part.meta.blocks)
        assert idx.blocks_maybe_containing([]) == list(range(n_blocks))
        for i in rng.sample(range(len(rows)), 200):
            words = tokenize(rows.message(i))
            if not words:
                continue
            probe = rng.sample(words, min(3, len(words)))
            assert i // 1024 in idx.blocks_maybe_containing(probe)
        # A word in no message is ruled out of (nearly) every block.
        misses = sum(len(idx.blocks_maybe_containing([b"zz%dqq" % k])) for k in range(100))
        assert misses <= 0.1 * 100 * n_blocks


def test_part_without_index_answers_none(tmp_path, rows):
    path = str(tmp_path / "p.ljp")
    write_part(path, rows, PartOptions(level=0, instance="i", flush_id="f", fsync=False))
    with Part(path) as part:
        idx = PartIndex(part)
        assert idx.value_rows("host", b"x") is None and idx.values("app") is None
        assert idx.blocks_maybe_containing([b"x"]) == list(range(len(part.meta.blocks)))
        assert idx.size_bytes() == 0


def test_a_part_of_few_rows_gets_no_index(tmp_path, rows):
    # Scanning a few hundred rows costs less than an index's directory and frames would.
    n = index_build.INDEX_MIN_ROWS
    path = _write(tmp_path, rows.take(np.arange(n - 1)))
    with Part(path) as part:
        assert part.meta.index == {} and part.head.index_bytes == 0
        assert PartIndex(part).value_rows("host", rows.value("host", 0)) is None
    path = _write(tmp_path, rows.take(np.arange(n)))
    with Part(path) as part:
        assert part.meta.index["split_blooms"] and part.head.index_bytes > 0


def test_damaged_index_blob_is_reported(tmp_path, rows, monkeypatch):
    _share(monkeypatch, 10.0)
    path = _write(tmp_path, rows)
    with Part(path) as part:
        offset = part.meta.index["stored"]["host"][0]
        bloom_at, _ = part.meta.index["split_blooms"]
    for where in (offset + 6, bloom_at + 6):
        with open(path, "r+b") as f:
            f.seek(where)
            byte = f.read(1)
            f.seek(where)
            f.write(bytes([byte[0] ^ 0xFF]))
    with Part(path) as part:
        idx = PartIndex(part)
        with pytest.raises(PartDamaged):
            idx.value_rows("host", b"x")
        with pytest.raises(PartDamaged):
            idx.blocks_maybe_containing([b"x"])
