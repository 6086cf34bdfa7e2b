"""`Block`: the rows filters and stages read at once (one block of a part), each column
decompressed on first use and kept for the block's lifetime.

Columns come back in the representation every filter and stage shares:
- `time()`, `recv()`: int64 ns;  `u8(name)`: uint8 (severity, facility, format, flags);
- `ids(col)`: the part's dictionary ids (narrow unsigned ints, 0 = no value);
- `message()`: `Spans` (data, starts, ends), so kernels over spans apply unchanged;
- `pairs(key_id)`: every (row, value span) of one field key; `first(key_id)`: per row the
  first value of that key as a span, -1/-1 where the row has none.

A block is used by one thread at a time (the pool hands a unit to one worker); `preload` lets
a worker decompress what the main thread will read next. Row numbers are block-local.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from engine.store import encodings as C
from engine.store.rows import Rows
from engine.store.value_frames import frames_of
from native_kernels.gather import items_with


class Spans(NamedTuple):
    data: np.ndarray
    starts: np.ndarray
    ends: np.ndarray


class Pairs(NamedTuple):
    rows: np.ndarray  # int64 row of each pair
    spans: Spans  # its value


class Block:
    n: int
    row0: int  # part-global number of the first row (index bitmaps count rows per part)

    def __init__(self):
        self._cache: dict[str, object] = {}

    # --- columns -----------------------------------------------------------------------------
    def time(self) -> np.ndarray:
        return self._get("_time")

    def recv(self) -> np.ndarray:
        return self._get("_recv")

    def u8(self, name: str) -> np.ndarray:
        return self._get(name)

    def ids(self, col: str) -> np.ndarray:
        return self._get(col)

    def message(self) -> Spans:
        got = self._cache.get("message")
        if got is None:
            off = self._offsets("message.len")
            got = self._cache["message"] = Spans(self._get("message.data"), off[:-1], off[1:])
        return got

    def message_for(self, cand: np.ndarray) -> Spans:
        """The message spans of at least the rows in `cand` (others may read as -1/-1)."""
        return self.message()

    def pairs(self, key_id: int) -> Pairs:
        """Every pair of the block with field key `key_id`, in row order."""
        name = f"pairs:{key_id}"
        got = self._cache.get(name)
        if got is None:
            # Keys first: a block without the key never decompresses the values.
            j, owner = items_with(self._get("kv.count"), self._get("kv.key"), key_id)
            if not len(j):
                empty = np.empty(0, np.int64)
                got = Pairs(empty, Spans(np.empty(0, np.uint8), empty, empty))
            else:
                got = Pairs(owner, self._key_spans(key_id, j))
            self._cache[name] = got
        return got

    def _key_spans(self, key_id: int, j: np.ndarray) -> Spans:
        """Spans of the values of pairs `j` (those with key `key_id`)."""
        off = self._offsets("kv.len")
        return Spans(self._get("kv.data"), off[j], off[j + 1])

    def first(self, key_id: int) -> Spans:
        """Per row, the first value of field key `key_id` (-1/-1 where there is none)."""
        name = f"first:{key_id}"
        got = self._cache.get(name)
        if got is None:
            p = self.pairs(key_id)
            starts = np.full(self.n, -1, np.int64)
            ends = np.full(self.n, -1, np.int64)
            rows, at = np.unique(p.rows, return_index=True)
            starts[rows] = p.spans.starts[at]
            ends[rows] = p.spans.ends[at]
            got = self._cache[name] = Spans(p.spans.data, starts, ends)
        return got

    def preload(self, names) -> None:
        """Decompress these columns now (names as for `_get`, or "message", or "kv")."""
        for name in names:
            if name == "message":
                self.message()
            elif name == "kv":
                self._kv()
            else:
                self._get(name)

    def _kv(self):
        for name in ("kv.count", "kv.key", "kv.len", "kv.data"):
            self._get(name)

    def _offsets(self, name: str) -> np.ndarray:
        got = self._cache.get(name + ":off")
        if got is None:
            got = self._cache[name + ":off"] = C.offsets_from_lengths(self._get(name))
        return got

    def select(self, col: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """col[idx], without the copy when idx is every row (ids are increasing and unique)."""
        return col if len(idx) == self.n else col[idx]

    def _get(self, name: str) -> np.ndarray:
        raise NotImplementedError

    def rows(self, idx: np.ndarray) -> Rows:
        """Rows `idx` of the block with every column, for output."""
        raise NotImplementedError


# Pair columns read as stored when no pair is derived from the message (then they are all).
_STORED_KV = ("kv.count", "kv.key", "kv.kind")


class PartBlock(Block):
    """Block `b` of a part, read through its scope."""

    def __init__(self, scope, b: int):
        super().__init__()
        self.scope = scope
        self.b = b
        self.n = int(scope.block_count[b])
        self.row0 = b * scope.block_rows
        self.min_time = int(scope.block_min[b])
        self.max_time = int(scope.block_max[b])

    def _get(self, name: str) -> np.ndarray:
        got = self._cache.get(name)
        if got is None:
            part = self.scope.part
            if name == "_recv":
                got = part.recv(self.b, self.time())
            elif name in _STORED_KV and "kv.derived" not in part.meta.blocks[self.b].streams:
                # As stored: the logical names decode every pair's value too.
                got = part.stored_stream(self.b, name)
            else:
                got = part.stream(self.b, name)
            self._cache[name] = got
        return got

    def message(self) -> Spans:
        got = self._cache.get("message")
        if got is None:
            got = self._cache["message"] = Spans(*self.scope.part.value_spans(self.b, "message"))
        return got

    def message_for(self, cand: np.ndarray) -> Spans:
        # Messages cut into frames by kind of line: read only the frames holding candidates.
        got = self._cache.get("message")
        if got is not None:
            return got
        part = self.scope.part
        if not frames_of(part.meta.blocks[self.b].streams, "message") or cand.all():
            return self.message()
        return Spans(*part.value_spans(self.b, "message", cand))

    def _key_spans(self, key_id: int, j: np.ndarray) -> Spans:
        part = self.scope.part
        if "kv.derived" in part.meta.blocks[self.b].streams:  # pairs found in the message: all
            return super()._key_spans(key_id, j)
        # Values cut into frames by key: this key's frame holds exactly pairs j, in order.
        got = part.group_spans(self.b, "kv", key_id, len(j))
        if got is not None:
            return Spans(*got)
        data, starts, ends = part.value_spans(self.b, "kv", self._get("kv.key") == key_id)
        return Spans(data, starts[j], ends[j])

    def rows(self, idx: np.ndarray) -> Rows:
        whole = self._cache.get("rows")
        if whole is None:
            whole = self._cache["rows"] = self.scope.part.read_block(self.b)
        return whole.take(idx)


class RowsBlock(Block):
    """Rows in memory as one block."""

    def __init__(self, scope):
        super().__init__()
        self.scope = scope
        self.b = 0
        r: Rows = scope.mem
        self.mem = r
        self.n = len(r)
        self.row0 = 0
        self.min_time = scope.min_time
        self.max_time = scope.max_time
        lens = lambda off: np.diff(off)  # noqa: E731 - the stream form of an offsets column
        self._cache.update(
            {
                "_time": r.time,
                "_recv": r.recv,
                "severity": r.severity,
                "facility": r.facility,
                "format": r.format,
                "flags": r.flags,
                **r.ids,
                "message.len": lens(r.msg_off),
                "message.data": r.msg_data,
                "kv.count": lens(r.kv_ptr),
                "kv.key": r.kv_key,
                "kv.len": lens(r.kv_off),
                "kv.data": r.kv_data,
            }
        )
        if r.msg_off[0] or r.kv_ptr[0] or r.kv_off[0]:
            raise ValueError("RowsBlock needs rows whose offsets start at 0 (as take and concat give)")

    def _get(self, name: str) -> np.ndarray:
        return self._cache[name]

    def rows(self, idx: np.ndarray) -> Rows:
        return self.mem.take(idx)
