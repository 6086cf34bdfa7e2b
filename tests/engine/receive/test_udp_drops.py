"""The kernel's UDP drop count, read from /proc for real sockets on loopback: a socket nobody reads
fills its receive buffer, and every datagram sent is then either queued or counted as dropped."""

from __future__ import annotations

import socket

from engine.metrics import MetricsFile, read_all
from engine.receive.udp_drops import KernelDrops, read_drops, socket_inode


def _unread_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the kernel's minimum: fills at once
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


def _drain(sock: socket.socket) -> int:
    got = 0
    while True:
        try:
            sock.recv(65536)
        except BlockingIOError:
            return got
        got += 1


def test_drops_are_counted_once_and_add_up_with_what_was_read(tmp_path):
    metrics = MetricsFile(str(tmp_path / "r.metrics"))
    drops = KernelDrops(metrics.counter("udp_kernel_drops_total"))
    socks = [_unread_socket(), _unread_socket()]
    for sock in socks:
        drops.watch(sock)
    sent = 500
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for sock in socks:
            for i in range(sent):
                sender.sendto(b"<13>datagram %d %s" % (i, b"z" * 200), sock.getsockname())
    kernel = read_drops({socket_inode(s) for s in socks})
    assert set(kernel) == {socket_inode(s) for s in socks} and all(n > 0 for n in kernel.values())
    assert drops.poll() == sum(kernel.values())
    assert drops.poll() == 0  # counted once
    received = sum(_drain(s) for s in socks)
    assert received + sum(kernel.values()) == 2 * sent  # loopback loses nothing else
    assert read_all([str(tmp_path / "r.metrics")])[("udp_kernel_drops_total", ())] == sum(kernel.values())
    for sock in socks:
        sock.close()


def test_a_socket_missing_from_proc_counts_nothing(tmp_path):
    metrics = MetricsFile(str(tmp_path / "r.metrics"))
    drops = KernelDrops(metrics.counter("udp_kernel_drops_total"), paths=(str(tmp_path / "absent"),))
    with _unread_socket() as sock:
        drops.watch(sock)
        assert drops.poll() == 0
    assert KernelDrops(metrics.counter("udp_kernel_drops_total")).poll() == 0  # no socket watched
