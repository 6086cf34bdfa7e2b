"""The receivers' batcher: frames into raw batches on real rings; big bodies split into batches."""

from __future__ import annotations

import numpy as np

from engine.ipc.raw_batch import RawBatch
from engine.receive.batcher import Batcher
from engine.ipc.ring import Ring, RingConsumer, RingProducer


def rings(tmp_path, count: int, size: int) -> list[str]:
    paths = []
    for i in range(count):
        path = str(tmp_path / f"r{i}.ring")
        Ring.create(path, size)
        paths.append(path)
    return paths


def drain(paths: list[str]) -> list[RawBatch]:
    out = []
    for path in paths:
        consumer = RingConsumer(path)
        while (rec := consumer.read()) is not None:
            batch = RawBatch.decode(rec.payload)
            out.append(
                batch._replace(
                    data=batch.data.copy(),
                    starts=batch.starts.copy(),
                    ends=batch.ends.copy(),
                    frame_flags=batch.frame_flags.copy(),
                    source=batch.source.copy(),
                )
            )
            consumer.release(rec.end_pos)
    return out


def frames_of(batches: list[RawBatch]) -> list[bytes]:
    return [bytes(b.data[s:e]) for b in batches for s, e in zip(b.starts.tolist(), b.ends.tolist())]


def test_a_body_bigger_than_a_ring_record_is_split_into_batches(tmp_path):
    """What HTTP ingest does with a 20 MB body: every frame arrives, no batch over batch_bytes."""
    paths = rings(tmp_path, 2, 16 << 20)  # records of at most 4 MiB
    batcher = Batcher(2, [RingProducer(p) for p in paths], 1 << 20)
    lines = [b'{"i": %d, "msg": "%s"}' % (i, b"x" * (i % 300)) for i in range(120_000)]
    body = b"\n".join(lines) + b"\n"
    assert len(body) > 20_000_000
    lens = np.array([len(x) for x in lines], np.int64)
    starts = np.concatenate([[0], np.cumsum(lens + 1)[:-1]])
    got: list[bytes] = []
    batcher.add(body, starts, starts + lens, np.zeros(len(lines), np.uint8), "127.0.0.1:1")
    # The rings hold 32 MiB in all, the body ~21 MB plus overhead: flush, read, repeat.
    for _ in range(100):
        done = batcher.flush()
        batches = drain(paths)
        assert all(len(b.data) <= 1 << 20 for b in batches)
        got += frames_of(batches)
        if done:
            break
    assert sorted(got) == sorted(lines) and len(got) == len(lines)


def test_frames_from_many_reads_share_a_batch_until_it_is_full(tmp_path):
    paths = rings(tmp_path, 1, 1 << 20)
    batcher = Batcher(0, [RingProducer(p) for p in paths], 4096)
    for i in range(100):
        data = b"<13>read %d line a\n<13>read %d line b\n" % (i, i)
        cut = data.index(b"\n")
        batcher.add(
            data, np.array([0, cut + 1]), np.array([cut, len(data) - 1]), np.zeros(2, np.uint8), f"10.0.0.{i % 3}:514"
        )
    assert batcher.flush()
    batches = drain(paths)
    assert 1 < len(batches) < 100
    got = frames_of(batches)
    assert got == [b"<13>read %d line %s" % (i, x) for i in range(100) for x in (b"a", b"b")]
    sources = [b.sources[j] for b in batches for j in b.source.tolist()]
    assert sources == [f"10.0.0.{i % 3}:514" for i in range(100) for _ in range(2)]
