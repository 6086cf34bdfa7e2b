"""Syslog over TCP: one asyncio protocol per connection, framing its stream into the batcher.

Small reads are kept as they come and framed together when the receiver's batch is due (or once
they add up to `FRAME_NOW_BYTES`): a paced sender's reads carry a few lines each, and framing
costs the same fixed work (kernel calls, small arrays, counters) per call whatever its size.

Reading pauses when the rings are full (the receiver calls `pause_reading` on every
connection), which is TCP back-pressure: the sender's window closes and nothing is dropped.
The receiver's `ConnectionTable` closes a connection that read nothing for `ingest.idle_timeout`.
"""

from __future__ import annotations

import asyncio
from typing import Protocol, cast

import numpy as np

from engine.receive.connection_table import StreamConnection
from engine.receive.framing import Framer


# Reads held unframed until the receiver's batch tick add up to at most this much per
# connection; a read at least this big (a sender at full speed) is framed at once.
FRAME_NOW_BYTES = 64 * 1024


class ConnectionTracker(Protocol):
    """Who tracks stream connections (the receiver pauses and resumes their reading) and counts
    the framing each one turned out to use."""

    def connection_opened(self, proto: SyslogTcpProtocol) -> None: ...

    def connection_closed(self, proto: SyslogTcpProtocol) -> None: ...

    def stream_closed(self, conn: StreamConnection) -> None:
        """The socket of a connection accepted into the receiver's table is closed."""
        ...

    def framing_decided(self, framing: str, source: str) -> None: ...

    def stream_pending(self, proto: SyslogTcpProtocol) -> None:
        """`proto` holds reads not framed yet: call its `frame_pending` when the batch is due."""
        ...


class StreamSink(ConnectionTracker, Protocol):
    """Where a TCP connection's frames go: the receiver."""

    def tcp_frames(
        self, buf: bytes, starts: np.ndarray, ends: np.ndarray, flags: np.ndarray, source: str, nbytes: int
    ) -> None: ...


def peer_name(transport: asyncio.BaseTransport) -> str:
    return address_name(transport.get_extra_info("peername"))


def address_name(peer: object) -> str:
    """A socket address as `host:port` (`[host]:port` for IPv6)."""
    if isinstance(peer, tuple) and len(peer) >= 2:
        host = peer[0]
        return f"[{host}]:{peer[1]}" if ":" in host else f"{host}:{peer[1]}"
    return str(peer or "unknown")


class SyslogTcpProtocol(StreamConnection):
    """One TCP connection. `sink` is the receiver: it takes frames and tracks connections."""

    transport: asyncio.Transport  # set by connection_made, which asyncio calls first

    def __init__(self, sink: StreamSink, max_len: int):
        self._sink = sink
        self._framer = Framer(max_len)
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self.source = "unknown"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream server hands its protocols a Transport; the base class names the base type.
        self.transport = cast(asyncio.Transport, transport)
        self.source = peer_name(transport)
        self._sink.connection_opened(self)

    def data_received(self, data: bytes) -> None:
        self.read_since_sweep = True
        if not self._pending and len(data) >= FRAME_NOW_BYTES:
            self._frame(data)
            return
        self._pending.append(data)
        self._pending_bytes += len(data)
        if self._pending_bytes >= FRAME_NOW_BYTES:
            self.frame_pending()
        elif len(self._pending) == 1:
            self._sink.stream_pending(self)

    def frame_pending(self) -> None:
        """Frame the reads held so far, as one piece."""
        pending = self._pending
        if not pending:
            return
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        self._pending = []
        self._pending_bytes = 0
        self._frame(data)

    def _frame(self, data: bytes) -> None:
        framer = self._framer
        buf, starts, ends, flags = framer.feed(data)
        if framer.events:
            self._report_framing()
        self._sink.tcp_frames(buf, starts, ends, flags, self.source, len(data))

    def _report_framing(self) -> None:
        for event in self._framer.events:
            self._sink.framing_decided(event, self.source)
        self._framer.events.clear()

    def eof_received(self) -> bool:
        self.finish()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.finish()
        self._sink.connection_closed(self)
        self._sink.stream_closed(self)

    def close_idle(self, idle_s: float) -> None:
        self.transport.close()  # connection_lost hands over the tail, as when the peer closes

    def finish(self, cut: bool = False) -> None:
        """Hand over the unterminated last frame (a last line without a newline loses nothing);
        `cut`: we are the ones stopping mid-stream, so it may be incomplete (flagged truncated)."""
        self.frame_pending()
        buf, starts, ends, flags = self._framer.finish(cut)
        if self._framer.events:
            self._report_framing()
        if len(starts):
            self._sink.tcp_frames(buf, starts, ends, flags, self.source, 0)
