"""Fault: the writer stops (SIGSTOP) with rows arriving, and a worker restarts in a loop.
`/readyz` must say so (503 and the reason) while it lasts and 200 once it clears; back-pressure
holds the TCP sender meanwhile, so nothing is lost."""

from __future__ import annotations

import collections
import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request

import pytest

from tests.e2e.clients import all_rows, field_column, metric, send_tcp, wait_written, worker_pids

pytestmark = pytest.mark.e2e

STALL_AFTER_S = 2.0
# Small rings fill in a moment; the supervisor must not put the stopped writer down meanwhile.
CONFIG = f"""
[rings]
raw_ring_bytes = "1MiB"
column_ring_bytes = "1MiB"
[ingest]
batch_bytes = 16384
max_message_bytes = 8192
[supervisor]
stall_after = "{STALL_AFTER_S}s"
heartbeat_timeout = "60s"
"""


def readyz(url: str) -> tuple[int, list[str]]:
    try:
        with urllib.request.urlopen(url + "/readyz", timeout=10) as resp:
            return resp.status, []
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())["problems"]


def wait_readyz(url: str, want: int, timeout: float, reason: str = "") -> tuple[float, list[str]]:
    """Poll /readyz until it answers `want` (with a problem starting with `reason`); returns
    (seconds waited, problems)."""
    t0 = time.monotonic()
    code, problems = readyz(url)
    while time.monotonic() - t0 < timeout:
        code, problems = readyz(url)
        if code == want and (not reason or any(p.startswith(reason) for p in problems)):
            return time.monotonic() - t0, problems
        time.sleep(0.1)
    raise AssertionError(f"/readyz answered {code} {problems} after {timeout}s, not {want} {reason!r}")


def test_stopped_writer_is_not_ready_and_loses_nothing(start_engine, tmp_path):
    config = tmp_path / "stall.toml"
    config.write_text(CONFIG)
    engine = start_engine("--config", str(config), "--receivers", "1", "--parsers", "1", name="stall")
    wait_readyz(engine.url, 200, 30)
    n = 40_000  # ~4 MB: four times the rings
    payload = b"".join(b"<14>Nov 22 10:00:00 h app: seq=%d t=stall %s\n" % (i, b"x" * 60) for i in range(n))
    sender = threading.Thread(target=send_tcp, args=(engine.ports["syslog_tcp"], payload))
    (writer,) = worker_pids(engine, "writer")
    os.kill(writer, signal.SIGSTOP)
    try:
        sender.start()
        waited, problems = wait_readyz(engine.url, 503, STALL_AFTER_S + 10, reason="writer-0 has flushed nothing")
        assert any(p.startswith(f"writer-0 (pid {writer}) has sent no heartbeat") for p in problems), problems
        # Both rings full: the receiver holds the TCP sender back (back-pressure), nothing drops.
        for ring in ("col-p0", "raw-r0-p0"):
            assert metric(engine.url, "logjet_ring_used_bytes", ring=ring) > 0.9 * (1 << 20), ring
    finally:
        os.kill(writer, signal.SIGCONT)
    print(f"503 with the stall reason {waited:.1f}s after SIGSTOP (stall_after {STALL_AFTER_S}s)")
    sender.join(60)
    assert not sender.is_alive()
    wait_readyz(engine.url, 200, 30)
    assert wait_written(engine.url, n, timeout=60) == n
    seqs = collections.Counter(int(s) for s in field_column(all_rows(engine.data_dir), b"seq"))
    assert len(seqs) == n and max(seqs.values()) == 1
    assert metric(engine.url, "logjet_dropped_messages_total") == 0


def test_worker_restarting_in_a_loop_is_not_ready(start_engine):
    engine = start_engine("--receivers", "1", "--parsers", "1", name="loop")
    wait_readyz(engine.url, 200, 30)  # the first look: restarts are counted from here
    for _ in range(3):
        (parser,) = worker_pids(engine, "parser")
        os.kill(parser, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while worker_pids(engine, "parser") == [parser] and time.monotonic() < deadline:
            time.sleep(0.05)
        readyz(engine.url)  # each restart seen by a look, as a prober polling would
    _, problems = wait_readyz(engine.url, 503, 10, reason="parser-0 is restarting in a loop")
    assert "parser-0 is restarting in a loop: 3 restarts in the last 60s" in problems
    assert metric(engine.url, "logjet_worker_restarts_total", role="parser") == 3
