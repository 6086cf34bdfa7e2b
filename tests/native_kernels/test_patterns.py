"""The hyperscan matcher gives exactly the (row, pattern) pairs Python's `re` finds row by row."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest

from native_kernels.patterns import CHUNK_ROWS, PatternError, PatternMatcher, compile_patterns, dump, load

PATTERNS = [
    rb"segfault at [0-9a-f]+",
    rb"^Failed password",
    rb"timeout$",
    rb"error\s+\d+",
    rb"(?i)PANIC",
    rb"a.b",
    rb"disk (full|failure)",
    rb"\d{4,}",
]
WORDS = [
    b"segfault",
    b"at",
    b"7f00ab",
    b"Failed",
    b"password",
    b"timeout",
    b"error",
    b"42",
    b"panic",
    b"Panic",
    b"disk",
    b"full",
    b"a",
    b"b",
    b"axb",
    b"12345",
    b"x",
    b"",
    b"\n",
]


def _offsets(rows: list[bytes]):
    off = np.zeros(len(rows) + 1, np.int64)
    np.cumsum([len(r) for r in rows], out=off[1:])
    return off, np.frombuffer(b"".join(rows), np.uint8)


def _expected(rows: list[bytes]) -> list[tuple[int, int]]:
    regs = [re.compile(p, re.MULTILINE) for p in PATTERNS]
    return [(r, k) for r, row in enumerate(rows) for k, rx in enumerate(regs) if rx.search(row)]


@pytest.fixture(scope="module")
def matcher():
    return PatternMatcher(compile_patterns(PATTERNS, [False] * len(PATTERNS)))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("density", [0.0, 0.02, 0.3, 1.0])
def test_matches_equal_a_row_by_row_regex_scan(matcher, seed, density):
    rnd = random.Random(seed * 10 + int(density * 100))
    rows = []
    for _ in range(rnd.randint(1, 3 * CHUNK_ROWS + 5)):
        words = [rnd.choice(WORDS[12:]) for _ in range(rnd.randint(0, 6))]
        if rnd.random() < density:
            words.insert(rnd.randint(0, len(words)), rnd.choice(WORDS[:12]))
        rows.append(b" ".join(words))
    off, data = _offsets(rows)
    m = matcher.match(off, data)
    assert list(zip(m.rows.tolist(), m.ids.tolist())) == _expected(rows)


def test_a_pattern_never_matches_across_two_rows(matcher):
    rows = [b"segfault", b"at 7f", b"error", b"12", b"a", b"b"]  # each pattern only across a boundary
    off, data = _offsets(rows)
    assert len(matcher.match(off, data).rows) == 0


def test_anchors_hold_at_row_edges(matcher):
    rows = [b"x Failed password", b"Failed password x", b"timeout x", b"x timeout"]
    off, data = _offsets(rows)
    m = matcher.match(off, data)
    assert list(zip(m.rows.tolist(), m.ids.tolist())) == [(1, 1), (3, 2)]


def test_sparse_matches_cost_one_scan_per_matching_row(matcher):
    rows = [b"nothing to see here"] * 1000
    rows[10] = rows[500] = b"kernel: segfault at 7f00 ip 0"
    off, data = _offsets(rows)
    before = matcher.scans
    assert matcher.match(off, data).rows.tolist() == [10, 500]
    assert matcher.scans - before == 3


def test_a_batch_without_matches_costs_one_scan(matcher):
    rows = [b"nothing to see here"] * 1000
    off, data = _offsets(rows)
    before = matcher.scans
    assert len(matcher.match(off, data).rows) == 0
    assert matcher.scans - before == 1


def test_patterns_that_report_at_every_byte_fall_back_to_narrowing_with_the_same_answer():
    pats = [rb"[a-z]+", rb"^x", rb"z$"]
    m = PatternMatcher(compile_patterns(pats, [False] * 3))
    rnd = random.Random(5)
    rows = [bytes(rnd.choice(b"xyz019 ") for _ in range(rnd.randint(0, 40))) for _ in range(500)]
    off, data = _offsets(rows)
    got = m.match(off, data)
    assert m.floods == 1
    regs = [re.compile(p, re.MULTILINE) for p in pats]
    want = [(r, k) for r, row in enumerate(rows) for k, rx in enumerate(regs) if rx.search(row)]
    assert list(zip(got.rows.tolist(), got.ids.tolist())) == want


def test_empty_batch_and_empty_rows(matcher):
    assert len(matcher.match(np.zeros(1, np.int64), np.empty(0, np.uint8)).rows) == 0
    off, data = _offsets([b"", b"", b"PANIC", b""])
    m = matcher.match(off, data)
    assert m.rows.tolist() == [2] and m.ids.tolist() == [4]


def test_the_database_survives_serialisation():
    db = load(dump(compile_patterns(PATTERNS, [False] * len(PATTERNS))))
    off, data = _offsets([b"disk full"])
    assert PatternMatcher(db).match(off, data).ids.tolist() == [6]


@pytest.mark.parametrize(
    "bad, reason",
    [(rb"(a)\1", "Back-reference"), (rb"a*", "empty"), (rb"(?<=a)b", "Zero-width"), (rb"[", "Unterminated")],
)
def test_a_bad_pattern_is_named(bad, reason):
    with pytest.raises(PatternError) as err:
        compile_patterns([rb"fine", bad, rb"also fine"], [False] * 3)
    assert err.value.index == 1
    assert reason in err.value.reason
