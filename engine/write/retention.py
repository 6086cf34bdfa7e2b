"""Retention: deletes parts by age (`retention`, judged by their rows' `_time`) and by total size
(`max_disk_bytes`, oldest first). Run by the writer's merge thread every RETENTION_EVERY_S
(`engine.write.merge`), so it never races a merge.

Age. A partition (a UTC day) that ends at or before `now - retention` goes whole: its parts,
then the folder. In the partition that straddles the cutoff, a part goes when its newest row is
older than the cutoff; its older rows are never cut out of a part (parts are immutable), so a
row may outlive the cutoff by up to the time span of its part.
Size. While all part files together exceed `max_disk_bytes`, the part whose newest row is the
oldest goes (its partition's folder too once empty).
`retention = "0"` and `max_disk_bytes = "0"` turn each off; `logjet serve --retention 0` keeps
every row whatever its timestamp.

Merge leftovers. Before any live part of a partition is deleted, the partition's replaced
parts go (`engine.store.live`): deleting a merged part first would make the parts it replaced
live again, and their rows would come back from the dead.

A part whose head cannot be read is judged by the first second in its name.
"""

from __future__ import annotations

import logging
import os

from engine.store import layout
from engine.store.live import partition_parts
from engine.store.part_reader import PartDamaged, read_head

log = logging.getLogger("logjet.retention")


def _newest_ns(path: str) -> int:
    try:
        return read_head(path).max_time
    except PartDamaged:
        parsed = layout.parse_part_name(os.path.basename(path))
        return parsed[1] * 1_000_000_000 if parsed else 0


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _unlink(path: str, deleted: list[str]) -> None:
    try:
        os.unlink(path)
        deleted.append(path)
    except FileNotFoundError:
        pass


class _Partition:
    def __init__(self, data_dir: str, day: str):
        self.folder = os.path.join(data_dir, day)
        self.end_ns = layout.partition_start_ns(day) + layout.NS_PER_DAY
        self.live, self.replaced = partition_parts(data_dir, day)

    def delete(self, paths: list[str], deleted: list[str]) -> None:
        """Delete live `paths`, after every replaced part of the partition."""
        for path in self.replaced:
            _unlink(path, deleted)
        self.replaced = []
        for path in paths:
            _unlink(path, deleted)
        gone = set(paths)
        self.live = [p for p in self.live if p not in gone]
        if not self.live:
            try:
                os.rmdir(self.folder)  # fails while a flush writes a new part here: fine
            except OSError:
                pass


def apply(data_dir: str, now_ns: int, retention_ns: int, max_disk_bytes: int) -> list[str]:
    """Delete what retention says must go; returns the paths deleted (live and replaced)."""
    deleted: list[str] = []
    cutoff = now_ns - retention_ns if retention_ns > 0 else None
    kept: list[_Partition] = []
    for day in layout.partitions(data_dir):
        part = _Partition(data_dir, day)
        if cutoff is not None and part.end_ns <= cutoff:
            part.delete(list(part.live), deleted)
            continue
        if cutoff is not None:
            old = [p for p in part.live if _newest_ns(p) < cutoff]
            if old:
                part.delete(old, deleted)
        kept.append(part)
    if max_disk_bytes > 0:
        total = sum(_size(p) for part in kept for p in part.live + part.replaced)
        if total > max_disk_bytes:
            candidates = sorted((_newest_ns(p), p, part) for part in kept for p in part.live)
            for _, path, part in candidates:
                if total <= max_disk_bytes:
                    break
                total -= _size(path) + sum(_size(p) for p in part.replaced)
                part.delete([path], deleted)
    if deleted:
        log.info("retention deleted %d parts", len(deleted))
    return deleted
