"""The writer's intake: dictionaries resolve across batches and survive a writer restart."""

from __future__ import annotations

import numpy as np

from engine.ipc.batch import encode_columns
from engine.write.intake import DictionaryLog, RingIntake


def batch(host_ids, entries, epoch=7):
    n = len(host_ids)
    z = np.zeros(n, np.uint32)
    arrays = {
        "time": np.arange(n, dtype=np.int64),
        "recv": np.arange(n, dtype=np.int64),
        "severity": np.zeros(n, np.uint8),
        "facility": np.zeros(n, np.uint8),
        "format": np.zeros(n, np.uint8),
        "flags": np.zeros(n, np.uint8),
        "host": np.asarray(host_ids, np.uint32),
        "app": z,
        "procid": z,
        "msgid": z,
        "source": z,
        "msg_off": np.zeros(n + 1, np.uint32),
        "msg_data": np.empty(0, np.uint8),
        "sd_off": np.zeros(n + 1, np.uint32),
        "sd_data": np.empty(0, np.uint8),
        "kv_ptr": np.zeros(n + 1, np.uint32),
        "kv_key": np.empty(0, np.uint32),
        "kv_kind": np.empty(0, np.uint8),
        "kv_off": np.zeros(1, np.uint32),
        "kv_data": np.empty(0, np.uint8),
    }
    return encode_columns({"rows": n, "dicts": {"host": [epoch, entries]}}, arrays)


def hosts(rows):
    return [rows.value("host", i) for i in range(len(rows))]


def test_values_sent_once_resolve_later_and_after_a_restart(tmp_path):
    log = DictionaryLog(str(tmp_path / "col-p0.dict"))
    first = RingIntake(log)
    _, rows = first.decode(memoryview(batch([1, 2], [[1, b"web-1"], [2, b"web-2"]])))
    assert hosts(rows) == [b"web-1", b"web-2"]
    _, rows = first.decode(memoryview(batch([2, 1, 3], [[3, b"db-1"]])))
    assert hosts(rows) == [b"web-2", b"web-1", b"db-1"]
    first.persist()  # the flush: these batches are now released from the ring
    # The successor of a crashed writer sees only batches after the release...
    second = RingIntake(DictionaryLog(str(tmp_path / "col-p0.dict")))
    _, rows = second.decode(memoryview(batch([3, 4], [[4, b"db-2"]])))
    assert hosts(rows) == [b"db-1", b"db-2"]
    # ...and re-reading a batch whose entries it already has is harmless.
    _, rows = second.decode(memoryview(batch([4], [[4, b"db-2"]])))
    assert hosts(rows) == [b"db-2"]


def test_new_epoch_starts_afresh_and_compaction_keeps_it(tmp_path, monkeypatch):
    import engine.write.intake as intake

    monkeypatch.setattr(intake, "LOG_COMPACT_BYTES", 0)
    log_path = str(tmp_path / "col-p1.dict")
    a = RingIntake(DictionaryLog(log_path))
    a.decode(memoryview(batch([1], [[1, b"old"]], epoch=1)))
    _, rows = a.decode(memoryview(batch([1], [[1, b"new"]], epoch=2)))
    assert hosts(rows) == [b"new"]
    a.persist()
    assert len(list(DictionaryLog(log_path).replay())) == 1  # compacted to epoch 2
    b = RingIntake(DictionaryLog(log_path))
    _, rows = b.decode(memoryview(batch([1], [], epoch=2)))
    assert hosts(rows) == [b"new"]
