"""Keeps the storage gauges (`storage_bytes{kind}`, `parts{level}`) in step with the data dir.

Updated incrementally on every flush and recounted from disk every few seconds, so merges and
retention (which remove parts) are reflected without the writer tracking every file. Only live
parts count (`engine.store.live`): the inputs of a merge, waiting to be deleted, hold no rows
of their own any more.
"""

from __future__ import annotations

import os
import time

from engine.metrics import MetricsFile, Value
from engine.store import layout
from engine.store.live import live_parts
from engine.store.part_format import PartMeta
from engine.store.part_reader import PartDamaged, read_head

REFRESH_S = 5.0


class StorageStats:
    def __init__(self, data_dir: str, metrics: MetricsFile):
        self.data_dir = data_dir
        self._metrics = metrics
        self._compressed = metrics.gauge("storage_bytes", kind="compressed")
        self._raw = metrics.gauge("storage_bytes", kind="raw")
        self._levels: dict[int, Value] = {}
        self._raw_by_path: dict[str, int] = {}
        self._last = 0.0

    def _level(self, level: int) -> Value:
        gauge = self._levels.get(level)
        if gauge is None:
            gauge = self._levels[level] = self._metrics.gauge("parts", level=str(level))
        return gauge

    def added(self, written: list[tuple[str, PartMeta]]) -> None:
        for path, meta in written:
            self._raw_by_path[path] = meta.raw_bytes
            self._raw.inc(meta.raw_bytes)
            try:
                self._compressed.inc(os.path.getsize(path))
            except OSError:
                pass
            self._level(meta.level).inc(1)

    def maybe_refresh(self) -> None:
        now = time.monotonic()
        if now - self._last >= REFRESH_S:
            self._last = now
            self.refresh()

    def refresh(self) -> None:
        """Recount from disk; raw sizes come from part heads, read once per part and cached."""
        compressed = raw = 0
        levels: dict[int, int] = {}
        seen: dict[str, int] = {}
        for path in live_parts(self.data_dir):
            parsed = layout.parse_part_name(os.path.basename(path))
            if parsed is None:
                continue
            try:
                compressed += os.path.getsize(path)
            except OSError:
                continue
            if path not in self._raw_by_path:
                try:
                    self._raw_by_path[path] = read_head(path).raw_bytes
                except PartDamaged:
                    self._raw_by_path[path] = 0
            seen[path] = self._raw_by_path[path]
            raw += seen[path]
            levels[parsed[0]] = levels.get(parsed[0], 0) + 1
        self._raw_by_path = seen
        self._compressed.set(compressed)
        self._raw.set(raw)
        for level in set(levels) | set(self._levels):
            self._level(level).set(levels.get(level, 0))
