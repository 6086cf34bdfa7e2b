"""Writes that meet a full disk (a real ENOSPC from a small tmpfs): a flush leaves no part (not
even one day of a two-day flush) and keeps its rows, in the writer and in its ring, until space
comes back; a merge that would not fit is put off, and one that hits ENOSPC leaves its inputs."""

from __future__ import annotations

import errno
import os
import time

import pytest

from bench.rows import synthetic_rows
from engine.config import Parse, Settings, Storage
from engine.ipc.control import FLAG_DISK_LOW, ControlTable
from engine.ipc.raw_batch import raw_batch_of
from engine.ipc.record_kinds import KIND_COLUMNS
from engine.ipc.ring import Ring, RingProducer
from engine.ipc.shm import InstanceDir
from engine.metrics import MetricsFile, read_all
from engine.parse.batch_parser import BatchParser
from engine.query.scan import newest_rows
from engine.store import layout
from engine.units import AutoByteSize, Duration
from engine.worker.loop import WorkerShm
from engine.worker.process import WorkerSpec
from engine.write.flush_writer import FlushWriter
from engine.write import merge
from engine.write.merge import DISK_RETRY_S, Merger, plan_merges
from engine.write.worker import DiskFullAtShutdown, Writer, final_flush
from tests.tmpfs import fill, small_tmpfs

MIB = 1 << 20
MIDNIGHT_S = 1_700_006_400.0  # 2023-11-15T00:00:00Z


def _files(folder: str) -> list[str]:
    """Every file under `folder` but the filler, relative."""
    out = []
    for root, _, names in os.walk(folder):
        out += [os.path.relpath(os.path.join(root, n), folder) for n in names if n != "filler"]
    return sorted(out)


def test_enospc_in_a_two_day_flush_leaves_no_part_and_the_rows_write_later(tmp_path):
    rows = synthetic_rows(10_000, start_s=MIDNIGHT_S - 0.5)  # half on each side of midnight
    with small_tmpfs(str(tmp_path / "disk"), 2 * MIB) as disk:
        writer = FlushWriter(disk, "ab12", 1024, 1, fsync=False)
        # Room for the first day's part (~140 KB), not for both.
        filler = fill(disk, leave_free=200 << 10)
        with pytest.raises(OSError) as info:
            writer.write_flush(rows, {"col-p0": 1})
        assert info.value.errno == errno.ENOSPC
        assert _files(disk) == [], "no part and no temporary file of the failed flush"
        os.unlink(filler)
        written = writer.write_flush(rows, {"col-p0": 1})
        assert len(written) == 2 and sum(meta.rows for _, meta in written) == len(rows)
        assert len(newest_rows(disk, None, None, None)) == len(rows)


def _writer(shm_dir, disk: str) -> tuple[Writer, RingProducer, Ring]:
    """A real writer (in this process) over one real column ring, writing into `disk`."""
    instance = "df01"
    InstanceDir(instance, str(shm_dir)).create()
    idir = InstanceDir(instance, str(shm_dir))
    ControlTable.create(idir.control, 1)
    # The writer runs in this process, so this process's parent stands in for its supervisor:
    # WorkerShm refuses a worker whose parent is not the instance's supervisor.
    table = ControlTable(idir.control)
    table.adopt(os.getppid())
    table.close()
    Ring.create(idir.ring("col-p0"), MIB)
    spec = WorkerSpec(
        role="writer",
        index=0,
        slot=0,
        instance=instance,
        shm_root=str(shm_dir),
        ports={},
        input_rings=("col-p0",),
        all_slots=(("writer-0", 0),),
    )
    settings = Settings(data_dir=disk, storage=Storage(fsync=False, min_free_bytes=AutoByteSize.parse("0")))
    writer = Writer(settings, spec, WorkerShm(spec))
    return writer, RingProducer(idir.ring("col-p0")), Ring(idir.ring("col-p0"))


def test_a_flush_that_gets_enospc_keeps_its_rows_pending_and_in_the_ring(tmp_path, shm_dir):
    parser = BatchParser(Parse())
    with small_tmpfs(str(tmp_path / "disk"), 2 * MIB) as disk:
        writer, producer, ring = _writer(shm_dir, disk)
        for b in range(4):
            lines = [b"disk full test seq=%d" % (b * 500 + i) for i in range(500)]
            assert producer.try_write(KIND_COLUMNS, parser.parse_plain(raw_batch_of(lines, 1)).encode())
        filler = fill(disk, leave_free=0)
        assert writer.poll() == 4
        assert not writer.flush()
        assert _files(disk) == [] and writer.pending_rows == 2000
        assert ring.read_pos == 0, "nothing released: the ring still holds every row"
        assert writer.disk.low and writer.shm.control.flags(0) & FLAG_DISK_LOW
        assert not writer.may_flush(), "the next try waits RETRY_S"
        os.unlink(filler)
        assert writer.flush()
        assert ring.read_pos == ring.write_pos and writer.pending_rows == 0
        assert not writer.shm.control.flags(0) & FLAG_DISK_LOW
        rows = newest_rows(disk, None, None, None)
        seqs = sorted(int(rows.message(i).rsplit(b"=", 1)[1]) for i in range(len(rows)))
        assert seqs == list(range(2000)), "every row once"
        metrics = read_all(InstanceDir("df01", str(shm_dir)).metrics_files())
        assert metrics[("storage_disk_full_errors_total", (("op", "flush"),))] == 1
        assert metrics[("written_rows_total", ())] == 2000


