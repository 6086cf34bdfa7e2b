"""How the supervisor waits between its looks at the workers: asleep until a worker exits (its
process sentinel), a signal arrives (the stop signals, SIGHUP) or its next timed duty is due
(heartbeat checks, the systemd watchdog), rather than waking on a fixed short tick.

A fixed tick of 50 ms cost the supervisor a few milliseconds of CPU every second, loaded or
idle: at low ingest rates that was a visible share of the engine's CPU per message. Exits and
signals are what need a prompt answer, and both can wake a sleep: the sentinels are file
descriptors, and signals reach a self-pipe given to `signal.set_wakeup_fd` (Python's handler
still runs; the byte only ends the sleep, which would otherwise be retried after the handler).
"""

from __future__ import annotations

from multiprocessing.connection import wait

from engine.ipc.signal_pipe import SignalPipe


class SuperviseWait:
    """Sleeps until one of the given sentinels is ready, a signal arrives, or a timeout passes.
    Made and used in the main thread (it owns the process's signal wake-up fd); `close`
    restores the previous wake-up fd."""

    def __init__(self) -> None:
        self._signals = SignalPipe()

    def wait(self, sentinels: list[int], timeout_s: float) -> bool:
        """Block up to `timeout_s`; True when woken by an exit or a signal."""
        ready = wait([*sentinels, self._signals.fd], max(0.0, timeout_s))
        if self._signals.fd in ready:
            self._signals.drain()
        return bool(ready)

    def close(self) -> None:
        self._signals.close()
