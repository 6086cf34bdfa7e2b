"""The request parameters that name a JSON body's own fields for the row's columns
(`?msg_field=text&time_field=ts`), read into the blob the raw batch carries to the parsers."""

from __future__ import annotations

from collections.abc import Iterable

from engine.json_field_names import check_names
from engine.parse.json_keys import encode_overrides

# Parameter → column role. The underscored spellings are VictoriaLogs' (`_msg_field`), so a
# sender configured for it works unchanged.
FIELD_PARAMS = {
    "msg_field": "msg",
    "_msg_field": "msg",
    "time_field": "time",
    "_time_field": "time",
    "host_field": "host",
    "app_field": "app",
    "severity_field": "severity",
}


def field_names_of(params: Iterable[tuple[str, str]]) -> bytes:
    """The field names blob of a request's parameters (every (name, value) pair: a parameter may
    repeat, and each value is a comma-separated list, tried in order); b"" when the request
    names none. Other parameters are the caller's. Raises FieldNamesError naming the parameter."""
    named: dict[str, list[str]] = {}
    for key, value in params:
        role = FIELD_PARAMS.get(key)
        if role is None:
            continue
        names = [n.strip() for n in value.split(",") if n.strip()]
        named.setdefault(role, []).extend(check_names(key, names))
    for role, names in named.items():
        check_names(f"{role}_field", names)  # the total per role, over repeats
    return encode_overrides(named)
