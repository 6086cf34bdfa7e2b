"""The writer's free-space state (engine.write.disk_guard) on a real small tmpfs, on an explicit
clock: when it says "low", what it publishes (gauges, the control table flag other workers read),
and how a failed write holds writing until one succeeds."""

from __future__ import annotations

import errno
import os

from engine.ipc.control import FLAG_DISK_LOW, ControlTable, WriterFlags
from engine.metrics import MetricsFile, read_all
from engine.units import AutoByteSize
from engine.write.disk_guard import CHECK_S, RETRY_S, DiskGuard, disk_low
from tests.tmpfs import fill, small_tmpfs

MIB = 1 << 20


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _control(shm_dir) -> tuple[ControlTable, WriterFlags]:
    path = str(shm_dir / "control")
    ControlTable.create(path, 2)
    ctl = ControlTable(path)
    return ctl, WriterFlags(ctl, (("parser-0", 0), ("writer-0", 1)))


def _metric(shm_dir, name: str, **labels: str) -> float:
    return read_all([str(shm_dir / "w.metrics")])[(name, tuple(sorted(labels.items())))]


def _guard(tmp_path, shm_dir, minimum: str, clock: Clock) -> tuple[DiskGuard, ControlTable, WriterFlags]:
    """A guard over the tmpfs mounted at tmp_path/disk, publishing into a real control table
    (slot 1: the writer's) and metrics file."""
    ctl, flags = _control(shm_dir)
    guard = DiskGuard(
        str(tmp_path / "disk"),
        AutoByteSize.parse(minimum),
        MetricsFile(str(shm_dir / "w.metrics")),
        publish=lambda low: ctl.set_flag(1, FLAG_DISK_LOW, low),
        clock=clock,
    )
    return guard, ctl, flags


def test_low_is_below_the_minimum_or_after_a_failed_write():
    assert not disk_low(free=2 * MIB, minimum=MIB, failed=False)
    assert disk_low(free=MIB - 1, minimum=MIB, failed=False)
    assert disk_low(free=2 * MIB, minimum=MIB, failed=True)
    assert not disk_low(free=0, minimum=0, failed=False)


def test_guard_follows_free_space_and_publishes_the_flag(tmp_path, shm_dir):
    clock = Clock()
    with small_tmpfs(str(tmp_path / "disk"), 4 * MIB) as disk:
        guard, ctl, flags = _guard(tmp_path, shm_dir, "1MiB", clock)
        assert guard.may_write() and not flags.disk_low() and ctl.flags(0) == 0
        filler = fill(disk, leave_free=MIB // 2)
        # statvfs is read at most every CHECK_S, unless asked (before a flush)...
        clock.now += CHECK_S / 2
        assert guard.may_write()
        assert not guard.may_write(force=True) and flags.disk_low()
        assert _metric(shm_dir, "storage_disk_low") == 1
        assert _metric(shm_dir, "storage_free_bytes") == MIB // 2
        assert _metric(shm_dir, "storage_min_free_bytes") == MIB
        # ...the margin is there for the shutdown's last flush...
        assert guard.may_write(use_margin=True)
        os.unlink(filler)
        assert not guard.may_write(), "not re-read before CHECK_S"
        clock.now += CHECK_S
        # ...and once space is back, writing resumes at the next check.
        assert guard.may_write() and not flags.disk_low()
        assert _metric(shm_dir, "storage_disk_low") == 0


def test_a_failed_write_holds_writing_until_one_succeeds(tmp_path, shm_dir):
    clock = Clock()
    with small_tmpfs(str(tmp_path / "disk"), 2 * MIB):
        # No minimum: a quota, say, where statvfs shows room the writer cannot have.
        guard, _, flags = _guard(tmp_path, shm_dir, "0", clock)
        guard.write_failed(OSError(errno.EDQUOT, "Disk quota exceeded"))
        assert flags.disk_low() and not guard.may_write(force=True) and not guard.may_write(use_margin=True)
        clock.now += RETRY_S
        assert guard.may_write(), "a retry is due"
        assert flags.disk_low(), "still low until a write succeeds"
        guard.write_failed(OSError(errno.ENOSPC, "No space left on device"))
        assert not guard.may_write()
        guard.write_succeeded()
        assert guard.may_write() and not flags.disk_low()
        assert _metric(shm_dir, "storage_disk_full_errors_total", op="flush") == 2
