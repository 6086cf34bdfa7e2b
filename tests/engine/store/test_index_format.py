"""engine.store.index_format: each blob kind decodes to what was encoded, and a blob cut short
or with a directory that does not match raises PartDamaged, never an IndexError or a crash."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from pyroaring import BitMap

from engine.store.index_format import (
    BitmapSet,
    TokenSet,
    decode_blooms,
    decode_frame_blooms,
    encode_bitmap,
    encode_bitmap_set,
    encode_blooms,
    encode_frame_blooms,
    encode_token_set,
    u8_code,
    u8_value,
)
from engine.store.part_format import PartDamaged
from native_kernels.bloom import build_bloom
from engine.store.rows import FORMATS


def _bitmap(rows: list[int]) -> bytes:
    return encode_bitmap(np.array(rows, np.uint32))


def test_bitmap_set_round_trip() -> None:
    blob = encode_bitmap_set([b"db-01", b"web-02", b""], [_bitmap([0, 5, 9]), _bitmap([1]), _bitmap([2, 3])])
    s = BitmapSet(blob)
    assert s.values == [b"db-01", b"web-02", b""]
    assert s.rows(b"db-01") == BitMap([0, 5, 9])
    assert s.rows(b"web-02") == BitMap([1])
    assert s.rows(b"") == BitMap([2, 3])
    assert s.rows(b"absent") == BitMap()


def test_empty_bitmap_set() -> None:
    s = BitmapSet(encode_bitmap_set([], []))
    assert s.values == [] and s.rows(b"x") == BitMap()


def test_token_set_round_trip_shares_bitmaps() -> None:
    blob = encode_token_set([(_bitmap([1, 2]), [b"failed", b"password"]), (_bitmap([7]), [b"oom"])])
    s = TokenSet(blob)
    assert s.rows(b"failed") == s.rows(b"password") == BitMap([1, 2])
    assert s.rows(b"oom") == BitMap([7])
    assert s.rows(b"other") is None


def test_blooms_round_trip() -> None:
    filters = [np.arange(1, 4, dtype=np.uint64), np.arange(10, 12, dtype=np.uint64)]
    got = decode_blooms(encode_blooms(filters, 7), 2)
    assert [f.tolist() for f in got] == [[1, 2, 3], [10, 11]]
    with pytest.raises(PartDamaged, match="2 filters for 3 blocks"):
        decode_blooms(encode_blooms(filters, 7), 3)


def _filter(items: list[int]) -> np.ndarray:
    return build_bloom(np.asarray(items, np.uint64) * np.uint64(0x9E3779B97F4A7C15), 7)


def test_frame_blooms_round_trip() -> None:
    # Block 0 cut into the rest and two frames, block 1 not cut.
    filters = [[_filter([1, 2]), _filter([3]), _filter([4, 5, 6])], [_filter(list(range(100)))]]
    got = decode_frame_blooms(encode_frame_blooms(filters, 7), 2)
    assert got.block_ends.tolist() == [0, 3, 4]
    flat = [f for block in filters for f in block]
    assert [got.words[a:b].tolist() for a, b in zip(got.word_ends[:-1], got.word_ends[1:])] == [
        f.tolist() for f in flat
    ]
    with pytest.raises(PartDamaged, match="2 blocks for 3"):
        decode_frame_blooms(encode_frame_blooms(filters, 7), 3)
    with pytest.raises(PartDamaged, match="no filter"):
        decode_frame_blooms(encode_frame_blooms([filters[0], []], 7), 2)
    spoiled = bytearray(encode_frame_blooms(filters, 7))
    spoiled[-len(flat[-1]) * 8] ^= 0x40  # the last filter's header: k out of range
    with pytest.raises(PartDamaged, match="damaged bloom filter 3"):
        decode_frame_blooms(bytes(spoiled), 2)


def test_split_blooms_need_a_number_filter_and_a_frame_filter_per_block() -> None:
    # Version 6: each block's number filter, then its rest frame's (and its frames').
    filters = [[_filter([7, 8]), _filter([1, 2]), _filter([3])], [_filter([9]), _filter(list(range(100)))]]
    got = decode_frame_blooms(encode_frame_blooms(filters, 10), 2, least=2)
    assert got.block_ends.tolist() == [0, 3, 5]
    with pytest.raises(PartDamaged, match="fewer than 2"):  # block 1 has its number filter only
        decode_frame_blooms(encode_frame_blooms([filters[0], filters[1][:1]], 10), 2, least=2)


@pytest.mark.parametrize("column", ["severity", "facility", "format"])
def test_u8_spelling_round_trip(column: str) -> None:
    for code in range(len(FORMATS) if column == "format" else 24):
        assert u8_code(column, u8_value(column, code)) == code
    assert u8_value("format", 1) == b"rfc5424" and u8_value("severity", 3) == b"3"


@pytest.mark.parametrize(
    "decode, blob",
    [
        (BitmapSet, encode_bitmap_set([b"a", b"b"], [_bitmap([1]), _bitmap([2])])),
        (TokenSet, encode_token_set([(_bitmap([1, 2]), [b"word"])])),
        (lambda blob: decode_blooms(blob, 1), encode_blooms([np.arange(1, 9, dtype=np.uint64)], 7)),
        (lambda blob: decode_frame_blooms(blob, 1), encode_frame_blooms([[_filter([1]), _filter([2])]], 7)),
        (
            lambda blob: decode_frame_blooms(blob, 1, least=2),
            encode_frame_blooms([[_filter([1]), _filter([2])]], 10),
        ),
    ],
    ids=["bitmap set", "token set", "blooms", "frame blooms", "split blooms"],
)
def test_cut_or_padded_blobs_are_damaged(decode: Callable[[bytes], object], blob: bytes) -> None:
    for cut in (0, 3, 7, len(blob) // 2, len(blob) - 1):
        with pytest.raises(PartDamaged):
            decode(blob[:cut])
    with pytest.raises(PartDamaged):
        decode(blob + b"\0" * 8)


def test_a_bitmap_that_does_not_deserialize_is_damaged() -> None:
    blob = bytearray(encode_bitmap_set([b"a"], [_bitmap([1, 2, 3])]))
    blob[-8:] = b"\xff" * 8
    with pytest.raises(PartDamaged, match="does not deserialize"):
        BitmapSet(bytes(blob)).rows(b"a")
