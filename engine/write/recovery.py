"""What a restarted writer must know from its predecessor's parts: the ring positions already
on disk, so it neither loses nor duplicates rows.

A flush is trusted when every one of its parts exists (their count is in each part); the parts
of an unfinished flush are deleted, since their rows are still in the rings and will be
written again. Stale temporary files are removed too.
"""

from __future__ import annotations

import logging
import os

from engine.store import layout
from engine.store.part import Part, PartDamaged

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


def recover_positions(data_dir: str, instance: str) -> tuple[dict[str, int], int]:
    """(positions covered by this instance's complete flushes, highest part sequence used)."""
    flushes: dict[str, list[tuple[str, dict, int]]] = {}
    max_seq = 0
    for path in layout.all_part_paths(data_dir):
        parsed = layout.parse_part_name(os.path.basename(path))
        if not parsed or parsed[2] != instance:
            continue
        max_seq = max(max_seq, parsed[3])
        try:
            with Part(path) as part:
                meta = part.meta
        except PartDamaged:
            continue
        flushes.setdefault(meta.flush_id, []).append((path, meta.positions, meta.flush_parts))
    positions: dict[str, int] = {}
    for flush_id, parts in flushes.items():
        expected = parts[0][2]
        if len(parts) < expected:
            log.warning("flush %s is incomplete (%d of %d parts): removing it to write it again",
                        flush_id, len(parts), expected)
            for path, _, _ in parts:
                os.unlink(path)
            continue
        for ring, pos in parts[0][1].items():
            positions[ring] = max(positions.get(ring, 0), pos)
    return positions, max_seq
