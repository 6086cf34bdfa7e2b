"""The receivers' batcher on real rings and an explicit clock: when a batch is sealed (its size
with per-frame and per-sender overhead, its sender count), the batch-delay clock, big bodies
split into batches, order and senders kept, round-robin over rings, full rings, drops."""

from __future__ import annotations

import pathlib
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from engine.ipc.raw_batch import RawBatch
from engine.ipc.record_kinds import KIND_RAW
from engine.ipc.ring import Ring, RingConsumer, RingProducer
from engine.receive.batcher import Batcher

TCP = 0
JUNK = 7  # a record kind no parser reads: what fills a ring in these tests


class Clock:
    """An explicit monotonic clock in ns: it moves only when the test moves it."""

    def __init__(self, now: int = 1_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def rings(tmp_path: pathlib.Path, count: int, size: int) -> list[str]:
    paths = []
    for i in range(count):
        path = str(tmp_path / f"r{i}.ring")
        Ring.create(path, size)
        paths.append(path)
    return paths


def drain(paths: list[str]) -> list[RawBatch]:
    """Every raw batch in the rings, ring by ring, copied out; every record released."""
    out = []
    for path in paths:
        consumer = RingConsumer(path)
        while (rec := consumer.read()) is not None:
            if rec.kind != KIND_RAW:
                consumer.release(rec.end_pos)
                continue
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


def fill(path: str) -> None:
    """Fill a ring with junk records until not even the smallest fits."""
    ring = RingProducer(path)
    for size in (8000, 1000, 100, 8, 0):
        while ring.try_write(JUNK, b"j" * size):
            pass


def one_frame(data: bytes) -> tuple[bytes, npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """`data` as a read holding one frame: all of it but a last newline."""
    return data + b"\n", np.array([0]), np.array([len(data)]), np.zeros(1, np.uint8)


def batcher_on(
    folder: pathlib.Path,
    count: int = 1,
    size: int = 1 << 20,
    batch_bytes: int = 4096,
    clock: Callable[[], int] = time.monotonic_ns,
) -> Batcher:
    """A TCP batcher on `count` new rings of `size` bytes in `folder`."""
    folder.mkdir(exist_ok=True)
    return Batcher(TCP, [RingProducer(p) for p in rings(folder, count, size)], batch_bytes, clock)


def paths_of(batcher: Batcher) -> list[str]:
    return [r.path for r in batcher.rings]


def test_batch_bytes_is_clamped_to_half_a_ring_record_and_at_least_4_kib(tmp_path: pathlib.Path) -> None:
    assert batcher_on(tmp_path / "a", size=1 << 16, batch_bytes=1 << 20).batch_bytes == 8192  # records of 16 KiB
    assert batcher_on(tmp_path / "b", batch_bytes=100).batch_bytes == 4096


def test_a_batch_is_sealed_before_a_read_that_would_pass_batch_bytes(tmp_path: pathlib.Path) -> None:
    # 200-byte frames from one sender: a batch of n frames takes 64 (header) + 48 (the sender)
    # + 211 n bytes; the next read is counted at 211 + 48 (a sender it may bring), so the 19th
    # would pass 4096: 18 frames a batch.
    batcher = batcher_on(tmp_path)
    for i in range(40):
        batcher.add(*one_frame(b"%03d" % i + b"x" * 196), "10.0.0.1:514")
    assert batcher.flush()
    batches = drain(paths_of(batcher))
    assert [len(b.starts) for b in batches] == [18, 18, 4]
    assert frames_of(batches) == [b"%03d" % i + b"x" * 196 for i in range(40)]


def test_every_sender_costs_its_overhead(tmp_path: pathlib.Path) -> None:
    # The same reads, each from another sender: 259 bytes a frame, 15 frames a batch.
    batcher = batcher_on(tmp_path)
    for i in range(40):
        batcher.add(*one_frame(b"%03d" % i + b"x" * 196), f"10.0.0.{i}:514")
    assert batcher.flush()
    batches = drain(paths_of(batcher))
    assert [len(b.starts) for b in batches] == [15, 15, 10]
    assert [b.sources for b in batches][0] == [f"10.0.0.{i}:514" for i in range(15)]


def test_a_sender_is_stored_once_per_batch_and_each_frame_keeps_its_own(tmp_path: pathlib.Path) -> None:
    batcher = batcher_on(tmp_path)
    for i in range(100):
        data = b"<13>read %d line a\n<13>read %d line b\n" % (i, i)
        cut = data.index(b"\n")
        batcher.add(
            data, np.array([0, cut + 1]), np.array([cut, len(data) - 1]), np.zeros(2, np.uint8), f"10.0.0.{i % 3}:514"
        )
    assert batcher.flush()
    batches = drain(paths_of(batcher))
    assert 1 < len(batches) < 100  # reads share batches
    assert all(sorted(b.sources) == [f"10.0.0.{i}:514" for i in range(3)] for b in batches)
    assert frames_of(batches) == [b"<13>read %d line %s" % (i, x) for i in range(100) for x in (b"a", b"b")]
    sources = [b.sources[j] for b in batches for j in b.source.tolist()]
    assert sources == [f"10.0.0.{i % 3}:514" for i in range(100) for _ in range(2)]


def test_a_frame_over_batch_bytes_gets_a_batch_of_its_own(tmp_path: pathlib.Path) -> None:
    batcher = batcher_on(tmp_path)
    batcher.add(*one_frame(b"small"), "a:1")
    batcher.add(*one_frame(b"x" * 3900), "a:1")  # 4041 bytes with "small": they share a batch
    batcher.add(*one_frame(b"next"), "a:1")  # would pass 4096: a new batch
    batcher.add(*one_frame(b"y" * 5000), "a:1")  # over batch_bytes alone: by itself
    batcher.add(*one_frame(b"last"), "a:1")
    assert batcher.flush()
    assert [frames_of([b]) for b in drain(paths_of(batcher))] == [
        [b"small", b"x" * 3900],
        [b"next"],
        [b"y" * 5000],
        [b"last"],
    ]


def test_a_batch_holds_at_most_65535_senders(tmp_path: pathlib.Path) -> None:
    # Frames name their sender by a 16-bit index into the batch's senders.
    batcher = batcher_on(tmp_path, size=32 << 20, batch_bytes=4 << 20)
    n = 65535
    senders = [f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}:514" for i in range(n + 1)]
    starts = np.arange(n, dtype=np.int64) * 2
    batcher.add_many(b"x\n" * n, starts, starts + 1, np.zeros(n, np.uint8), np.arange(n, dtype=np.uint16), senders[:n])
    batcher.add(*one_frame(b"z"), senders[n])  # would fit in size, not in the sender index
    assert batcher.pending_frames == n + 1
    assert batcher.flush()
    batches = drain(paths_of(batcher))
    assert [len(b.sources) for b in batches] == [n, 1]
    assert batches[0].sources[-1] == senders[n - 1] and batches[1].sources == [senders[n]]
    assert frames_of(batches) == [b"x"] * n + [b"z"]


def test_oldest_ns_is_the_first_frame_of_the_oldest_pending_batch(tmp_path: pathlib.Path) -> None:
    """The receiver's flusher writes batches `batch_delay` after `oldest_ns`."""
    clock = Clock(1_000)
    batcher = batcher_on(tmp_path, clock=clock)
    assert batcher.oldest_ns() == 0
    batcher.add(b"", np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.uint8), "a:1")
    assert batcher.oldest_ns() == 0  # no frames, no clock
    batcher.add(*one_frame(b"first"), "a:1")
    clock.now = 2_000
    batcher.add(*one_frame(b"second"), "a:1")
    assert batcher.oldest_ns() == 1_000
    clock.now = 3_000
    batcher.add(*one_frame(b"x" * 4000), "a:1")  # seals the batch begun at 1_000, fills its own
    clock.now = 4_000
    batcher.add(*one_frame(b"newer"), "a:1")
    assert batcher.oldest_ns() == 1_000  # the sealed batch is still the oldest
    assert batcher.flush(recv_ns=5_000)
    assert batcher.oldest_ns() == 0
    clock.now = 6_000
    batcher.add(*one_frame(b"again"), "a:1")
    assert batcher.oldest_ns() == 6_000
    assert [b.recv_ns for b in drain(paths_of(batcher))] == [5_000, 5_000, 5_000]


def test_pending_counts_and_drop_all(tmp_path: pathlib.Path) -> None:
    batcher = batcher_on(tmp_path)
    for i in range(30):
        batcher.add(*one_frame(b"y" * 299), "a:1")
    assert (batcher.pending_frames, batcher.pending_bytes) == (30, 30 * 300)
    assert batcher.drop_all() == (30, 30 * 300)
    assert (batcher.pending_frames, batcher.pending_bytes, batcher.oldest_ns()) == (0, 0, 0)
    assert batcher.flush() and drain(paths_of(batcher)) == []


def test_batches_go_round_robin_skip_full_rings_and_wait_when_all_are_full(tmp_path: pathlib.Path) -> None:
    batcher = batcher_on(tmp_path, count=2, size=1 << 16)
    ring0, ring1 = paths_of(batcher)
    lines = [b"%04d" % i + b"z" * 1995 for i in range(16)]  # 2000-byte reads: one a batch
    for line in lines[:4]:
        batcher.add(*one_frame(line), "a:1")
    assert batcher.flush(recv_ns=1)
    assert frames_of(drain([ring0])) == [lines[0], lines[2]]
    assert frames_of(drain([ring1])) == [lines[1], lines[3]]

    fill(ring0)  # every batch goes to ring 1 now, until it is full too
    batcher.add(*one_frame(lines[4]), "a:1")
    batcher.add(*one_frame(lines[5]), "a:1")
    assert batcher.flush(recv_ns=2)
    assert frames_of(drain([ring1])) == lines[4:6]
    fill(ring1)
    for line in lines[6:]:
        batcher.add(*one_frame(line), "a:1")
    oldest = batcher.oldest_ns()
    assert not batcher.flush(recv_ns=3)  # kept: the caller pauses reading (TCP) or drops (UDP)
    assert (batcher.pending_frames, batcher.pending_bytes, batcher.oldest_ns()) == (10, 10 * 2000, oldest)

    drain([ring0, ring1])  # the parsers catch up
    assert batcher.flush(recv_ns=4)
    assert batcher.pending_frames == 0
    batches = drain([ring0, ring1])
    assert sorted(frames_of(batches)) == lines[6:] and {b.recv_ns for b in batches} == {4}


def test_a_body_bigger_than_a_batch_is_split_into_batches_of_only_their_bytes(tmp_path: pathlib.Path) -> None:
    batcher = batcher_on(tmp_path)
    lines = [b"%03d " % i + b"m" * (i % 90) for i in range(300)]
    body = b"\n".join(lines) + b"\n"
    lens = np.array([len(x) for x in lines], np.int64)
    starts = np.concatenate([[0], np.cumsum(lens + 1)[:-1]])
    batcher.add(body, starts, starts + lens, np.zeros(len(lines), np.uint8), "127.0.0.1:1")
    assert batcher.flush()
    batches = drain(paths_of(batcher))
    assert len(batches) > 3 and all(len(b.data) <= 4096 for b in batches)
    assert frames_of(batches) == lines
    # Each batch holds its frames' bytes of the body, from its first frame to its last.
    assert all(int(b.starts[0]) == 0 and int(b.ends[-1]) == len(b.data) for b in batches)


def test_a_body_bigger_than_a_ring_record_is_split_into_batches(tmp_path: pathlib.Path) -> None:
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


def test_a_frame_bigger_than_a_ring_record_is_refused(tmp_path: pathlib.Path) -> None:
    batcher = batcher_on(tmp_path, size=1 << 16)  # records of 16 KiB
    with pytest.raises(ValueError, match="does not fit in a ring record"):
        batcher.add(*one_frame(b"q" * 20_000), "a:1")
    assert batcher.pending_frames == 0


def test_frames_with_other_field_names_go_in_a_batch_of_their_own(tmp_path: pathlib.Path) -> None:
    b = batcher_on(tmp_path / "names", batch_bytes=1 << 16)
    for data, names in ((b"a", b""), (b"b", b'{"msg":["x"]}'), (b"c", b'{"msg":["x"]}'), (b"d", b"")):
        b.add(*one_frame(data), "127.0.0.1:1", names)
    assert b.flush()
    batches = drain(paths_of(b))
    assert [(frames_of([x]), x.field_names) for x in batches] == [
        ([b"a"], b""),
        ([b"b", b"c"], b'{"msg":["x"]}'),
        ([b"d"], b""),
    ]
