"""Raw frame batch: the receiver → parser ring record (kind RAW), its encoding and decoding.

The frames stay where the receiver read them (whole read chunks, delimiters included);
`starts`/`ends` point at each frame's bytes, so framing costs no copy. Layout, little-endian,
arrays 8-byte aligned:

    offset       size          field
    0            4             n_frames
    4            4             n_sources
    8            4             sources_len   bytes of the sources blob
    12           4             data_len
    16           4             protocol      index into PROTOCOLS
    20           4             names_len     bytes of the field names blob (0: none)
    24           8             recv_ns       when the receiver read the batch (ns since epoch, UTC)
    32           4·n           starts u32    frame start in data
    ...          4·n           ends u32      frame end in data (exclusive)
    ...          2·n           source u16    index into the sources
    ...          1·n           frame flags   native_kernels.framing TRUNCATED | FRAMING_ERROR, or
                                             OTLP_REQUEST: the frame is a whole OTLP/HTTP protobuf
                                             logs request the API checked, its records the rows;
                                             LOKI_REQUEST: the same for a Loki PushRequest
                                             (un-snappied), its entries the rows
    (pad to 8)   sources_len   sources: "ip:port" strings joined by "\\n"
    (pad to 8)   names_len     field names: which JSON keys fill which column for this batch
                               (engine.parse.json_keys.encode_overrides); absent for most
    (pad to 8)   data_len      data

`write_raw` encodes (straight into a ring reservation), `RawBatch.decode` decodes and checks
the bounds; `raw_size`, `FRAME_OVERHEAD` and `batch_overhead` size a batch before it is built.
"""

from __future__ import annotations

import struct
from typing import NamedTuple, Sequence

import numpy as np
import numpy.typing as npt

from engine.ipc.batch_errors import BatchArrayOutOfBounds, BatchOffsetsInvalid, BatchTruncated

PROTOCOLS = ("tcp", "udp", "http", "tls")  # stored by index: append, never renumber

RAW_HEADER = struct.Struct("<IIIIIIq")
# A frame flag beside native_kernels.framing's: the frame is one ExportLogsServiceRequest
# (engine.parse.otlp_rows), so the parser, not the single API process, makes its rows.
OTLP_REQUEST = 4
# The same for a Loki PushRequest, un-snappied (engine.parse.loki_rows).
LOKI_REQUEST = 8
# Either: the frame is a whole push request, not one row.
WHOLE_REQUEST = OTLP_REQUEST | LOKI_REQUEST
# Per-frame bytes of a raw batch beyond the frame itself: start u32, end u32, source u16, flags u8.
FRAME_OVERHEAD = 4 + 4 + 2 + 1
# Bytes a sender address may take in a batch's sources blob ("[ipv6]:port" and its separator).
SOURCE_OVERHEAD = 48
# The header (32 bytes) and the padding of the sources and data areas to 8 bytes, rounded up.
_FIXED_OVERHEAD = 64


def batch_overhead(sources: int) -> int:
    """Bytes of a raw batch beyond its frames: header, padding, sender addresses (bounded)."""
    return _FIXED_OVERHEAD + SOURCE_OVERHEAD * sources


def _pad8(n: int) -> int:
    return (n + 7) & ~7


class _Layout(NamedTuple):
    """Byte offsets of a raw batch's areas."""

    starts: int
    ends: int
    source: int
    flags: int
    sources: int
    names: int
    data: int


def _layout(n: int, sources_len: int, names_len: int = 0) -> _Layout:
    starts = RAW_HEADER.size
    ends = starts + 4 * n
    src = ends + 4 * n
    flags = src + 2 * n
    sources = _pad8(flags + n)
    names = _pad8(sources + sources_len)
    data = _pad8(names + names_len)
    return _Layout(starts, ends, src, flags, sources, names, data)


def raw_size(n_frames: int, sources_len: int, data_len: int, names_len: int = 0) -> int:
    """Payload bytes of a raw batch with these counts."""
    return _layout(n_frames, sources_len, names_len).data + data_len


