"""Rows whose time is out of range: older than `storage.retention` (retention would delete them at
once) or more than `parse.max_future` ahead of their receipt. Told apart with one numpy mask per
batch; `parse.out_of_range` says whether they are adjusted (stored at their receive time, the
sender's time kept in a field) or dropped. Either way they are counted, never lost unseen.

Senders with wrong clocks are common: RFC 3164 stamps carry no year (inferred as the one that
puts the date nearest the receive time, native_kernels.timestamps.bsd_local_ns) and no zone, and
devices boot at their epoch.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from engine.config import Settings
from native_kernels.timestamps import RFC3339_NS_BYTES, format_rfc3339_ns

IN_RANGE, TOO_OLD, TOO_NEW = 0, 1, 2
# Label values of logjet_time_adjusted_total and logjet_dropped_messages_total, by code.
REASONS = {TOO_OLD: "too_old", TOO_NEW: "too_new"}
# The fields an adjusted row gets: the sender's time (RFC 3339, UTC, as `_time` is shown) and why.
SENDER_TIME = b"sender_time"
TIME_ADJUSTED = b"time_adjusted"
_I64 = np.iinfo(np.int64)
_REASON_BYTES = 7  # both reasons are 7 letters, so a reason is a fixed-width value too
_REASON_TABLE = np.zeros((3, _REASON_BYTES), np.uint8)  # by code; IN_RANGE never gets fields
for _code, _name in REASONS.items():
    _REASON_TABLE[_code] = np.frombuffer(_name.encode(), np.uint8)


class AdjustFields(NamedTuple):
    """The pairs to add to adjusted rows: pair j belongs to row `rows[j]`; keys and values as
    (offsets, bytes)."""

    rows: npt.NDArray[np.int64]
    keys: tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]
    values: tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]


class TimeBounds(NamedTuple):
    """What counts as out of range, and what happens to such rows."""

    retention_ns: int = 0  # rows older than this before their receipt are too old; 0: none are
    max_future_ns: int = 0  # rows further ahead of their receipt are too new; 0: none are
    drop: bool = False  # False: adjust them

    @classmethod
    def of(cls, settings: Settings) -> TimeBounds:
        return cls(settings.storage.retention.ns, settings.parse.max_future.ns, settings.parse.out_of_range == "drop")

    def classify(self, time_ns: npt.NDArray[np.int64], recv_ns: int) -> npt.NDArray[np.uint8]:
        """Per row: IN_RANGE, TOO_OLD or TOO_NEW."""
        out = np.zeros(len(time_ns), np.uint8)
        # Clamped: a bound past the int64 range (a retention of a million days) is no bound.
        if self.retention_ns and recv_ns - self.retention_ns > _I64.min:
            out[time_ns < recv_ns - self.retention_ns] = TOO_OLD
        if self.max_future_ns and recv_ns + self.max_future_ns < _I64.max:
            out[time_ns > recv_ns + self.max_future_ns] = TOO_NEW
        return out


def counts(codes: npt.NDArray[np.uint8]) -> tuple[int, int]:
    """(too old, too new) rows among `codes`."""
    per_code = np.bincount(codes, minlength=3)
    return int(per_code[TOO_OLD]), int(per_code[TOO_NEW])


def adjust_fields(
    rows: npt.NDArray[np.int64], sender_ns: npt.NDArray[np.int64], codes: npt.NDArray[np.uint8]
) -> AdjustFields:
    """`sender_time` and `time_adjusted` pairs for the adjusted `rows`, whose own times were
    `sender_ns` and reasons `codes`. Every value has a fixed width (a stamp, a 7-letter reason),
    so the values are one 2-D byte array, filled with no Python step per row."""
    k = len(rows)
    values = np.empty((k, RFC3339_NS_BYTES + _REASON_BYTES), np.uint8)
    values[:, :RFC3339_NS_BYTES] = format_rfc3339_ns(sender_ns)
    values[:, RFC3339_NS_BYTES:] = _REASON_TABLE[codes]
    val_off = np.zeros(2 * k + 1, np.int64)
    np.cumsum(np.tile(np.array([RFC3339_NS_BYTES, _REASON_BYTES], np.int64), k), out=val_off[1:])
    key_off = np.zeros(2 * k + 1, np.int64)
    np.cumsum(np.tile(np.array([len(SENDER_TIME), len(TIME_ADJUSTED)], np.int64), k), out=key_off[1:])
    key_data = np.frombuffer((SENDER_TIME + TIME_ADJUSTED) * k, np.uint8)
    return AdjustFields(np.repeat(rows.astype(np.int64), 2), (key_off, key_data), (val_off, values.reshape(-1)))
