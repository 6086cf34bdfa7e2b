"""Step 1 of a merge (`merge_parts`): the rows of several parts written as one part that
replaces them, with what recovery needs to know which flushes it holds. Run by the merge process
(`engine.write.merge_process`); the policy of what to merge when is `engine.write.merge`."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import msgspec
import numpy as np

from engine.errors import LogjetError
from engine.store.part_reader import Part, PartDamaged, PartHead, PartMeta, PartOptions, WriteCancelled, write_part
from engine.store.part_writer import IndexBuilder
from engine.store.rows import concat


class InputDamaged(LogjetError):
    """An input of a merge failed a check: it is quarantined, and nothing was written."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def merge_parts(
    inputs: list[tuple[str, PartHead]],
    out_path: str,
    *,
    instance: str,
    zstd_level: int,
    block_rows: int,
    index_builder: IndexBuilder | None = None,
    fsync: bool = True,
    cancel: Callable[[], bool] | None = None,
    derive_fields: bool = False,
    interim: bool = False,
    flush_layout: bool = False,
) -> PartMeta:
    """Step 1: write the rows of `inputs` as one part at `out_path` (level: the inputs' + 1)
    that replaces them. Raises InputDamaged (nothing written) when an input fails a check.
    `flush_layout`: written as a flush is (no index, dictionaries unsorted, no value frames):
    an interim part that the next merge reads whole soon (`engine.write.merge.merge_form`)."""
    # Every input's blocks, concatenated once: reading each part whole first (`read_all`) would
    # copy every row twice.
    blocks = []
    raw_bytes = 0
    for path, _ in inputs:
        if cancel is not None and cancel():
            raise WriteCancelled(out_path)
        try:
            with Part(path) as part:
                blocks += [part.read_block(b) for b in range(len(part.meta.blocks))]
                raw_bytes += part.meta.raw_bytes
        except PartDamaged as exc:
            raise InputDamaged(path, str(exc)) from exc
    rows = concat(blocks)
    rows.raw_bytes = raw_bytes
    del blocks
    if np.any(np.diff(rows.time) < 0):
        rows = rows.take(np.argsort(rows.time, kind="stable"))
    positions: dict[str, int] = {}
    flushes: dict[str, int] = {}
    for _, head in inputs:
        if head.instance == instance:
            for ring, pos in head.positions.items():
                positions[ring] = max(positions.get(ring, 0), pos)
        for flush_id, count in (head.flushes or {head.flush_id: 1}).items():
            flushes[flush_id] = flushes.get(flush_id, 0) + count
    # No flush id: a merged part's flushes are in `flushes` (what merges and recovery read).
    options = PartOptions(
        level=max(h.level for _, h in inputs) + 1,
        instance=instance,
        flush_id="",
        flush_parts=1,
        positions=positions,
        created_ns=time.time_ns(),
        replaces=[os.path.basename(p) for p, _ in inputs],
        flushes=flushes,
        block_rows=block_rows,
        zstd_level=zstd_level,
        fsync=fsync,
        derive_fields=derive_fields,
        sort_dicts=not flush_layout,
        index_builder=None if flush_layout else index_builder,
        cancel=cancel,
        interim=interim,
        flush_layout=flush_layout,
    )
    return write_part(out_path, rows, options)


class MergeJob(msgspec.Struct, array_like=True):
    """The arguments of one `merge_parts` call, as the merge thread hands it to the merge
    process (`engine.write.merge_process`)."""

    inputs: list[tuple[str, PartHead]]
    out_path: str
    instance: str
    zstd_level: int
    interim: bool
    block_rows: int
    fsync: bool
    derive_fields: bool
    flush_layout: bool = False


def merge_job(job: MergeJob, index_builder: IndexBuilder | None, cancel: Callable[[], bool] | None = None) -> PartMeta:
    """`merge_parts` with the arguments of `job`."""
    return merge_parts(
        job.inputs,
        job.out_path,
        instance=job.instance,
        zstd_level=job.zstd_level,
        interim=job.interim,
        flush_layout=job.flush_layout,
        block_rows=job.block_rows,
        index_builder=index_builder,
        fsync=job.fsync,
        cancel=cancel,
        derive_fields=job.derive_fields,
    )
