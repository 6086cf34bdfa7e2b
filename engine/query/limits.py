"""The parts of the `[query]` limits (engine.config.Query) that are not HTTP: the concurrency gate,
the deadline a run checks between blocks, the row limit a request may ask for, the response byte
budget and the group cap's error.

Every refusal names its setting, so the person who reads the error knows what to change.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from engine.errors import LogjetError
from engine.query.errors import QueryError


class QueryTimeout(LogjetError):
    """A query ran past `query.timeout`; `elapsed_s` is how long it had run."""

    def __init__(self, elapsed_s: float):
        self.elapsed_s = elapsed_s
        self.message = f"query timed out after {elapsed_s:.1f} s (query.timeout)"
        super().__init__(self.message)


class Deadline:
    """When a query must be done. The executor calls `check` between blocks, so a run past it
    stops within one block's work (a thread cannot be interrupted in the middle of one)."""

    def __init__(self, timeout_s: float, started: float | None = None):
        self.started = time.monotonic() if started is None else started
        self.at = self.started + timeout_s

    def left(self) -> float:
        """Seconds until the deadline (0 or less: past it)."""
        return self.at - time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def check(self) -> None:
        """Raises QueryTimeout once the deadline has passed."""
        if time.monotonic() >= self.at:
            raise QueryTimeout(self.elapsed())


class Gate:
    """At most `capacity` holders at once; one more is refused at once instead of waiting (a
    client told to come back is better off than one left hanging). Thread-safe: a query leaves
    from the thread that closed it."""

    def __init__(self, capacity: int, on_idle: Callable[[], None] | None = None):
        if capacity < 1:
            raise ValueError(f"a gate needs a capacity of at least 1, got {capacity}")
        self.capacity = capacity
        self.on_idle = on_idle  # called (outside the lock) when the last holder leaves
        self._held = 0
        self._lock = threading.Lock()

    @property
    def held(self) -> int:
        return self._held

    def try_enter(self) -> bool:
        with self._lock:
            if self._held >= self.capacity:
                return False
            self._held += 1
            return True

    def leave(self) -> None:
        with self._lock:
            if self._held <= 0:
                raise RuntimeError("Gate.leave without a matching try_enter")
            self._held -= 1
            idle = self._held == 0
        if idle and self.on_idle is not None:
            self.on_idle()


class LimitParamError(LogjetError):
    """A request's `limit` that is not a whole number, or is above `query.max_rows_limit`."""


def requested_limit(value: str | None, max_rows_limit: int) -> int | None:
    """The `limit` a request gives (None: it gives none). Raises LimitParamError."""
    if value is None or value == "":
        return None
    if not value.isdigit():
        raise LimitParamError(f"limit: expected a whole number, got {value!r}")
    limit = int(value)
    if limit > max_rows_limit:
        raise LimitParamError(
            f"limit: {limit} is more than query.max_rows_limit = {max_rows_limit}; "
            "ask for fewer rows, or narrow the query (a filter or a shorter time range)"
        )
    return limit


class ResponseBudget:
    """The bytes an NDJSON answer may still take (`query.max_response_bytes`): `take` passes
    whole lines while they fit."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.sent = 0

    def take(self, data: bytes) -> tuple[bytes, bool]:
        """(the leading whole lines of `data` that fit, whether any line was left out)."""
        room = self.max_bytes - self.sent
        if len(data) <= room:
            self.sent += len(data)
            return data, False
        fits = data[: data.rfind(b"\n", 0, max(room, 0)) + 1]
        self.sent += len(fits)
        return fits, True

    def error(self) -> str:
        return (
            f"the answer reached query.max_response_bytes = {self.max_bytes} bytes and was cut after "
            f"{self.sent} bytes; ask for fewer rows (limit), fewer fields (| fields ...), or a narrower query"
        )


class TooManyGroups(QueryError):
    """An aggregation holding more groups (or distinct values) than `query.max_groups` allows:
    its memory would grow with the data, so the query stops, naming what it groups by."""

    def __init__(self, what: str, max_groups: int, position: int):
        super().__init__(
            f"{what} holds more than {max_groups} groups (query.max_groups); "
            "group by a field with fewer values, or narrow the query",
            position,
        )


class GroupCap:
    """`query.max_groups` for one aggregation: `what` names it for the error ("stats by (user)"),
    `position` is where it starts in the query."""

    def __init__(self, max_groups: int, what: str, position: int):
        self.max_groups = max_groups
        self.what = what
        self.position = position

    def check(self, groups: int) -> None:
        """Raises TooManyGroups when `groups` is past the cap."""
        if groups > self.max_groups:
            raise TooManyGroups(self.what, self.max_groups, self.position)


def group_cap(max_groups: int | None, what: str, position: int) -> GroupCap | None:
    """The cap of one aggregation, or None when it runs without one (max_groups None)."""
    return None if max_groups is None else GroupCap(max_groups, what, position)
