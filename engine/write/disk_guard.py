"""Whether the writer may write now: free space on the data dir's volume against
`storage.min_free_bytes`, and what the last write said (ENOSPC, EDQUOT); published as gauges
and as the writer's FLAG_DISK_LOW in the control table, which receivers and the API read.

The disk is "low" while free space is below the minimum, or from a write that failed for want
of room until one succeeds (a quota is invisible to statvfs). While it is low the writer
neither writes nor reads its rings: rows wait in the rings, and a full ring is back-pressure on
the senders. Free space is read (statvfs, microseconds) at most every CHECK_S and before each
flush; after a failed write the next try waits RETRY_S. At shutdown the writer may write into
the margin (`may_write(use_margin=True)`): the minimum is kept for this and for merges.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from engine.metrics import MetricsFile
from engine.store.free_space import describe, min_free_bytes, volume
from engine.units import AutoByteSize

log = logging.getLogger("logjet.write")

# How often free space is read when nothing asks sooner.
CHECK_S = 0.5
# After a write failed for want of room, the next try waits this long.
RETRY_S = 1.0


def disk_low(free: int, minimum: int, failed: bool) -> bool:
    """The decision: below the minimum, or the last write failed for want of room."""
    return free < minimum or failed


class DiskGuard:
    """The writer thread's free-space state (the merge thread reads only `minimum`)."""

    def __init__(
        self,
        data_dir: str,
        setting: AutoByteSize,
        metrics: MetricsFile,
        publish: Callable[[bool], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.data_dir = data_dir
        self._clock = clock
        self._publish = publish
        self.minimum = min_free_bytes(setting, volume(data_dir).total)
        self.free = 0
        self.low = False
        self.failed = False  # the last write got ENOSPC or EDQUOT
        self._published: bool | None = None
        self._next_check = 0.0
        self._retry_at = 0.0
        self.g_low = metrics.gauge("storage_disk_low")
        self.g_free = metrics.gauge("storage_free_bytes")
        metrics.gauge("storage_min_free_bytes").set(self.minimum)
        self.m_errors = metrics.counter("storage_disk_full_errors_total", op="flush")
        self.check()

    def may_write(self, use_margin: bool = False, force: bool = False) -> bool:
        """Whether a flush may be tried now. `force`: read free space now (before a flush);
        `use_margin`: at shutdown, writing into the minimum is allowed."""
        now = self._clock()
        if force or now >= self._next_check:
            self.check(now)
        if self.failed and now < self._retry_at:
            return False
        return use_margin or self.free >= self.minimum

    def check(self, now: float | None = None) -> None:
        """Read free space, update the state and publish it."""
        now = self._clock() if now is None else now
        self._next_check = now + CHECK_S
        self.free = volume(self.data_dir).free
        self.g_free.set(self.free)
        self._update()

    def write_failed(self, exc: OSError) -> None:
        """A write got ENOSPC or EDQUOT (its partial part already removed): low until a write
        succeeds; the next try in RETRY_S."""
        self.m_errors.inc()
        self._retry_at = self._clock() + RETRY_S
        if not self.failed:
            log.error("writing a part failed (%s); rows stay in the rings, retrying every %.0fs", exc, RETRY_S)
        self.failed = True
        self.check()

    def write_succeeded(self) -> None:
        if self.failed:
            self.failed = False
            self._update()

    def _update(self) -> None:
        low = disk_low(self.free, self.minimum, self.failed)
        if low != self.low:
            if low:
                log.error(
                    "data dir volume is low (free %s, storage.min_free_bytes %s%s): not writing; rows wait "
                    "in the rings, TCP senders are held back, UDP beyond the rings is dropped",
                    describe(self.free),
                    describe(self.minimum),
                    ", a write failed for want of room" if self.failed else "",
                )
            else:
                log.warning("data dir volume has room again (free %s): writing resumes", describe(self.free))
        self.low = low
        self.g_low.set(1 if low else 0)
        if self._publish is not None and low != self._published:
            self._publish(low)
            self._published = low
