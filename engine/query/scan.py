"""The simplest read path: rows of a time range, newest first, up to a limit, from the parts
on disk. (The full query language plans over indexes; this is its fallback and `logjet query`
without a filter.)"""

from __future__ import annotations

import logging
import os

import numpy as np

from engine.store import layout
from engine.store.live import partition_parts
from engine.store.part_format import PartDamaged, read_head
from engine.store.part_reader import Part
from engine.store.rows import Rows, concat

log = logging.getLogger("logjet.query")


def parts_in_range(data_dir: str, start_ns: int | None, end_ns: int | None) -> list[Part]:
    """Open the live parts that may hold rows in [start, end); damaged ones are skipped and logged."""
    out = []
    for day in layout.partitions(data_dir):
        day_start = layout.partition_start_ns(day)
        if end_ns is not None and day_start >= end_ns:
            continue
        if start_ns is not None and day_start + layout.NS_PER_DAY <= start_ns:
            continue
        out.extend(_open_partition(data_dir, day, start_ns, end_ns))
    return out


def _open_partition(data_dir: str, day: str, start_ns: int | None, end_ns: int | None) -> list[Part]:
    # A merge may replace and (seconds later) delete parts between our listing and our opening
    # them: a part that vanished means "list again", once; the merged part then holds its rows.
    for attempt in (1, 2):
        opened: list[Part] = []
        vanished = False
        for path in partition_parts(data_dir, day)[0]:
            try:
                head = read_head(path)
                if (end_ns is not None and head.min_time >= end_ns) or (
                    start_ns is not None and head.max_time < start_ns
                ):
                    continue
                opened.append(Part(path))
            except PartDamaged as exc:
                if not os.path.exists(path) and attempt == 1:
                    vanished = True
                    break
                log.error("skipping damaged part %s: %s", path, exc)
        if not vanished:
            return opened
        for part in opened:
            part.close()
    return opened


def newest_rows(data_dir: str, start_ns: int | None, end_ns: int | None, limit: int | None) -> Rows:
    """Rows with start <= _time < end, newest first, at most `limit`."""
    parts = parts_in_range(data_dir, start_ns, end_ns)
    parts.sort(key=lambda p: p.meta.max_time, reverse=True)
    collected: list[Rows] = []
    kth_time = None  # time of the limit-th newest row so far: parts older than it cannot help
    have = 0
    for part in parts:
        if limit is not None and have >= limit and kth_time is not None and part.meta.max_time < kth_time:
            break
        for b in range(len(part.meta.blocks)):
            bm = part.meta.blocks[b]
            if (end_ns is not None and bm.min_time >= end_ns) or (start_ns is not None and bm.max_time < start_ns):
                continue
            rows = part.read_block(b)
            keep = np.ones(len(rows), bool)
            if start_ns is not None:
                keep &= rows.time >= start_ns
            if end_ns is not None:
                keep &= rows.time < end_ns
            if not keep.all():
                rows = rows.take(np.flatnonzero(keep))
            if len(rows):
                collected.append(rows)
                have += len(rows)
        if limit is not None and have >= limit:
            times = np.concatenate([r.time for r in collected])
            kth_time = int(np.partition(times, len(times) - limit)[len(times) - limit])
    for part in parts:
        part.close()
    rows = concat(collected)
    order = np.argsort(-rows.time, kind="stable")
    if limit is not None:
        order = order[:limit]
    return rows.take(order)
