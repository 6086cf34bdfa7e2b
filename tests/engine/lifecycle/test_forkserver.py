"""Workers forked from the fork server (engine.lifecycle.forkserver, preload) and their tie to
the supervisor (engine.worker.supervisor_link): real processes, real pidfds, a real fork server
that preloads the worker modules and kernels."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from engine.lifecycle.forkserver import ExitWatch, start_early, worker_context
from engine.worker.supervisor_link import SupervisorWatch, parent_of, started_by


def test_workers_start_from_a_fork_server_or_spawned():
    ctx = worker_context("forkserver")
    assert ctx.get_start_method() == "forkserver"
    assert worker_context("spawn").get_start_method() == "spawn"


def test_this_process_is_started_by_its_parent_and_not_by_itself():
    assert parent_of(os.getpid()) == os.getppid()
    assert parent_of(2**22 + 12345) == 0, "no such process"
    assert started_by(os.getppid())
    assert not started_by(os.getpid())


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


@pytest.mark.slow
def test_exit_watch_tells_a_running_process_from_an_exited_one():
    proc = _sleeper()
    watch = ExitWatch(proc.pid)
    try:
        assert watch.alive()
        assert not watch.wait(0.05)
        proc.kill()
        assert watch.wait(10)
        assert not watch.alive()
    finally:
        proc.kill()
        proc.wait()
        watch.close()
    gone = ExitWatch(proc.pid)  # reaped: nothing to watch, its reported exit is believed
    assert gone.fd is None and not gone.alive() and gone.wait(0)


@pytest.mark.slow
def test_supervisor_watch_fires_when_the_watched_process_exits():
    proc = _sleeper()
    fired = threading.Event()
    try:
        watch = SupervisorWatch(proc.pid)
        assert not watch.gone()
        watch.start(fired.set)
        assert not fired.wait(0.2)
        proc.kill()
        assert fired.wait(10)
        assert watch.gone()
    finally:
        proc.kill()
        proc.wait()
    assert SupervisorWatch(proc.pid).gone(), "already gone when opened"


def _report(path: str, test_pid: int) -> None:
    """Runs in a process forked by the fork server: what it sees of its start."""
    facts = {
        "pid": os.getpid(),
        "parent": os.getppid(),
        "grandparent": parent_of(os.getppid()),
        "started_by_test": started_by(test_pid),
        "sigterm_ignored": signal.getsignal(signal.SIGTERM) == signal.SIG_IGN,
        # Preloaded: the worker modules are imported before this process exists.
        "preloaded": all(m in sys.modules for m in ("engine.parse.worker", "engine.write.worker", "engine.api.worker")),
    }
    with open(path, "w") as f:
        json.dump(facts, f)


@pytest.mark.slow
def test_a_forked_worker_has_the_supervisor_as_grandparent_and_the_server_outlives_a_group_sigterm(
    tmp_path,
):
    ctx = worker_context("forkserver")
    start_early(ctx)
    facts = []
    for run in range(2):
        path = str(tmp_path / f"facts-{run}.json")
        proc = ctx.Process(target=_report, args=(path, os.getpid()))
        t0 = time.monotonic()
        proc.start()
        proc.join(300)
        assert proc.exitcode == 0, f"forked child failed after {time.monotonic() - t0:.1f} s"
        with open(path) as f:
            facts.append(json.load(f))
        if run == 0:
            # A SIGTERM to the whole process group (systemd's stop) is for the supervisor only.
            os.kill(facts[0]["parent"], signal.SIGTERM)
            time.sleep(0.2)
    first, second = facts
    assert first["grandparent"] == os.getpid() and first["started_by_test"]
    assert first["sigterm_ignored"] and first["preloaded"]
    assert second["parent"] == first["parent"], "the same fork server served both: SIGTERM did not stop it"
