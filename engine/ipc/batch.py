"""The two batch encodings that travel on rings: raw frame batches and column batches.

Raw frame batch (ring record kind RAW), receiver → parser. The frames stay where the receiver
read them (whole read chunks, delimiters included); `starts`/`ends` point at each frame's bytes,
so framing costs no copy. Layout, little-endian, arrays 8-byte aligned:

    offset       size      field
    0            4         n_frames
    4            4         n_sources
    8            4         sources_len   bytes of the sources blob
    12           4         data_len
    16           4         protocol      index into PROTOCOLS
    20           4         reserved
    24           8         recv_ns       when the receiver read the batch (ns since epoch, UTC)
    32           4·n       starts u32    frame start in data
    ...          4·n       ends u32      frame end in data (exclusive)
    ...          2·n       source u16    index into the sources
    ...          1·n       frame flags   FRAME_TRUNCATED
    (pad to 8)   sources_len   sources: "ip:port" strings joined by "\\n"
    (pad to 8)   data_len      data

Column batch (kind COLUMNS), parser → writer: a msgpack header (row count, where the batch came
from, new dictionary entries, and an array directory) followed by the arrays' bytes, 8-byte
aligned. Decoding gives numpy views into the ring: no copy until the writer builds a part.

    offset   size   field
    0        4      header_len
    4        4      reserved
    8        h      msgpack header: {"rows", "source", "arrays": [[name, dtype, offset, nbytes]...], ...}
    (pad to 8)      arrays, each at its directory offset from the start of this area
"""

from __future__ import annotations

import struct
from typing import Any, NamedTuple

import msgspec
import numpy as np

KIND_RAW = 1
KIND_COLUMNS = 2
KIND_ALERT_COUNTS = 3  # parser → evaluator: msgpack [recv_ns, [[rule, digest, [group values], count], ...]]

PROTOCOLS = ("tcp", "udp", "http", "tls")  # stored by index: append, never renumber
FRAME_TRUNCATED = 1

RAW_HEADER = struct.Struct("<IIIIIIq")
COL_PREFIX = struct.Struct("<II")

_msgpack_encoder = msgspec.msgpack.Encoder()
_msgpack_decoder = msgspec.msgpack.Decoder()


def _pad8(n: int) -> int:
    return (n + 7) & ~7


def _raw_layout(n: int, sources_len: int) -> tuple[int, int, int, int, int, int]:
    starts = RAW_HEADER.size
    ends = starts + 4 * n
    src = ends + 4 * n
    flags = src + 2 * n
    sources = _pad8(flags + n)
    data = _pad8(sources + sources_len)
    return starts, ends, src, flags, sources, data


def raw_size(n_frames: int, sources_len: int, data_len: int) -> int:
    """Payload bytes of a raw batch with these counts."""
    return _raw_layout(n_frames, sources_len)[5] + data_len


def write_raw(
    out: memoryview,
    recv_ns: int,
    protocol: int,
    starts: np.ndarray,
    ends: np.ndarray,
    source: np.ndarray,
    frame_flags: np.ndarray,
    sources_blob: bytes,
    chunks: list,
) -> int:
    """Encode a raw batch into `out` (sized by `raw_size`); `chunks` are concatenated as data.
    Returns the bytes written."""
    n = len(starts)
    data_len = sum(len(c) for c in chunks)
    o_starts, o_ends, o_src, o_flags, o_sources, o_data = _raw_layout(n, len(sources_blob))
    RAW_HEADER.pack_into(
        out,
        0,
        n,
        sources_blob.count(b"\n") + 1 if sources_blob else 0,
        len(sources_blob),
        data_len,
        protocol,
        0,
        recv_ns,
    )
    buf = np.frombuffer(out, dtype=np.uint8)
    buf[o_starts:o_ends] = np.ascontiguousarray(starts, dtype="<u4").view(np.uint8)
    buf[o_ends:o_src] = np.ascontiguousarray(ends, dtype="<u4").view(np.uint8)
    buf[o_src:o_flags] = np.ascontiguousarray(source, dtype="<u2").view(np.uint8)
    buf[o_flags : o_flags + n] = np.ascontiguousarray(frame_flags, dtype=np.uint8)
    out[o_sources : o_sources + len(sources_blob)] = sources_blob
    pos = o_data
    for chunk in chunks:
        out[pos : pos + len(chunk)] = chunk
        pos += len(chunk)
    return pos


