"""Syslog over TLS (RFC 5425): TLS done with `ssl.MemoryBIO` inside a plain TCP protocol; the
decrypted stream goes through `SyslogTcpProtocol`, so framing, batching and back-pressure are
exactly those of plain TCP.

Why not `loop.create_server(ssl=...)`: uvloop's SSL transport swallows handshake errors, and
every failed handshake must be counted. Here each connection is a small state machine:

    HANDSHAKING --handshake done--> OPEN --close_notify or FIN--> CLOSING --lost--> CLOSED
         |  failed (bad or missing client certificate, plain text, garbage, FIN mid-handshake)
         |  or no handshake within HANDSHAKE_TIMEOUT_S
         +--> CLOSED (counted once: outcome "failed" or "timeout")

Only an OPEN connection is the receiver's: the inner TCP protocol is attached (and registered
with the receiver, which pauses and resumes its transport) when the handshake completes.
Ciphertext arrives in whatever pieces TCP delivers; decrypted bytes are read out in big chunks
and handed on joined, so per-message Python cost stays that of plain TCP.

The receiver's `ConnectionTable` holds this outer protocol from accept to close, so a connection
still handshaking counts against `ingest.max_connections`; one that reads nothing for
`ingest.idle_timeout` is closed (one still handshaking then, as a handshake timeout).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Protocol, cast

import numpy as np

from engine.receive.connection_table import StreamConnection
from engine.receive.syslog_tcp import ConnectionTracker, SyslogTcpProtocol, peer_name

log = logging.getLogger("logjet.receive.tls")

# A client that has not finished its handshake by then is cut off: an idle or stuck handshake
# holds a socket and an SSL object, and a real client finishes in milliseconds (a few round trips).
HANDSHAKE_TIMEOUT_S = 10.0
# Asked of `SSLObject.read`; one call returns at most one TLS record (16 KiB), the loop goes on
# until the incoming BIO is empty.
READ_CHUNK = 256 * 1024

HANDSHAKING, OPEN, CLOSING, CLOSED = "handshaking", "open", "closing", "closed"
# Outcomes of a handshake (label `outcome` of tls_handshakes_total).
OK, FAILED, TIMEOUT = "ok", "failed", "timeout"
OUTCOMES = (OK, FAILED, TIMEOUT)


class TlsSink(ConnectionTracker, Protocol):
    """The receiver as a TLS connection sees it: decrypted frames, handshake outcomes, errors."""

    def tls_frames(
        self, buf: bytes, starts: np.ndarray, ends: np.ndarray, flags: np.ndarray, source: str, nbytes: int
    ) -> None: ...

    def tls_handshake(self, outcome: str, source: str, reason: str) -> None: ...

    def tls_error(self, source: str, reason: str) -> None: ...


class _Decrypted:
    """The inner TCP protocol's sink: the receiver, except that frames are TLS frames."""

    __slots__ = ("_sink",)

    def __init__(self, sink: TlsSink):
        self._sink = sink

    def connection_opened(self, proto: SyslogTcpProtocol) -> None:
        self._sink.connection_opened(proto)

    def connection_closed(self, proto: SyslogTcpProtocol) -> None:
        self._sink.connection_closed(proto)

    def stream_closed(self, conn: StreamConnection) -> None:
        """Not passed on: the socket is the outer TLS protocol's, which reports its close."""

    def framing_decided(self, framing: str, source: str) -> None:
        self._sink.framing_decided(framing, source)

    def stream_pending(self, proto: SyslogTcpProtocol) -> None:
        self._sink.stream_pending(proto)

    def tcp_frames(
        self, buf: bytes, starts: np.ndarray, ends: np.ndarray, flags: np.ndarray, source: str, nbytes: int
    ) -> None:
        self._sink.tls_frames(buf, starts, ends, flags, source, nbytes)


