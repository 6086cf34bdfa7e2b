"""Which Loki labels a logjet row has, and what field each one reads.

Stream labels, the low-cardinality columns every row may have: `host`, `app`, `severity` and
`facility` (as syslog names: `err`, `local3`), and `detected_level`, the severity as Grafana's
level words (`error`, `warn`, ...), which colours Grafana's log rows and volume histogram as
Loki 3's own `detected_level` does. Every other name is a field of the row: another column
(`procid`, `msgid`, `source`, `format`, `message`) or a key=value / JSON key logjet extracted
when it stored the row, which LogQL treats as structured metadata: usable in label filters and
`by (...)`, shown as labels after `| json` or `| logfmt`.
"""

from __future__ import annotations

import re
from typing import Mapping

from engine.query.field_names import FACILITY_NAMES, U8, Field, resolve
from engine.store.rows import NO_VALUE

STREAM_LABELS = ("host", "app", "severity", "facility", "detected_level")

SEVERITY_LABELS = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
DETECTED_LEVELS = ("critical", "critical", "critical", "error", "warn", "info", "info", "debug")
FACILITY_LABELS = tuple(sorted(FACILITY_NAMES, key=FACILITY_NAMES.__getitem__))
_CODE_NAMES: Mapping[str, tuple[str, ...]] = {
    "severity": SEVERITY_LABELS,
    "facility": FACILITY_LABELS,
    "detected_level": DETECTED_LEVELS,
}
_INVALID = re.compile(r"[^A-Za-z0-9_]")


def field_of(label: str) -> Field:
    """The logjet field a label name reads (detected_level reads severity)."""
    return resolve("severity" if label == "detected_level" else label)


def coded(label: str) -> bool:
    """Whether the label's values are names of a numeric column's codes (severity, facility)."""
    return field_of(label).kind == U8


def code_label(label: str, code: int) -> str | None:
    """The label value of a severity or facility code (None: the row has none)."""
    if code == NO_VALUE:
        return None
    names = _CODE_NAMES.get(label, ())
    return names[code] if code < len(names) else str(code)


def codes_matching(label: str, test: object) -> list[int]:
    """The codes (0..254) whose label value passes `test` (a callable on str)."""
    assert callable(test)
    return [c for c in range(NO_VALUE) if test(code_label(label, c))]


def label_value(label: str, value: object) -> str | None:
    """A group value of the label's field (as `Grouper.key` gives it) → the label's value."""
    if value is None:
        return None
    if coded(label) and isinstance(value, int):
        return code_label(label, value)
    return str(value)


def sanitize(key: str) -> str:
    """A field key as a Loki label name, as Loki's json and logfmt parsers write them."""
    name = _INVALID.sub("_", key)
    return "_" + name if not name or name[0].isdigit() else name
