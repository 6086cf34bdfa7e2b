"""`Block`: the rows filters and stages read at once (one block of a part), each column
decompressed on first use and kept for the block's lifetime.

Columns come back in the representation every filter and stage shares:
- `time()`, `recv()`: int64 ns;  `u8(name)`: uint8 (severity, facility, format, flags);
- `ids(col)`: the part's dictionary ids (narrow unsigned ints, 0 = no value);
- `message()`: `Spans` (data, starts, ends), so kernels over spans apply unchanged;
- `pairs(key_id)`: every (row, value span) of one field key; `pair_numbers(key_id)`: those
  values as numbers (NaN where not one); `first(key_id)`: per row the first value of that key
  as a span, -1/-1 where the row has none.

A block is used by one thread at a time (the pool hands a unit to one worker); `preload` lets
a worker decompress what the main thread will read next. Row numbers are block-local. A part's
block also keeps a key's pairs and numbers across queries (engine.query.pair_cache): what it
returns is shared, to read and never write.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable, NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt

from engine.query.pair_cache import PAIRS
from engine.store import layout
from engine.store.encodings import offsets_from_lengths
from engine.store.part_format import PartDamaged, StreamMeta
from engine.store.rows import Rows
from native_kernels.gather import items_with, take_spans
from native_kernels.numbers import parse_numbers

if TYPE_CHECKING:  # scope.py builds blocks, so it imports this module at run time
    from engine.query.scope import PartScope, RowsScope, Scope


Mask = npt.NDArray[np.bool_]  # one bool per row of a block (candidates, matches), or per value


class Spans(NamedTuple):
    data: np.ndarray  # uint8 bytes the spans point into
    starts: np.ndarray  # int64 per value, -1 where there is none
    ends: np.ndarray


class Pairs(NamedTuple):
    rows: np.ndarray  # int64 row of each pair
    spans: Spans  # its value


_Kept = TypeVar("_Kept", Pairs, np.ndarray)  # what a block may share with later blocks over its rows
_Key = TypeVar("_Key", int, str)  # what it is kept by: a field key id, a column name


_FIRST_VALUE = "first_value:"


def first_value(key: str) -> str:
    """The `Block.preload` name of field key `key`'s first values (its pairs alone: a block
    whose values are cut into frames by key reads that key's frame, not every pair)."""
    return _FIRST_VALUE + key


