"""The supervisor's drain rules on explicit clocks: each stage waits up to its timeout, a second
stop signal cuts every wait short, a worker restarting is told to drain once it is ready, one that
died without draining is restarted for it, and the stage order drains a ring's producer before
its consumer."""

from __future__ import annotations

from engine.config import load
from engine.ipc import control
from engine.lifecycle.policy import StageDrain, may_drain, restart_in_drain
from engine.lifecycle.ring_plan import plan_rings
from engine.lifecycle.supervisor import DRAIN_ORDER


def test_a_stage_waits_until_its_deadline() -> None:
    wait = StageDrain(start=10.0, timeout_s=30.0, signals_at_drain_start=1)
    assert not wait.must_kill(10.0, 1)
    assert not wait.must_kill(40.0, 1)
    assert wait.must_kill(40.001, 1)


def test_another_signal_turns_the_drain_into_a_quick_stop() -> None:
    wait = StageDrain(start=10.0, timeout_s=30.0, signals_at_drain_start=1)
    assert wait.must_kill(10.5, 2)
    # A later stage of the same drain: the signal came before it began, and it still hurries.
    later = StageDrain(start=11.0, timeout_s=30.0, signals_at_drain_start=1)
    assert later.must_kill(11.0, 2)


def test_drain_order_empties_each_data_ring_before_its_consumer_stops() -> None:
    settings = load(None, {"workers.receivers": 2, "workers.parsers": 2, "listen.http": "127.0.0.1:0"}).resolved()
    plan = plan_rings(settings, "1-abcdef", "/dev/shm", {})
    stage_of = {role: i for i, roles in enumerate(DRAIN_ORDER) for role in roles}
    assert set(stage_of) == {spec.role for spec in plan.workers}
    produced_by = {}
    for spec in plan.workers:
        for name in (*spec.raw_rings, spec.column_ring):
            if name:
                produced_by[name] = spec
    for consumer in plan.workers:
        for name in consumer.input_rings:
            if name in plan.alert_rings:
                continue  # alert counts flow back to the API, which stops taking data first
            assert stage_of[produced_by[name].role] < stage_of[consumer.role], name


def test_a_restarted_worker_is_told_to_drain_once_it_is_ready() -> None:
    # Still starting after a restart: the drain signal would kill it before its handler is set.
    assert not may_drain(control.STARTING, restarts=1)
    assert may_drain(control.READY, restarts=1) and may_drain(control.DRAINING, restarts=1)
    # A first boot still starting: the engine is failing to start, and the signal may end it.
    assert may_drain(control.STARTING, restarts=0)


def test_a_worker_that_died_without_draining_is_restarted_for_it() -> None:
    # Dead before its stage told it anything: however it ended, it never drained.
    assert restart_in_drain(-9, told=False) and restart_in_drain(1, told=False)
    # Killed by a signal while draining (SIGKILL from outside, the OOM killer): did not finish.
    assert restart_in_drain(-9, told=True)
    # Exited on its own with an error while draining (a crash, the writer giving up on a full
    # disk): it would fail again. And a clean exit is the drain done.
    assert not restart_in_drain(1, told=True)
    assert not restart_in_drain(0, told=True) and not restart_in_drain(0, told=False)
