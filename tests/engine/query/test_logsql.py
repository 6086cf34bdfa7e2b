"""LogsQL spellings (docs/query.md, "Coming from LogsQL"): on the fixed data set each gives the
rows of its logjet spelling, the new filters and stages give the documented answers, and over
random rows written as real parts they agree with a brute-force model (reference.py)."""

from __future__ import annotations

import re
import shutil
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.query.catalog import Catalog
from engine.query.execute import PreparedQuery
from tests.engine.query import reference as ref
from tests.engine.query.conftest import S, T0
from tests.engine.query.rowgen import record, write_records
from tests.engine.query.test_property import APPS, BASE, HOSTS, USERS, records

EQUIVALENT = [
    ("app:=sshd", "app:sshd"),
    ('app:="sshd"', "app:sshd"),
    ("_msg:failed", "failed"),
    ("app:in(sshd, cron)", "app:sshd OR app:cron"),
    ('app:~"^ss"', "app:/^ss/"),
    ("app:~ss", "app:/ss/"),
    ('~"fail(ed|x)"', "/fail(ed|x)/"),
    ("app:!=sshd", "-app:sshd"),
    ('app:!~"^ss"', "-app:/^ss/"),
    ("i(FAILED)", "failed"),
    ("i(FAIL*)", "fail*"),
    ('{app="sshd"}', "app:sshd"),
    ('_stream:{app=~"ss.*", host!="web-1"}', "app:sshd -host:web-1"),
    ('{app=~"ss"}', "nomatch"),  # a selector's regex matches the whole value
    ("duration_ms:range(12, 3000]", "duration_ms:>12 duration_ms:<=3000"),
    ("duration_ms:range[12.5, inf)", "duration_ms:>=12.5"),
    ("'Failed password'", '"Failed password"'),
    ("`(run-parts`", '"(run-parts"'),
    ('"user":root', "user:root"),
    ("severity:in(err, warning)", "severity:err OR severity:warning"),
    (f"_time:[{T0 // S + 60}, {T0 // S + 126})", f"_time:[{T0 // S + 60} TO {T0 // S + 125}]"),
    ("failed # a comment", "failed"),
    ("app:sshd # first\n  failed", "app:sshd failed"),
]


@pytest.mark.parametrize("logsql,logjet", EQUIVALENT)
def test_spelling_gives_the_rows_of_its_logjet_form(ids, logsql, logjet):
    assert ids(logsql) == ids(logjet)


NEW_FILTERS = [
    # the whole value, on the message too; case-sensitive
    ('="Failed password for root from 10.0.0.1 port 22 ssh2"', ["r1"]),
    ('="Failed password"', []),
    ('="Failed password"*', ["r1"]),
    ('="failed password"*', []),
    ('msg:="upstream timeout"', ["r3"]),
    ('msg:="upstream"', []),
    ("procid:=100", ["r1"]),
    # i(): any case; a word on the message is in any case already, a quoted phrase is not
    ('i("failed password")', ["r1"]),
    ('"failed password"', []),
    ('"FAILED"', ["r5"]),  # the case-sensitive word: quoted
    ("host:i(WEB-1)", ["r7", "r1"]),
    ("host:i(WEB-*)", ["r7", "r2", "r1"]),
    ("user:i(ROOT)", ["r3"]),
    # no value: missing or empty
    ('user:""', ["r7", "r6", "r5", "r2", "r1"]),
    ('host:""', ["r5"]),
    ("host:in(web-1, db-1)", ["r7", "r4", "r3", "r1"]),
    ('_msg:in("CMD (run-parts /etc/cron.hourly) failedx", nothing)', ["r6"]),
    (f"_time:{T0 // S + 126} offset 1s", ["r5"]),
    ("_time:2026-11-22T10:01Z", ["r4", "r3"]),  # the minute
    ("_time:2026-11-22T10:01:02Z", ["r4"]),
    ("_time:2026-11-22", ["r7", "r6", "r5", "r4", "r3", "r2", "r1"]),
    ("_time:2026-11-21", []),
]


@pytest.mark.parametrize("query,expected", NEW_FILTERS)
def test_new_filter(ids, query, expected):
    assert ids(query) == expected


