"""How long a receiver's batch waits for more frames, by load: `ingest.batch_delay` while frames
come at LOW_RATE a second or more, twice that below.

A batch costs the parser about a millisecond of CPU however few its rows, once it has slept
between batches (its caches gone cold: the same 200-row batch parses in 0.4 ms back to back and
1.1 ms after a 20 ms sleep). At 10,000 frames a second, 50 batches a second were most of the
parser's CPU; 25 halve that. Above LOW_RATE batches are big enough for the fixed cost not to
matter, and the delay stays short, so rows become visible as soon as before where the rate is
high; below it a row waits at most one `batch_delay` more.
"""

from __future__ import annotations

# Frames a second below which the batch delay doubles.
LOW_RATE = 25_000
# The rate is counted over windows of this length.
WINDOW_NS = 1_000_000_000


class BatchDelay:
    """The delay of the receiver's batches (ns): `base_ns`, or twice it while the frames of the
    last whole window came slower than LOW_RATE a second. Starts at `base_ns`: the first
    frames are not held longer before the rate is known."""

    __slots__ = ("base_ns", "_window_start", "_frames", "_low")

    def __init__(self, base_ns: int, now_ns: int):
        self.base_ns = base_ns
        self._window_start = now_ns
        self._frames = 0
        self._low = False

    def note(self, frames: int, now_ns: int) -> None:
        """`frames` more frames arrived at `now_ns`."""
        self._roll(now_ns)
        self._frames += frames

    def ns(self, now_ns: int) -> int:
        """The delay in force at `now_ns`."""
        self._roll(now_ns)
        return 2 * self.base_ns if self._low else self.base_ns

    def _roll(self, now_ns: int) -> None:
        elapsed = now_ns - self._window_start
        if elapsed < WINDOW_NS:
            return
        # A window with no frame at all leaves the delay as it was: an idle source's next
        # frames are few too, and a batch of them costs what any batch costs.
        if self._frames:
            self._low = self._frames * WINDOW_NS < LOW_RATE * elapsed
        self._window_start = now_ns
        self._frames = 0
