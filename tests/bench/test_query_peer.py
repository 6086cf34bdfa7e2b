"""`logjet bench query --peer victorialogs`: the LogsQL twins of the suite, the rows sent to the
peer, the canonical answers and their comparison; and, where the binary is installed, the whole
bench against a real VictoriaLogs on a small data set."""

from __future__ import annotations

import argparse
import json
from collections import Counter

import pytest

from bench import query as bq
from bench import query_answers as qa
from bench import query_twins as qt
from bench.peers import victorialogs as vl
from bench.query_peer import run_query_peer
from bench.rows import rows_from_lines
from bench.victorialogs_rows import rows_json
from engine.query.errors import QueryError
from engine.query.execute import prepare
from tests.conftest import CORPUS

# --- the twins ------------------------------------------------------------------------------


def test_words_phrases_and_prefixes_say_their_case():
    assert qt.word("user") == qt.Filter("user", "i(user)")
    assert qt.word("user", any_case=False) == qt.Filter('"user"', "user")
    assert qt.phrase("Failed password") == qt.Filter('"Failed password"', '"Failed password"')
    assert qt.prefix("sess") == qt.Filter("sess*", "i(sess*)")
    assert qt.prefix("Sess", any_case=False) == qt.Filter('"Sess"*', "Sess*")
    assert qt.regex("a [0-9]+").logsql == '_msg:~"a [0-9]+"'
    with pytest.raises(ValueError):
        qt.regex("a/b")


def test_field_values_are_whole_values_and_stream_fields_stream_filters():
    assert qt.field_is("status", "503") == qt.Filter("status:503", "status:=503")
    assert qt.field_is("app", "sshd").logsql_text() == '{app="sshd"}'
    two = qt.both(qt.field_is("app", "nginx"), qt.field_is("host", "db-03"), qt.field_is("status", "503"))
    assert two.logjet == "app:nginx host:db-03 status:503"
    assert two.logsql_text() == '{app="nginx",host="db-03"} status:=503'
    assert qt.field_is("user", "a b") == qt.Filter('user:"a b"', 'user:="a b"')


def test_stages_have_their_twins():
    f = qt.word("error")
    assert qt.count("c", f) == qt.Twin("c", "error | stats count() as n", "i(error) | stats count() as n", "count")
    by = qt.count_by("g", qt.everything(), "host", "app")
    assert by.logjet == "* | stats count() as n by (host, app)"
    assert by.logsql == "* | stats by (host, app) count() as n" and by.by == ("host", "app")
    assert qt.histogram("h", qt.everything()).logsql == "* | stats by (_time:1m) count() as n"
    assert qt.latest("l", qt.everything(), 100) == qt.Twin("l", "*", "*", "rows", limit=100)


@pytest.mark.parametrize(
    "suite", [qt.synthetic_suite("0123abcd0123abcd"), qt.loghub_suite()], ids=["synthetic", "loghub"]
)
def test_every_logjet_twin_parses(suite):
    names = [t.name for t in suite]
    assert len(set(names)) == len(names)
    for twin in suite:
        try:
            prepare(twin.logjet, limit=twin.limit)
        except QueryError as exc:
            pytest.fail(f"{twin.name}: {twin.logjet!r} does not parse: {exc}")
    kinds = Counter(t.answer for t in suite)
    assert kinds["count"] >= 12 and kinds["groups"] == 2 and kinds["buckets"] == 1 and kinds["rows"] == 1
    assert sum(t.window == qt.LAST_5M for t in suite) == 3


# --- answers --------------------------------------------------------------------------------


def test_times_are_read_exactly():
    assert qa.time_ns("1970-01-01T00:00:01Z") == 10**9
    assert qa.time_ns("2026-12-03T06:58:26.123Z") == 1796281106_123_000_000
    assert qa.time_ns("2026-12-03T06:58:26.000000007Z") == 1796281106_000_000_007
    with pytest.raises(qa.AnswerError):
        qa.time_ns("2026-12-03T06:58:26+01:00")


def test_counts_groups_and_buckets_compare_across_the_two_shapes():
    assert qa.canonical("count", [{"n": 12}], "logjet") == qa.canonical("count", [{"n": "12"}], "victorialogs") == 12
    with pytest.raises(qa.AnswerError):
        qa.canonical("count", [], "logjet")
    ours = qa.canonical("groups", [{"host": "a", "n": 2}, {"host": None, "n": 1}], "logjet", ("host",))
    theirs = qa.canonical("groups", [{"host": "", "n": "1"}, {"host": "a", "n": "2"}], "victorialogs", ("host",))
    assert qa.compare("groups", ours, theirs) == (True, "")
    equal, note = qa.compare("groups", ours, {("a",): 3, ("",): 1})
    assert not equal and "('a',): 2 vs 3" in note
    lj = qa.canonical("buckets", [{"_time": "2026-12-03T06:58:00.000000000Z", "count": 5}], "logjet")
    them = qa.canonical("buckets", [{"_time": "2026-12-03T06:58:00Z", "n": "5"}], "victorialogs")
    assert qa.compare("buckets", lj, them)[0]
    assert not qa.compare("buckets", lj, {1: 5})[0]
    assert not qa.compare("count", 3, 4)[0]


