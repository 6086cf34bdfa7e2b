"""Turns column batches from one parser's ring into `Rows`, keeping that parser's dictionaries.

A parser sends each dictionary value once (with its parser-local id) and bumps an epoch when it
resets its table; `RingIntake` keeps the values per (column, epoch) so that ids in later
batches resolve. On an epoch change a new list is started rather than the old one cleared:
batches still pending a flush keep referring to the list they were decoded with.

Writer restarts. A value arrives once, in some batch, and every later batch of that epoch
refers to it by id. Once the writer has flushed that batch it releases it from the ring, so
the ring no longer holds the value: a restarted writer could not resolve the ids of the
batches it re-reads. So every entry taken is also appended to a dictionary log in the
instance's shared memory (`DictionaryLog`), before the batches carrying it are released; a
restarted writer replays the log, then re-reads the unreleased batches, whose entries it
already has (taking an entry twice is harmless). Right after a flush every batch read has been
released, so no later batch can refer to an epoch older than the newest one logged per column:
that is when the log is compacted to those epochs.

Duplicates: a parser that crashed after writing a batch but before releasing its input re-parses
that input. Every batch names the raw ring record it came from (`in`: ring name and end
position); a batch at or before the last position seen from that ring is a duplicate.
"""

from __future__ import annotations

import os
import struct
from typing import Iterable, Iterator

from engine.ipc.batch_errors import BatchDictionaryError
from engine.ipc.column_batch import ColumnBatch, DictionaryUpdates
from engine.store.rows import DICTIONARIES, FIELD_KEYS, Rows

# Dictionaries by their index in the log (stored: append, never reorder).
DICT_KEYS = DICTIONARIES
# Compact the log past this size (it holds at most one epoch per column after a compaction).
LOG_COMPACT_BYTES = 32 << 20
_ENTRY = struct.Struct("<BQII")  # column index, epoch, id, value length; then the value
# A logged entry: (column index into DICT_KEYS, epoch, id, value).
LogEntry = tuple[int, int, int, bytes]


class DictionaryLog:
    """Append-only file of dictionary entries: [u8 column][u64 epoch][u32 id][u32 len][value]."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._pending = bytearray()

    def add(self, col: int, epoch: int, vid: int, value: bytes) -> None:
        self._pending += _ENTRY.pack(col, epoch, vid, len(value))
        self._pending += value

    def persist(self) -> None:
        """Append what was added since the last call (the file is in tmpfs: no fsync needed,
        only to outlive this process)."""
        if self._pending:
            with open(self.path, "ab") as f:
                f.write(self._pending)
            self._pending = bytearray()

    def size(self) -> int:
        try:
            return os.path.getsize(self.path)
        except OSError:
            return 0

    def replay(self) -> Iterator[LogEntry]:
        """Every entry logged, in order: (column index, epoch, id, value)."""
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return
        pos = 0
        while pos + _ENTRY.size <= len(data):
            col, epoch, vid, n = _ENTRY.unpack_from(data, pos)
            pos += _ENTRY.size
            if pos + n > len(data):
                break  # a torn last entry (the writer died inside a write): not yet released
            yield col, epoch, vid, data[pos : pos + n]
            pos += n

    def rewrite(self, entries: Iterable[LogEntry]) -> None:
        tmp = self.path + ".tmp"
        with open(tmp, "wb") as f:
            for col, epoch, vid, value in entries:
                f.write(_ENTRY.pack(col, epoch, vid, len(value)))
                f.write(value)
        os.replace(tmp, self.path)


class RingIntake:
    """Dictionary state of one parser ring; `log` (optional) makes it survive a writer restart."""

    def __init__(self, log: DictionaryLog | None = None) -> None:
        self.epochs: dict[str, int] = {c: -1 for c in DICT_KEYS}
        self.values: dict[str, list[bytes]] = {c: [] for c in DICT_KEYS}
        self.log = log
        if log is not None:
            for col, epoch, vid, value in log.replay():
                self._apply(DICT_KEYS[col], epoch, vid, value, logging=False)

    def _apply(self, col: str, epoch: int, vid: int, value: bytes, logging: bool = True) -> None:
        if epoch != self.epochs[col]:
            self.epochs[col] = epoch
            self.values[col] = []
        values = self.values[col]
        if vid <= len(values):
            return  # already known: a batch re-read after a writer restart
        if vid != len(values) + 1:
            raise BatchDictionaryError(f"{col}: dictionary id {vid} out of sequence (have {len(values)})")
        values.append(value)
        if logging and self.log is not None:
            self.log.add(DICT_KEYS.index(col), epoch, vid, value)

    def apply_dicts(self, updates: DictionaryUpdates) -> None:
        for col, (epoch, entries) in updates.items():
            if epoch != self.epochs[col]:
                self.epochs[col] = epoch
                self.values[col] = []
            for vid, value in entries:
                self._apply(col, epoch, vid, value)

    def persist(self) -> None:
        """Called by the writer before it releases the batches read so far (see the docstring)."""
        if self.log is None:
            return
        self.log.persist()
        if self.log.size() > LOG_COMPACT_BYTES:
            self.log.rewrite(
                (DICT_KEYS.index(col), self.epochs[col], i + 1, v)
                for col in DICT_KEYS
                for i, v in enumerate(self.values[col])
            )

    def take_dictionaries(self, payload: memoryview | bytes) -> None:
        """Take the dictionary entries of a batch whose rows are skipped (checks its header only)."""
        updates, _ = ColumnBatch.decode_header_only(payload)
        self.apply_dicts(updates)

    def decode(self, payload: memoryview | bytes) -> tuple[ColumnBatch, Rows]:
        """The batch in `payload` (its dictionary entries taken) and its rows, whose ids
        resolve in this intake's dictionaries. Raises a BatchDecodeError when the payload is
        damaged or a row uses an id no entry defined."""
        batch = ColumnBatch.decode(payload)
        self.apply_dicts(batch.dicts)
        for column, ids in (*batch.ids.items(), (FIELD_KEYS, batch.kv_key)):
            if len(ids) and int(ids.max()) > len(self.values[column]):
                raise BatchDictionaryError(
                    f"{column}: id {int(ids.max())} used, {len(self.values[column])} entries known"
                )
        return batch, batch.to_rows(dict(self.values))
