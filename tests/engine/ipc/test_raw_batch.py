"""Raw frame batches round-trip through their encoding, and damaged payloads raise named errors."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import LogjetError
from engine.ipc.batch_errors import BatchArrayOutOfBounds, BatchOffsetsInvalid, BatchTruncated
from engine.ipc.raw_batch import RAW_HEADER, RawBatch, raw_batch_of, raw_size, write_raw

CHUNKS = [b"<13>first\n<13>second\n", b"third\r\n"]
SOURCES = b"127.0.0.1:1000\n[::1]:2000"


def encoded(starts=(0, 10, 21), ends=(9, 20, 26), source=(0, 0, 1)) -> bytearray:
    data = b"".join(CHUNKS)
    buf = bytearray(raw_size(len(starts), len(SOURCES), len(data)))
    written = write_raw(
        memoryview(buf),
        123456789,
        1,
        np.array(starts, np.int64),
        np.array(ends, np.int64),
        np.array(source, np.uint16),
        np.array([0, 1, 0], np.uint8),
        SOURCES,
        CHUNKS,
    )
    assert written == len(buf)
    return buf


def test_raw_batch_round_trip():
    raw = RawBatch.decode(memoryview(encoded()))
    assert raw.recv_ns == 123456789 and raw.protocol == 1
    assert raw.sources == ["127.0.0.1:1000", "[::1]:2000"]
    frames = [raw.data[s:e].tobytes() for s, e in zip(raw.starts, raw.ends)]
    assert frames == [b"<13>first", b"<13>second", b"third"]
    assert raw.source.tolist() == [0, 0, 1] and raw.frame_flags.tolist() == [0, 1, 0]


def test_the_layout_is_the_documented_one():
    buf = encoded()
    assert RAW_HEADER.unpack_from(buf, 0) == (3, 2, len(SOURCES), 28, 1, 0, 123456789)
    assert np.frombuffer(buf, "<u4", 3, 32).tolist() == [0, 10, 21]  # starts right after the header
    assert np.frombuffer(buf, "<u4", 3, 44).tolist() == [9, 20, 26]
    assert np.frombuffer(buf, "<u2", 3, 56).tolist() == [0, 0, 1]
    assert bytes(buf[62:65]) == b"\x00\x01\x00"
    assert bytes(buf[72 : 72 + len(SOURCES)]) == SOURCES  # 65 padded to 72
    assert bytes(buf[-28:]) == b"".join(CHUNKS)


def test_raw_batch_of_frames():
    raw = raw_batch_of([b"a", b"bc", b""], 5, "10.0.0.1:9")
    assert [raw.data[s:e].tobytes() for s, e in zip(raw.starts, raw.ends)] == [b"a", b"bc", b""]
    assert raw.sources == ["10.0.0.1:9"] and raw.recv_ns == 5


@pytest.mark.parametrize(
    "damage, error",
    [
        (lambda b: b[:20], BatchTruncated),  # shorter than the header
        (lambda b: b[:-1], BatchTruncated),  # data cut short
        (lambda b: encoded(ends=(9, 20, 29)), BatchOffsetsInvalid),  # a frame past the data
        (lambda b: encoded(starts=(0, 21, 21), ends=(9, 20, 26)), BatchOffsetsInvalid),  # ends before it starts
        (lambda b: encoded(source=(0, 2, 1)), BatchArrayOutOfBounds),  # a third sender of two
    ],
)
def test_damage_is_a_named_error(damage, error):
    payload = memoryview(bytes(damage(encoded())))
    with pytest.raises(error) as caught:
        RawBatch.decode(payload)
    assert isinstance(caught.value, LogjetError) and isinstance(caught.value, ValueError)


def test_field_names_travel_between_sources_and_data():
    names = b'{"msg":["text"]}'
    raw = raw_batch_of([b'{"text":"a"}', b"b"], 5, "10.0.0.1:9", field_names=names)
    assert raw.field_names == names
    assert [raw.data[s:e].tobytes() for s, e in zip(raw.starts, raw.ends)] == [b'{"text":"a"}', b"b"]
    assert raw.sources == ["10.0.0.1:9"]
    # Without names the layout is the one above: a batch written before they existed decodes alike.
    assert raw_batch_of([b"x"], 5).field_names == b""