def test_rows_that_tie_on_time_may_differ_only_among_rows_the_data_holds():
    ours = [(3, "c"), (2, "b1"), (2, "b2")]
    data_at = {2: {"b1", "b2", "b3"}}.__getitem__
    assert qa.compare("rows", ours, [(3, "c"), (2, "b3"), (2, "b1")], data_at) == (True, "")
    equal, note = qa.compare("rows", ours, [(3, "c"), (2, "x"), (2, "b1")], data_at)
    assert not equal and "not in the data" in note
    assert not qa.compare("rows", ours, [(3, "d"), (2, "b1"), (2, "b2")], data_at)[0]  # a newer row differs
    assert not qa.compare("rows", ours, [(3, "c"), (3, "c"), (2, "b2")], data_at)[0]  # times differ
    assert not qa.compare("rows", ours, ours[:2], data_at)[0]
    rows = qa.canonical("rows", [{"_time": "1970-01-01T00:00:01Z", "_msg": "m"}], "victorialogs")
    assert rows == [(10**9, "m")]


# --- rows as JSON lines ---------------------------------------------------------------------


def test_rows_go_as_json_lines_and_what_cannot_is_counted():
    lines = [
        b"<38>Dec  3 06:00:01 web-1 sshd[42]: Failed password for root status=503 status=404 host=x",
        b"<14>Dec  3 06:00:02 web-2 app: caf\xe9 user=bob",
    ]
    rows = rows_from_lines(lines, recv_ns=1_796_280_000 * 10**9)
    counts: Counter[str] = Counter()
    objs = [json.loads(line) for line in rows_json(rows, counts)]
    assert [o["_msg"] for o in objs] == ["Failed password for root status=503 status=404 host=x", "caf\ufffd user=bob"]
    first = objs[0]
    assert (first["host"], first["app"], first["procid"], first["severity"], first["facility"]) == (
        "web-1",
        "sshd",
        "42",
        "6",
        "4",
    )
    assert first["status"] == "503" and int(first["_time"]) == int(rows.time[0])
    assert objs[1]["user"] == "bob" and "procid" not in objs[1]
    assert counts == Counter(rows=2, multi_valued=1, name_clash=1, not_utf8=1)


# --- the bench ------------------------------------------------------------------------------


def _args(tmp_path, **kw):
    base = dict(
        rows=12_000,
        data_dir=str(tmp_path / "data"),
        runs=1,
        seed=1,
        out=str(tmp_path / "out"),
        peer="victorialogs",
        data="synthetic",
        corpus=None,
        logjet_via="process",
    )
    base.update(kw)
    return argparse.Namespace(**base)


@pytest.fixture
def small(monkeypatch):
    monkeypatch.setattr(bq, "GEN_CHUNK", 2000)
    monkeypatch.setattr(bq, "FLUSH_ROWS", 2000)


@pytest.mark.slow  # the whole suite, and report.machine runs lscpu
def test_without_the_binary_the_peer_is_skipped_with_a_note(tmp_path, small, monkeypatch, capsys):
    monkeypatch.setattr(vl, "BINARY", str(tmp_path / "no-such-binary"))
    monkeypatch.delenv(vl.ENV, raising=False)
    assert run_query_peer(_args(tmp_path)) == 0
    (result,) = (tmp_path / "out").glob("query-peer-*.json")
    out = json.loads(result.read_text())
    assert "not installed" in out["peer"]["skipped"]
    assert "not installed" in capsys.readouterr().err
    assert [r["name"] for r in out["results"]] == [t.name for t in qt.synthetic_suite(out["data"]["rare"])]
    assert all(r["peer_ms"]["median_ms"] is None and r["logjet_ms"]["median_ms"] > 0 for r in out["results"])
    assert out["results"][0]["answer"] == 12_000


needs_binary = pytest.mark.skipif(
    vl.find() is None, reason=f"VictoriaLogs is not built ({vl.BINARY} or ${vl.ENV}); see BENCHMARKS.md"
)


@needs_binary
@pytest.mark.slow  # starts VictoriaLogs
@pytest.mark.e2e  # and logjet serve
def test_victorialogs_answers_every_query_as_logjet_does(tmp_path, small, capsys):
    assert run_query_peer(_args(tmp_path, rows=20_000, logjet_via="http")) == 0
    (result,) = (tmp_path / "out").glob("query-peer-*.json")
    out = json.loads(result.read_text())
    assert out["peer"]["load"]["rows"] == 20_000 and "v1." in out["peer"]["version"]
    for r in out["results"]:
        assert r["equal"] is True, r
        assert r["peer_ms"]["median_ms"] > 0 and r["ratio"] > 0
    answers = {r["name"]: r["answer"] for r in out["results"]}
    assert answers["count all"] == 20_000 and answers['phrase "Failed password"'] > 0
    assert "logjet/VL" in capsys.readouterr().out


@needs_binary
@pytest.mark.slow  # starts VictoriaLogs
@pytest.mark.skipif(not (CORPUS / "loghub").is_dir(), reason="no loghub corpus beside the checkout")
def test_the_loghub_replay_answers_the_same_in_both(tmp_path, small):
    args = _args(tmp_path, rows=20_000, data="loghub", corpus=str(CORPUS), logjet_via="process")
    assert run_query_peer(args) == 0
    out = json.loads(next((tmp_path / "out").glob("query-peer-*.json")).read_text())
    assert out["dataset"] == "loghub" and all(r["equal"] is True for r in out["results"])
    answers = {r["name"]: r["answer"] for r in out["results"]}
    assert answers["count all"] == 20_000 and answers["common word error, any case"] > 0


def test_a_peer_binary_given_relative_is_found_absolute(tmp_path, monkeypatch):
    """The peer starts in its own folder: a path relative to the bench's must reach it whole."""
    binary = tmp_path / "bin" / "victoria-logs"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(vl.ENV, "bin/victoria-logs")
    assert vl.find() == str(binary)
    monkeypatch.setenv(vl.ENV, "bin/not-there")
    assert vl.find() != str(binary)
