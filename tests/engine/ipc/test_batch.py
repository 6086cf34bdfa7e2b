"""Raw and column batch encodings round-trip, and damaged payloads are reported."""

from __future__ import annotations

import numpy as np
import pytest

from engine.ipc.batch import RawBatch, decode_columns, encode_columns, raw_size, write_raw


def test_raw_batch_round_trip():
    chunks = [b"<13>first\n<13>second\n", b"third\r\n"]
    data = b"".join(chunks)
    starts = np.array([0, 10, 21], np.int64)
    ends = np.array([9, 20, 26], np.int64)
    sources = b"127.0.0.1:1000\n[::1]:2000"
    buf = bytearray(raw_size(3, len(sources), len(data)))
    written = write_raw(
        memoryview(buf),
        123456789,
        1,
        starts,
        ends,
        np.array([0, 0, 1], np.uint16),
        np.array([0, 1, 0], np.uint8),
        sources,
        chunks,
    )
    assert written == len(buf)
    raw = RawBatch.decode(memoryview(buf))
    assert raw.recv_ns == 123456789 and raw.protocol == 1
    assert raw.sources == ["127.0.0.1:1000", "[::1]:2000"]
    frames = [raw.data[s:e].tobytes() for s, e in zip(raw.starts, raw.ends)]
    assert frames == [b"<13>first", b"<13>second", b"third"]
    assert raw.source.tolist() == [0, 0, 1] and raw.frame_flags.tolist() == [0, 1, 0]


def test_raw_batch_damage_is_an_error():
    with pytest.raises(ValueError):
        RawBatch.decode(memoryview(b"\xff" * 40))


def test_column_batch_round_trip():
    arrays = {"a": np.arange(5, dtype=np.int64), "b": np.frombuffer(b"hello", np.uint8), "c": np.empty(0, np.uint32)}
    payload = encode_columns({"rows": 5, "in": ["raw-r0-p0", 77]}, dict(arrays))
    header, out = decode_columns(memoryview(payload))
    assert header["rows"] == 5 and header["in"] == ["raw-r0-p0", 77]
    for name, arr in arrays.items():
        assert out[name].dtype == arr.dtype and np.array_equal(out[name], arr)
    with pytest.raises(ValueError):
        decode_columns(memoryview(payload[:20]))
