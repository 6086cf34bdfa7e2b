"""Column batches: the encoding is the documented wire layout byte for byte, it round-trips, and
every damaged payload raises a named BatchDecodeError."""

from __future__ import annotations

import struct
from dataclasses import replace

import msgspec
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.config import Parse
from engine.errors import LogjetError
from engine.ipc.batch_errors import (
    BatchArrayOutOfBounds,
    BatchHeaderInvalid,
    BatchLengthMismatch,
    BatchOffsetsInvalid,
    BatchTruncated,
)
from engine.ipc.column_batch import ARRAYS, ColumnBatch
from engine.ipc.raw_batch import raw_batch_of
from engine.parse.batch_parser import BatchParser

LINES = [
    b'<165>1 2024-05-06T07:08:09.1Z web-1 app 7 ID1 [ex@1 k="1"] request done status=200',
    b"<13>Oct 11 22:14:15 db-1 sshd[7]: Accepted password for bob port=22",
    b'{"msg": "json row", "host": "web-2", "level": "warn", "a": {"b": 1}}',
    b"plain text without a header",
    b'{"not json',
]


def reference_encoding(header: dict, arrays: dict[str, np.ndarray]) -> bytes:
    """The wire bytes spelled out from the layout in engine.ipc.column_batch's docstring, without
    ColumnBatch: prefix, msgpack header (with the directory), arrays 8-byte aligned."""
    directory, body = [], bytearray()
    for name, arr in arrays.items():
        data = np.ascontiguousarray(arr).tobytes()
        directory.append([name, arr.dtype.str, len(body), len(data)])
        body += data + bytes(-len(data) % 8)
    head = msgspec.msgpack.encode({**header, "arrays": directory})
    return struct.pack("<II", len(head), 0) + head + bytes(-(8 + len(head)) % 8) + bytes(body)


def parts(batch: ColumnBatch) -> tuple[dict, dict[str, np.ndarray]]:
    """The header map and arrays of `batch`, in wire order."""
    header = {"rows": batch.rows, "raw_bytes": batch.raw_bytes, "dicts": batch.dicts}
    if batch.origin is not None:
        header["in"] = list(batch.origin)
    return header, {name: getattr(batch, name) for name, _ in ARRAYS}


def parsed(lines=LINES) -> ColumnBatch:
    return BatchParser(Parse()).parse(raw_batch_of(lines, 1_700_000_000 * 10**9, "10.0.0.1:514"))


def assert_same(a: ColumnBatch, b: ColumnBatch) -> None:
    assert (a.rows, a.raw_bytes, a.dicts, a.origin) == (b.rows, b.raw_bytes, b.dicts, b.origin)
    for name, dtype in ARRAYS:
        got = getattr(b, name)
        assert got.dtype == dtype and np.array_equal(got, getattr(a, name)), name


def test_parser_output_encodes_to_the_documented_bytes():
    batch = replace(parsed(), origin=("raw-r0-p0", 4096))
    assert batch.dicts and batch.kv_key.size  # entries and fields: every part of the header is used
    assert batch.encode() == reference_encoding(*parts(batch))
    assert_same(batch, ColumnBatch.decode(memoryview(batch.encode())))


