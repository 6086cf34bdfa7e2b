"""A one-line progress bar on stderr with the live stored rate.

On a terminal the line is redrawn in place a few times a second; otherwise (a log, CI) one plain
line is printed every few seconds. The rate is over the last second or so, not the average since
the start, so stalls and bursts show.
"""

from __future__ import annotations

import sys
import time
from collections import deque

WIDTH = 28
TTY_EVERY_S = 0.2
LOG_EVERY_S = 5.0
RATE_WINDOW_S = 1.0


class Progress:
    def __init__(self, label: str, total: int, stream=None, enabled: bool = True):
        self.label = label
        self.total = max(1, total)
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = self.stream.isatty()
        self._every = TTY_EVERY_S if self.tty else LOG_EVERY_S
        self._last_draw = 0.0
        self._window: deque[tuple[float, int]] = deque()
        self._t0 = time.monotonic()

    def rate(self, now: float, stored: int) -> float:
        self._window.append((now, stored))
        while len(self._window) > 2 and now - self._window[0][0] > RATE_WINDOW_S:
            self._window.popleft()
        t, n = self._window[0]
        return (stored - n) / (now - t) if now > t else 0.0

    def update(self, sent: int, stored: int) -> None:
        now = time.monotonic()
        rate = self.rate(now, stored)
        if not self.enabled or now - self._last_draw < self._every:
            return
        self._last_draw = now
        self._draw(sent, stored, rate, now)

    def _draw(self, sent: int, stored: int, rate: float, now: float) -> None:
        share = min(1.0, stored / self.total)
        bar = "#" * int(share * WIDTH) + "-" * (WIDTH - int(share * WIDTH))
        line = (
            f"{self.label:<10} [{bar}] {share:4.0%}  stored {stored:>11,}  sent {sent:>11,}  "
            f"{rate:>10,.0f} msgs/s  {now - self._t0:6.1f}s"
        )
        if self.tty:
            self.stream.write("\r" + line + "\x1b[K")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self, sent: int, stored: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        self._draw(sent, stored, self.rate(now, stored), now)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
