"""Doorbells: a consumer sleeping on its rings wakes when a record is published, when a signal
comes, or at its timeout; ringing never blocks, whoever is (not) listening."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from engine.ipc.doorbell import Doorbell, DoorbellError, Waiter
from engine.ipc.ring import Ring, RingConsumer, RingProducer
from engine.ipc.shm import doorbell_path
from engine.worker.loop import RingSleep


def _rings(shm_dir, names=("a", "b")):
    paths = [str(shm_dir / f"{n}.ring") for n in names]
    for p in paths:
        Ring.create(p, 1 << 16)
    return [RingProducer(p) for p in paths], [RingConsumer(p) for p in paths]


def test_the_doorbell_is_a_fifo_beside_its_ring(shm_dir):
    producers, consumers = _rings(shm_dir, ("raw-r0-p0",))
    assert doorbell_path(producers[0].path) == str(shm_dir / "raw-r0-p0.bell")
    assert os.path.exists(shm_dir / "raw-r0-p0.bell")
    assert consumers[0].bell is not None and producers[0].bell is not None


def test_a_sleeping_consumer_wakes_on_a_record_from_any_of_its_rings(shm_dir):
    producers, consumers = _rings(shm_dir)
    sleep = RingSleep(consumers)
    assert sleep.wait(0.05) is False  # nothing published: the timeout ends the sleep
    woke = []

    def publish_later() -> None:
        producers[1].try_write(1, b"hello")

    timer = threading.Timer(0.2, publish_later)
    timer.start()
    woke.append(sleep.wait(60.0))
    timer.join()
    assert woke == [True]
    rec = consumers[1].read()
    assert rec is not None and bytes(rec.payload) == b"hello"


def test_a_record_published_before_the_sleep_is_not_slept_through(shm_dir):
    producers, consumers = _rings(shm_dir)
    producers[0].try_write(1, b"early")
    consumers[0].bell.clear()  # as if the ring had been cleared after the publish
    assert RingSleep(consumers).wait(60.0) is True
    assert bytes(consumers[0].read().payload) == b"early"


def test_a_signal_ends_the_sleep(shm_dir):
    _, consumers = _rings(shm_dir)
    got = []
    old = signal.signal(signal.SIGUSR1, lambda *_: got.append("usr1"))
    try:
        sleep = RingSleep(consumers)
        timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGUSR1))
        timer.start()
        assert sleep.wait(60.0) is True
        timer.join()
        assert got == ["usr1"]
    finally:
        sleep.waiter.close()
        signal.signal(signal.SIGUSR1, old)


def test_a_sleep_without_bells_ignores_records_and_ends_at_its_timeout_or_a_signal(shm_dir):
    producers, consumers = _rings(shm_dir)
    sleep = RingSleep(consumers)
    got = []
    old = signal.signal(signal.SIGUSR1, lambda *_: got.append("usr1"))
    try:
        assert producers[0].try_write(1, b"later")
        assert sleep.wait(0.05, bells=False) is False, "the record does not end the sleep"
        assert bytes(consumers[0].read().payload) == b"later", "it waited in the ring"
        timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGUSR1))
        timer.start()
        assert sleep.wait(60.0, bells=False) is True
        timer.join()
        assert got == ["usr1"]
    finally:
        sleep.waiter.close()
        signal.signal(signal.SIGUSR1, old)


def test_ringing_never_blocks_with_nobody_listening(shm_dir):
    producers, consumers = _rings(shm_dir, ("a",))
    for c in consumers:
        c.close()
    for _ in range(100_000):  # far more than a pipe holds: the extra rings are dropped
        producers[0].bell.ring()
    fresh = RingConsumer(producers[0].path)
    waiter = Waiter([fresh.bell])
    try:
        assert waiter.wait(0) is True  # pending rings from before are there to take
        waiter.prepare()
        assert waiter.wait(0) is False
    finally:
        waiter.close()


def test_a_producer_without_a_doorbell_rings_nothing(shm_dir):
    path = str(shm_dir / "alert-p0.ring")
    Ring.create(path, 1 << 16)
    producer = RingProducer(path, doorbell=False)
    consumer = RingConsumer(path)
    producer.try_write(1, b"x")
    waiter = Waiter([consumer.bell])
    try:
        assert waiter.wait(0) is False
    finally:
        waiter.close()


def test_a_doorbell_name_taken_by_a_file_is_an_error(tmp_path):
    (tmp_path / "x.bell").write_bytes(b"")
    with pytest.raises(DoorbellError, match="not a FIFO"):
        Doorbell(str(tmp_path / "x.bell"))
