"""The writer's flush clock: rows are flushed `flush_interval` after their receipt, less the
time flushes take, whenever the writer took their batch; clock steps move nothing."""

from __future__ import annotations

from engine.write.worker import MAX_LEAD_SHARE, FlushClock

MS = 1_000_000


def test_the_deadline_counts_from_receipt_not_from_when_the_batch_was_taken():
    clock = FlushClock(200 * MS)
    # A batch taken at monotonic 1000 ms whose oldest row was received 30 ms before (wall clock).
    clock.took(oldest_recv_ns=5_000 * MS, now_mono=1_000 * MS, now_wall=5_030 * MS)
    assert clock.due_in_ns(1_000 * MS) == 170 * MS
    # A later batch with younger rows does not move the deadline; an older one does.
    clock.took(oldest_recv_ns=5_050 * MS, now_mono=1_040 * MS, now_wall=5_070 * MS)
    assert clock.due_in_ns(1_000 * MS) == 170 * MS
    clock.took(oldest_recv_ns=4_990 * MS, now_mono=1_040 * MS, now_wall=5_070 * MS)
    assert clock.due_in_ns(1_000 * MS) == 160 * MS


def test_flushes_start_early_by_what_they_take_within_a_bound():
    clock = FlushClock(200 * MS)
    for _ in range(50):
        clock.took(0, now_mono=10_000 * MS, now_wall=0)
        clock.flushed(40 * MS)
    clock.took(0, now_mono=10_000 * MS, now_wall=0)
    assert abs(clock.due_in_ns(10_000 * MS) - 160 * MS) < MS
    for _ in range(50):
        clock.flushed(10_000 * MS)  # a stalled disk: the lead is capped
    clock.took(0, now_mono=10_000 * MS, now_wall=0)
    assert clock.due_in_ns(10_000 * MS) >= 200 * MS * (1 - MAX_LEAD_SHARE) - MS


def test_wall_clock_steps_neither_stall_nor_rush_the_flush():
    clock = FlushClock(200 * MS)
    clock.took(oldest_recv_ns=10**18, now_mono=1_000 * MS, now_wall=10)  # received "in the future"
    assert clock.due_in_ns(1_000 * MS) == 200 * MS
    clock.flushed(0)
    clock.took(oldest_recv_ns=0, now_mono=1_000 * MS, now_wall=10**18)  # received ages ago
    assert clock.due_in_ns(1_000 * MS) == 0
    clock.flushed(0)
    assert clock.oldest == 0
