"""`logjet bench loki-query` end to end on a small data set: a real `logjet serve` over the bench's
generated data, each pair timed, and both sides of a pair answering from the same rows."""

import argparse
import json
import urllib.request

import numpy as np
import pytest

from bench import loki_query as blq
from bench import query as bq


@pytest.mark.e2e  # starts logjet serve
def test_pairs_run_and_agree(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bq, "GEN_CHUNK", 2000)
    monkeypatch.setattr(bq, "FLUSH_ROWS", 2000)
    answers: dict[str, bytes] = {}  # each URL's first answer, in the order asked
    fetch = blq._fetch

    def keep(url):  # also read each first answer, to compare the two sides
        if url not in answers:
            with urllib.request.urlopen(url, timeout=60) as resp:
                answers[url] = resp.read()
        return fetch(url)

    monkeypatch.setattr(blq, "_fetch", keep)
    args = argparse.Namespace(rows=10_000, data_dir=str(tmp_path / "data"), runs=1, seed=1, out=str(tmp_path / "out"))
    assert blq.run_loki_query_bench(args) == 0
    (result,) = (tmp_path / "out").glob("loki-query-*.json")
    out = json.loads(result.read_text())
    assert [r["name"] for r in out["results"]] == [name for name, _, _ in blq.PAIRS]
    assert all(r["ratio"] > 0 for r in out["results"])
    assert "Loki/native" in capsys.readouterr().out
    # The row pairs answer the same rows: Loki's streams hold the native answer's messages (the
    # generated stamps are whole seconds: which of the rows of the oldest second fill the limit
    # is up to each side).
    bodies = list(answers.values())
    loki, native = json.loads(bodies[0]), [json.loads(line) for line in bodies[1].splitlines()]
    got = sorted((int(ts), line) for s in loki["data"]["result"] for ts, line in s["values"])
    want = sorted((int(np.datetime64(r["_time"][:-1], "ns").astype(np.int64)), r["message"]) for r in native)
    oldest = max(got[0][0], want[0][0])
    assert len(got) == len(want) > 0 and [g for g in got if g[0] > oldest] == [w for w in want if w[0] > oldest]
    # The count pairs count the same rows.
    loki, native = json.loads(bodies[4]), [json.loads(line) for line in bodies[5].splitlines()]
    assert sum(float(v) for s in loki["data"]["result"] for _, v in s["values"]) >= sum(o["count"] for o in native) > 0
