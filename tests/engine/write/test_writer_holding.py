"""The writer's sleep between flushes: with rows waiting on the flush clock and room in its
rings it sleeps through the parsers' doorbells until the flush is due (`Writer.holding`); with
nothing pending, or a ring filling up, each published batch wakes it as before."""

from __future__ import annotations

from engine.config import Parse
from engine.ipc.raw_batch import raw_batch_of
from engine.ipc.record_kinds import KIND_COLUMNS
from engine.parse.batch_parser import BatchParser
from engine.write.worker import HOLD_SHARE
from tests.engine.write.test_disk_full_writes import _writer


def _batch(parser: BatchParser, seq: int, n: int = 500) -> bytes:
    lines = [b"holding test seq=%d padding %s" % (seq * n + i, b"x" * 64) for i in range(n)]
    return bytes(parser.parse_plain(raw_batch_of(lines, 1)).encode())


def test_pending_rows_and_room_in_the_rings_let_the_writer_sleep_through_the_bells(tmp_path, shm_dir):
    parser = BatchParser(Parse())
    writer, producer, ring = _writer(shm_dir, str(tmp_path))
    assert not writer.holding(), "nothing pending: a published batch must wake the writer"
    assert producer.try_write(KIND_COLUMNS, _batch(parser, 0))
    assert writer.poll() == 1
    assert writer.holding(), "rows wait for their flush and the ring has room"
    assert writer.flush()
    assert not writer.holding(), "flushed: back to waking on the bells"
    assert writer.pending_rows == 0 and ring.read_pos == ring.write_pos


def test_a_ring_past_the_hold_share_brings_the_wake_ups_back(tmp_path, shm_dir):
    parser = BatchParser(Parse())
    writer, producer, ring = _writer(shm_dir, str(tmp_path))
    seq = 0
    while ring.write_pos - ring.read_pos <= ring.capacity * HOLD_SHARE:
        assert producer.try_write(KIND_COLUMNS, _batch(parser, seq))
        seq += 1
    assert writer.poll() == seq
    assert writer.pending_rows == seq * 500
    assert not writer.holding(), "the unreleased records fill the ring past HOLD_SHARE: wake per batch"
    assert writer.flush()
    assert ring.read_pos == ring.write_pos and not writer.holding()