def test_a_hand_built_payload_decodes():
    arrays = {name: np.zeros(1, dtype) for name, dtype in ARRAYS}
    arrays.update(
        time=np.array([7], "<i8"),
        host=np.array([1], "<u4"),
        msg_off=np.array([0, 2], "<u4"),
        msg_data=np.frombuffer(b"hi", "|u1"),
        sd_off=np.zeros(2, "<u4"),
        kv_ptr=np.array([0, 1], "<u4"),
        kv_key=np.array([1], "<u4"),
        kv_off=np.array([0, 1], "<u4"),
        kv_data=np.frombuffer(b"v", "|u1"),
    )
    header = {"rows": 1, "raw_bytes": 10, "dicts": {"host": [5, [[1, b"h"]]], "fieldkey": [5, [[1, b"k"]]]}}
    batch = ColumnBatch.decode(reference_encoding({**header, "in": ["raw-r1-p0", 9]}, arrays))
    assert batch.rows == 1 and batch.raw_bytes == 10 and batch.origin == ("raw-r1-p0", 9)
    assert batch.dicts == {"host": (5, [(1, b"h")]), "fieldkey": (5, [(1, b"k")])}
    assert batch.time.tolist() == [7] and batch.host.tolist() == [1] and bytes(batch.msg_data) == b"hi"
    rows = batch.to_rows({"host": [b"h"], "fieldkey": [b"k"]})
    assert rows.value("host", 0) == b"h" and rows.fields(0) == [(b"k", 0, b"v")] and rows.raw_bytes == 10
    # Without `in` (tools and tests build such batches) the origin is None.
    assert ColumnBatch.decode(reference_encoding(header, arrays)).origin is None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    messages=st.lists(st.binary(max_size=30), max_size=20),
    pairs=st.lists(st.integers(0, 3), max_size=20),
    value=st.binary(max_size=5),
)
def test_round_trip(messages, pairs, value):
    n = len(messages)
    per_row = (pairs + [0] * n)[:n]
    total = sum(per_row)
    msg_off = np.zeros(n + 1, np.uint32)
    np.cumsum([len(m) for m in messages], out=msg_off[1:])
    kv_ptr = np.zeros(n + 1, np.uint32)
    np.cumsum(per_row, out=kv_ptr[1:])
    batch = ColumnBatch(
        raw_bytes=int(msg_off[-1]),
        dicts={"app": (3, [(1, b"a")])},
        time=np.arange(n, dtype=np.int64),
        recv=np.full(n, 5, np.int64),
        severity=np.full(n, 255, np.uint8),
        facility=np.zeros(n, np.uint8),
        format=np.zeros(n, np.uint8),
        flags=np.zeros(n, np.uint8),
        host=np.zeros(n, np.uint32),
        app=np.ones(n, np.uint32),
        procid=np.zeros(n, np.uint32),
        msgid=np.zeros(n, np.uint32),
        source=np.zeros(n, np.uint32),
        msg_off=msg_off,
        msg_data=np.frombuffer(b"".join(messages), np.uint8),
        sd_off=np.zeros(n + 1, np.uint32),
        sd_data=np.empty(0, np.uint8),
        kv_ptr=kv_ptr,
        kv_key=np.ones(total, np.uint32),
        kv_kind=np.zeros(total, np.uint8),
        kv_off=np.arange(total + 1, dtype=np.uint32) * len(value),
        kv_data=np.frombuffer(value * total, np.uint8),
        origin=("raw-r0-p1", n),
    )
    payload = batch.encode()
    assert payload == reference_encoding(*parts(batch))
    assert_same(batch, ColumnBatch.decode(payload))


def damaged(**change) -> bytes:
    """The parsed batch's payload with header fields or arrays replaced (no checks on the way)."""
    header, arrays = parts(parsed())
    for key, value in change.items():
        (arrays if key in arrays else header)[key] = value
    return reference_encoding(header, arrays)


@pytest.mark.parametrize(
    "payload, error",
    [
        (lambda: b"\x01\x00", BatchTruncated),  # shorter than the prefix
        (lambda: damaged()[:12], BatchTruncated),  # the header runs past the payload
        (lambda: struct.pack("<II", 2, 0) + b"\xc1\xc1", BatchHeaderInvalid),  # not msgpack
        (lambda: damaged(rows="3"), BatchHeaderInvalid),  # a field of the wrong type
        (lambda: damaged(dicts={"colour": [1, []]}), BatchHeaderInvalid),  # a dictionary the format lacks
        (lambda: damaged(time=np.zeros(5, np.int32)), BatchHeaderInvalid),  # another dtype
        (lambda: damaged(rows=4), BatchLengthMismatch),  # per-row arrays hold 5
        (lambda: damaged(kv_kind=np.zeros(1, np.uint8)), BatchLengthMismatch),  # fewer kinds than pairs
        (lambda: damaged(msg_off=np.array([0, 9, 3, 12, 20, 30], np.uint32)), BatchOffsetsInvalid),
        (lambda: damaged(sd_off=np.array([0, 0, 0, 0, 0, 10_000], np.uint32)), BatchOffsetsInvalid),
    ],
)
def test_damage_is_a_named_error(payload, error):
    with pytest.raises(error) as caught:
        ColumnBatch.decode(memoryview(payload()))
    assert isinstance(caught.value, LogjetError) and isinstance(caught.value, ValueError)


def test_a_directory_entry_outside_the_payload_is_an_error():
    payload = bytearray(damaged())
    head_len = struct.unpack_from("<I", payload)[0]
    header = msgspec.msgpack.decode(payload[8 : 8 + head_len])
    header["arrays"][-1][3] += 8  # kv_data's nbytes past the end
    head = msgspec.msgpack.encode(header)
    assert len(head) == head_len
    payload[8 : 8 + head_len] = head
    with pytest.raises(BatchArrayOutOfBounds):
        ColumnBatch.decode(bytes(payload))


def test_a_missing_array_is_an_error():
    header, arrays = parts(parsed())
    del arrays["kv_data"]
    with pytest.raises(BatchHeaderInvalid):
        ColumnBatch.decode(reference_encoding(header, arrays))


def test_the_header_alone_gives_the_dictionary_entries():
    batch = replace(parsed(), origin=("raw-r0-p0", 1))
    updates, origin = ColumnBatch.decode_header_only(batch.encode())
    assert updates == batch.dicts and origin == ("raw-r0-p0", 1)
