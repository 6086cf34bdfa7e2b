"""`logjet bench query`: the data it makes (exact rows, merged like the writer would), reuse of
a made data dir, the suite run against an executor, and the message when there is none."""

import argparse
import json

import pytest

from bench import query as bq
from engine.query.scan import newest_rows
from engine.store.live import live_parts
from engine.store.part_reader import read_head


@pytest.fixture
def small(monkeypatch):
    monkeypatch.setattr(bq, "GEN_CHUNK", 1000)
    monkeypatch.setattr(bq, "FLUSH_ROWS", 1000)


def _args(tmp_path, **kw):
    base = dict(rows=12_000, data_dir=str(tmp_path / "data"), runs=2, seed=1, out=str(tmp_path / "out"))
    base.update(kw)
    return argparse.Namespace(**base)


def test_made_data_is_exact_and_merged(tmp_path, small):
    marker = bq.load_or_make(str(tmp_path / "d"), 12_000, 1, log=lambda m: None)
    heads = [read_head(p) for p in live_parts(str(tmp_path / "d"))]
    assert sum(h.rows for h in heads) == 12_000
    assert max(h.level for h in heads) >= 1 and len(heads) < 12
    rows = newest_rows(str(tmp_path / "d"), None, None, None)
    assert sum(marker["rare"].encode() in rows.message(i) for i in range(len(rows))) == 1
    # Settled, as a quiet store is: no flushed (unindexed) part is left.
    assert marker["settled"] and min(h.level for h in heads) >= 1
    # A second call reuses the data.
    again = bq.load_or_make(str(tmp_path / "d"), 12_000, 1, log=lambda m: pytest.fail(m))
    assert again == marker


def test_data_made_before_settling_is_made_again(tmp_path, small):
    folder = str(tmp_path / "d")
    marker = bq.load_or_make(folder, 12_000, 1, log=lambda m: None)
    del marker["settled"]
    (tmp_path / "d" / bq.MARKER).write_text(json.dumps(marker))
    said = []
    again = bq.load_or_make(folder, 12_000, 1, log=said.append)
    assert again["settled"] and any("making it again" in m for m in said)
    assert sum(read_head(p).rows for p in live_parts(folder)) == 12_000


@pytest.mark.slow  # the whole query suite
def test_suite_runs_against_an_executor(tmp_path, small, monkeypatch, capsys):
    calls = []

    def fake_run(data_dir, query, start_ns, end_ns, limit):
        calls.append((query, start_ns, end_ns))
        return iter([{"count()": len(newest_rows(data_dir, start_ns, end_ns, None))}])

    monkeypatch.setattr(bq, "_executor", lambda: fake_run)
    assert bq.run_query_bench(_args(tmp_path)) == 0
    (result,) = (tmp_path / "out").glob("*.json")
    assert len(list((tmp_path / "out").glob("*.png"))) == 1  # and its plot
    out = json.loads(result.read_text())
    assert [r["name"] for r in out["results"]] == [name for name, _ in bq.SUITE]
    assert out["storage"]["rows"] == 12_000 and out["storage"]["ratio"] > 1
    first = out["results"][0]
    assert first["all"]["answer"] == first["last 5m"]["answer"] == 12_000  # 1.2 s of data
    assert len(calls) == len(bq.SUITE) * 2 * 3  # two windows, a warm-up and two runs each
    newest = out["storage"]["newest_ns"]
    assert {(s, e) for _, s, e in calls} == {(None, None), (newest - 300 * 10**9, newest + 1)}
    assert "count all" in capsys.readouterr().out


def test_without_an_executor_it_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bq, "_executor", lambda: None)
    assert bq.run_query_bench(_args(tmp_path)) == 2
    assert "run_to_objects" in capsys.readouterr().err
