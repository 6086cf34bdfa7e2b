"""Durations as LogQL and Loki's HTTP API write them: Go's and Prometheus' forms (`5m`, `1h30m`,
`1.5h`, `250ms`, `1d`, `1w`, `1y`), to nanoseconds."""

from __future__ import annotations

import re

from engine.errors import LogjetError
from engine.units import DURATION_NS

_PART_RE = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d|w|y)")
_NS = {**DURATION_NS, "µs": 1_000, "y": 365 * DURATION_NS["d"]}


class DurationError(LogjetError):
    """Text that is not a duration; the message quotes it as Loki does."""


def parse_duration_ns(text: str) -> int:
    """`5m` → 300e9; raises DurationError (`not a valid duration string: "5minutes"`)."""
    pos = 0
    total = 0.0
    for m in _PART_RE.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _NS[m.group(2)]
        pos = m.end()
    if not text or pos != len(text):
        raise DurationError(f"not a valid duration string: {text!r}".replace("'", '"'))
    return int(round(total))
