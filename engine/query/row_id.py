"""`_id`: a row's name in query results that outlives merges, made for a batch of rows at once,
and reading one back.

    _id = TTTTTTTTTTTTTTTT.RRRRRRRRRRRRRRRR.DDDDDDDD    42 characters, lower-case hex
          _time ns         _recv ns         digest of host, app and message (32 bits)

A row's place (part, row number) changes when parts are merged; what it holds does not. `_time`
and `_recv` (one receive batch) narrow a search to a handful of rows, read through the parts'
time ranges, and the digest picks the row among them. Rows equal in all of these are the same
line sent twice in one batch: either names the same context. Times are two's complement, so a
time before 1970 reads back. `_id` is output only; no filter tests it.

Cost: one kernel call hashes the messages, dictionary values are hashed once per call, and the
hex is made by numpy for all rows together: well under a microsecond a row.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np

from engine.errors import LogjetError
from engine.store.rows import Rows
from native_kernels.dictionary import hash_spans

ROW_ID = "_id"  # its key in a row object
ID_LEN = 42
_ID_RE = re.compile(r"([0-9a-f]{16})\.([0-9a-f]{16})\.([0-9a-f]{8})")
_HEX = np.frombuffer(b"0123456789abcdef", np.uint8)
_SHIFTS16 = np.arange(60, -4, -4, dtype=np.uint64)  # nibbles of a uint64, most significant first
_SHIFTS8 = np.arange(28, -4, -4, dtype=np.uint64)
_U64 = 1 << 64


class BadRowId(LogjetError):
    """A string that is not an `_id`."""


class RowId(NamedTuple):
    time: int  # ns
    recv: int  # ns
    digest: int  # 32 bits of host, app and message


def parse_id(text: str) -> RowId:
    """The parts of an `_id`; raises BadRowId."""
    m = _ID_RE.fullmatch(text.strip().lower())
    if m is None:
        raise BadRowId(f"not a row id: {text[:60]!r} (an `_id` from a query result: 42 hex digits and dots)")
    t, r = (int(m.group(k), 16) for k in (1, 2))
    return RowId(t - _U64 if t >> 63 else t, r - _U64 if r >> 63 else r, int(m.group(3), 16))


def format_id(rid: RowId) -> str:
    """The `_id` text of `rid` (as `row_ids` makes it)."""
    return f"{rid.time % _U64:016x}.{rid.recv % _U64:016x}.{rid.digest:08x}"


def _value_hashes(rows: Rows, column: str, idx: np.ndarray) -> np.ndarray:
    """hash_bytes of the dictionary value of each row (0 for none), hashing each value once."""
    ids = rows.ids[column][idx]
    used = np.unique(ids)
    used = used[used > 0]
    table = np.zeros(int(ids.max(initial=0)) + 1, np.uint64)
    if len(used):
        values = [rows.dicts[column][i - 1] for i in used.tolist()]
        lengths = np.fromiter((len(v) for v in values), np.int64, len(values))
        ends = np.cumsum(lengths)
        table[used] = hash_spans(np.frombuffer(b"".join(values), np.uint8), ends - lengths, ends)
    out: np.ndarray = table[ids]
    return out


def _rotl(x: np.ndarray, k: int) -> np.ndarray:
    out: np.ndarray = (x << np.uint64(k)) | (x >> np.uint64(64 - k))
    return out


def digests(rows: Rows, idx: np.ndarray) -> np.ndarray:
    """The 32-bit digest of rows `idx` (uint64 values below 2**32)."""
    idx = np.asarray(idx, np.int64)
    off = rows.msg_off
    msg = hash_spans(rows.msg_data, off[idx], off[idx + 1])
    # Rotations keep host and app apart (a host named like an app must not cancel out).
    h: np.ndarray = msg ^ _rotl(_value_hashes(rows, "host", idx), 21) ^ _rotl(_value_hashes(rows, "app", idx), 42)
    return h >> np.uint64(32)


def _hex(x: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    out: np.ndarray = _HEX[(x[:, None] >> shifts) & np.uint64(15)]
    return out


def row_ids(rows: Rows, idx: np.ndarray) -> list[str]:
    """The `_id` of rows `idx`, in that order."""
    idx = np.asarray(idx, np.int64)
    n = len(idx)
    if not n:
        return []
    buf = np.full((n, ID_LEN), ord("."), np.uint8)
    buf[:, 0:16] = _hex(rows.time[idx].view(np.uint64), _SHIFTS16)
    buf[:, 17:33] = _hex(rows.recv[idx].view(np.uint64), _SHIFTS16)
    buf[:, 34:42] = _hex(digests(rows, idx), _SHIFTS8)
    text = buf.tobytes().decode("ascii")
    return [text[k : k + ID_LEN] for k in range(0, n * ID_LEN, ID_LEN)]
