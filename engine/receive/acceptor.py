"""Accepts the connections of one listening stream socket (TCP or TLS syslog) for a receiver:
those beyond `ingest.max_connections` are accepted and closed at once, and accept errors
(EMFILE, ENFILE, ENOBUFS, ENOMEM) are counted and logged instead of going unseen.

Why not `loop.create_server`: uvloop (libuv) meets EMFILE by accepting and closing every pending
connection, with no callback, no log line and no way to count it; and a listen error it does
report closes the server for good. Here an accept that fails for lack of resources pauses
accepting for `ACCEPT_RETRY_S`: pending connections wait in the listen backlog until descriptors
free up, as with asyncio's own server loop. The accepted socket becomes a transport through
`loop.connect_accepted_socket`, so reading and writing are uvloop's as before.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import time
from typing import Callable

from engine.metrics import MetricsFile
from engine.receive.connection_table import ConnectionTable, StreamConnection
from engine.receive.rate_limited_log import RateLimitedLog
from engine.receive.syslog_tcp import address_name

log = logging.getLogger("logjet.receive")

# While accept fails for lack of descriptors or memory, how long to stop trying (as asyncio).
ACCEPT_RETRY_S = 1.0
# Connections accepted per wake-up at most, so that a connection storm cannot starve reading;
# the socket stays readable and the rest are taken on the next turn of the loop.
ACCEPT_BATCH = 128
# Accept errors and refused connections are logged at most this often, per kind.
LIMIT_LOG_INTERVAL_S = 60.0
# Errors that mean "out of a resource": retried after a pause. Other errors concern only the
# connection being accepted (it broke before we took it), so the next one is tried at once.
RESOURCE_ERRORS = {errno.EMFILE: "emfile", errno.ENFILE: "enfile", errno.ENOBUFS: "enobufs", errno.ENOMEM: "enomem"}
MAX_CONNECTIONS = "max_connections"  # the reason label of connections refused over the cap


class Acceptor:
    """Accepts on `listener` (non-blocking, listening) and gives each connection a protocol
    from `factory`, registered in `table` under `protocol` ("tcp" or "tls")."""

    def __init__(
        self,
        listener: socket.socket,
        factory: Callable[[], StreamConnection],
        protocol: str,
        table: ConnectionTable,
        metrics: MetricsFile,
        accept_errors: AcceptErrors,
    ):
        self._listener = listener
        self._factory = factory
        self.protocol = protocol
        self._table = table
        self._errors = accept_errors
        self._loop = asyncio.get_running_loop()
        self._retry: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # connections being set up (strong refs)
        self.m_rejected = metrics.counter("rejected_connections_total", protocol=protocol, reason=MAX_CONNECTIONS)
        self._rejected_log = RateLimitedLog(log, LIMIT_LOG_INTERVAL_S)
        self.closed = False

    def start(self) -> None:
        self._loop.add_reader(self._listener.fileno(), self._accept_ready)

    def close(self) -> None:
        """Stop accepting and close the listening socket; open connections stay."""
        if self.closed:
            return
        self.closed = True
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        else:
            self._loop.remove_reader(self._listener.fileno())
        self._listener.close()

    def _accept_ready(self) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                sock, peer = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                reason = RESOURCE_ERRORS.get(exc.errno or 0)
                self._errors.count(reason or errno.errorcode.get(exc.errno or 0, "other").lower(), exc, self.protocol)
                if reason is not None:
                    self._pause()
                    return
                continue
            self._admit(sock, peer)

    def _pause(self) -> None:
        self._loop.remove_reader(self._listener.fileno())
        self._retry = self._loop.call_later(ACCEPT_RETRY_S, self._resume)

    def _resume(self) -> None:
        self._retry = None
        if not self.closed:
            self.start()

    def _admit(self, sock: socket.socket, peer: object) -> None:
        if self._table.full():
            self.m_rejected.inc()
            self._rejected_log.warning(
                "syslog %s: %d connections open (ingest.max_connections); closing a new one from %s",
                self.protocol,
                len(self._table),
                address_name(peer),
            )
            sock.close()
            return
        try:
            sock.setblocking(False)
            # A peer that vanished without a FIN is also found by keepalive (beside the idle sweep).
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        except OSError:
            sock.close()  # it broke already
            return
        conn = self._factory()
        self._table.add(conn, self.protocol, time.monotonic())  # counted from accept on
        task = self._loop.create_task(self._connect(sock, conn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self, sock: socket.socket, conn: StreamConnection) -> None:
        try:
            await self._loop.connect_accepted_socket(lambda: conn, sock)
        except OSError as exc:  # the connection broke before its transport was made
            self._table.discard(conn)
            sock.close()
            log.debug("syslog %s: accepted connection lost before it was set up: %s", self.protocol, exc)


class AcceptErrors:
    """Counts accept errors by reason (`accept_errors_total{reason}`) and logs each reason at
    most once a minute: while descriptors are exhausted every accept fails."""

    def __init__(self, metrics: MetricsFile):
        self._metrics = metrics
        self._counters = {r: metrics.counter("accept_errors_total", reason=r) for r in RESOURCE_ERRORS.values()}
        self._logs: dict[str, RateLimitedLog] = {}

    def count(self, reason: str, exc: OSError, protocol: str) -> None:
        counter = self._counters.get(reason)
        if counter is None:
            counter = self._counters[reason] = self._metrics.counter("accept_errors_total", reason=reason)
        counter.inc()
        limited = self._logs.get(reason)
        if limited is None:
            limited = self._logs[reason] = RateLimitedLog(log, LIMIT_LOG_INTERVAL_S)
        pause = f"; accepting again in {ACCEPT_RETRY_S:g} s" if reason in RESOURCE_ERRORS.values() else ""
        limited.warning("syslog %s: accept failed (%s): %s%s", protocol, reason, exc.strerror or exc, pause)
