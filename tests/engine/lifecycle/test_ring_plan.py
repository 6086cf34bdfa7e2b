"""engine.lifecycle.ring_plan: every ring has exactly one producer and one consumer, slots are
dense and in the documented order, and each worker gets the ports it listens on."""

from __future__ import annotations

import pytest

from engine.config import Settings, load
from engine.lifecycle.ring_plan import ALERT_RING_BYTES, RingPlan, plan_rings
from engine.worker.process import WorkerSpec

PORTS = {"syslog_tcp": 5514, "syslog_udp": 5514, "http": 8080}


def _settings(receivers: int, parsers: int, http: bool) -> Settings:
    return load(
        None,
        {"workers.receivers": receivers, "workers.parsers": parsers, "listen.http": "127.0.0.1:0" if http else ""},
    ).resolved()


def _plan(receivers: int, parsers: int, http: bool = True) -> RingPlan:
    ports = PORTS if http else {k: v for k, v in PORTS.items() if k != "http"}
    return plan_rings(_settings(receivers, parsers, http), "123-abcdef", "/dev/shm", ports)


def _produced(spec: WorkerSpec) -> list[str]:
    return [
        *spec.raw_rings,
        *([spec.column_ring] if spec.column_ring else []),
        *([spec.alert_ring] if spec.alert_ring else []),
    ]


@pytest.mark.parametrize("receivers, parsers, http", [(1, 1, False), (2, 3, True), (4, 2, True), (3, 1, False)])
def test_every_ring_has_one_producer_and_one_consumer(receivers: int, parsers: int, http: bool) -> None:
    plan = _plan(receivers, parsers, http)
    rings = [*plan.raw_rings, *plan.column_rings, *plan.alert_rings]
    assert len(set(rings)) == len(rings)
    producers = [name for spec in plan.workers for name in _produced(spec)]
    consumers = [name for spec in plan.workers for name in spec.input_rings]
    assert sorted(producers) == sorted(rings)
    # Without the API no one consumes the alert rings (the evaluator runs there).
    assert sorted(consumers) == sorted([*plan.raw_rings, *plan.column_rings, *(plan.alert_rings if http else ())])
    assert len(plan.raw_rings) == (receivers + http) * parsers


def test_slots_roles_and_rings_in_order() -> None:
    plan = _plan(2, 3)
    assert [(s.name, s.slot) for s in plan.workers] == [
        ("writer-0", 0),
        ("parser-0", 1),
        ("parser-1", 2),
        ("parser-2", 3),
        ("receiver-0", 4),
        ("receiver-1", 5),
        ("api-0", 6),
    ]
    writer, p0, p1, p2, r0, r1, api = plan.workers
    assert writer.input_rings == ("col-p0", "col-p1", "col-p2") == plan.column_rings
    assert p1.input_rings == ("raw-r0-p1", "raw-r1-p1", "raw-api-p1")
    assert (p1.column_ring, p1.alert_ring) == ("col-p1", "alert-p1")
    assert r1.raw_rings == ("raw-r1-p0", "raw-r1-p1", "raw-r1-p2")
    assert api.raw_rings == ("raw-api-p0", "raw-api-p1", "raw-api-p2")
    assert api.input_rings == ("alert-p0", "alert-p1", "alert-p2") == plan.alert_rings
    slots = tuple((s.name, s.slot) for s in plan.workers)
    assert all(s.all_slots == slots and s.instance == "123-abcdef" and s.shm_root == "/dev/shm" for s in plan.workers)


def test_receivers_get_the_syslog_ports_only() -> None:
    plan = _plan(2, 1)
    for spec in plan.workers:
        want = {k: v for k, v in PORTS.items() if k != "http"} if spec.role == "receiver" else PORTS
        assert spec.ports == want, spec.name


def test_without_http_there_is_no_api_and_no_api_rings() -> None:
    plan = _plan(2, 2, http=False)
    assert [s.role for s in plan.workers] == ["writer", "parser", "parser", "receiver", "receiver"]
    assert not [name for name in plan.raw_rings if "api" in name]


def test_ring_bytes() -> None:
    plan = _plan(1, 2)
    sizes = plan.ring_bytes(raw_bytes=1 << 20, column_bytes=1 << 22)
    assert set(sizes) == {*plan.raw_rings, *plan.column_rings, *plan.alert_rings}
    assert {sizes[n] for n in plan.raw_rings} == {1 << 20}
    assert {sizes[n] for n in plan.column_rings} == {1 << 22}
    assert {sizes[n] for n in plan.alert_rings} == {ALERT_RING_BYTES}
