"""systemd's service notification protocol (sd_notify(3)): READY, STATUS, STOPPING and watchdog
keep-alives, as datagrams to the AF_UNIX socket named in `$NOTIFY_SOCKET`.

The protocol is one datagram of `KEY=value` lines per notification, and systemd documents it as
the stable interface (not its C wrapper), so it is spoken here directly rather than through a
binding to libsystemd. A socket name starting with "@" is in the abstract namespace. Outside
systemd (no `$NOTIFY_SOCKET`) every call does nothing; a failed send is logged once and never
stops the engine.

`$WATCHDOG_USEC` (with `WatchdogSec=` in the unit) asks for WATCHDOG=1 more often than that;
the supervisor sends one every half period, and only while its loop finds the workers healthy
(`engine.lifecycle.policy.worker_healthy`). `$WATCHDOG_PID`, when set, names the process meant.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import MutableMapping

log = logging.getLogger("logjet.supervise")

ENV_SOCKET = "NOTIFY_SOCKET"
ENV_WATCHDOG_USEC = "WATCHDOG_USEC"
ENV_WATCHDOG_PID = "WATCHDOG_PID"


def socket_address(name: str) -> str | bytes | None:
    """The address to send to: a path, or bytes with a leading NUL for an abstract socket.
    None for a name systemd would not give (empty, relative)."""
    if name.startswith("@") and len(name) > 1:
        return b"\0" + name[1:].encode()
    if name.startswith("/"):
        return name
    return None


class Notifier:
    """Notifications to one socket; `Notifier(None)` is the no-op outside systemd."""

    def __init__(self, socket_name: str | None, watchdog_usec: int = 0):
        self.name = socket_name or ""
        self.address = socket_address(socket_name) if socket_name else None
        self.watchdog_s = watchdog_usec / 1e6 if self.address is not None else 0.0
        self._sock: socket.socket | None = None
        self._failed = False
        self._next_ping = 0.0

    @classmethod
    def from_environ(cls, environ: MutableMapping[str, str] = os.environ, pid: int | None = None) -> "Notifier":
        """Read the variables systemd sets, and remove them, so that workers and any program they
        start do not take the socket for theirs."""
        name = environ.pop(ENV_SOCKET, None)
        usec_text = environ.pop(ENV_WATCHDOG_USEC, "")
        watchdog_pid = environ.pop(ENV_WATCHDOG_PID, "")
        try:
            usec = int(usec_text or 0)
        except ValueError:
            usec = 0
        if watchdog_pid and watchdog_pid != str(pid if pid is not None else os.getpid()):
            usec = 0
        return cls(name, max(usec, 0))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *lines: str) -> bool:
        """One notification of `KEY=value` lines; False when it could not be sent."""
        if self.address is None:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sock.sendto("\n".join(lines).encode(), self.address)
        except OSError as exc:
            if not self._failed:
                log.warning("cannot notify the service manager through %s: %s", self.name, exc)
                self._failed = True
            return False
        return True

    def status(self, text: str) -> None:
        self.send(f"STATUS={text}")

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}")

    def stopping(self, status: str) -> None:
        self.send("STOPPING=1", f"STATUS={status}")

    def watchdog_due(self, now: float) -> bool:
        """Whether a keep-alive is due at monotonic time `now` (half the watchdog period since
        the last); always False without a watchdog."""
        return self.watchdog_s > 0 and now >= self._next_ping

    @property
    def next_ping(self) -> float:
        """Monotonic time at which the next keep-alive is due."""
        return self._next_ping

    def ping(self, now: float) -> None:
        """Send WATCHDOG=1 and schedule the next at half the period."""
        self.send("WATCHDOG=1")
        self._next_ping = now + self.watchdog_s / 2

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
