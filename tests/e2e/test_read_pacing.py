"""End to end: a paced sender's stream connection is read once per batch, not once per write,
and what its kernel buffer holds at a stop is still stored.

The receiver's read(2) calls are counted from /proc/PID/io (`syscr`), which counts them
whatever they read."""

from __future__ import annotations

import socket
import time

import pytest

from bench.engine import EngineProcess
from tests.e2e.clients import worker_pids
from tests.faults.helpers import numbered, seq_count, wait_rows

pytestmark = pytest.mark.e2e


def _reads(pid: int) -> int:
    with open(f"/proc/{pid}/io") as f:
        return int(next(line for line in f if line.startswith("syscr:")).split()[1])


def _paced_send(port: int, run: str, lines: int, gap_s: float, sock: socket.socket | None = None) -> socket.socket:
    """`lines` numbered lines, each its own write, `gap_s` apart; the connection is returned open."""
    s = sock or socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(lines):
        s.sendall(numbered(run, i, i + 1))
        time.sleep(gap_s)
    return s


def test_a_paced_sender_is_read_once_per_batch_not_once_per_write(start_engine):
    engine = start_engine("--receivers", "1", name="pacing")
    [receiver] = worker_pids(engine, "receiver")
    before = _reads(receiver)
    writes = 1500
    with _paced_send(engine.ports["syslog_tcp"], "paced", writes, 0.001):
        pass
    assert wait_rows(engine.url, "paced", writes).exactly(0, writes)
    reads = _reads(receiver) - before
    # ~1.5-2 s of writes: about two reads per 20 ms batch, against one per write unpaced.
    assert reads < writes / 4, f"{reads} reads for {writes} writes"


def test_what_a_paced_connection_left_in_the_kernel_is_stored_at_a_stop(start_engine):
    engine = start_engine("--receivers", "1", name="pacing-stop")
    sock = _paced_send(engine.ports["syslog_tcp"], "atstop", 200, 0.001)
    try:
        # The last writes sit in the kernel's buffer while the connection's reading is paced.
        assert engine.terminate() == 0
    finally:
        sock.close()
    again = EngineProcess(engine.data_dir, "--retention", "0", "--receivers", "1", log_path=engine.log_path + ".2")
    with again:
        assert seq_count(again.url, "atstop").exactly(0, 200)
