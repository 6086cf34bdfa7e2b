"""The column roles a JSON key can fill (msg, time, host, app, severity) and the checks on the
field names a configuration or a request gives for them (`parse.json_*_fields`, `?msg_field=`)."""

from __future__ import annotations

from collections.abc import Sequence

from engine.errors import LogjetError

# As they are spelled in request parameters (`msg_field=`) and config keys (`json_msg_fields`).
ROLE_NAMES = ("msg", "time", "host", "app", "severity")
# Bounds on the names of one role: a request's are checked by the API, and again by the parser.
MAX_NAMES_PER_ROLE = 16
MAX_NAME_BYTES = 256


class FieldNamesError(LogjetError, ValueError):
    """Field names that cannot be used (too many, too long, empty, a stray dot); the message
    names the parameter or key."""


def check_names(label: str, names: Sequence[str]) -> list[str]:
    """`names` for one role, checked; raises FieldNamesError starting with `label`."""
    if len(names) > MAX_NAMES_PER_ROLE:
        raise FieldNamesError(f"{label}: at most {MAX_NAMES_PER_ROLE} names, not {len(names)}")
    for name in names:
        if not name or name.startswith(".") or name.endswith(".") or ".." in name:
            raise FieldNamesError(f"{label}: {name!r} is not a field name")
        if len(name.encode()) > MAX_NAME_BYTES:
            raise FieldNamesError(f"{label}: a name longer than {MAX_NAME_BYTES} bytes")
    return list(names)
