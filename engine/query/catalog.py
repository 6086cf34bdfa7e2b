"""The part catalog: which parts a query reads, opened once and kept across queries.

Every query lists the partition folders its time range touches (a `listdir` per day, cheap;
a `stat` when the folder is unchanged: engine.query.listing) and so sees a part the moment the
writer renames it into place. Parts are opened on first
sight and cached by path as `PartScope`s; a path that is no longer listed is dropped from the
cache (its mapping closes when the last query holding it lets go: a part unlinked by a merge or
by retention stays readable through the mmap for the queries already reading it).

Merges: a merged part's footer names the parts it replaces. Between the merged part's rename
and the deletion of its inputs both are listed; any part named in another live part's
`replaces` is left out, so no row is counted twice. A damaged part is logged once and skipped
(the writer quarantines it).

Thread safety: `scopes` may be called from many threads; the cache is guarded by a lock, and
opening parts happens outside it.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Iterable

from engine.query.listing import Listings
from engine.query.scope import PartScope
from engine.store import layout
from engine.store.part_format import PartDamaged
from engine.store.part_reader import Part

log = logging.getLogger("logjet.query")

_catalogs: dict[str, "Catalog"] = {}
_catalogs_lock = threading.Lock()


class Catalog:
    def __init__(self, data_dir: str):
        self.data_dir = data_dir
        self._scopes: dict[str, PartScope] = {}  # path → opened part
        self._damaged: set[str] = set()  # paths already reported as damaged
        self._lock = threading.Lock()
        self._listings = Listings()  # the data dir's and day folders'

    @classmethod
    def get(cls, data_dir: str) -> "Catalog":
        """The shared catalog of a data dir (one per process and directory)."""
        key = os.path.realpath(data_dir)
        with _catalogs_lock:
            cat = _catalogs.get(key)
            if cat is None:
                cat = _catalogs[key] = cls(data_dir)
            return cat

    def list_paths(self, start_ns: int | None = None, end_ns: int | None = None) -> tuple[list[str], list[str]]:
        """(part paths in the partitions the range touches, those partitions)."""
        days = []
        for day in self._listings.get(self.data_dir, lambda: tuple(layout.partitions(self.data_dir))):
            day_start = layout.partition_start_ns(day)
            if end_ns is not None and day_start >= end_ns:
                continue
            if start_ns is not None and day_start + layout.NS_PER_DAY <= start_ns:
                continue
            days.append(day)
        return [p for day in days for p in self._part_paths(day)], days

    def _part_paths(self, day: str) -> tuple[str, ...]:
        return self._listings.get(
            os.path.join(self.data_dir, day), lambda: tuple(layout.part_paths(self.data_dir, day))
        )

    def scope(self, path: str) -> PartScope | None:
        """One part by path (opened and cached on first use); None when damaged or gone."""
        with self._lock:
            got = self._scopes.get(path)
        if got is not None or path in self._damaged:
            return got
        try:
            got = PartScope(Part(path))
        except PartDamaged as exc:
            if os.path.exists(path):
                log.error("skipping damaged part %s: %s", path, exc)
                self._damaged.add(path)
            return None
        with self._lock:
            return self._scopes.setdefault(path, got)

    def forget(self, paths: Iterable[str]) -> None:
        """Drop parts known to be deleted (their mappings close when no query holds them)."""
        with self._lock:
            for p in paths:
                self._scopes.pop(p, None)

    def scopes(self, start_ns: int | None = None, end_ns: int | None = None) -> list[PartScope]:
        """The live parts that may hold rows with start <= _time < end, newest first."""
        got = self._live(start_ns, end_ns, True)
        assert got is not None
        return got

    def open_scopes(self, start_ns: int | None = None, end_ns: int | None = None) -> list[PartScope] | None:
        """The same when every part is open already; None when one would have to be opened (a
        read from disk: callers that must not wait for one then hand the query to a thread)."""
        return self._live(start_ns, end_ns, False)

    def _live(self, start_ns: int | None, end_ns: int | None, open_new: bool) -> list[PartScope] | None:
        paths, days = self.list_paths(start_ns, end_ns)
        listed = set(paths)
        with self._lock:
            have = dict(self._scopes)
        opened: dict[str, PartScope] = {}
        for path in paths:
            if path in have or path in self._damaged:
                continue
            if not open_new:
                return None
            try:
                opened[path] = PartScope(Part(path))
            except PartDamaged as exc:
                if os.path.exists(path):
                    log.error("skipping damaged part %s: %s", path, exc)
                    self._damaged.add(path)
        folders = {os.path.join(self.data_dir, d) for d in days}
        with self._lock:
            self._scopes.update(opened)
            for path in list(self._scopes):
                if os.path.dirname(path) in folders and path not in listed:
                    del self._scopes[path]  # deleted (merged away, retention): forget it
            live = [self._scopes[p] for p in paths if p in self._scopes]
            self._damaged &= listed | {p for p in self._damaged if os.path.dirname(p) not in folders}
        replaced = {name for s in live for name in s.replaces}
        out = []
        for s in live:
            if replaced and os.path.basename(s.path) in replaced:
                continue
            if (end_ns is not None and s.min_time >= end_ns) or (start_ns is not None and s.max_time < start_ns):
                continue
            out.append(s)
        out.sort(key=lambda s: s.max_time, reverse=True)
        return out
