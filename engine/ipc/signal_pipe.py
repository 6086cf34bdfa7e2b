"""A self-pipe that signals write a byte to (`signal.set_wakeup_fd`), so that a sleep in poll or
select ends when a signal arrives: Python's handler still runs, the byte only wakes the sleeper.
Shared by the workers' ring sleep (engine.ipc.doorbell) and the supervisor's (engine.lifecycle
.supervise_wait)."""

from __future__ import annotations

import os
import signal


class SignalPipe:
    """The process's signal wake-up fd while it is open (made and closed in the main thread);
    `fd` is the end to poll, `drain` empties it after a wake-up, `close` restores the previous
    wake-up fd."""

    def __init__(self) -> None:
        self.fd, self._w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._old_wakeup = signal.set_wakeup_fd(self._w, warn_on_full_buffer=False)

    def drain(self) -> None:
        try:
            os.read(self.fd, 4096)
        except BlockingIOError:
            pass

    def close(self) -> None:
        if self.fd < 0:
            return
        signal.set_wakeup_fd(self._old_wakeup)
        os.close(self.fd)
        os.close(self._w)
        self.fd = self._w = -1