def test_a_shutdown_that_cannot_write_counts_and_names_what_it_loses(tmp_path, shm_dir):
    parser = BatchParser(Parse())
    with small_tmpfs(str(tmp_path / "disk"), 2 * MIB) as disk:
        writer, producer, ring = _writer(shm_dir, disk)
        lines = [b"lost at shutdown seq=%d" % i for i in range(300)]
        assert producer.try_write(KIND_COLUMNS, parser.parse_plain(raw_batch_of(lines, 1)).encode())
        fill(disk, leave_free=0)
        assert writer.poll() == 1
        with pytest.raises(DiskFullAtShutdown, match="300 rows could not be written and are lost"):
            final_flush(writer, give_up_at=time.monotonic() + 0.3)
        assert writer.m_disk_full.get() == 300
        assert writer.disk.m_errors.get() >= 1 and _files(disk) == []


def _merger(disk: str, shm_dir) -> tuple[Merger, FlushWriter, MetricsFile]:
    settings = Settings(
        data_dir=disk, storage=Storage(fsync=False, block_rows=1024, merge_min_parts=3, retention=Duration(0))
    )
    flusher = FlushWriter(disk, "ab12", 1024, 1, fsync=False)
    metrics = MetricsFile(str(shm_dir / "writer.metrics"))
    return Merger(settings, "ab12", flusher, None, metrics, min_free_bytes=64 << 10), flusher, metrics


def test_a_merge_that_would_not_fit_is_put_off_and_done_once_there_is_room(tmp_path, shm_dir, monkeypatch):
    monkeypatch.setattr(merge, "LEVEL0_MERGE_AFTER_S", 0.0)  # flushed parts of this instant merge now
    with small_tmpfs(str(tmp_path / "disk"), 2 * MIB) as disk:
        merger, flusher, _ = _merger(disk, shm_dir)
        for k in range(3):  # ~57 KB each
            merger.add(flusher.write_flush(synthetic_rows(2000, seed=k, start_s=MIDNIGHT_S + k), {"r": k + 1}))
        before = _files(disk)
        filler = fill(disk, leave_free=150 << 10)  # less than the inputs plus the 64 KiB minimum
        assert not merger.step(now=100.0)
        assert _files(disk) == before
        assert merger.m_skipped.get() == 1
        os.unlink(filler)
        assert not merger.step(now=100.0 + DISK_RETRY_S / 2), "put off for DISK_RETRY_S"
        assert merger.step(now=100.0 + DISK_RETRY_S)
        assert merger.m_skipped.get() == 1 and merger.m_merges.get() == 1
        assert len(newest_rows(disk, None, None, None)) == 6000


def test_a_merge_that_hits_enospc_removes_its_output_and_keeps_its_inputs(tmp_path, shm_dir, monkeypatch):
    monkeypatch.setattr(merge, "LEVEL0_MERGE_AFTER_S", 0.0)  # flushed parts of this instant merge now
    with small_tmpfs(str(tmp_path / "disk"), 2 * MIB) as disk:
        merger, flusher, _ = _merger(disk, shm_dir)
        for k in range(3):
            merger.add(flusher.write_flush(synthetic_rows(2000, seed=k, start_s=MIDNIGHT_S + k), {"r": k + 1}))
        before = _files(disk)
        fill(disk, leave_free=0)
        assert not merger.step(now=100.0)  # takes the parts in; the estimate puts their merge off...
        # ...so go past it, to meet ENOSPC itself.
        group = plan_merges(merger.parts, 3, 1_000_000)[0]
        assert not merger._merge(group, now=200.0)
        assert _files(disk) == before, "the inputs stay, no output or temporary file"
        assert merger.m_disk_full.get() == 1 and merger.m_merges.get() == 0
        assert sorted(merger.parts) == sorted(os.path.join(disk, p) for p in before if p.endswith(layout.PART_SUFFIX))
        assert len(newest_rows(disk, None, None, None)) == 6000
