"""The supervisor's restart rules on explicit clocks: a dead worker is restarted unless it
failed to boot or died more than `max_restarts_per_minute` times within RESTART_WINDOW_S; the
message names the worker and how it ended (checked on real processes' exit codes)."""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable

import pytest

from engine.lifecycle.policy import RESTART_WINDOW_S, RestartBudget, exit_reason, refuse_restart
from engine.worker.process import EXIT_BOOT_FAILURE, EXIT_CRASH


def _exitcode_of(target: Callable[..., object], *args: object) -> int:
    """Run `target(*args)` in a child process and wait for it: its exit code."""
    proc = multiprocessing.get_context("spawn").Process(target=target, args=args)
    proc.start()
    proc.join()
    assert proc.exitcode is not None
    return proc.exitcode


def test_budget_allows_per_minute_then_refuses() -> None:
    budget = RestartBudget(per_minute=3)
    assert [budget.spend(t) for t in (0.0, 1.0, 2.0)] == [True, True, True]
    assert not budget.spend(3.0)


def test_budget_forgets_restarts_older_than_the_window() -> None:
    budget = RestartBudget(per_minute=2)
    assert budget.spend(0.0) and budget.spend(10.0)
    assert not budget.spend(RESTART_WINDOW_S)  # 0.0 is exactly a window ago: still counted
    budget = RestartBudget(per_minute=2)
    assert budget.spend(0.0) and budget.spend(10.0)
    assert budget.spend(RESTART_WINDOW_S + 0.5)  # 0.0 has left the window
    assert list(budget.times) == [10.0, RESTART_WINDOW_S + 0.5]


@pytest.mark.slow  # spawns a real child process for its exit code
def test_a_crash_is_restarted_and_counted() -> None:
    budget = RestartBudget(per_minute=1)
    code = _exitcode_of(os._exit, EXIT_CRASH)
    assert refuse_restart("parser-0", code, budget, now=50.0) is None
    assert refuse_restart("parser-0", code, budget, now=51.0) == (
        f"parser-0 died 2 times in a minute (exit code {EXIT_CRASH}); stopping"
    )


@pytest.mark.slow  # spawns a real child process for its exit code
def test_a_boot_failure_stops_at_once_without_spending() -> None:
    budget = RestartBudget(per_minute=5)
    code = _exitcode_of(os._exit, EXIT_BOOT_FAILURE)
    assert refuse_restart("receiver-1", code, budget, now=7.0) == (
        f"receiver-1 cannot start (exit code {EXIT_BOOT_FAILURE}); stopping"
    )
    assert not budget.times


@pytest.mark.slow  # spawns a real child process for its exit code
def test_death_by_signal_is_named() -> None:
    code = _exitcode_of(signal.raise_signal, signal.SIGKILL)
    assert code == -signal.SIGKILL and exit_reason(code) == "signal SIGKILL"
    assert refuse_restart("writer-0", code, RestartBudget(per_minute=0), now=0.0) == (
        "writer-0 died 1 times in a minute (signal SIGKILL); stopping"
    )


@pytest.mark.parametrize("code, words", [(0, "exit code 0"), (1, "exit code 1"), (-6, "signal SIGABRT")])
def test_exit_reason(code: int, words: str) -> None:
    assert exit_reason(code) == words