def write_raw(
    out: memoryview,
    recv_ns: int,
    protocol: int,
    starts: npt.ArrayLike,
    ends: npt.ArrayLike,
    source: npt.ArrayLike,
    frame_flags: npt.ArrayLike,
    sources_blob: bytes,
    chunks: Sequence[bytes | memoryview],
    field_names: bytes = b"",
) -> int:
    """Encode a raw batch into `out` (sized by `raw_size`); `chunks` are concatenated as data;
    `field_names` is the blob of `engine.parse.json_keys.encode_overrides` (b"": none).
    Returns the bytes written."""
    starts = np.ascontiguousarray(starts, dtype="<u4")
    n = len(starts)
    data_len = sum(len(c) for c in chunks)
    at = _layout(n, len(sources_blob), len(field_names))
    RAW_HEADER.pack_into(
        out,
        0,
        n,
        sources_blob.count(b"\n") + 1 if sources_blob else 0,
        len(sources_blob),
        data_len,
        protocol,
        len(field_names),
        recv_ns,
    )
    buf = np.frombuffer(out, dtype=np.uint8)
    buf[at.starts : at.ends] = starts.view(np.uint8)
    buf[at.ends : at.source] = np.ascontiguousarray(ends, dtype="<u4").view(np.uint8)
    buf[at.source : at.flags] = np.ascontiguousarray(source, dtype="<u2").view(np.uint8)
    buf[at.flags : at.flags + n] = np.ascontiguousarray(frame_flags, dtype=np.uint8)
    out[at.sources : at.sources + len(sources_blob)] = sources_blob
    out[at.names : at.names + len(field_names)] = field_names
    pos = at.data
    for chunk in chunks:
        out[pos : pos + len(chunk)] = chunk
        pos += len(chunk)
    return pos


class RawBatch(NamedTuple):
    """A decoded raw batch: numpy views into the payload (valid while the payload is).
    Frame i is `data[starts[i]:ends[i]]`, sent by `sources[source[i]]`, with `frame_flags[i]`."""

    recv_ns: int
    protocol: int
    starts: npt.NDArray[np.uint32]
    ends: npt.NDArray[np.uint32]
    source: npt.NDArray[np.uint16]
    frame_flags: npt.NDArray[np.uint8]
    sources: list[str]
    data: npt.NDArray[np.uint8]
    field_names: bytes = b""  # engine.parse.json_keys.encode_overrides; b"": none

    @classmethod
    def decode(cls, payload: memoryview) -> RawBatch:
        """The batch in `payload`; raises a BatchDecodeError when the payload is not one (too
        short, frames outside the data, a source index past the sources)."""
        if len(payload) < RAW_HEADER.size:
            raise BatchTruncated(f"raw batch of {len(payload)} bytes is shorter than its header")
        n, _, sources_len, data_len, protocol, names_len, recv_ns = RAW_HEADER.unpack_from(payload, 0)
        at = _layout(n, sources_len, names_len)
        if at.data + data_len > len(payload):
            raise BatchTruncated(f"raw batch is damaged: {n} frames, {data_len} data bytes in {len(payload)}")
        buf = np.frombuffer(payload, dtype=np.uint8)
        starts = buf[at.starts : at.ends].view("<u4")
        ends = buf[at.ends : at.source].view("<u4")
        source = buf[at.source : at.flags].view("<u2")
        text = bytes(payload[at.sources : at.sources + sources_len]).decode("utf-8", "replace")
        sources = text.split("\n") if sources_len else []
        if n and (np.any(starts > ends) or int(ends.max()) > data_len):
            raise BatchOffsetsInvalid(f"raw batch frames run outside its {data_len} data bytes")
        # No sources at all is allowed (a batch whose one sender has no name): rows get none.
        if n and sources and int(source.max()) >= len(sources):
            raise BatchArrayOutOfBounds(f"raw batch frame names sender {int(source.max())} of {len(sources)}")
        flags = buf[at.flags : at.flags + n]
        names = bytes(payload[at.names : at.names + names_len])
        return cls(recv_ns, protocol, starts, ends, source, flags, sources, buf[at.data : at.data + data_len], names)


def raw_batch_of(
    frames: Sequence[bytes],
    recv_ns: int,
    source: str = "127.0.0.1",
    protocol: int = 0,
    field_names: bytes = b"",
    flags: int = 0,
) -> RawBatch:
    """One raw batch of `frames`, all sent by `source` with frame flags `flags`, for the
    parser's warm-up, tests and benchmarks (receivers build theirs frame by frame in
    `engine.receive.batcher`)."""
    data = b"".join(frames)
    lens = np.fromiter((len(f) for f in frames), np.int64, len(frames))
    starts = np.zeros(len(frames), np.int64)
    np.cumsum(lens[:-1], out=starts[1:])
    blob = source.encode()
    buf = bytearray(raw_size(len(frames), len(blob), len(data), len(field_names)))
    write_raw(
        memoryview(buf),
        recv_ns,
        protocol,
        starts,
        starts + lens,
        np.zeros(len(frames), np.uint16),
        np.full(len(frames), flags, np.uint8),
        blob,
        [data],
        field_names,
    )
    return RawBatch.decode(memoryview(buf))
