"""Counts answered from the index's block counts equal the plain scan's, and a brute-force count
of the records: real parts written with the real index builder, filters and aggregations on the
count columns (host, app, severity), whole time ranges and ranges that cut blocks."""

from __future__ import annotations

import random

import numpy as np
import pytest

import engine.query.execute as execute_mod
from engine.config import Storage
from engine.query.catalog import Catalog
from engine.query.execute import PreparedQuery
from engine.store.index_build import COUNT_COLUMNS, block_counts, make_index_builder
from engine.store.index_format import decode_block_counts, encode_block_counts
from engine.store.part_format import PartDamaged
from engine.store.rows import NO_VALUE
from tests.engine.query import reference as ref
from tests.engine.query.rowgen import build_rows, record, write_records

T0 = 1_795_000_000 * 10**9
HOSTS = [None, b"web-1", b"web-2", b"db-1", b"db-2"]
APPS = [None, b"sshd", b"nginx", b"cron"]
SEVERITIES = [0, 3, 4, 6, 7, NO_VALUE]


def _records(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [
        record(
            time=T0 + i * 10**6,
            host=rng.choice(HOSTS),
            app=rng.choice(APPS[:2] if i % 3 else APPS),  # skewed: sshd twice as common
            severity=rng.choice(SEVERITIES),
            message=b"m %d" % i,
            msgid=b"id%d" % i,
        )
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Two indexed parts of 256-row blocks, and the records they hold."""
    data = str(tmp_path_factory.mktemp("counts"))
    recs = _records(3000, 1)
    build = make_index_builder(Storage())
    write_records(data, recs[:1800], block_rows=256, seq=1, level=1, index_builder=build)
    write_records(data, recs[1800:], block_rows=256, seq=2, level=1, index_builder=build)
    scopes = Catalog(data).scopes()
    assert [s.index.count_columns for s in scopes] == [list(COUNT_COLUMNS)] * 2
    return data, recs


FILTERS = [
    ("*", lambda r: True),
    ("app:sshd", lambda r: r["app"] == b"sshd"),
    ("host:db-1 app:sshd", lambda r: r["host"] == b"db-1" and r["app"] == b"sshd"),
    ("host:web-* OR severity:<=3", lambda r: (r["host"] or b"").startswith(b"web-") or r["severity"] <= 3),
    ("-app:cron severity:info", lambda r: r["app"] != b"cron" and r["severity"] == 6),
    ("host:nowhere", lambda r: False),
]
STAGES = [
    "| stats count()",
    "| stats count() by (host)",
    "| stats count() by (host, app)",
    "| stats count(), count_uniq(app) by (severity)",
    "| stats count_uniq(host)",
    "| top 3 by (host, app)",
    "| uniq by (host, app) with hits",
]


def _brute(stage: str, matches: list[dict]) -> list[dict]:
    """The stage's answer over matching records, computed by hand."""
    if stage.startswith("| uniq"):
        cells = _brute("| stats count() by (host, app)", matches)
        return [{"host": o["host"], "app": o["app"], "hits": o["count()"]} for o in cells]
    if stage.startswith("| top 3"):
        cells = _brute("| stats count() by (host, app)", matches)
        # Most frequent first, ties by value (None lowest): the executor's order, by hand.
        cells.sort(
            key=lambda o: (-o["count()"], o["host"] is not None, o["host"] or "", o["app"] is not None, o["app"] or "")
        )
        return [{"host": o["host"], "app": o["app"], "count": o["count()"]} for o in cells[:3]]
    if stage == "| stats count()":
        return [{"count()": len(matches)}]
    if stage == "| stats count_uniq(host)":
        return [{"count_uniq(host)": len({m["host"] for m in matches} - {None})}]
    keys = {"| stats count() by (host)": ["host"], "| stats count() by (host, app)": ["host", "app"]}.get(
        stage, ["severity"]
    )
    groups: dict = {}
    for m in matches:
        k = tuple(ref.json_value(f, ref.first(m, f)) for f in keys)
        groups.setdefault(k, []).append(m)
    out = []
    for k, ms in groups.items():
        obj: dict = dict(zip(keys, k))
        obj["count()"] = len(ms)
        if "count_uniq" in stage:
            obj["count_uniq(app)"] = len({m["app"] for m in ms} - {None})
        out.append(obj)
    return out


def _canon(objs: list[dict]) -> list[str]:
    return sorted(repr(sorted(o.items())) for o in objs)


def _scan_only(monkeypatch) -> None:
    # The oracle: the same executor with no unit answered from block counts.
    monkeypatch.setattr(execute_mod, "split_counted", lambda units, agg: ([], list(units)))


@pytest.mark.parametrize("window", [None, (T0 + 300 * 10**6, T0 + 2_700 * 10**6)])
@pytest.mark.parametrize("flt", FILTERS, ids=[f[0] for f in FILTERS])
def test_counts_match_scan_and_brute_force(store, monkeypatch, flt, window):
    data, recs = store
    start, end = window or (None, None)
    matches = [r for r in recs if flt[1](r) and (start is None or start <= r["time"] < end)]
    for stage in STAGES:
        q = PreparedQuery(f"{flt[0]} {stage}", start, end)
        got = list(q.objects(Catalog(data)))
        with monkeypatch.context() as mp:
            _scan_only(mp)
            scanned = list(PreparedQuery(f"{flt[0]} {stage}", start, end).objects(Catalog(data)))
        assert got == scanned, stage
        assert _canon(got) == _canon(_brute(stage, matches)), stage


def test_counts_answer_whole_blocks_without_reading(store, monkeypatch):
    data, _ = store
    read: list[int] = []
    real = execute_mod.evaluate

    def counting(unit, *a, **k):
        read.append(unit.block_number)
        return real(unit, *a, **k)

    monkeypatch.setattr(execute_mod, "evaluate", counting)
    list(PreparedQuery("host:db-1 app:sshd | stats count() by (severity)").objects(Catalog(data)))
    assert read == []
    # A range that cuts blocks reads only the two blocks it cuts.
    list(PreparedQuery("app:sshd | stats count()", T0 + 300 * 10**6, T0 + 2_700 * 10**6).objects(Catalog(data)))
    assert len(read) == 2
    # A filter on another column reads its blocks.
    read.clear()
    list(PreparedQuery("facility:1 | stats count()").objects(Catalog(data)))
    assert read


def test_parts_without_counts_still_answer(tmp_path):
    """A part written before block counts (index version 2) is read as before."""
    recs = _records(1500, 2)
    build = make_index_builder(Storage())

    def old(rows, blocks, writer, frames):
        directory = build(rows, blocks, writer, frames)
        directory.pop("counts")
        directory.pop("count_columns")
        directory["version"] = 2
        return directory

    write_records(str(tmp_path), recs, block_rows=256, level=1, index_builder=old)
    cat = Catalog(str(tmp_path))
    assert cat.scopes()[0].index.count_columns == []
    got = list(PreparedQuery("app:sshd | stats count() by (host)").objects(cat))
    want = _brute("| stats count() by (host)", [r for r in recs if r["app"] == b"sshd"])
    assert _canon(got) == _canon(want)


def test_block_counts_round_trip_and_damage():
    recs = _records(1000, 3)
    rows = build_rows(recs)
    from engine.store.part_format import BlockMeta

    blocks = [BlockMeta(min(300, len(rows) - lo), 0, 0, {}) for lo in range(0, len(rows), 300)]
    counts = block_counts(rows, blocks)
    assert counts is not None
    blob = encode_block_counts(counts)
    back = decode_block_counts(blob, len(COUNT_COLUMNS), len(blocks))
    for b, block in enumerate(blocks):
        lo = b * 300
        want: dict = {}
        for i in range(lo, lo + block.rows):
            k = (int(rows.ids["host"][i]), int(rows.ids["app"][i]), int(rows.severity[i]))
            want[k] = want.get(k, 0) + 1
        e = slice(int(back.ends[b]), int(back.ends[b + 1]))
        got = {
            tuple(int(c[k]) for c in back.codes): int(n) for k, n in zip(back.combo[e].tolist(), back.rows[e].tolist())
        }
        assert got == want
    with pytest.raises(PartDamaged):
        decode_block_counts(blob[:-4], len(COUNT_COLUMNS), len(blocks))
    with pytest.raises(PartDamaged):
        decode_block_counts(blob, len(COUNT_COLUMNS), len(blocks) + 1)
    bad = bytearray(blob)
    e = int(back.ends[-1])
    at = len(blob) - 8 * e  # the first entry's combination
    bad[at : at + 4] = np.uint32(10**6).tobytes()
    with pytest.raises(PartDamaged):
        decode_block_counts(bytes(bad), len(COUNT_COLUMNS), len(blocks))


def test_a_part_of_few_blocks_keeps_counts_too(tmp_path):
    recs = _records(1500, 4)
    write_records(str(tmp_path), recs, block_rows=1024, level=1, index_builder=make_index_builder(Storage()))
    cat = Catalog(str(tmp_path))
    assert cat.scopes()[0].index.count_columns == list(COUNT_COLUMNS)  # 2 blocks: the newest rows
    got = list(PreparedQuery("host:db-1 | stats count() by (app)").objects(cat))
    want = [
        {"app": o["host"], "count()": o["count()"]}
        for o in _brute("| stats count() by (host)", [{**r, "host": r["app"]} for r in recs if r["host"] == b"db-1"])
    ]
    assert _canon(got) == _canon(want)


def test_time_filters_in_the_query_narrow_the_range_and_keep_counting(store, monkeypatch):
    """`_time:[A TO B] app:sshd` (a range every match meets) becomes the query's time range: the
    same answer as the unfolded filter and as by hand, with only the blocks it cuts read."""
    data, recs = store
    a, b = T0 // 10**9, T0 // 10**9 + 2  # seconds: rows are 1 ms apart from T0, 3 s in all
    lo, hi = a * 10**9, b * 10**9
    queries = [
        (
            f"_time:[{a} TO {b}] app:sshd | stats count() by (host)",
            lambda r: lo <= r["time"] <= hi and r["app"] == b"sshd",
        ),
        (
            f"app:sshd _time:>={a + 1} | stats count() by (host)",
            lambda r: r["time"] >= lo + 10**9 and r["app"] == b"sshd",
        ),
        (
            f"(_time:[{a} TO {b}] OR host:db-1) | stats count() by (host)",
            lambda r: lo <= r["time"] <= hi or r["host"] == b"db-1",
        ),
    ]
    read: list[int] = []
    real = execute_mod.evaluate

    def counting(unit, *args, **kw):
        read.append(unit.block_number)
        return real(unit, *args, **kw)

    for text, pred in queries:
        read.clear()
        with monkeypatch.context() as mp:
            mp.setattr(execute_mod, "evaluate", counting)
            got = list(PreparedQuery(text).objects(Catalog(data)))
        with monkeypatch.context() as mp:
            mp.setattr(execute_mod, "fold_time", lambda f, s, e: (f, s, e))
            _scan_only(mp)
            unfolded = list(PreparedQuery(text).objects(Catalog(data)))
        assert got == unfolded, text
        assert _canon(got) == _canon(_brute("| stats count() by (host)", [r for r in recs if pred(r)])), text
        if "OR" not in text:
            assert len(read) <= 2, text  # the blocks the range cuts; the rest from block counts


def test_block_counts_naming_values_the_part_lacks_are_damage(tmp_path):
    """Codes past the part's dictionary are reported as a damaged part, never an IndexError."""
    recs = _records(1500, 5)
    build = make_index_builder(Storage())

    def bad(rows, blocks, writer, frames):
        counts = block_counts(rows, blocks)
        counts.codes[0][:] = 10**6  # hosts the dictionary does not have
        directory = build(rows, blocks, writer, frames)
        directory["counts"] = list(writer.append(writer.compress(encode_block_counts(counts))))
        return directory

    write_records(str(tmp_path), recs, block_rows=256, level=1, index_builder=bad)
    with pytest.raises(PartDamaged, match="block counts of host"):
        list(PreparedQuery("app:sshd | stats count()").objects(Catalog(str(tmp_path))))
