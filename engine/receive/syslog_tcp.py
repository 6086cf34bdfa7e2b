"""Syslog over TCP: one asyncio protocol per connection, framing its stream into the batcher.

Reading pauses when the rings are full (the receiver calls `pause_reading` on every
connection), which is TCP back-pressure: the sender's window closes and nothing is dropped.
"""

from __future__ import annotations

import asyncio
import socket

from engine.receive.framing import Framer


def peer_name(transport) -> str:
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        host = peer[0]
        return f"[{host}]:{peer[1]}" if ":" in host else f"{host}:{peer[1]}"
    return str(peer or "unknown")


class SyslogTcpProtocol(asyncio.Protocol):
    """One TCP connection. `sink` is the receiver: it takes frames and tracks connections."""

    def __init__(self, sink, max_len: int):
        self._sink = sink
        self._framer = Framer(max_len)
        self.transport = None
        self.source = "unknown"

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.source = peer_name(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # A peer that vanished without FIN is found by keepalive instead of holding an fd forever.
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            except OSError:
                pass
        self._sink.connection_opened(self)

    def data_received(self, data: bytes) -> None:
        framer = self._framer
        buf, starts, ends, flags = framer.feed(data)
        if framer.events:
            self._report_framing()
        self._sink.tcp_frames(buf, starts, ends, flags, self.source, len(data))

    def _report_framing(self) -> None:
        for event in self._framer.events:
            self._sink.framing_decided(event, self.source)
        self._framer.events.clear()

    def eof_received(self):
        self.finish()
        return False  # close our side too

    def connection_lost(self, exc) -> None:
        self.finish()
        self._sink.connection_closed(self)

    def finish(self, cut: bool = False) -> None:
        """Hand over the unterminated last frame (a last line without a newline loses nothing);
        `cut`: we are the ones stopping mid-stream, so it may be incomplete (flagged truncated)."""
        buf, starts, ends, flags = self._framer.finish(cut)
        if self._framer.events:
            self._report_framing()
        if len(starts):
            self._sink.tcp_frames(buf, starts, ends, flags, self.source, 0)
