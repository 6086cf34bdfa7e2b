"""What the adoption reads back from a dead instance's folder, checked against the folder the
supervisor really lays out: which rings hold records, and the writer and parsers to start as
that instance (its rings, its control slots), only where there is something to drain."""

from __future__ import annotations

import json

import pytest

from engine.config import load
from engine.ipc.record_kinds import KIND_RAW
from engine.ipc.ring import RingProducer
from engine.lifecycle.adoption import AdoptionError, DrainPlan
from engine.lifecycle.supervisor import Supervisor


@pytest.fixture
def laid_out(tmp_path):
    """A supervisor's instance folder as `logjet serve` creates it (2 receivers, 2 parsers,
    HTTP ingest), without starting any process."""
    overrides = {"data_dir": str(tmp_path), "workers.receivers": 2, "workers.parsers": 2, "listen.http": "127.0.0.1:0"}
    sup = Supervisor(load(None, overrides))
    plan = sup._plan()
    sup._create_shm(plan)
    yield sup, plan
    sup.close()


def test_a_folder_whose_rings_are_empty_needs_no_worker(laid_out):
    sup, _ = laid_out
    plan = DrainPlan(sup.dir)
    assert plan.empty
    assert set(plan.columns.values()) == {"col-p0", "col-p1"}
    assert sorted(plan.raw[1]) == ["raw-api-p1", "raw-r0-p1", "raw-r1-p1"]


def test_the_writer_and_the_parsers_with_records_are_started_as_the_dead_instance(laid_out):
    sup, ring_plan = laid_out
    producer = RingProducer(sup.dir.ring("raw-r1-p1"))
    assert producer.try_write(KIND_RAW, b"12345678")
    producer.close()
    plan = DrainPlan(sup.dir)
    assert not plan.empty and plan.records("raw-") == 1 and plan.records("col-") == 0
    specs = plan.workers(sup.dir.path.rsplit("/", 1)[0])
    original = {spec.name: spec for spec in ring_plan.workers}
    assert [s.name for s in specs] == ["writer-0", "parser-1"]  # parser-0 has nothing to read
    for spec in specs:
        was = original[spec.name]
        assert spec.drain_only and spec.instance == sup.instance and spec.slot == was.slot
        assert sorted(spec.input_rings) == sorted(was.input_rings)
        assert spec.column_ring == was.column_ring and spec.alert_ring == ""  # no evaluator to count for


def test_a_folder_that_lost_its_worker_table_cannot_be_adopted(laid_out):
    sup, _ = laid_out
    producer = RingProducer(sup.dir.ring("raw-r0-p0"))
    assert producer.try_write(KIND_RAW, b"12345678")
    producer.close()
    with open(sup.dir.workers, "w") as f:
        json.dump([{"name": "writer-0", "role": "writer", "slot": 0}], f)
    with pytest.raises(AdoptionError, match="no slot for parser-0"):
        DrainPlan(sup.dir).workers("/dev/shm")
