"""A warning logged at most once per interval, the next one saying how many were held back: what
a flood of bad clients or a lasting resource shortage may log without flooding the log."""

from __future__ import annotations

import logging
import time


class RateLimitedLog:
    """At most one warning per `interval_s`; the next one says how many were held back. A flood
    of bad clients (a scanner, a misconfigured fleet) must not flood the log."""

    def __init__(self, logger: logging.Logger, interval_s: float = 10.0):
        self._log = logger
        self.interval_s = interval_s
        self._last = -interval_s
        self._held = 0

    def warning(self, msg: str, *args: object) -> bool:
        """Logs (True) or holds back (False)."""
        now = time.monotonic()
        if now - self._last < self.interval_s:
            self._held += 1
            return False
        if self._held:
            msg += " (%d more like this held back)"
            args = (*args, self._held)
        self._last, self._held = now, 0
        self._log.warning(msg, *args)
        return True
