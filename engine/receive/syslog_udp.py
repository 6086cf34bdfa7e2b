"""Syslog over UDP: one message per datagram, collected in bulk and turned into frames with numpy.

Per datagram the protocol does two list appends and nothing else (uvloop already pays for the
syscall and the bytes object); `udp_frames` then handles a whole bulk at once: one join, the
lengths, the size limit and the trailer strip as array operations, and one dict pass
for the sender addresses. UDP has no back-pressure: when the rings are full the receiver drops
and counts (`dropped_messages_total{reason="ring_full"}`, or `reason="disk_full"` while the
writer cannot write: see `engine.receive.worker`).
"""

from __future__ import annotations

import asyncio
from typing import Protocol

import numpy as np

# Datagrams handed over at once; bounds a bulk's distinct senders below the batch's u16 index.
BULK = 4096


# A sender's address as the socket gives it: (host, port) for IPv4, (host, port, flow, scope) for IPv6.
Address = tuple[object, ...]


class DatagramSink(Protocol):
    """The receiver as the UDP protocol sees it."""

    def udp_ready(self, proto: SyslogUdpProtocol) -> None: ...

    def udp_started(self) -> None: ...

    def udp_error(self, exc: Exception) -> None: ...


def format_addr(addr: object) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        host = str(addr[0])
        return f"[{host}]:{addr[1]}" if ":" in host else f"{host}:{addr[1]}"
    return str(addr)


def udp_frames(
    datagrams: list[bytes], addrs: list[Address], max_len: int
) -> tuple[bytes, np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(buf, starts, ends, flags, source index u16, sources) of a bulk of datagrams.
    Over-long datagrams are cut to `max_len` and flagged; one trailing LF, CRLF or NUL (framing
    some senders add) is not message content; empty datagrams are skipped."""
    n = len(datagrams)
    buf = b"".join(datagrams)
    lens = np.fromiter(map(len, datagrams), np.int64, n)
    starts = np.zeros(n, np.int64)
    np.cumsum(lens[:-1], out=starts[1:])
    flags = (lens > max_len).astype(np.uint8)
    ends = starts + np.minimum(lens, max_len)
    arr = np.frombuffer(buf, np.uint8)
    if len(arr):
        # One trailer (LF, CRLF or NUL) is framing some senders add; nothing else is removed.
        whole = (ends > starts) & (flags == 0)
        last = arr[np.maximum(ends - 1, 0)]
        lf = whole & (last == 10)
        ends = ends - (lf | (whole & (last == 0)))
        before = arr[np.maximum(ends - 1, 0)]
        ends = ends - (lf & (ends > starts) & (before == 13))
    table: dict[Address, int] = {}
    idx = np.fromiter((table.setdefault(a, len(table)) for a in addrs), np.uint16, n)
    sources = [format_addr(a) for a in table]
    keep = ends > starts
    if not keep.all():
        starts, ends, flags, idx = starts[keep], ends[keep], flags[keep], idx[keep]
    return buf, starts, ends, flags, idx, sources


class SyslogUdpProtocol(asyncio.DatagramProtocol):
    """Collects datagrams for the receiver (`sink`), which takes them with `take`."""

    def __init__(self, sink: DatagramSink):
        self._sink = sink
        self.datagrams: list[bytes] = []
        self.addrs: list[Address] = []

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.datagrams.append(data)
        self.addrs.append(addr)
        n = len(self.datagrams)
        if n >= BULK:
            self._sink.udp_ready(self)
        elif n == 1:
            self._sink.udp_started()

    def take(self) -> tuple[list[bytes], list[Address]]:
        datagrams, addrs = self.datagrams, self.addrs
        self.datagrams, self.addrs = [], []
        return datagrams, addrs

    def error_received(self, exc: Exception) -> None:
        self._sink.udp_error(exc)
