"""`logjet query --context`'s grouping: windows of one arrival order merged where they overlap,
every hit marked, `--` between groups, checked against the windows cut from a known order."""

from __future__ import annotations

import io
import json

from hypothesis import given
from hypothesis import strategies as st

from engine.query.cli_context import merge, print_groups

ROWS = [{"_id": f"r{i}", "n": i} for i in range(30)]


def _window(i: int, n: int) -> tuple[int, list[dict]]:
    lo = max(0, i - n)
    return i - lo, ROWS[lo : i + n + 1]


@given(hits=st.lists(st.integers(0, 29), min_size=1, max_size=6, unique=True), n=st.integers(0, 4))
def test_groups_are_the_windows_merged_where_they_overlap(hits, n):
    out = io.BytesIO()
    assert print_groups(({"_id": f"r{i}"} for i in hits), lambda rid: _window(int(rid[1:]), n), out) == len(hits)
    groups: list[list[dict]] = [[]]
    for line in out.getvalue().decode().splitlines():
        if line == "--":
            groups.append([])
        else:
            groups[-1].append(json.loads(line))
    # Reference: consecutive hits whose windows share a row print as one span of rows.
    want: list[set[int]] = []
    for i in hits:
        span = set(range(max(0, i - n), min(29, i + n) + 1))
        if want and want[-1] & span:
            want[-1] |= span
        else:
            want.append(span)
    assert [[r["n"] for r in g] for g in groups] == [sorted(s) for s in want]
    # Every hit is marked in its own group (a row printed before it was a hit is not).
    assert {r["n"] for g in groups for r in g if r.get("_hit")} == set(hits)


def test_merge_is_none_without_a_shared_row():
    assert merge(ROWS[0:3], ROWS[3:5]) is None
    assert merge(ROWS[0:5], ROWS[3:8]) == ROWS[0:8]
    assert merge(ROWS[3:8], ROWS[0:5]) == ROWS[0:8]
    assert merge(ROWS[0:9], ROWS[2:4]) == ROWS[0:9]
