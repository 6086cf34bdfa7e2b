"""engine/receive/batch_delay.py: the batch delay doubles while frames come slower than LOW_RATE a
second, and is back to `batch_delay` within a window of the rate rising."""

from __future__ import annotations

from engine.receive.batch_delay import LOW_RATE, WINDOW_NS, BatchDelay

BASE = 20_000_000


def _feed(delay: BatchDelay, start: int, per_window: int, windows: int) -> int:
    """`per_window` frames in each of `windows` windows, in 10 steps each; returns the end."""
    now = start
    for _ in range(windows):
        for _ in range(10):
            now += WINDOW_NS // 10
            delay.note(per_window // 10, now)
    return now


def test_the_delay_follows_the_rate_window_by_window():
    delay = BatchDelay(BASE, 0)
    assert delay.ns(0) == BASE  # before the rate is known
    now = _feed(delay, 0, LOW_RATE // 2, 2)
    assert delay.ns(now + 1) == 2 * BASE  # a slow source: bigger batches
    now = _feed(delay, now, 2 * LOW_RATE, 2)
    assert delay.ns(now + 1) == BASE  # busy again: rows as soon as before
    now = _feed(delay, now, LOW_RATE, 1)
    assert delay.ns(now + 1) == BASE  # at LOW_RATE exactly: not slow


def test_a_window_without_frames_keeps_the_delay_a_quiet_spell_doubles_it():
    delay = BatchDelay(BASE, 0)
    now = _feed(delay, 0, 1000, 2)
    assert delay.ns(now + 1) == 2 * BASE
    delay = BatchDelay(BASE, 0)
    now = _feed(delay, 0, 10 * LOW_RATE, 2)
    delay.ns(now + WINDOW_NS)  # rolls the window the last frames were in: still fast
    assert delay.ns(now + 5 * WINDOW_NS) == BASE  # then nothing at all: as it was
    delay.note(10, now + 6 * WINDOW_NS)
    assert delay.ns(now + 8 * WINDOW_NS) == 2 * BASE  # a few frames over seconds: slow
