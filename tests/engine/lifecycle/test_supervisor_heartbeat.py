"""The supervisor's heartbeat rules on explicit clocks: only a READY worker can be stale, and a
stale one gets SIGABRT, then SIGKILL once ABORT_GRACE_S has passed, until it is restarted."""

from __future__ import annotations

import signal

from engine.ipc import control
from engine.lifecycle.policy import ABORT_GRACE_S, StaleEscalation, heartbeat_stale

S = 1_000_000_000


def test_stale_only_past_the_timeout() -> None:
    beat = 1_700_000_000 * S
    assert not heartbeat_stale(control.READY, beat, beat + 10 * S, 10 * S)
    assert heartbeat_stale(control.READY, beat, beat + 10 * S + 1, 10 * S)


def test_only_a_ready_worker_is_stale() -> None:
    # A worker still starting (loading kernels) or draining does not beat: never put down for it.
    for state in (control.STARTING, control.DRAINING):
        assert not heartbeat_stale(state, 0, 3600 * S, 10 * S)


def test_abort_then_kill_after_the_grace() -> None:
    stale = StaleEscalation()
    assert stale.signal_due(100.0) == signal.SIGABRT
    assert stale.signal_due(100.0 + ABORT_GRACE_S / 2) is None
    assert stale.signal_due(100.0 + ABORT_GRACE_S) is None
    assert stale.signal_due(100.0 + ABORT_GRACE_S + 0.01) == signal.SIGKILL
    # Still running at the next look: SIGKILL again, until it is reaped and restarted.
    assert stale.signal_due(100.0 + ABORT_GRACE_S + 0.06) == signal.SIGKILL


def test_a_restarted_worker_starts_over_with_an_abort() -> None:
    stale = StaleEscalation()
    stale.signal_due(100.0)
    stale.reset()
    assert stale.signal_due(500.0) == signal.SIGABRT
    assert stale.signal_due(501.0) is None
