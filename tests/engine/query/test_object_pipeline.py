"""The object path (stages after one that makes fields) against the column path: the same
queries with `| filter *` in front of the stage (a stage that changes nothing but moves the
rest onto rendered objects) must answer exactly what the column stages answer, and
`Q | filter F` must select exactly the rows `Q F` does, on random rows written as real parts."""

from __future__ import annotations

import math
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.query.catalog import Catalog
from engine.query.errors import QueryError
from engine.query.execute import PreparedQuery
from engine.store.rows import KV_SD
from tests.engine.query.rowgen import record, write_records
from tests.engine.query.test_property import filters, records

STAGES = [
    "| stats count() by (host)",
    "| stats count() by (host, user)",
    "| stats count(), sum(duration_ms), min(severity), max(duration_ms), avg(duration_ms), count_uniq(user) by (app)",
    "| stats quantile(0.5, duration_ms), count() as n",
    "| stats by (_time:10m, app) count()",
    "| top 3 by (app)",
    "| histogram(5m)",
    "| histogram(10m, bytes) by (host)",
    "| uniq by (host, app) with hits",
    "| uniq by (procid) limit 100",
    "| sort by (duration_ms desc, host) | limit 5",
    "| fields host, user, severity",
    "| limit 7",
    "| stats count() as n by (app) | sort by (n desc, app) | limit 2",
]


def _one_value_per_key(rec: dict) -> dict:
    """A row object keeps one value per field key (and SD params apart): keep records so."""
    seen: set[bytes] = set()
    pairs = []
    for key, kind, value in rec["fields"]:
        if kind != KV_SD and key not in seen:
            seen.add(key)
            pairs.append((key, kind, value))
    return {**rec, "fields": pairs}


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


@pytest.mark.slow  # generated stores, every stage both ways
@settings(
    deadline=None,
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
@given(
    recs=records,
    cases=st.lists(st.tuples(filters, filters, st.sampled_from(STAGES)), min_size=1, max_size=3),
    nparts=st.integers(1, 3),
    block_rows=st.sampled_from([2, 7, 64]),
)
def test_objects_answer_as_columns_do(recs, cases, nparts, block_rows):
    recs = [_one_value_per_key(record(**r, msgid=f"id{i}".encode())) for i, r in enumerate(recs)]
    tmp = tempfile.mkdtemp(prefix="ljo-")
    try:
        for k in range(nparts):
            if recs[k::nparts]:
                write_records(tmp, recs[k::nparts], block_rows=block_rows, seq=k + 1)
        catalog = Catalog(tmp)
        for (f1, _), (f2, _), stage in cases:
            columns = list(PreparedQuery(f"{f1} {stage}").objects(catalog))
            objects = list(PreparedQuery(f"{f1} | filter * {stage}").objects(catalog))
            assert _same(objects, columns), f"{f1} | filter * {stage}"
            both = [o["msgid"] for o in PreparedQuery(f"({f1}) ({f2})").objects(catalog)]
            piped = [o["msgid"] for o in PreparedQuery(f"{f1} | filter {f2}").objects(catalog)]
            assert piped == both, f"{f1} | filter {f2}"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_limit_reaches_the_reading(data_dir):
    """A stage that keeps every row lets the limit cut the reading: the newest rows only."""
    out = list(PreparedQuery("* | math severity * 10 as s10", limit=2).objects(Catalog(data_dir)))
    assert [o["msgid"] for o in out] == ["r7", "r6"]
    assert [o["fields"]["s10"] for o in out] == [60, 70]


def test_sort_after_a_made_field_is_capped(data_dir):
    q = PreparedQuery("* | math severity as s | sort by (s)", max_groups=3)
    with pytest.raises(QueryError, match=r"holds more than 3 rows \(query.max_groups\)"):
        list(q.objects(Catalog(data_dir)))


def test_group_cap_on_objects(data_dir):
    q = PreparedQuery("* | filter * | stats count() by (msgid)", max_groups=3)
    with pytest.raises(QueryError, match=r"stats by \(msgid\) holds more than 3 groups"):
        list(q.objects(Catalog(data_dir)))


def test_stages_before_the_made_fields_choose_the_rows(run):
    out = run("* | sort by (severity) | limit 3 | math severity + 1 as s | fields msgid, s")
    assert out == [{"msgid": "r5", "s": None}, {"msgid": "r3", "s": 4}, {"msgid": "r1", "s": 5}]
    out = run("* | fields msgid, procid | math procid * 2 as p | filter p:>=200")
    assert out == [{"msgid": "r2", "procid": "2000", "p": 4000}, {"msgid": "r1", "procid": "100", "p": 200}]
