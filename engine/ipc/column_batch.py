"""Column batch: the parser → writer ring record (kind COLUMNS). `ColumnBatch` is the rows of one
raw batch as named arrays; its encoding and its checked decoding are side by side below.

Wire layout (little-endian):

    offset      size   field
    0           4      header_len u32
    4           4      reserved (0)
    8           h      header: a msgpack map (below)
    (pad to 8)         the arrays, each at its directory offset from the start of this area,
                       8-byte aligned, in the order of the array table

Header, a map with these keys in this order:

    rows        int                n, the row count
    raw_bytes   int                bytes of the frames the rows were parsed from
    dicts       map                column → [epoch, [[id, value], ...]]: dictionary entries new
                                   since the parser's previous batch (`engine.parse.dictionaries`
                                   sends them, `engine.write.intake` keeps them)
    in          [ring, position]   the raw ring record parsed into this batch: the writer drops a
                                   batch at or before the last position it took from that ring;
                                   absent in batches that tests and tools build
    arrays      [[name, dtype, offset, nbytes], ...]   the array directory

Arrays, n rows and P = kv_ptr[n] field pairs. Dictionary ids are 0 for no value, else the id the
parser's dictionary gave the value (its entry is in this batch's `dicts` or an earlier one's):

    name      dtype  length      meaning
    time      <i8    n           the row's time, ns since epoch UTC (the receive time if it has none)
    recv      <i8    n           when the receiver read the row's frame, ns since epoch UTC
    severity  |u1    n           0-7; NO_VALUE (255) when there is none
    facility  |u1    n           0-23; NO_VALUE when there is none
    format    |u1    n           native_kernels.syslog FORMAT_*: index into FORMATS
    flags     |u1    n           row flags, engine.store.rows ROW_*
    host      <u4    n           dictionary id of the host
    app       <u4    n           dictionary id of the app name
    procid    <u4    n           dictionary id of the process id
    msgid     <u4    n           dictionary id of the message id
    source    <u4    n           dictionary id of the sender's address ("ip:port")
    msg_off   <u4    n + 1       row r's message is msg_data[msg_off[r]:msg_off[r + 1]]
    msg_data  |u1    ≥ msg_off[n]
    sd_off    <u4    n + 1       row r's RFC 5424 structured data is sd_data[sd_off[r]:sd_off[r + 1]]
    sd_data   |u1    ≥ sd_off[n]
    kv_ptr    <u4    n + 1       row r's field pairs are pairs kv_ptr[r]:kv_ptr[r + 1]
    kv_key    <u4    P           the pair's key: dictionary id (dictionary `fieldkey`)
    kv_kind   |u1    P           engine.store.rows KV_FIELD, KV_SD, or KV_ALERT (a rule the row
                                 matched at ingest, added by engine.alert.ingest_alerts)
    kv_off    <u4    P + 1       pair j's value is kv_data[kv_off[j]:kv_off[j + 1]]
    kv_data   |u1    ≥ kv_off[P]

Decoding gives numpy views into the ring (no copy until the writer builds a part) after checking
every bound: the header decodes, the directory names exactly these arrays with these dtypes
inside the payload, lengths agree with `rows` and `kv_ptr`, and offsets never go backwards nor
past their data. A payload that fails raises a `engine.ipc.batch_errors.BatchDecodeError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, NamedTuple

import msgspec
import numpy as np
import numpy.typing as npt

from engine.ipc.batch_errors import (
    BatchArrayOutOfBounds,
    BatchHeaderInvalid,
    BatchLengthMismatch,
    BatchOffsetsInvalid,
    BatchTruncated,
)
from engine.store.rows import DICT_COLUMNS, DICTIONARIES, Rows

# {column: (epoch, [(id, value), ...])}: the `dicts` section of a header.
DictionaryUpdates = dict[str, tuple[int, list[tuple[int, bytes]]]]

PREFIX = struct.Struct("<II")  # header length, reserved

I8, U1, U4 = np.dtype("<i8"), np.dtype("|u1"), np.dtype("<u4")
# Every array in wire order, with its dtype.
ARRAYS: tuple[tuple[str, np.dtype[np.generic]], ...] = (
    ("time", I8),
    ("recv", I8),
    ("severity", U1),
    ("facility", U1),
    ("format", U1),
    ("flags", U1),
    *((column, U4) for column in DICT_COLUMNS),
    ("msg_off", U4),
    ("msg_data", U1),
    ("sd_off", U4),
    ("sd_data", U1),
    ("kv_ptr", U4),
    ("kv_key", U4),
    ("kv_kind", U1),
    ("kv_off", U4),
    ("kv_data", U1),
)
_PER_ROW = ("time", "recv", "severity", "facility", "format", "flags", *DICT_COLUMNS)
# (offsets, the bytes they index): value i is data[offsets[i]:offsets[i + 1]].
VALUE_ARRAYS = (("msg_off", "msg_data"), ("sd_off", "sd_data"), ("kv_off", "kv_data"))
# Arrays of offsets (into bytes, or `kv_ptr` into pairs): n + 1 or P + 1 long, never decreasing.
OFFSET_ARRAYS = frozenset({"msg_off", "sd_off", "kv_off", "kv_ptr"})


class _Header(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The msgpack header; field order is wire order."""

    rows: int
    raw_bytes: int
    dicts: DictionaryUpdates
    origin: tuple[str, int] | None = msgspec.field(default=None, name="in")
    arrays: list[tuple[str, str, int, int]]