class SyslogTlsProtocol(StreamConnection):
    """One TLS connection. `sink` is the receiver: `tls_frames`, `tls_handshake(outcome,
    source, reason)`, `tls_error(source, reason)` and what `SyslogTcpProtocol` calls.
    `context` is the server SSLContext in force when the connection was accepted."""

    transport: asyncio.Transport  # set by connection_made, which asyncio calls first

    def __init__(
        self, sink: TlsSink, max_len: int, context: ssl.SSLContext, handshake_timeout_s: float = HANDSHAKE_TIMEOUT_S
    ):
        self._sink = sink
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._ssl = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self._inner = SyslogTcpProtocol(_Decrypted(sink), max_len)
        self._timeout_s = handshake_timeout_s
        self._timer: asyncio.TimerHandle | None = None
        self.source = "unknown"
        self.state = HANDSHAKING

    # --- asyncio callbacks --------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream server hands its protocols a Transport; the base class names the base type.
        self.transport = cast(asyncio.Transport, transport)
        self.source = peer_name(transport)
        self._timer = asyncio.get_running_loop().call_later(self._timeout_s, self._handshake_timed_out)

    def data_received(self, data: bytes) -> None:
        self.read_since_sweep = True
        if self.state in (CLOSING, CLOSED):
            return  # after close_notify or a failure nothing more is read
        self._incoming.write(data)
        if self.state == HANDSHAKING and not self._handshake():
            return
        self._read_decrypted()

    def eof_received(self) -> bool:
        """A FIN: before the handshake finished it is a failed one; after, the end of the
        stream (many senders close without close_notify, and nothing is lost by trusting it)."""
        if self.state == HANDSHAKING:
            self._fail(FAILED, "the client closed the connection during the handshake")
        elif self.state == OPEN:
            self.state = CLOSING
            self._inner.eof_received()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if self.state == HANDSHAKING:
            why = (
                f"connection lost during the handshake ({exc})"
                if exc
                else "the client closed the connection during the handshake"
            )
            self._handshake_outcome(FAILED, why)
        self._cancel_timer()
        opened = self.state in (OPEN, CLOSING)
        self.state = CLOSED
        if opened:
            self._inner.connection_lost(exc)
        self._sink.stream_closed(self)

    def close_idle(self, idle_s: float) -> None:
        if self.state == HANDSHAKING:
            self._fail(TIMEOUT, f"no bytes for {idle_s:.0f} s (ingest.idle_timeout)")
        elif self.state == OPEN:
            self._send_close_notify()  # connection_lost hands over the tail, as when the peer closes
        else:
            self.transport.close()

    # --- the states ---------------------------------------------------------------------------
    def _handshake(self) -> bool:
        """Advance the handshake; True once it is done (state OPEN)."""
        try:
            self._ssl.do_handshake()
        except ssl.SSLWantReadError:
            self._flush()
            return False
        except ssl.SSLError as exc:
            self._flush()  # the alert tells the client why
            self._fail(FAILED, _reason(exc))
            return False
        self._flush()
        self._handshake_outcome(OK, "")
        self._cancel_timer()
        self.state = OPEN
        self._inner.connection_made(self.transport)
        return True

    def _read_decrypted(self) -> None:
        """Everything the incoming BIO holds, decrypted, to the framer in one piece."""
        read = self._ssl.read
        chunks: list[bytes] = []
        closed = False
        try:
            while True:
                chunk = read(READ_CHUNK)
                if not chunk:  # close_notify: the clean end of the stream (read returns b"")
                    closed = True
                    break
                chunks.append(chunk)
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLZeroReturnError:  # close_notify, as some Python versions report it
            closed = True
        except ssl.SSLError as exc:
            self._deliver(chunks)
            self._sink.tls_error(self.source, _reason(exc))
            self._flush()
            self.state = CLOSING
            self.transport.abort()
            return
        self._deliver(chunks)
        if self._outgoing.pending:  # key updates, session tickets
            self._flush()
        if closed:
            self._close_notify()

    def _deliver(self, chunks: list[bytes]) -> None:
        if not chunks:
            return
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        # Not once the receiver has aborted the connection (a handshake done during its drain).
        if data and self.state == OPEN and not self.transport.is_closing():
            self._inner.data_received(data)

    def _close_notify(self) -> None:
        """The client's close_notify: hand over the last frame, answer in kind, close."""
        self.state = CLOSING
        self._inner.eof_received()
        self._send_close_notify()

    def _send_close_notify(self) -> None:
        """Our close_notify, then close (state CLOSING until the connection is lost)."""
        self.state = CLOSING
        try:
            self._ssl.unwrap()
        except ssl.SSLError:
            pass  # our close_notify is in the outgoing BIO either way
        self._flush()
        self.transport.close()

    def _handshake_timed_out(self) -> None:
        self._timer = None
        if self.state == HANDSHAKING:
            self._fail(TIMEOUT, f"no handshake within {self._timeout_s:g} s")

    def _fail(self, outcome: str, reason: str) -> None:
        self._handshake_outcome(outcome, reason)
        self._cancel_timer()
        self.state = CLOSED
        self.transport.close()  # after the flushed alert, if any

    def _handshake_outcome(self, outcome: str, reason: str) -> None:
        """Tell the receiver, once per connection (only while handshaking)."""
        if self.state == HANDSHAKING:
            self._sink.tls_handshake(outcome, self.source, reason)

    def _flush(self) -> None:
        data = self._outgoing.read()
        if data and not self.transport.is_closing():
            self.transport.write(data)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _reason(exc: ssl.SSLError) -> str:
    """The short OpenSSL reason ("certificate verify failed", "wrong version number")."""
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return f"client certificate refused: {exc.verify_message}"
    if exc.reason:
        return exc.reason.lower().replace("_", " ")
    return str(exc)
