"""Fault: UDP datagrams sent while `logjet serve` starts. The supervisor binds the UDP port
first (a reservation socket, so the port is fixed before any worker runs); until it closes that
socket at ready, SO_REUSEPORT spreads datagrams over it and the receivers' sockets. What it
holds then, and what the kernel dropped from it once its buffer was full, is nobody's to read:
dropped, and counted in `dropped_messages_total{reason="udp_start"}`. Datagrams sent before the
port was bound met a closed port: those no socket of logjet saw, and nothing counts them."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from tests.e2e.clients import metric

pytestmark = pytest.mark.e2e
SENDERS = 64  # source ports: SO_REUSEPORT picks a socket per sender address


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_datagrams_sent_during_the_start_are_received_or_counted(start_engine):
    port = _free_udp_port()
    stop = threading.Event()
    sent = [0]

    def send() -> None:
        socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(SENDERS)]
        try:
            while not stop.is_set():
                for s in socks:
                    s.sendto(b"<14>Nov 22 10:00:00 h app: seq=%d t=ustart" % sent[0], ("127.0.0.1", port))
                    sent[0] += 1
                time.sleep(0.002)
        finally:
            for s in socks:
                s.close()

    sender = threading.Thread(target=send)
    sender.start()
    try:
        engine = start_engine("--syslog-udp", f"127.0.0.1:{port}", "--receivers", "1", name="udp-start")
    finally:
        stop.set()
        sender.join()
    dropped = metric(engine.url, "logjet_dropped_messages_total", reason="udp_start")
    received = metric(engine.url, "logjet_received_messages_total", protocol="udp")
    kernel = metric(engine.url, "logjet_udp_kernel_drops_total")  # the receiver's own socket
    print(
        f"sent {sent[0]} while starting: received {received:.0f}, dropped at the start {dropped:.0f}, "
        f"kernel drops {kernel:.0f}; the rest came before the port was bound"
    )
    assert dropped > 0, "the reservation socket's datagrams (queued, or dropped when it was full) are counted"
    assert received + dropped + kernel <= sent[0]
    assert f"{dropped:.0f} UDP datagrams that came during the start were dropped" in engine.log_text()
