"""`logjet serve` under a service manager's eyes: with NOTIFY_SOCKET set to a socket the test binds,
it reports READY=1 once serving, WATCHDOG=1 every half WATCHDOG_USEC only while its workers are
healthy, and STOPPING=1 on SIGTERM; its workers never see the socket."""

from __future__ import annotations

import os
import signal
import socket
import time

import pytest

from bench.engine import EngineProcess
from tests.e2e.clients import metric, worker_pids

pytestmark = pytest.mark.e2e

WATCHDOG_USEC = 400_000  # a keep-alive every 0.2 s


def _receive(sock: socket.socket, seconds: float) -> list[tuple[float, bytes]]:
    """Every datagram arriving within `seconds`, with its arrival time."""
    got = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            got.append((time.monotonic(), sock.recv(4096)))
        except TimeoutError:
            break
    return got


def _pings(got: list[tuple[float, bytes]]) -> list[float]:
    return [t for t, msg in got if msg == b"WATCHDOG=1"]


def test_ready_watchdog_and_stopping_reach_the_notify_socket(tmp_path):
    config = tmp_path / "hb.toml"
    config.write_text('[supervisor]\nheartbeat_timeout = "2s"\n')
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        engine = EngineProcess(
            str(tmp_path / "data"),
            "--config",
            str(config),
            log_path=str(tmp_path / "engine.log"),
            env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": str(WATCHDOG_USEC)},
        )
        try:
            engine.start()
            got = _receive(sock, 1.5)
            messages = [msg for _, msg in got]
            ready = [m for m in messages if m.startswith(b"READY=1\n")]
            assert len(ready) == 1 and b"STATUS=serving" in ready[0], messages
            assert any(m.startswith(b"STATUS=starting") for m in messages), messages
            assert len(_pings(got)) >= 4, messages
            for pid in worker_pids(engine, "parser") + worker_pids(engine, "writer"):
                with open(f"/proc/{pid}/environ", "rb") as f:
                    assert b"NOTIFY_SOCKET=" not in f.read()

            # A hung worker: no keep-alive from when its heartbeat goes stale (2 s) until the
            # supervisor has replaced it (its SIGABRT lands once the worker runs again).
            victim = worker_pids(engine, "parser")[0]
            os.kill(victim, signal.SIGSTOP)
            got = _receive(sock, 3.5)
            os.kill(victim, signal.SIGCONT)
            got += _receive(sock, 2.0)
            pings = _pings(got)
            gaps = [b - a for a, b in zip(pings, pings[1:])]
            assert metric(engine.url, "logjet_worker_restarts_total", role="parser") == 1
            assert gaps and max(gaps) > 1.0, gaps
            assert pings[-1] > got[-1][0] - 1.0, "keep-alives resume once the worker is replaced"

            assert engine.terminate() == 0
            messages = [msg for _, msg in _receive(sock, 0.5)]
            assert any(m.startswith(b"STOPPING=1\n") for m in messages), messages
        finally:
            engine.stop()
