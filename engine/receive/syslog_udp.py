"""Syslog over UDP: one message per datagram, straight into the batcher.

UDP has no back-pressure: when the rings are full the receiver drops and counts
(`dropped_messages_total{reason="ring_full"}`).
"""

from __future__ import annotations

import asyncio


class SyslogUdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, sink, max_len: int):
        self._sink = sink
        self._max_len = max_len

    def datagram_received(self, data: bytes, addr) -> None:
        truncated = len(data) > self._max_len
        if truncated:
            data = data[: self._max_len]
        # Trailing newlines are framing some senders add, not message content.
        if data.endswith((b"\n", b"\x00")):
            data = data.rstrip(b"\r\n\x00")
        if not data:
            return
        host = addr[0] if isinstance(addr, tuple) else str(addr)
        source = f"[{host}]:{addr[1]}" if ":" in host else f"{host}:{addr[1]}"
        self._sink.udp_datagram(data, source, truncated)

    def error_received(self, exc) -> None:
        self._sink.udp_error(exc)
