"""`/readyz` reasons on explicit clocks, over a real control table and real rings (files in a
temporary folder): a stalled writer, a silent worker, a restart loop, and each clearing again."""

from __future__ import annotations

import pytest

from engine.api.health import RESTART_LOOP_COUNT, RESTART_LOOP_WINDOW_S, Readiness
from engine.ipc import control
from engine.ipc.control import ControlTable
from engine.ipc.record_kinds import KIND_COLUMNS
from engine.ipc.ring import Ring, RingConsumer, RingProducer

S = 1_000_000_000
SLOTS = (("writer-0", 0), ("parser-0", 1))
STALL_S = 10.0
HEARTBEAT_TIMEOUT_S = 15.0
T0 = 1_700_000_000 * S  # wall clock of the first look


@pytest.fixture
def engine_shm(tmp_path):
    """A control table with a ready writer and parser, and the writer's column ring."""
    ControlTable.create(str(tmp_path / "control"), len(SLOTS))
    Ring.create(str(tmp_path / "col-p0.ring"), 1 << 16)
    ctl = ControlTable(str(tmp_path / "control"))
    for _, slot in SLOTS:
        ctl.slots["state"][slot] = control.READY
        ctl.slots["pid"][slot] = 4242 + slot
    ring = Ring(str(tmp_path / "col-p0.ring"))
    producer = RingProducer(str(tmp_path / "col-p0.ring"))
    consumer = RingConsumer(str(tmp_path / "col-p0.ring"))
    readiness = Readiness(ctl, SLOTS, {"col-p0": ring}, int(HEARTBEAT_TIMEOUT_S * S), int(STALL_S * S), ("col-p0",))
    yield readiness, ctl, producer, consumer
    for r in (ring, producer, consumer):
        r.close()
    ctl.close()


def _look(readiness: Readiness, ctl: ControlTable, t: float) -> list[str]:
    """/readyz `t` seconds after T0, every worker having beaten just now."""
    now_ns = T0 + int(t * S)
    ctl.slots["heartbeat_ns"][:] = now_ns
    return readiness.problems(now_ns, t)


def test_writer_stalled_with_rows_waiting_is_not_ready_until_it_flushes(engine_shm):
    readiness, ctl, producer, consumer = engine_shm
    assert _look(readiness, ctl, 0.0) == []
    assert producer.try_write(KIND_COLUMNS, b"x" * 1000)
    assert _look(readiness, ctl, 1.0) == []  # the clock starts at the first look that sees rows wait
    assert _look(readiness, ctl, 1.0 + STALL_S) == []
    problems = _look(readiness, ctl, 1.5 + STALL_S)
    assert len(problems) == 1 and problems[0].startswith("writer-0 has flushed nothing for 10s")
    assert "supervisor.stall_after = 10s" in problems[0]
    # a flush: the progress counter moves and the ring is released
    rec = consumer.read()
    assert rec is not None
    consumer.release(rec.end_pos)
    ctl.slots["progress"][0] += 1
    assert _look(readiness, ctl, 2.0 + STALL_S) == []


def test_an_idle_writer_is_not_stalled_and_new_rows_start_the_clock_afresh(engine_shm):
    readiness, ctl, producer, _ = engine_shm
    assert _look(readiness, ctl, 0.0) == []
    assert _look(readiness, ctl, 100.0) == []  # nothing waits: no progress is needed
    assert producer.try_write(KIND_COLUMNS, b"x" * 100)
    assert _look(readiness, ctl, 100.1) == []  # rows just came: not 100 s of stall
    assert _look(readiness, ctl, 100.1 + STALL_S + 1) != []


def test_a_silent_worker_is_named_apart_from_the_stall(engine_shm):
    readiness, ctl, producer, _ = engine_shm
    assert _look(readiness, ctl, 0.0) == []
    now_ns = T0 + int((STALL_S + 2) * S)
    ctl.slots["heartbeat_ns"][1] = now_ns
    ctl.slots["heartbeat_ns"][0] = T0  # the writer stopped beating at T0 (SIGSTOP)
    problems = readiness.problems(now_ns, STALL_S + 2)
    assert len(problems) == 1
    assert problems[0].startswith("writer-0 (pid 4242) has sent no heartbeat for 12s")
    assert "supervisor.heartbeat_timeout = 15s" in problems[0]
    assert _look(readiness, ctl, STALL_S + 3) == []  # it beats again


def test_restarting_in_a_loop_is_not_ready_until_the_window_passes(engine_shm):
    readiness, ctl, _, _ = engine_shm
    ctl.slots["restarts"][1] = 5  # restarts before this API process looked are not counted
    assert _look(readiness, ctl, 0.0) == []
    for k in range(1, RESTART_LOOP_COUNT):
        ctl.slots["restarts"][1] += 1
        assert _look(readiness, ctl, float(k)) == []
    ctl.slots["restarts"][1] += 1
    problems = _look(readiness, ctl, float(RESTART_LOOP_COUNT))
    assert problems == [f"parser-0 is restarting in a loop: {RESTART_LOOP_COUNT} restarts in the last 60s"]
    assert _look(readiness, ctl, 1.5 + RESTART_LOOP_WINDOW_S) == []  # the first restart left the window


def test_several_restarts_between_two_looks_all_count(engine_shm):
    readiness, ctl, _, _ = engine_shm
    assert _look(readiness, ctl, 0.0) == []
    ctl.slots["restarts"][0] += RESTART_LOOP_COUNT
    assert _look(readiness, ctl, 5.0) == [
        f"writer-0 is restarting in a loop: {RESTART_LOOP_COUNT} restarts in the last 60s"
    ]


def test_a_worker_not_ready_is_named_with_its_state(engine_shm):
    readiness, ctl, _, _ = engine_shm
    ctl.slots["state"][1] = control.STARTING
    assert _look(readiness, ctl, 0.0) == ["parser-0 is starting"]
