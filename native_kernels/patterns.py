"""The hyperscan wrapper: many regexes compiled into one database, matched against every row of a
batch with a handful of scans, giving the (row, pattern id) pairs that match.

Hyperscan reports match *ends* and, without HS_FLAG_SINGLEMATCH, reports every one of them
(`\\d+` on "12345" is five matches), and a Python callback per match would cost more than the
scan. So every scan here is SINGLEMATCH (each pattern reports at most once per scan) and rows
are found by narrowing down:

1. the whole batch, rows joined by '\\n' (MULTILINE, so ^ and $ hold at row edges): which
   patterns match anywhere? For alert rules the usual answer is "none", and the batch costs
   one scan;
2. chunks of CHUNK_ROWS rows, then chunks 8 times smaller inside those that match, down to
3. each row of those alone: the exact pairs. A row scanned alone cannot be matched by a
   pattern spanning two rows, so the wider scans may over-report but the last never does.

A batch where patterns match nearly every row costs about one scan per row (~1 µs each with a
thousand patterns), which is the least a per-row answer can cost through the Python binding.
"""

from __future__ import annotations

from dataclasses import dataclass

import hyperscan
import numpy as np

from native_kernels.gather import join_terminated

CHUNK_ROWS = 64
FLAGS = hyperscan.HS_FLAG_SINGLEMATCH | hyperscan.HS_FLAG_MULTILINE


class PatternError(ValueError):
    """A pattern hyperscan cannot compile; `index` is its position in the list given."""

    def __init__(self, index: int, reason: str):
        super().__init__(reason)
        self.index = index
        self.reason = reason


def _flags(caseless: list[bool]) -> list[int]:
    return [FLAGS | (hyperscan.HS_FLAG_CASELESS if c else 0) for c in caseless]


def compile_patterns(patterns: list[bytes], caseless: list[bool]) -> hyperscan.Database:
    """One block-mode database of `patterns`, pattern i with id i. Raises PatternError naming the
    first bad pattern (hyperscan's error for a set does not say which one failed)."""
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    try:
        db.compile(expressions=patterns, ids=list(range(len(patterns))), flags=_flags(caseless))
        return db
    except hyperscan.error as exc:
        whole = str(exc)
    for i, (p, c) in enumerate(zip(patterns, caseless)):
        one = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        try:
            one.compile(expressions=[p], ids=[0], flags=_flags([c]))
        except hyperscan.error as exc:
            raise PatternError(i, str(exc)) from None
    raise PatternError(-1, whole)  # each compiles alone but not together (e.g. too large)


def dump(db: hyperscan.Database) -> bytes:
    return hyperscan.dumpb(db)


def load(blob: bytes) -> hyperscan.Database:
    return hyperscan.loadb(blob, hyperscan.HS_MODE_BLOCK)


@dataclass
class Matches:
    """Pairs sorted by row, then pattern id."""

    rows: np.ndarray  # int64
    ids: np.ndarray   # int32

    @classmethod
    def empty(cls) -> "Matches":
        return cls(np.empty(0, np.int64), np.empty(0, np.int32))


class PatternMatcher:
    """Matches a compiled database against batches of values (one per row). One per thread:
    it owns a scratch space."""

    def __init__(self, db: hyperscan.Database):
        self.db = db
        self.scratch = hyperscan.Scratch(db)
        self.scans = 0  # scans done, for tests and benchmarks

    def _scan(self, buf, out: list) -> None:
        self.scans += 1
        self.db.scan(buf, match_event_handler=_collect, context=out, scratch=self.scratch)

    def match(self, offsets: np.ndarray, data: np.ndarray) -> Matches:
        """Which rows match which patterns: row r is data[offsets[r]:offsets[r+1]]."""
        n = len(offsets) - 1
        if n <= 0:
            return Matches.empty()
        buf = join_terminated(offsets, data, 10)  # row r at offsets[r] + r, then '\n'
        starts = offsets[:-1].astype(np.int64) + np.arange(n, dtype=np.int64)
        ends = offsets[1:].astype(np.int64) + np.arange(n, dtype=np.int64)  # before the '\n'
        hits: list = []
        self._scan(buf, hits)
        if not hits:
            return Matches.empty()
        if n == 1:
            return Matches(np.zeros(len(hits), np.int64), np.sort(np.asarray(hits, np.int32)))
        rows: list[int] = []
        ids: list[int] = []
        view = memoryview(buf.tobytes())  # slicing a memoryview is the cheapest sub-buffer to scan
        starts_l, ends_l = starts.tolist(), ends.tolist()
        self._narrow(view, starts_l, ends_l, 0, n, hits, CHUNK_ROWS, rows, ids)
        return Matches(np.asarray(rows, np.int64), np.asarray(ids, np.int32))

    def _narrow(self, view, starts, ends, r0, r1, hits, step, rows, ids) -> None:
        """Rows r0..r1 are known to hold `hits`: scan sub-ranges of `step` rows, and recurse into
        those that match with a step 8 times smaller, down to single rows. For a few matching
        rows in a chunk of 64 that is about 17 scans instead of 64; for a chunk where every row
        matches, 73."""
        if r1 - r0 == 1:
            rows.extend([r0] * len(hits))
            ids.extend(sorted(hits))
            return
        for c0 in range(r0, r1, step):
            c1 = min(r1, c0 + step)
            found: list = []
            self._scan(view[starts[c0]:ends[c1 - 1]], found)
            if found:
                self._narrow(view, starts, ends, c0, c1, found, max(1, step // 8), rows, ids)


def _collect(pattern_id, start, end, flags, out):
    out.append(pattern_id)
    return None  # keep scanning
