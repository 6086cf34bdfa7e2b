r"""The hyperscan wrapper: many regexes compiled into one set, matched against every row of a
batch with few scans, giving the (row, pattern id) pairs that match.

Each pattern set is compiled twice (`PatternSet`): once reporting every match ("all", as
hyperscan does by default: every match *end*, so `[0-9]+` on "12345" reports five times) and
once with HS_FLAG_SINGLEMATCH ("single": each pattern at most once per scan). Per batch:

1. one scan of the whole batch with "all", rows joined by '\n' (MULTILINE, so ^ and $ hold at
   row edges). Match ends give the candidate rows. For alert rules the usual answer is "none",
   and the batch costs that one scan; a few percent of rows matching costs ~2 callbacks each;
2. each candidate row alone with "single": the exact pairs. A row scanned alone cannot be
   matched by a pattern spanning two rows, so step 1 may over-report but step 2 never does.

A Python callback per match end is the cost of step 1. When patterns report so often that the
callbacks would cost more than narrowing down (more than FLOOD_PER_ROW per row: a pattern like
`\S+` matching every row), the scan is cut short and rows are found with "single" only: chunks
of CHUNK_ROWS rows, then chunks 8 times smaller inside those that match, down to single rows,
about 1.1 scans per row when nearly every row matches: the least a per-row answer can cost
through the Python binding.
"""

from __future__ import annotations

from dataclasses import dataclass

import hyperscan
import numpy as np

from engine.errors import LogjetError
from native_kernels.gather import join_terminated

CHUNK_ROWS = 64
FLOOD_PER_ROW = 8
FLAGS_ALL = hyperscan.HS_FLAG_MULTILINE
FLAGS = hyperscan.HS_FLAG_SINGLEMATCH | hyperscan.HS_FLAG_MULTILINE


class PatternError(LogjetError, ValueError):
    """A pattern hyperscan cannot compile; `index` is its position in the list given."""

    def __init__(self, index: int, reason: str):
        super().__init__(reason)
        self.index = index
        self.reason = reason


def _flags(base: int, caseless: list[bool]) -> list[int]:
    return [base | (hyperscan.HS_FLAG_CASELESS if c else 0) for c in caseless]


def _compile(patterns: list[bytes], caseless: list[bool], base: int) -> hyperscan.Database:
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    try:
        db.compile(expressions=patterns, ids=list(range(len(patterns))), flags=_flags(base, caseless))
        return db
    except hyperscan.error as exc:
        whole = str(exc)
    for i, (p, c) in enumerate(zip(patterns, caseless)):
        one = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        try:
            one.compile(expressions=[p], ids=[0], flags=_flags(base, [c]))
        except hyperscan.error as exc:
            raise PatternError(i, str(exc)) from None
    raise PatternError(-1, whole)  # each compiles alone but not together (e.g. too large)


@dataclass
class PatternSet:
    """The two compiled forms of one list of patterns (pattern i has id i)."""

    all: hyperscan.Database
    single: hyperscan.Database


def compile_patterns(patterns: list[bytes], caseless: list[bool]) -> PatternSet:
    """Raises PatternError naming the first bad pattern (hyperscan's error for a set does not
    say which one failed)."""
    single = _compile(patterns, caseless, FLAGS)
    return PatternSet(_compile(patterns, caseless, FLAGS_ALL), single)


def dump(ps: PatternSet) -> bytes:
    a, b = hyperscan.dumpb(ps.all), hyperscan.dumpb(ps.single)
    return len(a).to_bytes(8, "little") + a + b


def load(blob: bytes) -> PatternSet:
    n = int.from_bytes(blob[:8], "little")
    return PatternSet(
        hyperscan.loadb(blob[8 : 8 + n], hyperscan.HS_MODE_BLOCK),
        hyperscan.loadb(blob[8 + n :], hyperscan.HS_MODE_BLOCK),
    )


@dataclass
class Matches:
    """Pairs sorted by row, then pattern id."""

    rows: np.ndarray  # int64
    ids: np.ndarray  # int32

    @classmethod
    def empty(cls) -> "Matches":
        return cls(np.empty(0, np.int64), np.empty(0, np.int32))


class PatternMatcher:
    """Matches a compiled pattern set against batches of values (one per row). One per thread:
    it owns the scratch spaces."""

    def __init__(self, ps: PatternSet):
        self.ps = ps
        self.scratch_all = hyperscan.Scratch(ps.all)
        self.scratch = hyperscan.Scratch(ps.single)
        self.scans = 0  # scans done, for tests and benchmarks
        self.floods = 0  # batches that fell back to narrowing

    def _scan(self, buf, out: list) -> None:
        self.scans += 1
        self.ps.single.scan(buf, match_event_handler=_collect, context=out, scratch=self.scratch)

    def _ends(self, buf, cap: int) -> list | None:
        """End offsets of every match in `buf`, or None when there are more than `cap`."""
        self.scans += 1
        ends: list = []

        def on_match(pattern_id, start, end, flags, ctx):
            ends.append(end)
            return len(ends) > cap  # True halts the scan

        try:
            self.ps.all.scan(buf, match_event_handler=on_match, scratch=self.scratch_all)
        except hyperscan.ScanTerminated:
            return None
        return ends

    def match(self, offsets: np.ndarray, data: np.ndarray) -> Matches:
        """Which rows match which patterns: row r is data[offsets[r]:offsets[r+1]]."""
        n = len(offsets) - 1
        if n <= 0:
            return Matches.empty()
        buf = join_terminated(offsets, data, 10)  # row r at offsets[r] + r, then '\n'
        starts = offsets[:-1].astype(np.int64) + np.arange(n, dtype=np.int64)
        ends = offsets[1:].astype(np.int64) + np.arange(n, dtype=np.int64)  # before the '\n'
        ends_found = self._ends(buf, FLOOD_PER_ROW * n + 64)
        if ends_found is not None and not ends_found:
            return Matches.empty()
        rows: list[int] = []
        ids: list[int] = []
        view = buf.data  # a memoryview of buf: slicing one is the cheapest sub-buffer to scan
        starts_l, ends_l = starts.tolist(), ends.tolist()
        if ends_found is None:
            self.floods += 1
            hits: list = []
            self._scan(view, hits)
            if hits:
                self._narrow(view, starts_l, ends_l, 0, n, hits, CHUNK_ROWS, rows, ids)
        else:
            # A match ending at `end` (exclusive) ends in the row holding byte end - 1; a match
            # of the empty tail after a row's last byte cannot happen (patterns never match empty).
            cand = np.unique(np.searchsorted(starts, np.asarray(ends_found, np.int64) - 1, side="right") - 1)
            for r in cand.tolist():
                one: list = []
                self._scan(view[starts_l[r] : ends_l[r]], one)
                if one:
                    rows.extend([r] * len(one))
                    ids.extend(sorted(one))
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
            self._scan(view[starts[c0] : ends[c1 - 1]], found)
            if found:
                self._narrow(view, starts, ends, c0, c1, found, max(1, step // 8), rows, ids)


def _collect(pattern_id, start, end, flags, out):
    out.append(pattern_id)
    return None  # keep scanning
