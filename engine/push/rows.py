"""Pushed log entries as JSON-object frames for the parsers, built from pre-encoded pieces.

A pushed entry becomes one JSON object, the same frame `POST /api/v1/ingest` hands the parsers
(engine.parse.json_rows decodes it), so pushed rows get the same columns, time bounds, alerts
and indexes as every other row, with no second row path to keep in step. The object's keys, in
order:

    "time": ns (integer), "message": the line, then the keys that fill the row's columns
    ("host", "app", "severity"), then every label / attribute as a field

The JSON row decoder gives a column to the *first* key of its aliases, so the keys set here
come first and a label that is also an alias (`hostname`, `level`, `msg`) stays a field. A
label whose name is exactly one of the keys set here would be a duplicate key (the decoder
keeps the last), so it is renamed with a prefix (`label.time`) instead of lost.

What is the same for many entries (a Loki stream's labels, an OTLP resource's and scope's
attributes) is encoded once, as `Shared`; per entry only the time, the line and its own
pairs are encoded.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping

import msgspec
import numpy as np
import numpy.typing as npt

from engine.ipc.raw_batch import FRAME_OVERHEAD
from native_kernels.framing import TRUNCATED

_encode = msgspec.json.Encoder().encode
# Epoch integers at or past this are read as nanoseconds by the JSON row decoder (engine.parse.
# json_rows); earlier times (before March 1973) go as RFC 3339 text so they are not misread.
NS_AS_INTEGER = 10**17
# A pushed entry's JSON frame is at most this many times its protobuf bytes and those of what
# it shares (its stream's labels, its resource and scope), plus a constant: a byte becomes at
# most a 6-byte escape, a 1-byte varint at most 3 digits or `false`, a key gains quotes, a colon
# and perhaps a prefix.
FRAME_GROWTH = 8
FRAME_SLACK = 256
# A frame's bytes beyond its entry's own strings and its shared pieces: `{"time":` and 19
# digits, `,"message":""` and `}`, rounded up.
FRAME_BASE = 48
# Frame bytes per body byte, at most: a metadata pair or attribute of empty strings (6 bytes
# on the wire) is `,"":""` and perhaps a prefix; an id's bytes become twice as many hex digits.
BODY_GROWTH = 3
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def time_json(ns: int) -> bytes:
    """A time in ns since the epoch as the JSON value the row decoder reads back exactly."""
    if ns >= NS_AS_INTEGER:
        return str(ns).encode()
    seconds, frac = divmod(ns, 10**9)
    try:
        when = datetime.fromtimestamp(seconds, timezone.utc)
    except (OverflowError, OSError, ValueError):
        when = _EPOCH
    return b'"' + when.strftime("%Y-%m-%dT%H:%M:%S").encode() + b".%09dZ" % frac + b'"'


def pairs_json(pairs: Mapping[str, Any], taken: frozenset[str] | set[str], prefix: str) -> bytes:
    """`,"k":v,...` for `pairs` (empty for none); a key in `taken` gets `prefix` (see module)."""
    if not pairs:
        return b""
    if not taken.isdisjoint(pairs):
        pairs = {(prefix + k if k in taken else k): v for k, v in pairs.items()}
    return b"," + _encode(pairs)[1:-1]


def none_cut(worst_bytes: int, max_len: int) -> bool:
    """Whether no frame of an entry of at most `worst_bytes` protobuf bytes (its own and those
    it shares) can reach `max_len`, so none would be cut."""
    return worst_bytes * FRAME_GROWTH + FRAME_SLACK <= max_len


def frames_bytes(rows: int, shared_bytes: int, body_bytes: int) -> int:
    """The most bytes the frames of a pushed request take in a raw batch: `rows` entries,
    `shared_bytes` what their streams' or scopes' pieces add to all of them together,
    `body_bytes` the request's own. A request that crosses a ring whole becomes one column batch
    (engine.parse.otlp_rows, loki_rows), which the column ring is sized to take only for a raw
    batch of `engine.config.whole_request_bytes`: a bigger one is cut into pieces
    (engine.push.split), or goes as frames, in as many batches as they need."""
    return rows * (FRAME_BASE + FRAME_OVERHEAD) + shared_bytes + BODY_GROWTH * body_bytes


class Shared:
    """What many entries share: their column keys and fields, encoded once. `columns` holds
    the values for "host", "app" (None: the entries have none); `reserved` names keys that
    entries add on their own (`severity`); `taken` is every key the entries' objects already
    hold, for `pairs_json` of their own pairs."""

    __slots__ = ("head", "tail", "taken")

    def __init__(
        self, columns: Mapping[str, Any], fields: Mapping[str, Any], prefix: str, reserved: frozenset[str] = frozenset()
    ) -> None:
        present = {k: v for k, v in columns.items() if v is not None}
        self.taken = frozenset({"time", "message", *present, *reserved})
        self.head = pairs_json(present, frozenset(), prefix)
        self.tail = pairs_json(fields, self.taken, prefix) + b"}"
        self.taken = self.taken | frozenset(fields)


class Frames:
    """Frames of one request, in order; `packed` gives the buffer and spans the batcher takes."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[bytes] = []

    def __len__(self) -> int:
        return len(self.items)

    def add(self, ns: int, message: bytes, shared: Shared, own: bytes = b"") -> None:
        """One entry: `message` is its line as a JSON value (`encode_text`), `own` its own
        keys (severity, ids, pairs) as `,"k":v...` pieces."""
        pieces = (b'{"time":', time_json(ns), b',"message":', message, shared.head, own, shared.tail)
        self.items.append(b"".join(pieces))  # (the protobuf loops inline this)

    def packed(self, max_len: int) -> tuple[bytes, npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
        """`joined(self.items, max_len)`."""
        return joined(self.items, max_len)


def joined(
    items: list[bytes], max_len: int
) -> tuple[bytes, npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """(buffer, starts, ends, flags) of `items` joined by newlines; an item longer than
    `max_len` is cut there and flagged truncated, as every receiver does (a pushed entry cut so
    is no longer JSON: its row keeps the bytes it has, flagged)."""
    lens = np.fromiter(map(len, items), np.int64, len(items))
    starts = np.zeros(len(items), np.int64)
    if len(items) > 1:
        np.cumsum(lens[:-1] + 1, out=starts[1:])
    ends = starts + lens
    flags = np.zeros(len(items), np.uint8)
    too_long = lens > max_len
    ends[too_long] = starts[too_long] + max_len
    flags[too_long] = TRUNCATED
    return b"\n".join(items), starts, ends, flags


def encode_text(value: str) -> bytes:
    """A string as a JSON string."""
    return _encode(value)


def encode_value(value: Any) -> bytes:
    """Any JSON-able value as JSON."""
    return _encode(value)
