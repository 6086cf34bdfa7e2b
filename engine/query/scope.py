"""`Scope`: what filters need to know about one part before reading a block of it: its
dictionaries, field keys, block times and (when the store wrote one) its index.

A `PartScope` is built once per part and kept by the catalog across queries, so the per-part
work (a key lookup table, opening the index) is paid once. `RowsScope` is the same face over
rows in memory (already selected rows that a later stage aggregates, and tests).

Thread safety: scopes are shared by concurrent queries; everything here is either immutable
after construction or a cache whose racing fills compute the same value.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from engine.store.index_read import PartIndex as _PartIndex  # a module attribute: tests substitute it
from engine.store.part_format import PartMeta
from engine.store.part_reader import Part
from engine.store.rows import Rows

if TYPE_CHECKING:  # block.py refers back to scopes
    from engine.query.block import Block, PartBlock, RowsBlock

log = logging.getLogger("logjet.query")


def replaced_names(meta: PartMeta) -> list[str]:
    """File names of the parts a merged part replaces (empty for a flushed part). The writer
    records them in the footer; readers must not count both the merged part and its inputs."""
    names = getattr(meta, "replaces", None) or (meta.index.get("replaces") if isinstance(meta.index, dict) else None)
    return [str(n).rsplit("/", 1)[-1] for n in (names or [])]


class Scope:
    """What filters read of a part, or of rows in memory shaped as one: block times, dictionaries,
    field keys, and the index when there is one."""

    path: str
    rows: int
    min_time: int
    max_time: int
    block_rows: int
    nblocks: int
    block_min: np.ndarray  # int64 per block
    block_max: np.ndarray
    block_count: np.ndarray
    dicts: dict[str, list[bytes]]
    replaces: list[str]
    _key_ids: dict[bytes, int] | None = None

    def key_id(self, key: bytes) -> int:
        """The part's id of field key `key`, 0 when no row of the part has it."""
        ids = self._key_ids
        if ids is None:
            ids = {k: i + 1 for i, k in enumerate(self.dicts.get("fieldkey", []))}
            self._key_ids = ids
        return ids.get(key, 0)

    @property
    def index(self) -> _PartIndex | None:
        """The part's `engine.store.index_read.PartIndex`, or None."""
        return None

    def blocks_in(self, start_ns: int | None, end_ns: int | None) -> np.ndarray:
        """Blocks that may hold rows with start <= _time < end."""
        keep = np.ones(self.nblocks, bool)
        if start_ns is not None:
            keep &= self.block_max >= start_ns
        if end_ns is not None:
            keep &= self.block_min < end_ns
        return np.flatnonzero(keep)

    def block(self, block_number: int) -> Block:
        raise NotImplementedError


class PartScope(Scope):
    """One part as the query sees it."""

    def __init__(self, part: Part):
        self.part = part
        self.path = part.path
        meta = part.meta
        self.rows = meta.rows
        self.min_time = meta.min_time
        self.max_time = meta.max_time
        self.block_rows = meta.block_rows
        self.nblocks = len(meta.blocks)
        self.block_min = np.fromiter((b.min_time for b in meta.blocks), np.int64, self.nblocks)
        self.block_max = np.fromiter((b.max_time for b in meta.blocks), np.int64, self.nblocks)
        self.block_count = np.fromiter((b.rows for b in meta.blocks), np.int64, self.nblocks)
        self.dicts = meta.dicts
        self.replaces = replaced_names(meta)
        self._key_ids = None
        self._index: _PartIndex | None = None
        self._index_loaded = False

    @property
    def index(self) -> _PartIndex | None:
        """The part's `engine.store.index_read.PartIndex`, or None (no index in this part, or an
        index that fails to load: the query then scans, never fails)."""
        if not self._index_loaded:
            if self.part.meta.index:
                try:
                    self._index = _PartIndex(self.part)
                except Exception as exc:  # a bad index costs speed, not answers
                    log.warning("part %s: index not used: %s", self.path, exc)
            self._index_loaded = True
        return self._index

    def loaded_counts(self) -> list[str] | None:
        """The columns of the part's block counts when its index and counts are loaded already
        (reading them is then no read from disk); None when not loaded yet, or absent."""
        if not self._index_loaded or self._index is None:
            return None
        return self._index.loaded_count_columns()

    def block(self, block_number: int) -> PartBlock:
        from engine.query.block import PartBlock

        return PartBlock(self, block_number)


class RowsScope(Scope):
    """Rows in memory as a one-block part without an index."""

    def __init__(self, rows: Rows):
        self.path = "<rows>"
        self.mem = rows
        n = len(rows)
        self.rows = n
        self.min_time = int(rows.time.min()) if n else 0
        self.max_time = int(rows.time.max()) if n else 0
        self.block_rows = max(1, n)
        self.nblocks = 1
        self.block_min = np.array([self.min_time], np.int64)
        self.block_max = np.array([self.max_time], np.int64)
        self.block_count = np.array([n], np.int64)
        self.dicts = rows.dicts
        self.replaces = []
        self._key_ids = None

    def block(self, block_number: int) -> RowsBlock:
        from engine.query.block import RowsBlock

        return RowsBlock(self)
