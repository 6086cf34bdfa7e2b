"""Fault: the receiver cannot keep up with UDP (here: stopped with SIGSTOP) and the kernel drops
datagrams from the socket's full receive buffer. They are lost (UDP has no back-pressure) but
counted: `logjet_udp_kernel_drops_total` equals the kernel's own count, and every datagram sent
is either received or counted."""

from __future__ import annotations

import os
import signal
import socket
import time

import pytest

from tests.e2e.clients import metric, wait_written, worker_pids

pytestmark = pytest.mark.e2e


def proc_udp_drops(port: int) -> int:
    """The kernel's drop count summed over the UDP sockets bound to `port` (/proc/net/udp)."""
    total = 0
    for path in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(path) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if int(cols[1].rsplit(":", 1)[1], 16) == port:
                total += int(cols[12])
    return total


def test_kernel_drops_are_counted(start_engine, tmp_path):
    config = tmp_path / "udp.toml"
    config.write_text('[listen]\nudp_recv_buffer = "64KiB"\n')
    engine = start_engine("--config", str(config), "--receivers", "1", name="udp-drops")
    port = engine.ports["syslog_udp"]
    assert proc_udp_drops(port) == 0
    sent = 5_000  # ~1.2 MB: many times the receive buffer
    (receiver,) = worker_pids(engine, "receiver")
    os.kill(receiver, signal.SIGSTOP)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i in range(sent):
                s.sendto(b"<14>Nov 22 10:00:00 h app: seq=%d t=kdrop %s" % (i, b"k" * 200), ("127.0.0.1", port))
    finally:
        os.kill(receiver, signal.SIGCONT)
    kernel = proc_udp_drops(port)
    assert 0 < kernel < sent
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        counted = metric(engine.url, "logjet_udp_kernel_drops_total")
        received = metric(engine.url, "logjet_received_messages_total", protocol="udp")
        if counted == kernel and received + counted >= sent:
            break
        time.sleep(0.2)
    print(f"sent {sent}, received {received:.0f}, kernel drops {kernel}, counted {counted:.0f}")
    assert counted == kernel == proc_udp_drops(port)
    assert received + counted == sent, "every datagram is either read or counted as dropped"
    assert wait_written(engine.url, received) == received
    assert metric(engine.url, "logjet_dropped_messages_total") == 0
