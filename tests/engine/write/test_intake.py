"""The writer's intake: dictionaries resolve across batches and survive a writer restart."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from engine.config import Parse
from engine.ipc.batch_errors import BatchDictionaryError
from engine.ipc.raw_batch import raw_batch_of
from engine.parse.batch_parser import BatchParser
from engine.write.intake import DictionaryLog, RingIntake


def batch(host_ids, entries, epoch=7) -> bytes:
    """A column batch of plain empty rows with these host ids and host dictionary entries."""
    plain = BatchParser(Parse()).parse_plain(raw_batch_of([b""] * len(host_ids), 0))
    return replace(plain, host=np.asarray(host_ids, np.uint32), dicts={"host": (epoch, entries)}).encode()


def hosts(rows):
    return [rows.value("host", i) for i in range(len(rows))]


def test_values_sent_once_resolve_later_and_after_a_restart(tmp_path):
    log = DictionaryLog(str(tmp_path / "col-p0.dict"))
    first = RingIntake(log)
    _, rows = first.decode(memoryview(batch([1, 2], [(1, b"web-1"), (2, b"web-2")])))
    assert hosts(rows) == [b"web-1", b"web-2"]
    _, rows = first.decode(memoryview(batch([2, 1, 3], [(3, b"db-1")])))
    assert hosts(rows) == [b"web-2", b"web-1", b"db-1"]
    first.persist()  # the flush: these batches are now released from the ring
    # The successor of a crashed writer sees only batches after the release...
    second = RingIntake(DictionaryLog(str(tmp_path / "col-p0.dict")))
    _, rows = second.decode(memoryview(batch([3, 4], [(4, b"db-2")])))
    assert hosts(rows) == [b"db-1", b"db-2"]
    # ...and re-reading a batch whose entries it already has is harmless.
    _, rows = second.decode(memoryview(batch([4], [(4, b"db-2")])))
    assert hosts(rows) == [b"db-2"]


def test_new_epoch_starts_afresh_and_compaction_keeps_it(tmp_path, monkeypatch):
    import engine.write.intake as intake

    monkeypatch.setattr(intake, "LOG_COMPACT_BYTES", 0)
    log_path = str(tmp_path / "col-p1.dict")
    a = RingIntake(DictionaryLog(log_path))
    a.decode(memoryview(batch([1], [(1, b"old")], epoch=1)))
    _, rows = a.decode(memoryview(batch([1], [(1, b"new")], epoch=2)))
    assert hosts(rows) == [b"new"]
    a.persist()
    assert len(list(DictionaryLog(log_path).replay())) == 1  # compacted to epoch 2
    b = RingIntake(DictionaryLog(log_path))
    _, rows = b.decode(memoryview(batch([1], [], epoch=2)))
    assert hosts(rows) == [b"new"]


def test_an_id_no_entry_defined_is_an_error_not_a_crash_later():
    intake = RingIntake()
    intake.decode(memoryview(batch([1], [(1, b"web-1")])))
    with pytest.raises(BatchDictionaryError):
        intake.decode(memoryview(batch([2], [])))  # id 2 was never sent
    with pytest.raises(BatchDictionaryError):
        intake.decode(memoryview(batch([3], [(3, b"web-3")])))  # out of sequence: 2 is missing
