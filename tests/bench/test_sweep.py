"""`logjet bench ingest --rates`: the rate list is checked, the SVG is well formed, and a short
sweep against a real engine (and rsyslog where installed) writes its table, JSON and plot.
(Speed is measured by the benchmark, never asserted here.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pytest

from bench import svg, sweep
from bench.engine import descendants, tree_cpu_seconds
from bench.peers import PEERS
from engine.cli import main


def test_rates_parse_with_max_as_full_speed():
    assert sweep.parse_rates("10000, 50000,200000,max") == [10000.0, 50000.0, 200000.0, 0.0]
    assert [sweep.rate_label(r) for r in (10000.0, 2500.0, 0.0)] == ["10k", "2.5k", "max"]


@pytest.mark.parametrize("bad", ["", "fast", "-5", "0", "10000,,max"])
def test_a_bad_rate_is_an_error_naming_it(bad):
    with pytest.raises(SystemExit) as exc:
        sweep.parse_rates(bad)
    assert "--rates" in str(exc.value)


def test_svg_has_a_bar_per_measured_value_and_the_reference_line():
    doc = svg.bar_panels(
        "t",
        [
            svg.Panel("cpu", "s", ["10k", "max"], {"logjet": [3.0, 2.0], "rsyslog": [4.0, None]}),
            svg.Panel("lat", "ms", ["10k", "max"], {"p99": [120.0, None]}, [(250.0, "250 ms")]),
        ],
    )
    root = ET.fromstring(doc)
    ns = "{http://www.w3.org/2000/svg}"
    titles = [r.find(f"{ns}title").text for r in root.iter(f"{ns}rect") if r.find(f"{ns}title") is not None]
    assert titles == ["logjet 10k: 3", "rsyslog 10k: 4", "logjet max: 2", "p99 10k: 120"]
    assert any(t.text == "250 ms" for t in root.iter(f"{ns}text"))


@pytest.mark.slow
def test_tree_cpu_counts_the_children(tmp_path):
    # A parent that sleeps while its child spins: the CPU shows up only through the child.
    (tmp_path / "spin.py").write_text("import time\nt = time.time()\nwhile time.time() - t < 20: pass\n")
    parent = f"import subprocess, sys; subprocess.run([sys.executable, {str(tmp_path / 'spin.py')!r}])"
    proc = subprocess.Popen([sys.executable, "-c", parent])
    try:
        deadline = time.monotonic() + 15
        while tree_cpu_seconds(proc.pid) < 1.0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert tree_cpu_seconds(proc.pid) >= 1.0
    finally:
        for child in descendants(proc.pid):
            os.kill(child, signal.SIGKILL)
        proc.wait(10)


@pytest.mark.e2e
def test_a_short_sweep_writes_table_json_and_svg(tmp_path, capsys):
    out = tmp_path / "results"
    code = main(
        [
            "bench",
            "ingest",
            "--rates",
            "5000,max",
            "--duration",
            "2",
            "--messages",
            "20000",
            "--warmup",
            "1000",
            "--idle-seconds",
            "1",
            "--peer",
            "rsyslog",
            "--quiet",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "| 5k | logjet |" in printed and "| max | logjet |" in printed
    (json_path,) = out.glob("ingest-sweep-tcp-*.json")
    result = json.loads(json_path.read_text())
    targets = ["logjet"] + (["rsyslog"] if PEERS["rsyslog"].find() else [])
    assert [(r["rate"], r["target"]) for r in result["rows"]] == [(5000.0, t) for t in targets] + [
        (0.0, t) for t in targets
    ]
    for row in result["rows"]:
        assert row["outcomes"] == ["complete"] and row["msgs_per_s"] > 0 and row["cpu_s_per_million"] > 0
    paced = result["rows"][0]
    assert 0 < paced["visible_ms"]["p50"] <= paced["visible_ms"]["p99"]
    assert set(result["idle_cores"]) == set(targets)
    assert all(c >= 0 for c in result["idle_cores"].values())
    ET.parse(out / result["plot"])
