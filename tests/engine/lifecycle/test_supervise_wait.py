"""The supervisor's sleep between looks at its workers: it ends when a worker process exits,
when a signal arrives, or at its timeout."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading

import pytest

from engine.lifecycle.supervise_wait import SuperviseWait


def _exit_soon() -> None:
    import time

    time.sleep(0.2)


@pytest.mark.slow  # a real child process
def test_a_worker_exit_ends_the_sleep():
    nap = SuperviseWait()
    try:
        proc = multiprocessing.get_context("spawn").Process(target=_exit_soon)
        proc.start()
        assert nap.wait([proc.sentinel], 60.0) is True
        proc.join()
        assert proc.exitcode == 0
    finally:
        nap.close()


def test_a_signal_ends_the_sleep_and_its_handler_runs():
    got = []
    old = signal.signal(signal.SIGUSR1, lambda *_: got.append("usr1"))
    nap = SuperviseWait()
    try:
        timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGUSR1))
        timer.start()
        assert nap.wait([], 60.0) is True
        timer.join()
        assert got == ["usr1"]
        assert nap.wait([], 0.01) is False, "the signal's byte was taken: the next sleep runs to its timeout"
    finally:
        nap.close()
        signal.signal(signal.SIGUSR1, old)


def test_close_gives_back_the_previous_wakeup_fd():
    before = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(before)
    nap = SuperviseWait()
    nap.close()
    nap.close()  # a second close does nothing
    assert signal.set_wakeup_fd(before) == before
