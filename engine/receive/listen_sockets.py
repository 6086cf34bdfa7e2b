"""Listening sockets with SO_REUSEPORT, so every receiver binds the same port and the kernel
spreads connections and datagrams across them."""

from __future__ import annotations

import socket


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def tcp_listener(host: str, port: int, backlog: int = 1024, listen: bool = True) -> socket.socket:
    """A TCP socket bound with SO_REUSEPORT; `listen=False` only reserves the port (the
    supervisor does that so a port of 0 resolves once and restarted workers rebind it)."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        if listen:
            sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def udp_socket(host: str, port: int, recv_buffer: int = 0) -> socket.socket:
    sock = socket.socket(_family(host), socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if recv_buffer:
            # The kernel caps this at net.core.rmem_max; a bigger buffer absorbs bursts.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, recv_buffer)
        sock.bind((host, port))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def discard_queued(sock: socket.socket) -> int:
    """Read and discard every datagram queued on a non-blocking UDP socket; returns how many.
    (What a socket about to be closed held: the caller counts them as lost.)"""
    n = 0
    while True:
        try:
            sock.recv(1)  # a datagram is dequeued whole whatever the buffer size
        except (BlockingIOError, InterruptedError):
            return n
        except OSError:  # an ICMP error queued on the socket: not a datagram
            continue
        n += 1
