"""Writes one flush: rows sorted by time, split by UTC day, one part per day partition.

All parts of a flush share a flush id and record how many parts the flush has, plus the ring
positions the flush covers; a restarted writer trusts a flush only when all its parts exist
(see `recovery`). A flush is staged whole (every part under its temporary name) before any part
is renamed into place, so a failure (ENOSPC) leaves none of it behind.
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np

from engine.store.layout import NS_PER_DAY, part_name, partition_of
from engine.store.part_format import PartMeta
from engine.store.part_writer import IndexBuilder, PartOptions, discard_staged, fsync_dir, publish_parts, stage_part
from engine.store.rows import Rows, compact


class FlushWriter:
    """Names and writes parts for one writer process."""

    def __init__(
        self,
        data_dir: str,
        instance: str,
        block_rows: int,
        zstd_level: int,
        fsync: bool,
        index_builder: IndexBuilder | None = None,
        derive_fields: bool = False,
    ) -> None:
        self.data_dir = data_dir
        self.instance = instance
        self.block_rows = block_rows
        self.zstd_level = zstd_level
        self.fsync = fsync
        self.index_builder = index_builder
        self.derive_fields = derive_fields
        self.seq = 0  # last sequence number used in a part name (flushes and merges share it)
        self._seq_lock = threading.Lock()  # the merge thread names parts too

    def next_seq(self) -> int:
        with self._seq_lock:
            self.seq += 1
            return self.seq

    def next_name(self, level: int, min_time: int) -> str:
        seq = self.next_seq()
        day = partition_of(min_time)
        folder = os.path.join(self.data_dir, day)
        if not os.path.isdir(folder):
            os.makedirs(folder, exist_ok=True)
            if self.fsync:
                # The new folder's name is an entry of the data dir: without this, a power cut
                # could lose the folder with the fsynced parts in it.
                fsync_dir(self.data_dir)
        return os.path.join(folder, part_name(level, min_time, self.instance, seq))

    def write_flush(
        self, rows: Rows, positions: dict[str, int], level: int = 0, zstd_level: int | None = None
    ) -> list[tuple[str, PartMeta]]:
        """Sort, split by day and write `rows`; returns (path, meta) of each part written."""
        if not len(rows):
            return []
        # Rows mostly arrive in time order; the gather of every column is skipped when they do.
        if len(rows) > 1 and np.any(np.diff(rows.time) < 0):
            rows = rows.take(np.argsort(rows.time, kind="stable"))
        days = rows.time // NS_PER_DAY
        cuts = np.flatnonzero(np.diff(days)) + 1
        bounds = [0, *cuts.tolist(), len(rows)]
        # A flushed part lives only until its first merge (seconds to minutes) and is small
        # enough to scan, so it gets neither indexes nor sorted dictionaries: that work is
        # done once, by the merge, off the flush path that bounds ingest.
        options = PartOptions(
            level=level,
            instance=self.instance,
            flush_id=f"{self.instance}-{self.seq + 1}",
            flush_parts=len(bounds) - 1,
            positions=positions,
            created_ns=time.time_ns(),
            block_rows=self.block_rows,
            zstd_level=zstd_level or self.zstd_level,
            fsync=self.fsync,
            derive_fields=self.derive_fields,
            sort_dicts=level > 0,
            index_builder=self.index_builder if level > 0 else None,
        )
        written: list[tuple[str, PartMeta]] = []
        raw_total = rows.raw_bytes
        try:
            for lo, hi in zip(bounds[:-1], bounds[1:]):
                if lo == 0 and hi == len(rows):
                    part_rows = rows  # `concat` already kept only the dictionary values in use
                else:
                    part_rows = compact(rows.take(np.arange(lo, hi)))
                # Raw bytes are known per batch, not per row: shared out by row count.
                part_rows.raw_bytes = raw_total * (hi - lo) // len(rows)
                path = self.next_name(level, int(part_rows.time[0]))
                try:
                    meta = stage_part(path, part_rows, options)
                except FileNotFoundError:
                    # Retention removed the (then empty) partition folder between our makedirs
                    # and open: make it again, once.
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    meta = stage_part(path, part_rows, options)
                written.append((path, meta))
        except BaseException:
            # ENOSPC on the second day's part, say: the first must not show without it.
            discard_staged([path for path, _ in written])
            raise
        publish_parts([path for path, _ in written], self.fsync)
        return written
