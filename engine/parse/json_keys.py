"""Which JSON keys fill a row's columns (message, time, host, app, severity): the built-in names,
the configured ones (`parse.json_*_fields`) and a request's own (`?msg_field=...`), by priority.

Priority, best first: the names a request gives, in its order; the configured names, in their
order; the built-in primary names (when several are present, the first in the object wins); the
names other shippers use (VictoriaLogs `_msg`/`_time`, Fluent Bit `log`/`date`, ECS as Filebeat
sends it: `host.name`, `log.level`, `service.name`), taken only when no better name is usable.
A dotted name also reaches into nested objects (`host.name` is `{"host": {"name": ...}}` too).

A request's names cross the rings as a small JSON blob in the raw batch (`encode_overrides`,
`decode_overrides`), so the parser applies them without the API decoding a single row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import msgspec

from engine.json_field_names import ROLE_NAMES, FieldNamesError, check_names

ROLE_SEVERITY, ROLE_HOST, ROLE_APP, ROLE_MESSAGE, ROLE_TIME = range(5)
# The role of each name in ROLE_NAMES (request parameters, config keys, the overrides blob).
ROLE_OF_NAME = {"severity": ROLE_SEVERITY, "host": ROLE_HOST, "app": ROLE_APP, "msg": ROLE_MESSAGE, "time": ROLE_TIME}
assert set(ROLE_OF_NAME) == set(ROLE_NAMES)

# fmt: off
PRIMARY_NAMES: dict[str, int] = {
    "level": ROLE_SEVERITY, "severity": ROLE_SEVERITY,
    "host": ROLE_HOST, "hostname": ROLE_HOST,
    "service": ROLE_APP, "app": ROLE_APP, "appname": ROLE_APP,
    "msg": ROLE_MESSAGE, "message": ROLE_MESSAGE,
    "time": ROLE_TIME, "timestamp": ROLE_TIME, "@timestamp": ROLE_TIME,
}
# Used only when no primary name is usable; their message must be a string, since Filebeat's
# `log` is an object (`log.level`, `log.file.path`) beside its `message`.
SECONDARY_NAMES: dict[str, int] = {
    "_msg": ROLE_MESSAGE, "log": ROLE_MESSAGE,
    "_time": ROLE_TIME, "date": ROLE_TIME,
    "host.name": ROLE_HOST, "service.name": ROLE_APP, "log.level": ROLE_SEVERITY,
}
# fmt: on
_PRIMARY_RANK = 0
_SECONDARY_RANK = 1
_CONFIG_RANK = -1000  # + position in the configured list
_REQUEST_RANK = -2000  # + position in the request's list


class Candidate(NamedTuple):
    """One way a top-level key may fill a column: the value at `path` under it (() = the key's
    own value); lower `rank` wins; `strict`: the message must be a string."""

    role: int
    rank: int
    path: tuple[str, ...]
    strict: bool


class KeyRoles:
    """The candidates of every top-level key that may fill a column (`by_key`). Without
    configured or requested names (`plain`, the usual case) the decoder takes a shortcut: the
    primary names first (`primary`, key → role), then, for columns still empty, the candidates
    of the secondary names only (`secondary`)."""

    __slots__ = ("by_key", "plain", "plans", "primary", "secondary", "struct")

    def __init__(self, by_key: dict[str, tuple[Candidate, ...]], plain: bool):
        self.by_key = by_key
        self.plain = plain
        self.primary = PRIMARY_NAMES
        self.secondary = SECONDARY_CANDIDATES
        # The JSON row decoder's plan per object shape (its keys, nested ones too, in order):
        # shippers send the same shape every time, so the names are matched to columns once per
        # shape, not per row.
        self.plans: dict[tuple[str, ...], Any] = {}
        # The shape the last chunk of rows had (engine.parse.json_struct.StructShape), tried
        # first on the next chunk; None: none yet, or the last try failed.
        self.struct: Any = None

    @classmethod
    def build(
        cls,
        configured: Mapping[str, Sequence[str]] | None = None,
        requested: Mapping[str, Sequence[str]] | None = None,
    ) -> KeyRoles:
        """The built-in names, then `configured` and `requested` ({"msg": names, ...}) above them."""
        names = [(name, role, _PRIMARY_RANK, False) for name, role in PRIMARY_NAMES.items()]
        names += [(name, role, _SECONDARY_RANK, True) for name, role in SECONDARY_NAMES.items()]
        plain = True
        for base, given in ((_CONFIG_RANK, configured), (_REQUEST_RANK, requested)):
            for role_name, listed in (given or {}).items():
                names += [(name, ROLE_OF_NAME[role_name], base + pos, False) for pos, name in enumerate(listed)]
                plain = plain and not listed
        return cls(_candidates(names), plain)


def _candidates(names: list[tuple[str, int, int, bool]]) -> dict[str, tuple[Candidate, ...]]:
    """Top-level key → its candidates, best rank first, for (name, role, rank, strict) entries."""
    found: dict[str, list[Candidate]] = {}
    for name, role, rank, strict in names:
        parts = name.split(".")
        # "a.b.c" is reached as the key "a.b.c", as a → b.c, and as "a.b" → c.
        for k in range(len(parts), 0, -1):
            top, path = ".".join(parts[:k]), tuple(parts[k:])
            if top and all(path):
                found.setdefault(top, []).append(Candidate(role, rank, path, strict))
    return {key: tuple(sorted(c, key=lambda x: x.rank)) for key, c in found.items()}


SECONDARY_CANDIDATES = _candidates([(name, role, _SECONDARY_RANK, True) for name, role in SECONDARY_NAMES.items()])

_overrides_decoder = msgspec.json.Decoder(dict[str, list[str]])
_encode = msgspec.json.Encoder().encode


def encode_overrides(requested: Mapping[str, Sequence[str]]) -> bytes:
    """A request's names ({"msg": [...], ...}, roles named as in ROLE_NAMES) as the raw batch's
    blob; b"" when there are none."""
    kept = {role: list(names) for role, names in requested.items() if names}
    return _encode(kept) if kept else b""


def decode_overrides(blob: bytes) -> dict[str, list[str]]:
    """The blob of `encode_overrides`, checked; raises FieldNamesError when it is not one."""
    try:
        named = _overrides_decoder.decode(blob)
    except msgspec.DecodeError as exc:
        raise FieldNamesError(f"field names blob is damaged: {exc}") from None
    for role_name, names in named.items():
        if role_name not in ROLE_OF_NAME:
            raise FieldNamesError(f"field names blob names no role {role_name!r}")
        check_names(f"{role_name}_field", names)
    return named


DEFAULT_ROLES = KeyRoles.build()
