"""What a field name in a query refers to: a row column, or the key of a field (key=value pair,
JSON key, or RFC 5424 SD param `<sd-id>.<param>`), and the names syslog gives numbers.

Kinds, and how filters and stages read them:

    kind     names                                   values
    TIME     _time, _recv                            int64 ns; numeric only
    U8       severity, facility                      0..254, 255 = none; also by name (err, auth)
    FORMAT   format                                  plain, rfc5424, rfc3164, json
    DICT     host, app, procid, msgid, source        dictionary-encoded bytes
    MESSAGE  message (alias _msg)                    bytes; words are tokens of it
    KV       anything else                           bytes of the row's pairs with that key
"""

from __future__ import annotations

from typing import NamedTuple

from engine.store.rows import DICT_COLUMNS

TIME, U8, FORMAT, DICT, MESSAGE, KV = "time", "u8", "format", "dict", "message", "kv"

ALIASES = {"_msg": "message"}

SEVERITY_NAMES = {
    "emerg": 0,
    "emergency": 0,
    "panic": 0,
    "alert": 1,
    "crit": 2,
    "critical": 2,
    "err": 3,
    "error": 3,
    "warning": 4,
    "warn": 4,
    "notice": 5,
    "info": 6,
    "informational": 6,
    "debug": 7,
}
FACILITY_NAMES = {
    "kern": 0,
    "user": 1,
    "mail": 2,
    "daemon": 3,
    "auth": 4,
    "syslog": 5,
    "lpr": 6,
    "news": 7,
    "uucp": 8,
    "cron": 9,
    "authpriv": 10,
    "ftp": 11,
    "ntp": 12,
    "security": 13,
    "console": 14,
    "solaris-cron": 15,
    **{f"local{i}": 16 + i for i in range(8)},
}
NUMBER_NAMES = {"severity": SEVERITY_NAMES, "facility": FACILITY_NAMES}


class Field(NamedTuple):
    name: str
    kind: str


def resolve(name: str) -> Field:
    """The field a query name refers to (unknown names are field keys)."""
    name = ALIASES.get(name, name)
    if name in ("_time", "_recv"):
        return Field(name, TIME)
    if name in ("severity", "facility"):
        return Field(name, U8)
    if name == "format":
        return Field(name, FORMAT)
    if name in DICT_COLUMNS:
        return Field(name, DICT)
    if name == "message":
        return Field(name, MESSAGE)
    return Field(name, KV)


def number_for_name(field: Field, text: str) -> int | None:
    """`severity:err` → 3; None when `text` is not a name of that field."""
    names = NUMBER_NAMES.get(field.name)
    return None if names is None else names.get(text.lower())
