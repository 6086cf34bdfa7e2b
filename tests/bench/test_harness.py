"""The benchmark harness itself: pools replay exactly, probes are read back, a short run of
`logjet bench ingest` at a fixed rate writes its JSON and PNG. (Speed is measured by the
benchmarks, never asserted here.)"""

from __future__ import annotations

import json
import re

import pytest

from bench import generate, latency
from bench.peers import PEERS
from bench.send import _Stream, frame_one, write_pool
from engine.cli import main


@pytest.mark.parametrize("proto", ["tcp", "tcp-octet", "tls", "udp", "http", "es-bulk"])
def test_pool_replays_in_order_across_the_wrap(tmp_path, proto):
    msgs = generate.json_messages(37) if proto in ("http", "es-bulk") else generate.messages(37, rfc5424=True)
    pool = write_pool(str(tmp_path), msgs, proto)
    stream = _Stream(pool)
    got, firsts = [], []
    for view, first, count in stream.chunks(30, 30 + 100, most=16):
        assert 0 < count <= 16 and first + count <= 37
        got.append(bytes(view))
        firsts.append(first)
    want = b"".join(frame_one(msgs[i % 37], proto) for i in range(30, 130))
    assert b"".join(got) == want
    assert firsts[0] == 30 and 0 in firsts


def test_generated_messages_vary_and_repeat_with_the_seed():
    a, b = generate.messages(2000, seed=7, now=0), generate.messages(2000, seed=7, now=0)
    assert a == b and len(set(a)) == len(a)
    hosts = {m.split(b" ")[3] for m in a}
    apps = {re.match(rb"<\d+>\w+ \d+ [\d:]+ \S+ ([^\[]+)\[", m).group(1) for m in a}
    assert len(hosts) > 20 and len(apps) == len({t[0] for t in generate.TEMPLATES})
    for line in generate.json_messages(50, seed=7):
        assert set(json.loads(line)) == {"time", "host", "app", "level", "pid", "msg"}


def test_loghub_replay(corpus):
    lines = generate.loghub_messages(corpus)
    assert len(lines) == 20_000 and all(m.startswith(b"<14>1 ") for m in lines)
    assert len(generate.loghub_json(corpus)) == 20_000


def test_latency_summary_percentiles():
    times = {i * 10**9: (i * 10**9 + 10**6, i * 10**9 + (i + 1) * 10**6) for i in range(100)}
    s = latency.summarize(times, probes_sent=100)
    assert s["probes_found"] == 100
    assert s["send_to_visible"]["p50"] == pytest.approx(50.5, abs=0.01)
    assert s["send_to_received"]["p99"] == pytest.approx(1.0)
    assert s["send_to_visible"]["max"] == 100.0


@pytest.mark.e2e
def test_bench_ingest_at_a_fixed_rate_writes_json_and_png(tmp_path, capsys):
    out = tmp_path / "results"
    code = main(
        [
            "bench",
            "ingest",
            "--messages",
            "20000",
            "--rate",
            "20000",
            "--senders",
            "2",
            "--warmup",
            "1000",
            "--peer",
            "rsyslog",
            "--quiet",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    [result_path] = out.glob("ingest-tcp-*.json")
    result = json.loads(result_path.read_text())
    assert (out / result["plot"]).stat().st_size > 1000
    [run] = result["runs"]["logjet"]
    assert run["outcome"] == "complete" and run["stored"] == run["sent"] == 20000 + run["probes"]
    assert run["probes"] > 0 and result["latency"]["probes_found"] == run["probes"]
    lat = result["latency"]["send_to_visible"]
    assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"]
    assert result["machine"]["cpus"] >= 1 and result["versions"]["logjet"]
    if PEERS["rsyslog"].find() is None:
        assert "rsyslog: not installed" in capsys.readouterr().out
    else:
        assert result["runs"]["rsyslog"][0]["outcome"] == "complete"
        assert result["summary"]["ratio_logjet_to"]["rsyslog"] > 0


@pytest.mark.parametrize("name", sorted(PEERS))
@pytest.mark.parametrize("framing", ["lf", "octet"])
def test_peer_configs_have_every_placeholder_filled(tmp_path, name, framing):
    peer = PEERS[name]("/nonexistent/binary", str(tmp_path))
    peer.port = 12345
    conf = peer.render_config(framing)
    assert not re.search(r"@[A-Z]+@", conf)
    assert str(tmp_path / "out.log") in conf and "12345" in conf
    assert peer.command(str(tmp_path / peer.conf_name))[0] == "/nonexistent/binary"


def test_missing_peer_is_skipped_with_a_note(monkeypatch):
    from argparse import Namespace

    from bench.ingest import make_peers

    monkeypatch.setattr(PEERS["syslog-ng"], "find", classmethod(lambda cls: None))
    notes: list[str] = []
    args = Namespace(peer=["syslog-ng"], proto="tcp")
    assert make_peers(args, notes) == [] and "syslog-ng: not installed" in notes[0]
    notes.clear()
    assert make_peers(Namespace(peer=["rsyslog"], proto="udp"), notes) == [] and "TCP only" in notes[0]


def test_es_bulk_pool_is_a_bulk_body_of_filebeat_documents(tmp_path):
    docs = generate.ecs_documents(5, seed=3)
    pool = write_pool(str(tmp_path), docs, "es-bulk")
    body = b"".join(bytes(view) for view, _, _ in _Stream(pool).chunks(0, 5, most=5))
    lines = body.split(b"\n")
    assert lines[-1] == b"" and len(lines) == 11
    assert all(json.loads(a) == {"create": {"_index": "logs-bench-default"}} for a in lines[0:10:2])
    doc = json.loads(lines[1])
    assert set(doc) >= {"@timestamp", "message", "host", "log", "service"} and "name" in doc["host"]


@pytest.mark.e2e
def test_bench_es_bulk_beside_http_on_a_running_engine(tmp_path):
    from bench.engine import EngineProcess

    engine = EngineProcess(str(tmp_path / "data"), "--retention", "0")
    with engine:
        argv = ["bench", "ingest", "--proto", "es-bulk", "--beside-proto", "http", "--url", engine.url]
        argv += ["--messages", "4000", "--warmup", "500", "--senders", "1", "--quiet", "--out", str(tmp_path / "out")]
        assert main(argv) == 0
    [path] = (tmp_path / "out").glob("ingest-es-bulk-*.json")
    result = json.loads(path.read_text())
    assert set(result["runs"]) == {"logjet", "logjet/http"}
    for runs in result["runs"].values():
        assert [(r["outcome"], r["stored"], r["sent"]) for r in runs] == [("complete", 4000, 4000)]
    assert result["summary"]["targets"]["logjet/http"]["proto"] == "http"
    assert "logjet/http" in result["summary"]["ratio_logjet_to"]
