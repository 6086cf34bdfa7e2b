"""Retention by age (whole partitions, then parts) and by size (oldest first), never bringing
merge leftovers back to life."""

import os

from bench.rows import synthetic_rows
from engine.store import layout
from engine.store.live import live_parts
from engine.store.part_reader import read_head
from engine.write import retention
from engine.write.merge import merge_parts
from engine.write.flush_writer import FlushWriter

DAY = 86400
NS = 1_000_000_000
DAY0 = (1_700_000_000 // DAY) * DAY  # midnight UTC


def _write(tmp_path, day: int, hour: int, rows=200, seed=0):
    writer = FlushWriter(str(tmp_path), "ab12", 1024, 3, False)
    writer.seq = seed * 10
    rows_ = synthetic_rows(rows, seed=seed, start_s=DAY0 + day * DAY + hour * 3600)
    return writer.write_flush(rows_, {"r": seed})[0][0]


def test_zero_keeps_everything(tmp_path):
    _write(tmp_path, 0, 1, seed=1)
    assert retention.apply(str(tmp_path), (DAY0 + 400 * DAY) * NS, 0, 0) == []
    assert len(live_parts(str(tmp_path))) == 1


def test_age_deletes_whole_old_days_then_old_parts(tmp_path):
    old_day = [_write(tmp_path, 0, h, seed=h + 1) for h in (1, 2)]
    mixed = [_write(tmp_path, 1, h, seed=h + 10) for h in (1, 20)]
    now = (DAY0 + 2 * DAY + 12 * 3600) * NS  # retention 1 day: cutoff is day 1, 12:00
    deleted = retention.apply(str(tmp_path), now, DAY * NS, 0)
    assert sorted(deleted) == sorted(old_day + mixed[:1])
    assert layout.partitions(str(tmp_path)) == [layout.partition_of((DAY0 + DAY) * NS)]  # day 0's folder is gone
    assert live_parts(str(tmp_path)) == mixed[1:]


def test_size_deletes_oldest_first(tmp_path):
    paths = [_write(tmp_path, d, 5, rows=300, seed=d + 1) for d in range(4)]
    sizes = [os.path.getsize(p) for p in paths]
    limit = sum(sizes[2:]) + 10
    deleted = retention.apply(str(tmp_path), (DAY0 + 5 * DAY) * NS, 0, limit)
    assert sorted(deleted) == sorted(paths[:2])
    assert live_parts(str(tmp_path)) == paths[2:]
    assert len(layout.partitions(str(tmp_path))) == 2


def test_deleting_a_merged_part_takes_its_replaced_inputs_first(tmp_path):
    inputs = [_write(tmp_path, 0, h, seed=h + 1) for h in (1, 2, 3)]
    out = os.path.join(os.path.dirname(inputs[0]), layout.part_name(1, (DAY0 + 3600) * NS, "ab12", 999))
    merge_parts([(p, read_head(p)) for p in inputs], out, instance="ab12", zstd_level=3, block_rows=1024, fsync=False)
    # The inputs still wait for their deletion; the merged part expires.
    later = _write(tmp_path, 0, 23, seed=30)
    deleted = retention.apply(str(tmp_path), (DAY0 + 20 * 3600 + 1) * NS + DAY * NS, DAY * NS, 0)
    assert sorted(deleted) == sorted(inputs + [out])
    assert live_parts(str(tmp_path)) == [later]
