"""Small pieces every worker loop uses: sleeping on rings, idle back-off, opening its shared memory."""

from __future__ import annotations

import time

from engine.ipc.control import ControlTable
from engine.ipc.doorbell import Waiter
from engine.ipc.ring import RingConsumer
from engine.ipc.instance_lock import InstanceLock
from engine.metrics import MetricsFile
from engine.worker.process import BootError, WorkerSpec
from engine.worker.supervisor_link import started_by
from engine.ipc.shm import InstanceDir


# An idle worker still wakes this often, to beat its heartbeat and look at its clocks (one
# wake-up a second is free), and at least HEARTBEATS_PER_TIMEOUT times per
# supervisor.heartbeat_timeout, so that a loaded machine's scheduling delays never make an idle
# worker look hung.
IDLE_WAKE_S = 1.0
HEARTBEATS_PER_TIMEOUT = 8


def idle_wake_s(heartbeat_timeout_s: float) -> float:
    """How long an idle worker may sleep between heartbeats."""
    return min(IDLE_WAKE_S, heartbeat_timeout_s / HEARTBEATS_PER_TIMEOUT)


class RingSleep:
    """How a consumer with empty rings waits: blocked on their doorbells until a producer
    publishes, a signal arrives (the drain, SIGHUP) or the timeout passes; no polling, so an
    idle worker costs nothing (`engine.ipc.doorbell`)."""

    def __init__(self, consumers: list[RingConsumer], wake_s: float = IDLE_WAKE_S) -> None:
        self.consumers = consumers
        self.wake_s = wake_s
        self.waiter = Waiter([c.bell for c in consumers if c.bell is not None])

    def wait(self, timeout_s: float | None = None, bells: bool = True) -> bool:
        """Sleep until something may be readable, at most `timeout_s` (default and at most:
        the heartbeat interval); True when woken before the timeout. With `bells` False the
        records published meanwhile do not end the sleep (only a signal or the timeout do):
        they wait in the rings, whose bells are cleared at the next sleep that listens."""
        timeout_s = self.wake_s if timeout_s is None else min(timeout_s, self.wake_s)
        if not bells:
            return self.waiter.wait(timeout_s, bells=False)
        self.waiter.prepare()
        # A record published before `prepare` rang a bell that is now cleared: look once more.
        if any(c.pending_bytes() for c in self.consumers):
            return True
        return self.waiter.wait(timeout_s)


class Idle:
    """Back-off for a consumer that waits on something without a doorbell (room in a full ring):
    a few quick re-polls, then sleeps growing to `max_s`."""

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
