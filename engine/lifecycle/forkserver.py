"""How workers are started: forked from a fork server that has imported every worker module and
loaded every kernel once (`preload`), rather than each worker spawning a fresh interpreter that
loads them all again. On two cores, four workers each importing numpy, numba, hyperscan and
aiohttp and loading their kernels at once were most of a start's time.

The fork server is a child of the supervisor and the parent of the workers it forks; it reports
their exits to the supervisor through pipes. It exits once the supervisor and every worker it
forked are gone. `supervisor.worker_start = "spawn"` starts each worker in a fresh interpreter
instead (as before, and for comparison).

If the fork server itself dies (kill -9), it can no longer report: every worker it forked looks
dead to the supervisor though it may be running. `ExitWatch` tells the two apart by a pidfd on
the worker, so the supervisor puts down a live one before starting its successor (two
consumers on one ring would corrupt it).
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver
import os
import select

from engine.config import Settings
from engine.lifecycle.host_setup import make_private, raise_fd_limit

# Imported by the fork server before it serves (see `preload`).
PRELOAD = ["engine.lifecycle.preload"]
START_METHODS = ("forkserver", "spawn")


WorkerContext = multiprocessing.context.ForkServerContext | multiprocessing.context.SpawnContext


def worker_context(method: str) -> WorkerContext:
    """The multiprocessing context workers are started with (`START_METHODS`)."""
    if method == "forkserver":
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        return ctx
    return multiprocessing.get_context("spawn")


def start_early(ctx: WorkerContext) -> None:
    """Launch the fork server now, so that its preloading overlaps what the supervisor does
    before the first worker starts (the first start waits for it). Cheap when running."""
    if ctx.get_start_method() == "forkserver":
        multiprocessing.forkserver.ensure_running()


class ExitWatch:
    """Whether worker `pid` has really exited, by a pidfd taken just after it started (None
    when it was gone already or pidfds are missing: then its reported exit is believed)."""

    def __init__(self, pid: int):
        try:
            self.fd: int | None = os.pidfd_open(pid)
        except (OSError, AttributeError):
            self.fd = None

    def alive(self) -> bool:
        return self.fd is not None and not select.select([self.fd], [], [], 0)[0]

    def wait(self, timeout_s: float) -> bool:
        """Wait until it has exited; whether it did within `timeout_s`."""
        return self.fd is None or bool(select.select([self.fd], [], [], timeout_s)[0])

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def launch_early(settings: Settings) -> None:
    """Launch the fork server as `logjet serve` begins, before the supervisor's own imports.
    What the fork server and every worker inherit is set first: the private umask and the file
    descriptor limit (`host_setup`; the supervisor sets them again, to the same values)."""
    if settings.supervisor.worker_start != "forkserver":
        return
    make_private(settings.data_dir)
    before, after = raise_fd_limit()
    if after > before:
        logging.getLogger("logjet.supervise").info("file descriptor limit raised from %d to %d", before, after)
    start_early(worker_context("forkserver"))
