"""Which parts on disk are live: every part minus those a merged part replaces.

A merge writes its output (whose head lists the names of its inputs in `replaces`), renames it
into place, then deletes the inputs. Between the rename and the last delete, and forever if the
writer dies there, both are on disk; every reader must then see the merged part only, or rows
would be counted twice. The rule, applied per partition (merges never cross one):

    replaced = the union of `replaces` over every part of the partition
    live     = the parts whose names are not in replaced

The union runs over replaced parts too, so a chain left by two crashes (A, B → M1; M1, C → M2,
all still on disk) resolves to M2 alone. Only merged parts (level >= 1 in the name) can replace
anything, so only their heads are read (and those of parts whose names do not parse): two
small reads each, no footer.

A merged part whose head is damaged replaces nothing here: its inputs stay live and serve the
rows; readers skip the damaged part, and the merge thread quarantines it when it reads it.
"""

from __future__ import annotations

import logging
import os

from engine.store import layout
from engine.store.part_reader import PartDamaged, read_head

log = logging.getLogger("logjet.store")


def partition_parts(data_dir: str, partition: str) -> tuple[list[str], list[str]]:
    """(live part paths, replaced part paths) of one partition, each sorted by name."""
    paths = layout.part_paths(data_dir, partition)
    replaced_names: set[str] = set()
    for path in paths:
        parsed = layout.parse_part_name(os.path.basename(path))
        if parsed is not None and parsed[0] == 0:
            continue
        try:
            replaced_names.update(read_head(path).replaces)
        except PartDamaged as exc:
            log.error("cannot read the head of %s: %s", path, exc)
    live: list[str] = []
    replaced: list[str] = []
    for path in paths:
        (replaced if os.path.basename(path) in replaced_names else live).append(path)
    return live, replaced


def live_parts(data_dir: str) -> list[str]:
    """Paths of every live part, oldest partition first, by name within a partition."""
    return [p for day in layout.partitions(data_dir) for p in partition_parts(data_dir, day)[0]]


def replaced_parts(data_dir: str) -> list[str]:
    """Paths of parts a live or replaced merged part replaces: left over by a crash, safe to delete."""
    return [p for day in layout.partitions(data_dir) for p in partition_parts(data_dir, day)[1]]
