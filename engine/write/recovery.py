"""What a restarted writer must know from its predecessor's parts: the ring positions already
on disk, so it neither loses nor duplicates rows; and the clean-up a crash may have left.

A flush is trusted when every one of its parts exists (their count is in each part), counting
the parts a live merged part holds (its `flushes`): a flush whose parts were merged apart is
whole. The parts of an unfinished flush are deleted, since their rows are still in the rings
and will be written again; merges never take them (see `engine.write.merge`). Positions come
from whole flushes and from merged parts (which carry the max of their inputs'). Stale
temporary files and parts replaced by a merge (a crash between its rename and its deletes)
are removed before anything reads the data dir.
"""

from __future__ import annotations

import logging
import os

from engine.store import layout
from engine.store.live import partition_parts
from engine.store.part_reader import PartDamaged, read_head

log = logging.getLogger("logjet.write")


def remove_temporaries(data_dir: str) -> int:
    removed = 0
    for day in layout.partitions(data_dir):
        folder = os.path.join(data_dir, day)
        for name in os.listdir(folder):
            if name.startswith(layout.TMP_PREFIX):
                os.unlink(os.path.join(folder, name))
                removed += 1
    return removed


def remove_replaced_parts(data_dir: str) -> int:
    """Delete parts that a merged part on disk replaces (any instance's)."""
    removed = 0
    for day in layout.partitions(data_dir):
        for path in partition_parts(data_dir, day)[1]:
            try:
                os.unlink(path)
                removed += 1
            except FileNotFoundError:
                pass
    if removed:
        log.warning("removed %d parts left over by an interrupted merge", removed)
    return removed


def recover_positions(data_dir: str, instance: str) -> tuple[dict[str, int], int]:
    """(positions covered by this instance's whole flushes and merges, highest part sequence used)."""
    seen: dict[str, int] = {}  # flush id → parts present, directly or inside merged parts
    expected: dict[str, int] = {}
    flush_parts: dict[str, list[str]] = {}
    flush_positions: dict[str, dict[str, int]] = {}
    merged_positions: list[dict[str, int]] = []
    max_seq = 0
    for day in layout.partitions(data_dir):
        for path in partition_parts(data_dir, day)[0]:
            parsed = layout.parse_part_name(os.path.basename(path))
            if not parsed or parsed[2] != instance:
                continue
            max_seq = max(max_seq, parsed[3])
            try:
                head = read_head(path)
            except PartDamaged:
                continue
            if head.flushes:
                for flush_id, count in head.flushes.items():
                    seen[flush_id] = seen.get(flush_id, 0) + count
                merged_positions.append(head.positions)
            else:
                seen[head.flush_id] = seen.get(head.flush_id, 0) + 1
                expected[head.flush_id] = head.flush_parts
                flush_parts.setdefault(head.flush_id, []).append(path)
                flush_positions[head.flush_id] = head.positions
    positions: dict[str, int] = {}
    trusted = merged_positions
    for flush_id, want in expected.items():
        if seen[flush_id] < want:
            log.warning(
                "flush %s is incomplete (%d of %d parts): removing it to write it again", flush_id, seen[flush_id], want
            )
            for path in flush_parts[flush_id]:
                os.unlink(path)
            continue
        trusted.append(flush_positions[flush_id])
    for ring_positions in trusted:
        for ring, pos in ring_positions.items():
            positions[ring] = max(positions.get(ring, 0), pos)
    return positions, max_seq
