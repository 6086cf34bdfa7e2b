"""Test helper for the request shortcuts' oracles (tests/engine/parse/test_otlp_rows.py,
test_loki_rows.py): a request parsed both ways, and the two column batches compared."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from engine.config import Parse
from engine.ipc.column_batch import ColumnBatch
from engine.ipc.raw_batch import raw_batch_of
from engine.parse.batch_parser import BatchParser
from engine.push.rows import Frames

NOW = 1_764_700_000_123_456_789
MAX_LEN = 65536


def general_batch(frames: Frames, max_len: int = MAX_LEN) -> ColumnBatch:
    """The column batch of a request's JSON frames (the general path, as the API packs them)."""
    buf, starts, ends, flags = frames.packed(max_len)
    raw = raw_batch_of([buf[s:e] for s, e in zip(starts.tolist(), ends.tolist())], NOW, protocol=2)
    return BatchParser(Parse()).parse(raw._replace(frame_flags=flags))


def flagged_batch(body: bytes, flag: int, max_len: int = MAX_LEN) -> ColumnBatch:
    """The column batch of a request that crossed the ring whole, as one frame flagged `flag`."""
    raw = raw_batch_of([body], NOW, protocol=2, flags=flag)
    return BatchParser(Parse(), max_len=max_len).parse(raw)


def assert_same_batches(want: ColumnBatch, got: ColumnBatch) -> None:
    """Every column and header field equal, but `raw_bytes` (the frames' bytes on the general
    path, the request's on the shortcut)."""
    for f in dataclasses.fields(want):
        if f.name == "raw_bytes":
            continue
        a, b = getattr(want, f.name), getattr(got, f.name)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and a.tolist() == b.tolist(), f.name
        else:
            assert a == b, f.name


def assert_same_both_ways(decode: Callable[[bytes, int], Frames], body: bytes, flag: int, max_len: int) -> None:
    """`body` gives the same rows by the general path (`decode(body, NOW)`'s frames) and whole."""
    assert_same_batches(general_batch(decode(body, NOW), max_len), flagged_batch(body, flag, max_len))