_header_encoder = msgspec.msgpack.Encoder()
_header_decoder = msgspec.msgpack.Decoder(_Header)


def _pad8(n: int) -> int:
    return (n + 7) & ~7


class ColumnLayout(NamedTuple):
    """Where an encoded batch puts things: what `ColumnBatch.write` needs, and its size to
    reserve in a ring first."""

    size: int  # payload bytes
    header: bytes  # the encoded header
    offsets: tuple[int, ...]  # each array's offset in the array area, in wire order


@dataclass(frozen=True, kw_only=True)
class ColumnBatch:
    """One raw batch's rows as columns: the arrays of the module docstring's table (same names),
    the header fields `raw_bytes`, `dicts` and `origin` (`in`), and `rows` (len(time))."""

    raw_bytes: int
    dicts: DictionaryUpdates
    time: npt.NDArray[np.int64]
    recv: npt.NDArray[np.int64]
    severity: npt.NDArray[np.uint8]
    facility: npt.NDArray[np.uint8]
    format: npt.NDArray[np.uint8]
    flags: npt.NDArray[np.uint8]
    host: npt.NDArray[np.uint32]
    app: npt.NDArray[np.uint32]
    procid: npt.NDArray[np.uint32]
    msgid: npt.NDArray[np.uint32]
    source: npt.NDArray[np.uint32]
    msg_off: npt.NDArray[np.uint32]
    msg_data: npt.NDArray[np.uint8]
    sd_off: npt.NDArray[np.uint32]
    sd_data: npt.NDArray[np.uint8]
    kv_ptr: npt.NDArray[np.uint32]
    kv_key: npt.NDArray[np.uint32]
    kv_kind: npt.NDArray[np.uint8]
    kv_off: npt.NDArray[np.uint32]
    kv_data: npt.NDArray[np.uint8]
    origin: tuple[str, int] | None = None
    # Rows the parser kept as plain text because parsing them failed. The parser worker counts
    # them; not encoded (a decoded batch says 0).
    fallback: int = 0
    # Rows whose time was out of range (too old, too new: engine.parse.time_bounds), adjusted or
    # dropped. The parser worker counts them; not encoded.
    out_of_range: tuple[int, int] = (0, 0)

    @property
    def rows(self) -> int:
        return len(self.time)

    @property
    def ids(self) -> dict[str, npt.NDArray[np.uint32]]:
        """The dictionary id columns by name (`DICT_COLUMNS`)."""
        return {column: getattr(self, column) for column in DICT_COLUMNS}

    # --- encoding -----------------------------------------------------------------------------
    def layout(self) -> ColumnLayout:
        """Lay the batch out: its size and encoded header, for `write`."""
        directory = []
        offsets = []
        pos = 0
        for name, dtype in ARRAYS:
            nbytes = len(getattr(self, name)) * dtype.itemsize
            directory.append((name, dtype.str, pos, nbytes))
            offsets.append(pos)
            pos = _pad8(pos + nbytes)
        header = _header_encoder.encode(
            _Header(rows=self.rows, raw_bytes=self.raw_bytes, dicts=self.dicts, origin=self.origin, arrays=directory)
        )
        return ColumnLayout(_pad8(PREFIX.size + len(header)) + pos, header, tuple(offsets))

    def write(self, out: memoryview, layout: ColumnLayout) -> None:
        """Encode into `out` (at least `layout.size` bytes, e.g. a ring reservation)."""
        PREFIX.pack_into(out, 0, len(layout.header), 0)
        out[PREFIX.size : PREFIX.size + len(layout.header)] = layout.header
        base = _pad8(PREFIX.size + len(layout.header))
        buf = np.frombuffer(out, dtype=np.uint8)
        for (name, dtype), offset in zip(ARRAYS, layout.offsets):
            arr = np.ascontiguousarray(getattr(self, name), dtype=dtype).reshape(-1)
            if arr.nbytes:
                buf[base + offset : base + offset + arr.nbytes] = arr.view(np.uint8)

    def encode(self) -> bytes:
        """The batch as bytes (tests and tools; the parser writes straight into its ring)."""
        layout = self.layout()
        out = bytearray(layout.size)
        self.write(memoryview(out), layout)
        return bytes(out)

    # --- decoding -----------------------------------------------------------------------------
    @classmethod
    def decode(cls, payload: memoryview | bytes) -> ColumnBatch:
        """The batch in `payload`, as views into it; raises a BatchDecodeError when the payload
        fails any check of the module docstring."""
        header, base = _decode_header(payload)
        entries: dict[str, tuple[str, int, int]] = {}
        for name, dtype_str, offset, nbytes in header.arrays:
            if name in entries:
                raise BatchHeaderInvalid(f"column batch lists array {name!r} twice")
            entries[name] = (dtype_str, offset, nbytes)
        if set(entries) != {name for name, _ in ARRAYS}:
            missing = sorted({name for name, _ in ARRAYS} - set(entries))
            raise BatchHeaderInvalid(f"column batch arrays {sorted(entries)} lack {missing} or have others")
        buf = np.frombuffer(payload, dtype=np.uint8)
        arrays: dict[str, Any] = {}
        for name, dtype in ARRAYS:
            dtype_str, offset, nbytes = entries[name]
            if dtype_str != dtype.str:
                raise BatchHeaderInvalid(f"column batch array {name} is {dtype_str}, not {dtype.str}")
            start = base + offset
            if offset < 0 or nbytes < 0 or nbytes % dtype.itemsize or start + nbytes > len(buf):
                raise BatchArrayOutOfBounds(
                    f"column batch array {name} ({nbytes} bytes at {offset}) runs outside the payload"
                )
            arrays[name] = buf[start : start + nbytes].view(dtype)
        batch = cls(raw_bytes=header.raw_bytes, dicts=header.dicts, origin=header.origin, **arrays)
        batch._check(header.rows)
        return batch

    @classmethod
    def decode_header_only(cls, payload: memoryview | bytes) -> tuple[DictionaryUpdates, tuple[str, int] | None]:
        """(dictionary updates, origin) of a batch whose rows are not wanted; checks the header
        only."""
        header, _ = _decode_header(payload)
        return header.dicts, header.origin

    def _check(self, rows: int) -> None:
        """Lengths and offsets against the table of the module docstring."""
        for name in _PER_ROW:
            if len(getattr(self, name)) != rows:
                raise BatchLengthMismatch(f"column batch array {name} holds {len(getattr(self, name))} of {rows} rows")
        for name in ("msg_off", "sd_off", "kv_ptr"):
            if len(getattr(self, name)) != rows + 1:
                raise BatchLengthMismatch(
                    f"column batch offsets {name} hold {len(getattr(self, name))}, not {rows + 1}"
                )
        _check_offsets("kv_ptr", self.kv_ptr, len(self.kv_key))
        pairs = int(self.kv_ptr[-1])
        if len(self.kv_key) != pairs or len(self.kv_kind) != pairs or len(self.kv_off) != pairs + 1:
            raise BatchLengthMismatch(
                f"column batch holds {len(self.kv_key)} keys, {len(self.kv_kind)} kinds and "
                f"{len(self.kv_off)} value offsets for {pairs} pairs"
            )
        for offsets, data in VALUE_ARRAYS:
            _check_offsets(offsets, getattr(self, offsets), len(getattr(self, data)))

    # --- as rows ------------------------------------------------------------------------------
    def to_rows(self, dicts: dict[str, list[bytes]]) -> Rows:
        """The batch as `Rows` whose ids resolve in `dicts` (views of the batch's arrays, the
        offsets widened to int64)."""
        return Rows(
            time=self.time,
            recv=self.recv,
            severity=self.severity,
            facility=self.facility,
            format=self.format,
            flags=self.flags,
            ids=self.ids,
            dicts=dicts,
            msg_off=self.msg_off.astype(np.int64),
            msg_data=self.msg_data,
            sd_off=self.sd_off.astype(np.int64),
            sd_data=self.sd_data,
            kv_ptr=self.kv_ptr.astype(np.int64),
            kv_key=self.kv_key,
            kv_kind=self.kv_kind,
            kv_off=self.kv_off.astype(np.int64),
            kv_data=self.kv_data,
            raw_bytes=self.raw_bytes,
        )


