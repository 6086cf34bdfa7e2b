"""End to end: a full ring pauses TCP (nothing dropped) and drops+counts UDP.

The parsers are paused with SIGSTOP (briefly, well inside the heartbeat timeout) so the raw
rings fill up; then they are resumed with SIGCONT.
"""

from __future__ import annotations

import collections
import os
import signal
import socket
import threading
import time

import pytest

from tests.e2e.clients import all_rows, field_column, metric, send_tcp, wait_written, worker_pids

pytestmark = pytest.mark.e2e


def _write_config(path) -> str:
    path.write_text('[rings]\nraw_ring_bytes = "1MiB"\n[ingest]\nbatch_bytes = 65536\n')
    return str(path)


def _paused(pids):
    class Pause:
        def __enter__(self):
            for pid in pids:
                os.kill(pid, signal.SIGSTOP)

        def __exit__(self, *exc):
            for pid in pids:
                os.kill(pid, signal.SIGCONT)

    return Pause()


def test_full_ring_pauses_tcp_and_loses_nothing(start_engine, tmp_path):
    engine = start_engine("--config", _write_config(tmp_path / "small.toml"), name="bp-tcp")
    n = 60_000  # ~6 MB: several times the 1 MiB raw ring
    payload = b"".join(b"<14>Nov 22 10:00:00 h app: seq=%d t=bp %s\n" % (i, b"x" * 60) for i in range(n))
    sender = threading.Thread(target=send_tcp, args=(engine.ports["syslog_tcp"], payload))
    with _paused(worker_pids(engine, "parser")):
        sender.start()
        time.sleep(2.0)
        # The ring is full and reading is paused: the sender is blocked, not dropped.
        assert sender.is_alive()
        assert metric(engine.url, "logjet_ring_used_bytes", ring="raw-r0-p0") > 0.5 * (1 << 20)
    sender.join(60)
    assert not sender.is_alive()
    wait_written(engine.url, n, timeout=60)
    seqs = collections.Counter(int(s) for s in field_column(all_rows(engine.data_dir), b"seq"))
    assert len(seqs) == n and max(seqs.values()) == 1
    assert metric(engine.url, "logjet_dropped_messages_total") == 0


def test_full_ring_drops_and_counts_udp(start_engine, tmp_path):
    engine = start_engine("--config", _write_config(tmp_path / "small.toml"), name="bp-udp")
    n = 30_000
    with _paused(worker_pids(engine, "parser")):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i in range(n):
                s.sendto(
                    b"<14>Nov 22 10:00:00 h app: seq=%d t=bpu %s" % (i, b"y" * 100),
                    ("127.0.0.1", engine.ports["syslog_udp"]),
                )
                if i % 1000 == 999:
                    time.sleep(0.01)  # let the receiver read: the drops must be ours, not the kernel's
        time.sleep(0.5)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        received = metric(engine.url, "logjet_received_messages_total", protocol="udp")
        dropped = metric(engine.url, "logjet_dropped_messages_total", reason="ring_full")
        written = metric(engine.url, "logjet_written_rows_total")
        if received and written + dropped >= received:
            break
        time.sleep(0.2)
    assert dropped > 0, "a full ring must drop UDP"
    assert written + dropped == received, "every datagram read is either stored or counted as dropped"
    assert written > 0