def test_uniq(run):
    assert run("* | uniq by (app)") == [{"app": v} for v in (None, "app", "cron", "nginx", "sshd")]
    assert run("* | uniq (app) with hits") == [
        {"app": None, "hits": 1},
        {"app": "app", "hits": 2},
        {"app": "cron", "hits": 1},
        {"app": "nginx", "hits": 1},
        {"app": "sshd", "hits": 2},
    ]
    assert run("app:* | uniq by (host, app)") == [
        {"host": "db-1", "app": "app"},
        {"host": "test-3", "app": "cron"},
        {"host": "web-1", "app": "nginx"},
        {"host": "web-1", "app": "sshd"},
        {"host": "web-2", "app": "sshd"},
    ]
    first_two = run("* | uniq by (app) limit 2")
    assert len(first_two) == 2 and all(o in run("* | uniq by (app)") for o in first_two)
    assert run("* | uniq by (app) with hits limit 2") == [{"app": None, "hits": 1}, {"app": "app", "hits": 2}]
    assert run("* | uniq by (app) with hits | sort by (hits desc, app) | limit 1") == [{"app": "app", "hits": 2}]
    assert run("nomatch | uniq by (app)") == []


def test_uniq_past_the_group_cap_names_it(data_dir):
    from engine.query.limits import TooManyGroups

    with pytest.raises(TooManyGroups, match=r"uniq by \(msgid\) holds more than 3 groups"):
        list(PreparedQuery("* | uniq by (msgid)", max_groups=3).objects(Catalog(data_dir)))
    # a limit stops at its count, within the cap
    assert len(list(PreparedQuery("* | uniq by (msgid) limit 2", max_groups=3).objects(Catalog(data_dir)))) == 2


def test_stats_by_time_buckets(run):
    assert run("* | stats by (_time:1m) count() as count") == run("* | histogram(1m)")
    assert run("app:sshd | stats by (_time:minute, app) count() n") == [
        {"_time": "2026-11-22T10:00:00.000000000Z", "app": "sshd", "n": 2}
    ]
    assert run("* | stats count() by (_time:2m, severity) | sort by (count() desc, _time) | limit 1") == [
        {"_time": "2026-11-22T10:00:00.000000000Z", "severity": 6, "count()": 2}
    ]
    assert run("* | top 1 by (_time:5m)") == [{"_time": "2026-11-22T10:00:00.000000000Z", "count": 6}]


def test_stats_and_sort_spellings(run, ids):
    assert run("* | count() n") == [{"n": 7}]
    assert run("* | stats (app) count() n | limit 1") == [{"app": None, "n": 1}]
    assert ids("* | sort by (duration_ms) desc") == ids("* | sort by (duration_ms desc)")
    assert ids("* | sort by (procid) desc limit 2") == ["r6", "r2"]
    assert ids("* | order by (host, _time) | limit 2") == ["r5", "r3"]


# --- random rows against the model ------------------------------------------------------------------


def _any(rec: dict, name: str, test) -> bool:
    return any(test(v) for v in ref.values(rec, name) if isinstance(v, bytes))


def _present(rec: dict, name: str) -> bool:
    return _any(rec, name, len)


