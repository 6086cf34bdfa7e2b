"""The stream connections (TCP and TLS syslog) one receiver holds, from accept to close: the cap
on their number (`ingest.max_connections`) and the sweep that closes idle ones (`ingest.idle_timeout`).

One sweep a second over all of them, instead of a timer per connection re-armed on every read:
a read only sets a flag on its protocol. A connection is closed once a sweep finds it has read
nothing for the idle timeout, so the silence it is allowed is between the timeout and the timeout
plus two sweeps. A peer that vanished without a FIN (half-open) reads nothing either.
"""

from __future__ import annotations

import asyncio

from engine.metrics import Value

SWEEP_INTERVAL_S = 1.0


class StreamConnection(asyncio.Protocol):
    """The protocol of a stream connection, as the table sees it: every read sets
    `read_since_sweep`, and `close_idle` closes."""

    read_since_sweep = False  # set by every read; the sweep clears it

    def close_idle(self, idle_s: float) -> None:
        """Close the connection: it read nothing for `idle_s` seconds. Its unterminated last
        frame is stored as when the peer closes (the close ends in `connection_lost`)."""
        raise NotImplementedError


class _Entry:
    __slots__ = ("last_read", "idle_closed")

    def __init__(self, last_read: float, idle_closed: Value):
        self.last_read = last_read  # monotonic seconds of the sweep that last saw it read
        self.idle_closed = idle_closed  # its protocol's counter of idle closes


class ConnectionTable:
    """The open stream connections of one receiver. `max_connections` 0: no cap;
    `idle_timeout_s` 0: never closed for idleness. `idle_closed`: a counter per protocol name."""

    def __init__(self, max_connections: int, idle_timeout_s: float, idle_closed: dict[str, Value]):
        self.max_connections = max_connections
        self.idle_timeout_s = idle_timeout_s
        self._idle_closed = idle_closed
        self._entries: dict[StreamConnection, _Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def full(self) -> bool:
        """True when a new connection would go beyond the cap."""
        return 0 < self.max_connections <= len(self._entries)

    def add(self, conn: StreamConnection, protocol: str, now: float) -> None:
        """A connection just accepted (`protocol`: "tcp" or "tls"); `now`: monotonic seconds."""
        self._entries[conn] = _Entry(now, self._idle_closed[protocol])

    def discard(self, conn: StreamConnection) -> None:
        """A connection closed (by either side); one not in the table is ignored."""
        self._entries.pop(conn, None)

    def sweep(self, now: float) -> int:
        """Close the connections that read nothing for the idle timeout; returns how many."""
        timeout = self.idle_timeout_s
        if not timeout:
            return 0
        idle: list[tuple[StreamConnection, _Entry]] = []
        for conn, entry in self._entries.items():
            if conn.read_since_sweep:
                conn.read_since_sweep = False
                entry.last_read = now
            elif now - entry.last_read >= timeout:
                idle.append((conn, entry))
        for conn, entry in idle:
            # Out of the table first: the slot is free from now on, and it is closed only once.
            del self._entries[conn]
            entry.idle_closed.inc()
            conn.close_idle(now - entry.last_read)
        return len(idle)

    def all_read_now(self, now: float) -> None:
        """Count every connection as having read at `now`: while the receiver pauses reading
        (back-pressure) the silence is its own, not the senders'."""
        for conn, entry in self._entries.items():
            conn.read_since_sweep = False
            entry.last_read = now