def _decode_header(payload: memoryview | bytes) -> tuple[_Header, int]:
    """The decoded header and where the array area starts."""
    if len(payload) < PREFIX.size:
        raise BatchTruncated(f"column batch of {len(payload)} bytes is shorter than its prefix")
    head_len, _ = PREFIX.unpack_from(payload, 0)
    if PREFIX.size + head_len > len(payload):
        raise BatchTruncated(f"column batch header of {head_len} bytes runs past the {len(payload)}-byte payload")
    try:
        header = _header_decoder.decode(payload[PREFIX.size : PREFIX.size + head_len])
    except msgspec.DecodeError as exc:
        raise BatchHeaderInvalid(f"column batch header is damaged: {exc}") from exc
    unknown = set(header.dicts) - set(DICTIONARIES)
    if unknown:
        raise BatchHeaderInvalid(f"column batch carries entries of unknown dictionaries {sorted(unknown)}")
    return header, _pad8(PREFIX.size + head_len)


def _check_offsets(name: str, offsets: npt.NDArray[np.uint32], limit: int) -> None:
    """`offsets` never go backwards and end at most at `limit`."""
    if np.any(offsets[1:] < offsets[:-1]) or int(offsets[-1]) > limit:
        raise BatchOffsetsInvalid(f"column batch offsets {name} go backwards or past their {limit} items")