leaf = st.one_of(
    st.builds(
        lambda f, v: (f"{f}:={v.decode()}", lambda r: _any(r, f, v.__eq__)),
        st.sampled_from(["host", "app"]),
        st.sampled_from([h for h in HOSTS + APPS if h]),
    ),
    st.builds(lambda v: (f'user:="{v.decode()}"', lambda r: _any(r, "user", v.__eq__)), st.sampled_from(USERS[:3])),
    st.builds(
        lambda v: (f'user:="{v}"*', lambda r: _any(r, "user", lambda x: x.startswith(v.encode()))),
        st.sampled_from(["r", "ro", "adm", "root"]),
    ),
    st.builds(
        lambda v: (
            f"host:i({v})",
            lambda r: _any(r, "host", lambda x: ref.ascii_lower(x) == ref.ascii_lower(v.encode())),
        ),
        st.sampled_from(["web-1", "WEB-1", "Db-1"]),
    ),
    st.builds(
        lambda v: (
            f"host:i({v}*)",
            lambda r: _any(r, "host", lambda x: ref.ascii_lower(x).startswith(ref.ascii_lower(v.encode()))),
        ),
        st.sampled_from(["WEB", "w", "web-1"]),
    ),
    st.builds(
        lambda a, b: (f'_msg:i("{a} {b}")', lambda r: ref.aligned(r["message"], f"{a} {b}".encode(), True)),
        st.sampled_from(["FAILED", "error", "Root"]),
        st.sampled_from(["password", "Admin", "x1"]),
    ),
    st.builds(
        lambda p: (f'user:~"{p}"', lambda r: _any(r, "user", lambda x: re.search(p.encode(), x) is not None)),
        st.sampled_from(["^ro+t$", "dm", "r.*y"]),
    ),
    st.builds(
        lambda p: (f'~"{p}"', lambda r: re.search(p.encode(), r["message"]) is not None),
        st.sampled_from(["fo+", "(?i)err", "ssh[0-9]"]),
    ),
    st.builds(
        lambda vs: (
            f"app:in({', '.join(v.decode() for v in vs)})",
            lambda r: r["app"] in vs,
        ),
        st.lists(st.sampled_from([a for a in APPS if a]), min_size=1, max_size=3),
    ),
    st.builds(
        lambda h: (
            f'{{host!~"{h}"}}',
            lambda r: not _any(r, "host", lambda x: re.fullmatch(h.encode(), x) is not None),
        ),
        st.sampled_from(["web-.*", "db-1", "w"]),
    ),
    st.sampled_from(["user", "host", "duration_ms"]).map(lambda f: (f'{f}:""', lambda r: not _present(r, f))),
    st.builds(
        lambda lo, hi: (
            f"duration_ms:range({lo}, {hi}]",
            lambda r: any((x := ref.number(v)) is not None and lo < x <= hi for v in ref.values(r, "duration_ms")),
        ),
        st.sampled_from([0, 5, 12.5]),
        st.sampled_from([120, 3000]),
    ),
)

filters = st.recursive(
    leaf,
    lambda ch: st.one_of(
        st.builds(lambda a, b: (f"({a[0]}) ({b[0]})", lambda r: a[1](r) and b[1](r)), ch, ch),
        st.builds(lambda a, b: (f"({a[0]}) OR ({b[0]})", lambda r: a[1](r) or b[1](r)), ch, ch),
        st.builds(lambda a: (f"!({a[0]})", lambda r: not a[1](r)), ch),
    ),
    max_leaves=3,
)

STAGES = ["", "| uniq by (host, app) with hits", "| stats by (_time:10m, app) count() n"]


def _key(v):
    return (v is not None, v or "")


def check(stage: str, matches: list[dict], out: list[dict]) -> None:
    if stage == "":
        assert sorted(o["msgid"] for o in out) == sorted(m["msgid"].decode() for m in matches)
        return
    want: dict = {}
    for m in matches:
        if stage.startswith("| uniq"):
            k = (ref.json_value("host", m["host"]), ref.json_value("app", m["app"]))
        else:
            bucket = (m["time"] - BASE) // (600 * 10**9)
            k = (bucket, ref.json_value("app", m["app"]))
        want[k] = want.get(k, 0) + 1
    if stage.startswith("| uniq"):
        assert [(o["host"], o["app"]) for o in out] == sorted(want, key=lambda k: (_key(k[0]), _key(k[1])))
        assert {(o["host"], o["app"]): o["hits"] for o in out} == want
    else:
        starts = [int(np.datetime64(o["_time"].rstrip("Z"), "ns").astype(np.int64)) for o in out]
        assert all(t % (600 * 10**9) == 0 for t in starts), "a bucket not aligned to the epoch"
        assert {((t - BASE) // (600 * 10**9), o["app"]): o["n"] for t, o in zip(starts, out)} == want


@settings(
    deadline=None,
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(recs=records, queries=st.lists(st.tuples(filters, st.sampled_from(STAGES)), min_size=1, max_size=3))
def test_spellings_match_brute_force(recs, queries):
    recs = [record(**r, msgid=f"id{i}".encode()) for i, r in enumerate(recs)]
    tmp = tempfile.mkdtemp(prefix="ljl-")
    try:
        write_records(tmp, recs[::2], block_rows=3, seq=1)
        write_records(tmp, recs[1::2], block_rows=3, seq=2)
        catalog = Catalog(tmp)
        for (text, pred), stage in queries:
            q = f"{text} {stage}"
            out = list(PreparedQuery(q).objects(catalog))
            try:
                check(stage, [r for r in recs if pred(r)], out)
            except AssertionError as exc:
                raise AssertionError(f"query {q!r}: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
