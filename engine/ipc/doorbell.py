"""Doorbells: how a ring's producer wakes a consumer that sleeps, so an idle consumer costs no CPU.

A doorbell is a named FIFO beside its ring (`engine.ipc.shm.doorbell_path`). The producer rings
it after publishing a record (one non-blocking `write` of a byte; a full pipe means a wake-up is
pending already, so EAGAIN is ignored). A consumer with nothing to read clears its doorbells,
looks at its rings once more, and only then blocks in `poll` on them, with a timeout for its
heartbeat. That order makes a lost wake-up impossible without any shared-memory fence: a record
published after the look rings the bell after the clear, and the pipe is a kernel object whose
lock orders the producer's `write_pos` store before the byte the consumer reads.

A FIFO rather than an eventfd or a futex: it has a name, so it needs no file descriptor passed
across the spawn boundary, survives a worker restart on either side (both ends open it O_RDWR,
so neither blocks on open nor sees end-of-file when the other dies), and is removed with the
instance folder. Either end creates it when missing (`mkfifo`; EEXIST is fine), so rings made by
an older supervisor, or adopted from a killed instance, get one too.

Signals: `Waiter` also watches a self-pipe given to `signal.set_wakeup_fd`, so the drain signal
ends a sleep at once instead of at the timeout (Python retries an interrupted `poll`).
"""

from __future__ import annotations

import errno
import os
import select
import stat

from engine.errors import LogjetError
from engine.ipc.signal_pipe import SignalPipe


class DoorbellError(LogjetError):
    """A doorbell FIFO could not be made or opened, or its name is taken by something else."""


def _open_fifo(path: str) -> int:
    """Open (creating if needed) the FIFO at `path`, read-write and non-blocking."""
    try:
        os.mkfifo(path, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise DoorbellError(f"cannot create doorbell {path}: {exc}") from exc
    try:
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise DoorbellError(f"cannot open doorbell {path}: {exc}") from exc
    if not stat.S_ISFIFO(os.fstat(fd).st_mode):
        os.close(fd)
        raise DoorbellError(f"doorbell {path} is not a FIFO")
    return fd


class Doorbell:
    """One end of a doorbell FIFO (the same class serves producer and consumer)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = _open_fifo(path)

    def ring(self) -> None:
        """Wake the consumer (never blocks)."""
        try:
            os.write(self.fd, b"\x01")
        except BlockingIOError:
            pass  # the pipe is full: the consumer has wake-ups pending already
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise

    def clear(self) -> None:
        """Take every pending ring (never blocks)."""
        try:
            while len(os.read(self.fd, 4096)) == 4096:
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class Waiter:
    """Sleeps until one of `bells` rings, a signal arrives, or a timeout passes.

    Use: when a pass over the rings found nothing, call `prepare()`, look at the rings again,
    and call `wait(timeout)` only if they are still empty (see the module docstring for why in
    this order). Must be made in the main thread (it owns the process's signal wake-up fd)."""

    def __init__(self, bells: list[Doorbell]) -> None:
        self.bells = bells
        self._poll = select.poll()
        for bell in bells:
            self._poll.register(bell.fd, select.POLLIN)
        self._signals = SignalPipe()
        self._poll.register(self._signals.fd, select.POLLIN)
        # A sleep deaf to the bells still ends at a signal (see `wait`).
        self._signals_only = select.poll()
        self._signals_only.register(self._signals.fd, select.POLLIN)

    def prepare(self) -> None:
        for bell in self.bells:
            bell.clear()

    def wait(self, timeout_s: float, bells: bool = True) -> bool:
        """Block up to `timeout_s`; True when woken by a bell or a signal. With `bells` False
        only a signal or the timeout ends the sleep: for a consumer that has work due at a
        known time and gains nothing by waking for each record before it."""
        poller = self._poll if bells else self._signals_only
        woken = bool(poller.poll(max(0, int(timeout_s * 1000 + 0.999))))
        if woken:
            self._signals.drain()
        return woken

    def close(self) -> None:
        self._signals.close()
