"""The supervisor's decisions, on explicit clocks: when a worker's heartbeat is stale and how it
is put down, whether a dead worker is restarted (while serving, and during the drain), when a
worker may be told to drain and when a drain stage stops waiting. Each takes
the current time as an argument, so the rules are tested without processes or sleeps; the
supervisor reads the clocks (`time.monotonic()`, and `time.time_ns()` for heartbeats, which
workers write in wall-clock nanoseconds) and acts.
"""

from __future__ import annotations

import signal
from collections import deque

from engine.ipc import control
from engine.worker.process import EXIT_BOOT_FAILURE, EXIT_OK

# Restarts are counted over this many seconds (`supervisor.max_restarts_per_minute`).
RESTART_WINDOW_S = 60.0
# After SIGABRT (a traceback from faulthandler, if enabled) a stale worker has this long to exit
# before it gets SIGKILL.
ABORT_GRACE_S = 5.0


def exit_reason(exitcode: int) -> str:
    """How a process ended, in words: "exit code 1", "signal SIGKILL" (a negative exit code)."""
    return f"exit code {exitcode}" if exitcode >= 0 else f"signal {signal.Signals(-exitcode).name}"


def heartbeat_stale(state: int, heartbeat_ns: int, now_ns: int, timeout_ns: float) -> bool:
    """Whether a worker in `state` whose last heartbeat was at `heartbeat_ns` has missed it at
    `now_ns`. Only a READY worker beats; one still starting or draining is never stale."""
    return state == control.READY and now_ns - heartbeat_ns > timeout_ns


def worker_healthy(
    state: int, heartbeat_ns: int, started_ns: int, now_ns: int, heartbeat_timeout_ns: float, start_timeout_ns: float
) -> bool:
    """Whether a worker counts as working for the service manager's watchdog: a READY one has
    beaten within the heartbeat timeout, one STARTING (a restart) started within the start
    timeout. A worker stuck past either, and not put down and replaced by this loop (which
    takes the abort grace at most), means supervision is failing: let systemd restart it all."""
    if state == control.STARTING:
        return now_ns - started_ns <= start_timeout_ns
    return now_ns - heartbeat_ns <= heartbeat_timeout_ns


class StaleEscalation:
    """Putting down one worker that missed its heartbeat: SIGABRT first, then SIGKILL every time
    it is asked while the worker has outlived ABORT_GRACE_S since the abort. A restart starts
    over (`reset`)."""

    def __init__(self) -> None:
        self.abort_sent_at: float | None = None

    def signal_due(self, now: float) -> int | None:
        """The signal to send the stale worker at monotonic time `now`, or None: wait."""
        if self.abort_sent_at is None:
            self.abort_sent_at = now
            return signal.SIGABRT
        if now - self.abort_sent_at > ABORT_GRACE_S:
            return signal.SIGKILL
        return None

    def reset(self) -> None:
        self.abort_sent_at = None


class RestartBudget:
    """The restarts of one worker slot within the last RESTART_WINDOW_S seconds."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self.times: deque[float] = deque()

    def spend(self, now: float) -> bool:
        """Count a restart at monotonic time `now`; False when that makes more than
        `per_minute` in the window (the worker keeps dying: stop rather than loop)."""
        self.times.append(now)
        while self.times and now - self.times[0] > RESTART_WINDOW_S:
            self.times.popleft()
        return len(self.times) <= self.per_minute


def refuse_restart(name: str, exitcode: int, budget: RestartBudget, now: float) -> str | None:
    """Why worker `name`, found exited with `exitcode` while it should run, is not restarted
    (the engine stops, with this message), or None: restart it (counted in `budget`). A boot
    failure would fail again, so it is never restarted."""
    why = exit_reason(exitcode)
    if exitcode == EXIT_BOOT_FAILURE:
        return f"{name} cannot start ({why}); stopping"
    if not budget.spend(now):
        return f"{name} died {len(budget.times)} times in a minute ({why}); stopping"
    return None


def may_drain(state: int, restarts: int) -> bool:
    """Whether a worker in `state`, restarted `restarts` times, may be sent the drain signal now.
    A restarted worker still STARTING (the stop came during a restart) has not installed its
    handler yet, and the signal's default action would kill it with its rings unread: it is told
    once it is READY. A first boot still starting means the engine is failing to start, before
    it took anything: the signal may end it."""
    return state != control.STARTING or restarts == 0


def restart_in_drain(exitcode: int, told: bool) -> bool:
    """Whether a worker found exited with `exitcode` during its drain stage is restarted, to
    drain what its rings still hold. One not yet `told` to drain died before its stage (killed
    just before the stop, or while earlier stages drained); one killed by a signal (SIGKILL,
    the OOM killer) did not finish its drain: both are. One that exited on its own with an error
    while draining (a crash, the writer giving up on a full disk) would fail again: not."""
    return exitcode != EXIT_OK and (not told or exitcode < 0)


class StageDrain:
    """One drain stage's wait: its workers were told to drain at `start`; those still running
    get SIGKILL once `timeout_s` has passed, or at once when another stop signal has come since
    the drain began (a second Ctrl-C turns the drain into a quick stop)."""

    def __init__(self, start: float, timeout_s: float, signals_at_drain_start: int):
        self.deadline = start + timeout_s
        self.signals_at_drain_start = signals_at_drain_start

    def must_kill(self, now: float, signals_received: int) -> bool:
        """Whether to stop waiting at monotonic time `now`, with `signals_received` stop signals
        queued so far."""
        return now > self.deadline or signals_received > self.signals_at_drain_start