class Block:
    scope: Scope
    n: int
    row0: int  # part-global number of the first row (index bitmaps count rows per part)
    min_time: int
    max_time: int
    time_ordered: bool  # rows are in `_time` order (a part's blocks are; rows in memory need not be)

    def __init__(self) -> None:
        # Decoded columns and offsets ("<column>:off") by name; message and first-value spans
        # by name; pairs by field key; the whole rows for output.
        self._columns: dict[str, np.ndarray] = {}
        self._spans: dict[str, Spans] = {}
        self._pairs: dict[int, Pairs] = {}
        self._numbers: dict[int, np.ndarray] = {}
        self._whole: Rows | None = None

    # --- columns -----------------------------------------------------------------------------
    def time(self) -> np.ndarray:
        return self._get(layout.TIME)

    def recv(self) -> np.ndarray:
        return self._get(layout.RECV)

    def u8(self, name: str) -> np.ndarray:
        return self._get(name)

    def ids(self, col: str) -> np.ndarray:
        return self._get(col)

    def message(self) -> Spans:
        got = self._spans.get("message")
        if got is None:
            off = self._offsets(layout.MESSAGE_LEN)
            got = self._spans["message"] = Spans(self._get(layout.MESSAGE_DATA), off[:-1], off[1:])
        return got

    def message_for(self, cand: Mask) -> Spans:
        """The message spans of at least the rows in `cand` (others may read as -1/-1)."""
        return self.message()

    def message_frames(self) -> np.ndarray:
        """Each row's message frame number (`message.group`): asked only of a block whose
        messages are cut into frames (`engine.store.value_frames`)."""
        return self._get(layout.MESSAGE_GROUP)

    def frame_messages(self, frame: int, n: int) -> Spans:
        """The message spans of the `n` rows of message frame `frame` (0: the rest), in order:
        asked only of a block whose messages are cut into frames."""
        raise NotImplementedError(f"{type(self).__name__} has no message frames")

    def pairs(self, key_id: int) -> Pairs:
        """Every pair of the block with field key `key_id`, in row order."""
        got = self._pairs.get(key_id)
        if got is None:
            got = self._pairs[key_id] = self._shared("pairs", key_id, self._read_pairs)
        return got

    def pair_numbers(self, key_id: int) -> np.ndarray:
        """float64 per pair of `pairs(key_id)`: its value as a number, NaN where it is none."""
        got = self._numbers.get(key_id)
        if got is None:
            got = self._numbers[key_id] = self._shared("numbers", key_id, self._parse_numbers)
        return got

    def _shared(self, kind: str, key: _Key, make: Callable[[_Key], _Kept]) -> _Kept:
        """`make(key)`, or what an earlier block over the same rows kept of it (none here)."""
        return make(key)

    def _read_pairs(self, key_id: int) -> Pairs:
        # Keys first: a block without the key never decompresses the values.
        j, owner = items_with(self._get(layout.KV_COUNT), self._get(layout.KV_KEY), key_id)
        if not len(j):
            empty = np.empty(0, np.int64)
            return Pairs(empty, Spans(np.empty(0, np.uint8), empty, empty))
        return Pairs(owner, self._key_spans(key_id, j))

    def _parse_numbers(self, key_id: int) -> np.ndarray:
        spans = self.pairs(key_id).spans
        numbers: np.ndarray = parse_numbers(spans.data, spans.starts, spans.ends)
        return numbers

    def _key_spans(self, key_id: int, j: np.ndarray) -> Spans:
        """Spans of the values of pairs `j` (those with key `key_id`)."""
        off = self._offsets(layout.KV_LEN)
        return Spans(self._get(layout.KV_DATA), off[j], off[j + 1])

    def first(self, key_id: int) -> Spans:
        """Per row, the first value of field key `key_id` (-1/-1 where there is none)."""
        name = f"first:{key_id}"
        got = self._spans.get(name)
        if got is None:
            p = self.pairs(key_id)
            starts = np.full(self.n, -1, np.int64)
            ends = np.full(self.n, -1, np.int64)
            rows, at = np.unique(p.rows, return_index=True)
            starts[rows] = p.spans.starts[at]
            ends[rows] = p.spans.ends[at]
            got = self._spans[name] = Spans(p.spans.data, starts, ends)
        return got

    def preload(self, names: Iterable[str]) -> None:
        """Decompress these columns now (names as for `_get`, or "message", or "kv" for every
        pair, or `first_value(key)` for one field key's first values)."""
        for name in names:
            if name == "message":
                self.message()
            elif name == "kv":
                self._kv()
            elif name.startswith(_FIRST_VALUE):
                key_id = self.scope.key_id(name[len(_FIRST_VALUE) :].encode())
                if key_id:
                    self.first(key_id)
            else:
                self._get(name)

    def _kv(self) -> None:
        for name in (layout.KV_COUNT, layout.KV_KEY, layout.KV_LEN, layout.KV_DATA):
            self._get(name)

    def _offsets(self, name: str) -> np.ndarray:
        key = name + ":off"
        got = self._columns.get(key)
        if got is None:
            got = self._columns[key] = offsets_from_lengths(self._get(name))
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
_STORED_KV = (layout.KV_COUNT, layout.KV_KEY, layout.KV_KIND)
# Streams that decode a whole value column (lengths and bytes, or every pair) at once.
_VALUE_STREAMS = frozenset(
    (layout.MESSAGE_LEN, layout.MESSAGE_DATA, layout.SD_LEN, layout.SD_DATA, layout.KV_LEN, layout.KV_DATA)
) | frozenset(_STORED_KV)


def _compact(pairs: Pairs) -> Pairs:
    """The pairs with their values copied out of a buffer mostly of other keys' values (a block
    whose values are not cut into frames by key): the cache then holds this key's bytes only."""
    data, starts, ends = pairs.spans
    none = starts < 0
    if data.nbytes <= 2 * int(np.where(none, 0, ends - starts).sum()) + 4096:
        return pairs
    offsets, packed = take_spans(data, starts, ends)
    new_starts, new_ends = offsets[:-1].copy(), offsets[1:].copy()
    new_starts[none] = new_ends[none] = -1
    return Pairs(pairs.rows, Spans(packed, new_starts, new_ends))


def _arrays_of(kept: Pairs | np.ndarray) -> tuple[np.ndarray, ...]:
    """The arrays holding what a block shares (their bytes are what the pair cache counts)."""
    return (kept.rows, *kept.spans) if isinstance(kept, Pairs) else (kept,)


