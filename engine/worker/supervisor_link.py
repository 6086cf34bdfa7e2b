"""A worker's tie to the supervisor that started it: whether that process started it (as its
parent, or through the fork server that is its parent), and a watch that fires when it exits.

Workers are forked by a fork server the supervisor runs (`engine.lifecycle.forkserver`), so a
worker's parent is that server, not the supervisor, and the server outlives a killed supervisor
while any worker lives. So the watch follows the supervisor itself, by a pidfd (Linux 5.3+: it
becomes readable when the process exits, and never names another process that reuses the pid);
where pidfds are missing it falls back to polling the parent and grandparent pids.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from collections.abc import Callable

POLL_S = 1.0  # the fallback's period, when pidfds are missing


def parent_of(pid: int) -> int:
    """The parent pid of process `pid` (0 when it is gone or unreadable)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return 0
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")".
    fields = stat[stat.rfind(b")") + 2 :].split()
    return int(fields[1]) if len(fields) > 1 else 0


def started_by(supervisor: int) -> bool:
    """Whether `supervisor` is this process's parent (spawned) or its parent's parent (forked by
    the supervisor's fork server)."""
    parent = os.getppid()
    return supervisor in (parent, parent_of(parent))


class SupervisorWatch:
    """Calls `on_gone` (from a daemon thread) once the supervisor `pid` has exited. Open it
    before checking `started_by`: the pidfd then names the process that check saw."""

    def __init__(self, pid: int):
        self.pid = pid
        self.fd: int | None = None
        self.gone_at_open = False
        try:
            self.fd = os.pidfd_open(pid)
        except ProcessLookupError:
            self.gone_at_open = True
        except (OSError, AttributeError):
            self.fd = None  # no pidfds here: poll instead

    def gone(self) -> bool:
        """Whether the supervisor has exited, without waiting."""
        if self.gone_at_open:
            return True
        if self.fd is not None:
            return bool(select.select([self.fd], [], [], 0)[0])
        # Without a pidfd: a killed supervisor's children are re-parented, and so is its fork
        # server, which lives on while any worker does.
        return not started_by(self.pid)

    def start(self, on_gone: Callable[[], None]) -> None:
        threading.Thread(target=self._wait, args=(on_gone,), name="supervisor-watch", daemon=True).start()

    def _wait(self, on_gone: Callable[[], None]) -> None:
        if self.fd is not None:
            select.select([self.fd], [], [])
        else:
            while not self.gone():
                time.sleep(POLL_S)
        logging.getLogger("logjet").error("the supervisor (pid %d) is gone; draining", self.pid)
        on_gone()
