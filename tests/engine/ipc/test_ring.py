"""The SPSC ring: records in order and intact across processes, wrap-around, full/empty edges."""

from __future__ import annotations

import multiprocessing
import zlib

import pytest

from engine.ipc.ring import Ring, RingConsumer, RingError, RingProducer


def _payload(i: int) -> bytes:
    # Sizes vary (0..~700 bytes, not multiples of 8) so records straddle the end of the ring.
    n = (i * 7919) % 701
    return (i.to_bytes(8, "little") * (n // 8 + 1))[:n]


def _produce(path: str, count: int) -> None:
    ring = RingProducer(path)
    for i in range(count):
        payload = _payload(i)
        while not ring.try_write(1 + i % 3, payload, flags=i & 0xFFFF):
            pass


@pytest.mark.slow  # a second process and 200,000 records
def test_records_cross_processes_in_order_and_intact(shm_dir):
    path = str(shm_dir / "t.ring")
    Ring.create(path, 1 << 16)  # small, so the 200k records wrap around ~1000 times
    count = 200_000
    proc = multiprocessing.get_context("spawn").Process(target=_produce, args=(path, count))
    proc.start()
    consumer = RingConsumer(path)
    crc = zlib.crc32(b"")
    expected_crc = zlib.crc32(b"")
    got = 0
    try:
        while got < count:
            rec = consumer.read()
            if rec is None:
                assert proc.exitcode in (None, 0)
                continue
            assert rec.kind == 1 + got % 3
            assert rec.flags == got & 0xFFFF
            crc = zlib.crc32(rec.payload, crc)
            expected_crc = zlib.crc32(_payload(got), expected_crc)
            if got % 50_000 == 0:
                assert bytes(rec.payload) == _payload(got)
            del rec
            consumer.release(consumer.cursor)
            got += 1
    finally:
        proc.join(60)
    assert proc.exitcode == 0
    assert crc == expected_crc
    assert consumer.read() is None
    assert consumer.used_bytes == 0
    assert consumer.records_written == count


def test_full_ring_refuses_until_released(shm_dir):
    path = str(shm_dir / "full.ring")
    Ring.create(path, 4096)
    prod, cons = RingProducer(path), RingConsumer(path)
    record = b"x" * 1000  # 1008 bytes with its header
    written = 0
    while prod.try_write(1, record):
        written += 1
    assert written == 4  # 4 * 1008 = 4032 <= 4096 < 5 * 1008
    assert prod.free_bytes() < 1008
    rec = cons.read()
    assert bytes(rec.payload) == record
    assert not prod.try_write(1, record), "space is not free until the consumer releases it"
    cons.release(rec.end_pos)
    assert prod.try_write(1, record)


def test_empty_ring_reads_none_and_release_is_idempotent(shm_dir):
    path = str(shm_dir / "empty.ring")
    Ring.create(path, 4096)
    prod, cons = RingProducer(path), RingConsumer(path)
    assert cons.read() is None
    assert prod.try_write(7, b"")
    rec = cons.read()
    assert rec.kind == 7 and len(rec.payload) == 0
    cons.release(rec.end_pos)
    cons.release(rec.end_pos)
    assert cons.used_bytes == 0 and cons.read() is None


def test_pad_record_at_wrap_is_skipped(shm_dir):
    path = str(shm_dir / "wrap.ring")
    Ring.create(path, 16384)
    prod, cons = RingProducer(path), RingConsumer(path)
    for _ in range(4):  # 4 * 4008 = 16032: 352 bytes left before the end
        assert prod.try_write(1, b"a" * 4000)
        cons.release(cons.read().end_pos)
    assert prod.try_write(2, b"b" * 4000)
    assert prod.write_pos == 16384 + 4008, "a pad record filled the tail; the record starts at 0"
    rec = cons.read()
    assert rec.kind == 2 and bytes(rec.payload) == b"b" * 4000
    assert cons.read() is None


def test_consumer_resumes_at_read_pos_after_restart(shm_dir):
    path = str(shm_dir / "resume.ring")
    Ring.create(path, 1 << 16)
    prod = RingProducer(path)
    for i in range(10):
        assert prod.try_write(1, bytes([i]) * 10)
    first = RingConsumer(path)
    for _ in range(4):
        rec = first.read()
    first.release(rec.end_pos)  # four done; a fifth read but not released
    first.read()
    second = RingConsumer(path)  # the successor of a crashed consumer
    assert bytes(second.read().payload) == bytes([4]) * 10


def test_oversized_record_is_refused(shm_dir):
    path = str(shm_dir / "big.ring")
    Ring.create(path, 4096)
    prod = RingProducer(path)
    with pytest.raises(ValueError):
        prod.reserve(prod.max_record + 1)


def test_damaged_ring_file_is_reported(shm_dir):
    path = shm_dir / "bad.ring"
    path.write_bytes(b"not a ring" * 1000)
    with pytest.raises(RingError, match="damaged"):
        RingConsumer(str(path))
