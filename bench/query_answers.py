"""Answers of logjet and VictoriaLogs in one canonical form, and their comparison: a query of
the peer bench counts only when both stores said the same.

Canonical forms, by the suite's kind of answer (bench/query_twins.py):

- count: an int (from the one object's `n`; VictoriaLogs writes numbers as strings);
- groups: {(value of each `by` field, "" when missing): n};
- buckets: {bucket start in ns: n} (logjet's `histogram` names it `count`, the LogsQL twin `n`);
- rows: [(_time ns, message)] newest first (logjet's `message`, VictoriaLogs' `_msg`).

Rows tie on time (RFC 3164 stamps are whole seconds: thousands of rows share one), and which of
the tied rows fill a limit is each store's choice, so two row answers are equal when their times
are the same, the rows newer than the oldest time are the same, and every row at the oldest time
is one the data holds at that time (`members_at`, asked of logjet).
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Callable

from engine.errors import LogjetError

Answer = object
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


class AnswerError(LogjetError):
    """An answer that is not of the shape its query promises."""


def time_ns(text: str) -> int:
    """RFC 3339 in UTC (`Z`), with 0-9 fraction digits → ns since the epoch, exactly."""
    if not text.endswith("Z"):
        raise AnswerError(f"time {text!r} is not in UTC (Z)")
    whole, _, frac = text[:-1].partition(".")
    t = datetime.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    seconds = (t - _EPOCH) // datetime.timedelta(seconds=1)
    if not frac.isdigit() and frac:
        raise AnswerError(f"time {text!r} has a bad fraction")
    return seconds * 10**9 + int((frac + "000000000")[:9])


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise AnswerError(f"{value!r} is not a count")
    return int(float(value)) if isinstance(value, str) else int(value)


def _text(value: object) -> str:
    return "" if value is None else str(value)


def canonical(kind: str, objects: list[dict], side: str, by: tuple[str, ...] = ()) -> Answer:
    """The canonical form of `objects`, one store's answer (`side`: "logjet" or "victorialogs")."""
    if kind == "count":
        if len(objects) != 1 or "n" not in objects[0]:
            raise AnswerError(f"{side}: a count is one object with n, not {objects[:3]!r}")
        return _int(objects[0]["n"])
    if kind == "groups":
        groups: dict[tuple[str, ...], int] = {}
        for o in objects:
            key = tuple(_text(o.get(f)) for f in by)
            if key in groups:
                raise AnswerError(f"{side}: group {key!r} twice")
            groups[key] = _int(o["n"])
        return groups
    if kind == "buckets":
        name = "count" if side == "logjet" else "n"
        return {time_ns(o["_time"]): _int(o[name]) for o in objects}
    if kind == "rows":
        msg = "message" if side == "logjet" else "_msg"
        return [(time_ns(o["_time"]), _text(o.get(msg))) for o in objects]
    raise AnswerError(f"unknown kind of answer {kind!r}")


def _first_differences(a: dict, b: dict, n: int = 3) -> str:
    keys = sorted({*a, *b}, key=repr)
    diff = [f"{k!r}: {a.get(k)} vs {b.get(k)}" for k in keys if a.get(k) != b.get(k)]
    return f"{len(diff)} differ, e.g. " + "; ".join(diff[:n])


def compare(
    kind: str, ours: Answer, theirs: Answer, members_at: Callable[[int], set[str]] | None = None
) -> tuple[bool, str]:
    """(equal, what differs) of logjet's and the peer's canonical answers."""
    if kind == "count":
        return ours == theirs, "" if ours == theirs else f"count {ours} vs {theirs}"
    if kind in ("groups", "buckets"):
        assert isinstance(ours, dict) and isinstance(theirs, dict)
        if ours == theirs:
            return True, ""
        return False, f"{len(ours)} vs {len(theirs)} {kind}; " + _first_differences(ours, theirs)
    if kind == "rows":
        assert isinstance(ours, list) and isinstance(theirs, list)
        return _compare_rows(ours, theirs, members_at)
    raise AnswerError(f"unknown kind of answer {kind!r}")


def _compare_rows(
    ours: list[tuple[int, str]], theirs: list[tuple[int, str]], members_at: Callable[[int], set[str]] | None
) -> tuple[bool, str]:
    if len(ours) != len(theirs):
        return False, f"{len(ours)} vs {len(theirs)} rows"
    if not ours:
        return True, ""
    if [t for t, _ in ours] != [t for t, _ in theirs]:
        return False, "the rows' times differ (or their order: both answer newest first)"
    oldest = ours[-1][0]
    newer_ours = Counter(r for r in ours if r[0] > oldest)
    newer_theirs = Counter(r for r in theirs if r[0] > oldest)
    if newer_ours != newer_theirs:
        return False, f"rows newer than the oldest time differ: {len(newer_ours - newer_theirs)} of logjet's missing"
    tied = [m for t, m in theirs if t == oldest]
    if members_at is None:
        return Counter(m for t, m in ours if t == oldest) == Counter(tied), "tied rows compared as they came"
    present = members_at(oldest)
    stray = [m for m in tied if m not in present]
    if stray:
        return False, f"{len(stray)} rows at the oldest time are not in the data, e.g. {stray[0][:120]!r}"
    return True, ""


def summary(kind: str, answer: Answer) -> object:
    """What a table shows of a canonical answer."""
    if kind == "count":
        return answer
    assert isinstance(answer, (dict, list))
    return f"{len(answer)} {kind}"
