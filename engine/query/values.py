"""Reading one field of selected rows for stages: numbers, and value ids that hold across the
whole query, so stages can group, count and sort with numpy.

`column(field)` gives a `ValueColumn` that lives for one query (it owns the id space); a
`TimeBucket` (`_time:1m` in a `by` list) reads as a column whose value is the bucket's start:
- `numbers(blk, idx)`: float64 per row, NaN where the row has no value or no number;
- `ids(blk, idx)`: int64 per row, 0 where there is no value, else an id that means the same
  value in every block of every part of this query;
- `value(id)`: the JSON value of an id (str, int, or an RFC 3339 time);
- `order_keys(used)`: a float64 sort key per id, with no value lowest: numbers when every value
  among the ids `used` is one (the values being sorted, not every value seen), else byte order;
- `held`: the distinct values it keeps, which is what its memory grows with (`query.max_groups`
  caps it through the stages).

Python runs per distinct value, never per row: dictionary columns are mapped to query ids
through a per-part table (filled for the stored codes the selected rows use, so a column holds
only values that selected rows have), message and field values through a `DictionaryEncoder`
kernel. Not thread-safe: stages call it from the query's main thread.
"""

from __future__ import annotations

from itertools import compress
from typing import TYPE_CHECKING, Generic, Hashable, NamedTuple, Sequence, TypeVar

import numpy as np

from engine.query.block import first_value
from engine.query.field_names import DICT, FORMAT, KV, MESSAGE, TIME, U8, Field
from engine.store.rows import FORMATS, NO_VALUE
from native_kernels.dictionary import DictionaryEncoder
from native_kernels.numbers import parse_number, parse_numbers

if TYPE_CHECKING:
    from engine.query.block import Block

FieldValue = str | int | None  # a value as the JSON output shows it; None: the row has none

# A query's encoder never resets (ids must hold for the whole query); memory is bounded by the
# distinct values the query reads, which the caller bounds by the rows it selects.
_NEVER = 1 << 62


class TimeBucket(NamedTuple):
    """A time field cut into buckets of `step_ns`, aligned to multiples of it since the epoch
    (UTC), as histogram() cuts time; grouped by its start, shown under the field's name."""

    field: Field
    step_ns: int

    @property
    def name(self) -> str:
        return self.field.name


GroupBy = Field | TimeBucket  # what a `by (...)` list names


def _text(b: bytes) -> str:
    return b.decode("utf-8", "replace")


def format_time(ns: int) -> str:
    return str(np.datetime64(int(ns), "ns")) + "Z"


def _format_name(code: int) -> str:
    return FORMATS[code] if code < len(FORMATS) else str(code)