class PartBlock(Block):
    """Block `block_number` of a part, read through its scope."""

    time_ordered = True

    def __init__(self, scope: PartScope, block_number: int):
        super().__init__()
        self.scope: PartScope = scope
        self.part = scope.part
        self.block_number = block_number
        self.n = int(scope.block_count[block_number])
        self.row0 = block_number * scope.block_rows
        self.min_time = int(scope.block_min[block_number])
        self.max_time = int(scope.block_max[block_number])

    def _streams(self) -> dict[str, StreamMeta]:
        """The stream directory of this block in the part's footer."""
        return self.part.meta.blocks[self.block_number].streams

    def _get(self, name: str) -> np.ndarray:
        got = self._columns.get(name)
        if got is None:
            part, b = self.part, self.block_number
            if name == layout.RECV:
                got = part.recv(b, self.time())
            elif name in _STORED_KV and layout.KV_DERIVED not in self._streams():
                # As stored: the logical names decode every pair's value too.
                got = part.stored_stream(b, name)
            elif name in _VALUE_STREAMS:
                # Not through the part's cache of its last block: the catalog keeps parts open
                # across queries, so that cache would keep a block per part and thread alive.
                for key, column in part.logical_columns(b, name).items():
                    self._columns.setdefault(key, column)  # columns already handed out stay
                got = self._columns[name]
            else:
                got = part.stream(b, name)
            self._columns[name] = got
        return got

    def message(self) -> Spans:
        got = self._spans.get("message")
        if got is None:
            got = self._spans["message"] = Spans(*self.part.value_spans(self.block_number, layout.MESSAGE))
        return got

    def ids(self, col: str) -> np.ndarray:
        # A dictionary column's ids (1-2 bytes a row) are kept across queries beside the pairs:
        # a filter ANDing `app:x` with a key otherwise inflates the column in every block.
        got = self._columns.get(col)
        if got is None:
            got = self._columns[col] = self._shared("ids", col, self._get)
        return got

    def _read_pairs(self, key_id: int) -> Pairs:
        return _compact(super()._read_pairs(key_id))

    def _shared(self, kind: str, key: _Key, make: Callable[[_Key], _Kept]) -> _Kept:
        # Kept across queries: the part never changes (engine.query.pair_cache).
        slot = (self.block_number, kind, key)
        kept: _Kept | None = PAIRS.get(self.scope, slot)
        if kept is not None:
            return kept
        made = make(key)
        PAIRS.put(self.scope, slot, made, _arrays_of(made))
        return made

    def message_for(self, cand: Mask) -> Spans:
        # Messages cut into frames by kind of line: read only the frames holding candidates.
        got = self._spans.get("message")
        if got is not None:
            return got
        if not layout.frame_groups(self._streams(), layout.MESSAGE) or cand.all():
            return self.message()
        return Spans(*self.part.value_spans(self.block_number, layout.MESSAGE, cand))

    def frame_messages(self, frame: int, n: int) -> Spans:
        part, b = self.part, self.block_number
        got = part.group_spans(b, layout.MESSAGE, frame, n) if frame else part.rest_spans(b, layout.MESSAGE, n)
        if got is None:
            raise PartDamaged(f"block {b} has no message frame {frame}")
        return Spans(*got)

    def _key_spans(self, key_id: int, j: np.ndarray) -> Spans:
        part, b = self.part, self.block_number
        if layout.KV_DERIVED in self._streams():  # pairs found in the message: all
            return super()._key_spans(key_id, j)
        # Values cut into frames by key: this key's frame holds exactly pairs j, in order.
        got = part.group_spans(b, layout.KV, key_id, len(j))
        if got is not None:
            return Spans(*got)
        data, starts, ends = part.value_spans(b, layout.KV, self._get(layout.KV_KEY) == key_id)
        return Spans(data, starts[j], ends[j])

    def rows(self, idx: np.ndarray) -> Rows:
        whole = self._whole
        if whole is None:
            whole = self._whole = self.part.read_block(self.block_number)
        return whole.take(idx)


class RowsBlock(Block):
    """Rows in memory as one block."""

    time_ordered = False

    def __init__(self, scope: RowsScope):
        super().__init__()
        self.scope: RowsScope = scope
        r = scope.mem
        self.mem = r
        self.n = len(r)
        self.row0 = 0
        self.min_time = scope.min_time
        self.max_time = scope.max_time

        def lens(off: np.ndarray) -> np.ndarray:  # the stream form of an offsets column
            return np.diff(off)

        self._columns.update(
            {
                layout.TIME: r.time,
                layout.RECV: r.recv,
                "severity": r.severity,
                "facility": r.facility,
                "format": r.format,
                "flags": r.flags,
                **r.ids,
                layout.MESSAGE_LEN: lens(r.msg_off),
                layout.MESSAGE_DATA: r.msg_data,
                layout.KV_COUNT: lens(r.kv_ptr),
                layout.KV_KEY: r.kv_key,
                layout.KV_LEN: lens(r.kv_off),
                layout.KV_DATA: r.kv_data,
            }
        )
        if r.msg_off[0] or r.kv_ptr[0] or r.kv_off[0]:
            raise ValueError("RowsBlock needs rows whose offsets start at 0 (as take and concat give)")

    def _get(self, name: str) -> np.ndarray:
        return self._columns[name]

    def rows(self, idx: np.ndarray) -> Rows:
        return self.mem.take(idx)
