"""Small pieces every worker loop uses: idle back-off and opening its shared memory."""

from __future__ import annotations

import time

from engine.ipc.control import ControlTable
from engine.ipc.instance_lock import InstanceLock
from engine.metrics import MetricsFile
from engine.worker.process import BootError, WorkerSpec
from engine.worker.supervisor_link import started_by
from engine.ipc.shm import InstanceDir


class Idle:
    """Back-off for a polling consumer: a few quick re-polls, then sleeps growing to `max_s`.
    Polling costs nothing when busy, and at most ~1000 wake-ups a second when idle."""

    def __init__(self, max_s: float = 0.001):
        self._max = max_s
        self._misses = 0

    def reset(self) -> None:
        self._misses = 0

    def wait(self) -> None:
        self._misses += 1
        if self._misses <= 3:
            return
        time.sleep(min(self._max, 0.00005 * (1 << min(self._misses - 3, 10))))


class WorkerShm:
    """A worker's view of the instance: its control slot and its metrics file.

    Opening it marks the process as one of the instance's (the instance lock, held shared until
    exit), then checks that the supervisor that started it is still the instance's: a worker
    whose supervisor died while it booted, or whose instance a later `logjet serve` has adopted
    since, leaves without touching a ring (BootError)."""

    def __init__(self, spec: WorkerSpec):
        self.spec = spec
        self.dir = InstanceDir(spec.instance, spec.shm_root)
        self.lock = InstanceLock(self.dir.lock)
        self.lock.hold_shared()
        self.control = ControlTable(self.dir.control)
        supervisor = self.control.supervisor_pid
        if spec.supervisor_pid not in (0, supervisor) or not started_by(supervisor):
            raise BootError(f"instance {spec.instance} is no longer run by the supervisor that started this worker")
        self.metrics = MetricsFile(self.dir.metrics(spec.name))

    def beat(self, progress: int | None = None) -> None:
        self.control.beat(self.spec.slot, progress)

    def set_state(self, state: int) -> None:
        self.control.set_state(self.spec.slot, state)
