"""A process-wide cache of what blocks of parts yield for one field key (its pairs, their values
as numbers), bounded in bytes, so that filters repeated on a key skip decompressing and splitting.

A part never changes once written, so an entry stays right for as long as its part is open; the
catalog keeps a part's scope for as long as the part lives, and an entry names its scope weakly
(a scope gone, or one that reuses a dead one's id, never answers from it; the entries of a part
merged away leave as the least recently used). Least recently used entries go first once the
bytes held pass the budget. Values are shared between queries and
threads: callers read them and never write (the arrays are made read-only to make sure).
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import Any, Hashable

import numpy as np

# A dashboard filters on a few keys over recent parts: 64 MiB holds ~2.5M pairs of a key
# (row, start, end and the bytes of a short value), a few keys of a few million rows.
BUDGET_BYTES = 64 << 20


class _Entry:
    __slots__ = ("owner", "value", "nbytes")

    def __init__(self, owner: weakref.ref[Any], value: Any, nbytes: int):
        self.owner = owner
        self.value = value
        self.nbytes = nbytes


class PairCache:
    """Values by (owner, key), the owner (a part's scope) held weakly; at most `budget` bytes."""

    def __init__(self, budget: int = BUDGET_BYTES):
        self.budget = budget
        self.held = 0
        self._entries: OrderedDict[tuple[int, Hashable], _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, owner: object, key: Hashable) -> Any:
        """The value kept for `key` of `owner`, or None."""
        slot = (id(owner), key)
        with self._lock:
            entry = self._entries.get(slot)
            if entry is None:
                return None
            if entry.owner() is not owner:  # a dead owner's id, reused
                self._drop(slot)
                return None
            self._entries.move_to_end(slot)
            return entry.value

    def put(self, owner: object, key: Hashable, value: Any, arrays: tuple[np.ndarray, ...]) -> None:
        """Keep `value` (whose memory is `arrays`, made read-only here) for `key` of `owner`;
        something bigger than the whole budget is not kept."""
        nbytes = sum(a.nbytes for a in arrays)
        if nbytes > self.budget:
            return
        for a in arrays:
            a.setflags(write=False)
        slot = (id(owner), key)
        with self._lock:
            if slot in self._entries:
                self._drop(slot)
            self._entries[slot] = _Entry(weakref.ref(owner), value, nbytes)
            self.held += nbytes
            while self.held > self.budget:
                self._drop(next(iter(self._entries)))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.held = 0

    def _drop(self, slot: tuple[int, Hashable]) -> None:
        self.held -= self._entries.pop(slot).nbytes


PAIRS = PairCache()