class ValueColumn:
    def __init__(self, field: Field):
        self.field = field

    def preload(self) -> list[str]:
        return []

    def numbers(self, blk: Block, idx: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def ids(self, blk: Block, idx: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def id_counts(self, blk: Block, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(distinct ids, rows per id) of the selected rows. Small-domain columns count their
        stored codes first and map only the distinct ones: no per-row id array."""
        ids = self.ids(blk, idx)
        counts = np.bincount(ids)
        nz = np.flatnonzero(counts)
        return nz, counts[nz]

    @property
    def size(self) -> int:
        """Ids handed out so far, plus one for "no value"."""
        raise NotImplementedError

    @property
    def held(self) -> int:
        """Distinct values kept for this query; a column of fixed width (severity) keeps none."""
        return 0

    def value(self, vid: int) -> FieldValue:
        raise NotImplementedError

    def order_keys(self, used: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def distinct(self) -> Distinct:
        """A counter of the distinct values (not "no value") of the rows added to it."""
        return _SeenIds(self)


class Distinct:
    """Counts the distinct values of one column over the rows added (`count_uniq` without `by`)."""

    def add(self, blk: Block, idx: np.ndarray) -> None:
        raise NotImplementedError

    @property
    def held(self) -> int:
        """At least the distinct values met so far (what `query.max_groups` caps)."""
        raise NotImplementedError

    def count(self) -> int:
        raise NotImplementedError


class _SeenIds(Distinct):
    """The column's query ids met, marked in a table over them."""

    def __init__(self, col: ValueColumn):
        self.col = col
        self.seen = np.zeros(0, np.bool_)

    def add(self, blk: Block, idx: np.ndarray) -> None:
        # Counted by stored code first where the column can: no per-row id array, no sort.
        ids, _ = self.col.id_counts(blk, idx)
        if len(self.seen) < self.col.size:
            grown = np.zeros(max(self.col.size, 2 * len(self.seen)), np.bool_)
            grown[: len(self.seen)] = self.seen
            self.seen = grown
        self.seen[ids] = True

    @property
    def held(self) -> int:
        return self.col.held

    def count(self) -> int:
        return int(np.count_nonzero(self.seen[1:]))


class _U8Column(ValueColumn):
    def preload(self) -> list[str]:
        return [self.field.name]

    def numbers(self, blk: Block, idx: np.ndarray) -> np.ndarray:
        v = blk.select(blk.u8(self.field.name), idx).astype(np.float64)
        v[v == NO_VALUE] = np.nan
        return v

    def ids(self, blk: Block, idx: np.ndarray) -> np.ndarray:
        v = blk.select(blk.u8(self.field.name), idx).astype(np.int64) + 1
        v[v == NO_VALUE + 1] = 0
        return v

    def id_counts(self, blk: Block, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        counts = np.bincount(blk.select(blk.u8(self.field.name), idx), minlength=256)
        nz = np.flatnonzero(counts)
        ids = nz + 1
        ids[nz == NO_VALUE] = 0
        return ids, counts[nz]

    @property
    def size(self) -> int:
        return 256

    def value(self, vid: int) -> FieldValue:
        if not vid:
            return None
        if self.field.kind == FORMAT:
            return _format_name(vid - 1)
        return vid - 1

    def order_keys(self, used: np.ndarray) -> np.ndarray:
        keys = np.arange(256, dtype=np.float64) - 1
        keys[0] = -np.inf
        return keys


class _FormatColumn(_U8Column):
    def numbers(self, blk: Block, idx: np.ndarray) -> np.ndarray:
        return np.full(len(idx), np.nan)

    def order_keys(self, used: np.ndarray) -> np.ndarray:
        names = [""] + [_format_name(i - 1) for i in range(1, 256)]  # by id; 0 (no value) unused
        order = sorted(range(1, 256), key=lambda i: names[i])
        keys = np.empty(256, np.float64)
        keys[0] = -np.inf
        keys[order] = np.arange(1, 256)
        return keys


_V = TypeVar("_V", bound=Hashable)


class _Interned(ValueColumn, Generic[_V]):
    """Values interned in Python, one entry per distinct value seen."""

    def __init__(self, field: Field):
        super().__init__(field)
        self._ids: dict[_V, int] = {}
        self._values: list[_V] = []

    def _intern(self, v: _V) -> int:
        i = self._ids.get(v)
        if i is None:
            self._values.append(v)
            i = self._ids[v] = len(self._values)
        return i

    @property
    def size(self) -> int:
        return len(self._values) + 1

    @property
    def held(self) -> int:
        return len(self._values)


class _TimeColumn(_Interned[int]):
    def preload(self) -> list[str]:
        return ["_time"] + (["_recv"] if self.field.name == "_recv" else [])

    def _col(self, blk: Block, idx: np.ndarray) -> np.ndarray:
        return blk.select(blk.time() if self.field.name == "_time" else blk.recv(), idx)

    def numbers(self, blk: Block, idx: np.ndarray) -> np.ndarray:
        return self._col(blk, idx).astype(np.float64)

    def ids(self, blk: Block, idx: np.ndarray) -> np.ndarray:
        uniq, inverse = np.unique(self._col(blk, idx), return_inverse=True)
        table = np.fromiter((self._intern(v) for v in uniq.tolist()), np.int64, len(uniq))
        return table[inverse]

    def value(self, vid: int) -> FieldValue:
        return format_time(self._values[vid - 1]) if vid else None

    def order_keys(self, used: np.ndarray) -> np.ndarray:
        keys = np.empty(self.size, np.float64)
        keys[0] = -np.inf
        keys[1:] = self._values
        return keys


class _BucketColumn(_TimeColumn):
    """Bucket starts as values. A part's block is in time order, so its buckets are runs of
    equal values: found with one comparison of neighbours, not a sort (as histogram does)."""

    def __init__(self, bucket: TimeBucket):
        super().__init__(bucket.field)
        self.step = bucket.step_ns

    def _col(self, blk: Block, idx: np.ndarray) -> np.ndarray:
        t = super()._col(blk, idx)
        floored: np.ndarray = t - t % self.step  # floors, also before 1970
        return floored

    def _runs(self, blk: Block, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(bucket starts, bucket of each row as an index into them); distinct starts."""
        b = self._col(blk, idx)
        if len(b) < 2 or not (blk.time_ordered and self.field.name == "_time"):
            uniq, inverse = np.unique(b, return_inverse=True)
            return uniq, inverse.reshape(-1)
        first = np.empty(len(b), np.bool_)
        first[0] = True
        np.not_equal(b[1:], b[:-1], out=first[1:])
        return b[first], np.cumsum(first) - 1

    def ids(self, blk: Block, idx: np.ndarray) -> np.ndarray:
        starts, run = self._runs(blk, idx)
        table = np.fromiter((self._intern(v) for v in starts.tolist()), np.int64, len(starts))
        ids: np.ndarray = table[run]
        return ids

    def id_counts(self, blk: Block, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        starts, run = self._runs(blk, idx)
        table = np.fromiter((self._intern(v) for v in starts.tolist()), np.int64, len(starts))
        return table, np.bincount(run, minlength=len(starts))


class _DictColumn(_Interned[bytes]):
    def __init__(self, field: Field):
        super().__init__(field)
        # per part path: query id per stored code (-1: not interned yet), number per stored code
        self._ids_of: dict[str, np.ndarray] = {}
        self._numbers_of: dict[str, np.ndarray] = {}

    def preload(self) -> list[str]:
        return [self.field.name]

    def _values_of(self, blk: Block) -> list[bytes]:
        return blk.scope.dicts.get(self.field.name, [])

    def _fresh(self, blk: Block, cache: dict[str, np.ndarray]) -> np.ndarray | None:
        """The part's cached table, or None to build one (rows in memory all share one path)."""
        path = blk.scope.path
        return None if path == "<rows>" else cache.get(path)

    def _query_ids(self, blk: Block, codes: np.ndarray) -> np.ndarray:
        """Query ids of stored codes, interning the values of codes met for the first time."""
        table = self._fresh(blk, self._ids_of)
        if table is None:
            table = np.full(len(self._values_of(blk)) + 1, -1, np.int64)
            table[0] = 0
            self._ids_of[blk.scope.path] = table
        ids: np.ndarray = table[codes]
        new = ids < 0
        if new.any():
            values = self._values_of(blk)
            met = np.unique(codes[new])
            table[met] = [self._intern(values[code - 1]) for code in met.tolist()]
            ids = table[codes]
        return ids

    def numbers(self, blk: Block, idx: np.ndarray) -> np.ndarray:
        nums = self._fresh(blk, self._numbers_of)
        if nums is None:
            values = self._values_of(blk)
            nums = np.full(len(values) + 1, np.nan)
            for i, v in enumerate(values, 1):
                n = parse_number(v)
                if n is not None:
                    nums[i] = n
            self._numbers_of[blk.scope.path] = nums
        return np.take(nums, blk.select(blk.ids(self.field.name), idx))

    def ids(self, blk: Block, idx: np.ndarray) -> np.ndarray:
        return self._query_ids(blk, blk.select(blk.ids(self.field.name), idx))

    def id_counts(self, blk: Block, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        codes = blk.select(blk.ids(self.field.name), idx)
        counts = np.bincount(codes, minlength=len(self._values_of(blk)) + 1)
        nz = np.flatnonzero(counts)
        ids, counts = self._query_ids(blk, nz), counts[nz]
        if len(np.unique(ids)) != len(ids):  # two stored codes for one value: merge them
            uniq, inv = np.unique(ids, return_inverse=True)
            return uniq, np.bincount(inv, weights=counts).astype(np.int64)
        return ids, counts

    def value(self, vid: int) -> FieldValue:
        return _text(self._values[vid - 1]) if vid else None

    def order_keys(self, used: np.ndarray) -> np.ndarray:
        return _order_keys(self._values, used)

    def distinct(self) -> Distinct:
        return _UsedCodes(self.field.name)


class _UsedCodes(Distinct):
    """Distinct values of a dictionary column as the stored codes met, per part: Python runs
    once per value at the end (a set of the values met, over every part), never per block, and
    no query ids are handed out."""

    def __init__(self, name: str):
        self.name = name
        # id(scope) → (the scope, so that the id stays its own; its values; which codes were met)
        self._used: dict[int, tuple[object, list[bytes], np.ndarray]] = {}
        self._least = 0

    def add(self, blk: Block, idx: np.ndarray) -> None:
        scope = blk.scope
        got = self._used.get(id(scope))
        if got is None:
            values = scope.dicts.get(self.name, [])
            got = self._used[id(scope)] = (scope, values, np.zeros(len(values) + 1, np.bool_))
        _, values, used = got
        counts = np.bincount(blk.select(blk.ids(self.name), idx), minlength=len(used))
        used |= counts[: len(used)] > 0
        self._least = max(self._least, int(np.count_nonzero(used[1:])))

    @property
    def held(self) -> int:
        return self._least

    def count(self) -> int:
        met: set[bytes] = set()
        for _, values, used in self._used.values():
            met.update(compress(values, used[1:].tolist()))
        return len(met)


class _SpanColumn(ValueColumn):
    """The message, or the first value of a field key."""

    def __init__(self, field: Field):
        super().__init__(field)
        self._enc = DictionaryEncoder(max_entries=_NEVER, max_bytes=_NEVER)
        self._values: list[bytes] = []

    def preload(self) -> list[str]:
        return ["message"] if self.field.kind == MESSAGE else [first_value(self.field.name)]

    def _spans(self, blk: Block, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        if self.field.kind == MESSAGE:
            s = blk.message()
        else:
            kid = blk.scope.key_id(self.field.name.encode())
            if not kid:
                return None
            s = blk.first(kid)
        return s.data, blk.select(s.starts, idx), blk.select(s.ends, idx)

    def numbers(self, blk: Block, idx: np.ndarray) -> np.ndarray:
        s = self._spans(blk, idx)
        return np.full(len(idx), np.nan) if s is None else parse_numbers(*s)

    def ids(self, blk: Block, idx: np.ndarray) -> np.ndarray:
        s = self._spans(blk, idx)
        if s is None:
            return np.zeros(len(idx), np.int64)
        ids, new = self._enc.encode(*s)
        self._values.extend(v for _, v in new)
        return ids.astype(np.int64)

    @property
    def size(self) -> int:
        return len(self._values) + 1

    @property
    def held(self) -> int:
        return len(self._values)

    def value(self, vid: int) -> FieldValue:
        return _text(self._values[vid - 1]) if vid else None

    def order_keys(self, used: np.ndarray) -> np.ndarray:
        return _order_keys(self._values, used)


def _order_keys(values: Sequence[bytes], used: np.ndarray) -> np.ndarray:
    keys = np.empty(len(values) + 1, np.float64)
    keys[0] = -np.inf
    nums = [parse_number(v) for v in values]
    if all(nums[i - 1] is not None for i in np.unique(used).tolist() if i):
        keys[1:] = [np.nan if n is None else n for n in nums]
    else:
        order = sorted(range(len(values)), key=values.__getitem__)
        keys[1:][order] = np.arange(len(values))
    return keys


def column(field: GroupBy) -> ValueColumn:
    if isinstance(field, TimeBucket):
        return _BucketColumn(field)
    kind = field.kind
    if kind == U8:
        return _U8Column(field)
    if kind == FORMAT:
        return _FormatColumn(field)
    if kind == TIME:
        return _TimeColumn(field)
    if kind == DICT:
        return _DictColumn(field)
    if kind in (MESSAGE, KV):
        return _SpanColumn(field)
    raise AssertionError(kind)
