"""A real Prometheus scrapes /metrics with the shipped scrape config (config/prometheus.yml).

Needs a `prometheus` binary (Debian's package; `.ci/install-senders` installs it): skipped where
there is none, and failed instead under LOGJET_E2E_REQUIRE_SENDERS=1 (CI).
Prometheus listens on loopback with its data in the test's temp folder and is
stopped by its PID. Waiting is bounded: the test polls Prometheus's API until the series is
there or the deadline passes, and asserts on values, never on times.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from tests.e2e.clients import send_tcp, wait_written
from tests.e2e.senders import require

pytestmark = pytest.mark.e2e

REPO = pathlib.Path(__file__).resolve().parents[2]
N = 10_000
DEADLINE_S = 90


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _query(port: int, q: str) -> list[dict]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)["data"]["result"]


def test_prometheus_scrapes_the_merged_metrics(start_engine, tmp_path):
    prometheus = require(shutil.which("prometheus"), "prometheus")
    engine = start_engine()
    lines = [f"<14>Nov 22 10:00:00 host{i % 3} promtest[1]: seq={i}" for i in range(N)]
    send_tcp(engine.ports["syslog_tcp"], ("\n".join(lines) + "\n").encode())
    assert wait_written(engine.url, N) >= N

    config = (REPO / "config" / "prometheus.yml").read_text()
    config = config.replace("127.0.0.1:8080", f"127.0.0.1:{engine.ports['http']}")
    config = config.replace("scrape_interval: 15s", "scrape_interval: 1s")
    (tmp_path / "prometheus.yml").write_text(config)
    port = _free_port()
    log = open(tmp_path / "prometheus.log", "wb")
    prom = subprocess.Popen(
        [
            prometheus,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        written = up = roles = None
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline and prom.poll() is None:
            try:
                up = _query(port, 'up{job="logjet"}')
                written = _query(port, "logjet_written_rows_total")
                roles = _query(port, "logjet_process_cpu_seconds_total")
            except OSError:
                pass  # not listening yet
            if written and roles:
                break
            time.sleep(0.5)
        assert prom.poll() is None, (tmp_path / "prometheus.log").read_text()[-2000:]
        assert up and up[0]["value"][1] == "1"
        assert written and float(written[0]["value"][1]) == N
        assert {r["metric"]["role"] for r in roles} >= {"supervisor", "receiver", "parser", "writer", "api"}
        buckets = _query(port, "logjet_ingest_to_visible_seconds_bucket")
        assert {r["metric"]["le"] for r in buckets} >= {"+Inf", "0.5", "1.0"}
    finally:
        prom.terminate()
        try:
            prom.wait(30)
        except subprocess.TimeoutExpired:
            prom.kill()
            prom.wait(10)
        log.close()