class RawBatch(NamedTuple):
    """A decoded raw batch: numpy views into the payload (valid while the payload is)."""

    recv_ns: int
    protocol: int
    starts: np.ndarray
    ends: np.ndarray
    source: np.ndarray
    frame_flags: np.ndarray
    sources: list[str]
    data: np.ndarray

    @classmethod
    def decode(cls, payload: memoryview) -> "RawBatch":
        if len(payload) < RAW_HEADER.size:
            raise ValueError(f"raw batch of {len(payload)} bytes is shorter than its header")
        n, n_sources, sources_len, data_len, protocol, _, recv_ns = RAW_HEADER.unpack_from(payload, 0)
        o_starts, o_ends, o_src, o_flags, o_sources, o_data = _raw_layout(n, sources_len)
        if o_data + data_len > len(payload):
            raise ValueError(f"raw batch is damaged: {n} frames, {data_len} data bytes in {len(payload)}")
        buf = np.frombuffer(payload, dtype=np.uint8)
        starts = buf[o_starts:o_ends].view("<u4")
        ends = buf[o_ends:o_src].view("<u4")
        sources = bytes(payload[o_sources : o_sources + sources_len]).decode("utf-8", "replace").split("\n")
        return cls(
            recv_ns,
            protocol,
            starts,
            ends,
            buf[o_src:o_flags].view("<u2"),
            buf[o_flags : o_flags + n],
            sources if sources_len else [],
            buf[o_data : o_data + data_len],
        )


def column_size(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> tuple[int, bytes]:
    """Lay out a column batch: fills `header["arrays"]` (offsets relative to the array area),
    returns (payload bytes, encoded header)."""
    directory = []
    pos = 0
    for name, arr in arrays.items():
        directory.append([name, arr.dtype.str, pos, arr.nbytes])
        pos = _pad8(pos + arr.nbytes)
    header["arrays"] = directory
    encoded = _msgpack_encoder.encode(header)
    return _pad8(COL_PREFIX.size + len(encoded)) + pos, encoded


def write_columns(
    out: memoryview, encoded_header: bytes, header: dict[str, Any], arrays: dict[str, np.ndarray]
) -> None:
    """Encode a column batch laid out by `column_size` into `out`."""
    COL_PREFIX.pack_into(out, 0, len(encoded_header), 0)
    out[COL_PREFIX.size : COL_PREFIX.size + len(encoded_header)] = encoded_header
    base = _pad8(COL_PREFIX.size + len(encoded_header))
    buf = np.frombuffer(out, dtype=np.uint8)
    for name, _dtype, offset, nbytes in header["arrays"]:
        if nbytes:
            buf[base + offset : base + offset + nbytes] = np.ascontiguousarray(arrays[name]).reshape(-1).view(np.uint8)


def encode_columns(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    """A column batch as bytes (tests and tools; workers write straight into the ring)."""
    size, encoded = column_size(header, arrays)
    out = bytearray(size)
    write_columns(memoryview(out), encoded, header, arrays)
    return bytes(out)


def decode_columns(payload: memoryview) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(header, {name: numpy view}) of a column batch; raises ValueError when damaged."""
    if len(payload) < COL_PREFIX.size:
        raise ValueError("column batch shorter than its prefix")
    head_len, _ = COL_PREFIX.unpack_from(payload, 0)
    try:
        header = _msgpack_decoder.decode(payload[COL_PREFIX.size : COL_PREFIX.size + head_len])
    except msgspec.DecodeError as exc:
        raise ValueError(f"column batch header is damaged: {exc}") from exc
    buf = np.frombuffer(payload, dtype=np.uint8)
    base = _pad8(COL_PREFIX.size + head_len)
    arrays = {}
    for name, dtype, offset, nbytes in header["arrays"]:
        if base + offset + nbytes > len(payload):
            raise ValueError(f"column batch array {name} runs past the payload")
        arrays[name] = buf[base + offset : base + offset + nbytes].view(dtype)
    return header, arrays
