"""The part file format: rows sorted by `_time`, cut into blocks of column streams, with a footer.

This module holds the layout, its structs and the cheap head read; `part_write` writes parts,
`part` reads them (and re-exports all three, so `engine.store.part` is the one import).

One file per part (`engine.store.layout` names it), written once and never changed:

    offset        size   field
    0             8      magic b"LJPART\\x00\\x01"
    8             ...    streams: each one zstd frame with a content checksum, so a flipped
                         bit fails decompression instead of returning wrong rows (a stream
                         whose values are all one unsigned value has no frame: its `fill`)
    ...           ...    index blobs (zstd frames, written by `engine.store.index`)
    F             L      footer: zstd frame of msgpack `_PartBody`: the block directory,
                         dictionaries, index directory
    H = F + L     M      head: msgpack `PartHead`, the small fields that listing and planning
                         need (level, rows, time range, replaces, positions), so `read_head`
                         answers without inflating the footer; `Part.meta` is both together
    H + M         32     trailer: footer length u64, head length u32, footer crc32 u32,
                         head crc32 u32, reserved u32, magic (8)

Each block of up to `block_rows` rows holds these streams (encodings in `engine.store.columns`):
`_time` (delta); `_recv` (for) or `_recv.rel` (for, as `_recv - _time`), whichever spans less;
`severity` `facility` `format` `flags` (u8); `host` `app` `procid` `msgid` `source` (dictionary
ids); `message.data` `sd.data` (`lines`, or `bytes` with `message.len` `sd.len`); the fields:
`kv.count` per row, `kv.key`, `kv.kind`, `kv.data` (`lines`, or `bytes` with `kv.len`), and
`kv.derived` when the pairs found in the message text are not stored (`engine.store.fields`).
A reader decompresses only the streams it asks for; `Part.values` hides the value encodings.

Dictionaries are stored sorted (`rows.sort_dictionaries`): they compress several times better.

Sizes: `data_bytes` is the streams' compressed bytes, `index_bytes` the index blobs'; both are
in the head, so index overhead is reported per part.

Merges: `replaces` lists the names of the parts a merged part holds the rows of; a reader that
sees a part and one that replaces it ignores the replaced one (`engine.store.live`).

Atomic creation: written under a temporary name, fsynced, renamed, and the folder fsynced;
a part is whole or absent. FORMAT_VERSION changes whenever any of the above does
(2: compressed footer, head, `lines`, `_recv.rel`, `kv.derived`, replaces, index; 3: the
message and field values cut into frames by app and by key, `engine.store.value_frames`).
"""

from __future__ import annotations

import os
import struct
import zlib

import msgspec

MAGIC = b"LJPART\x00\x01"
FORMAT_VERSION = 3
# Versions this logjet reads: 3 added value frames (engine.store.value_frames); a version 2
# part is a version 3 part without them.
READABLE_VERSIONS = (2, 3)
TRAILER = struct.Struct("<QIIII8s")
# A head is a few hundred bytes (positions: one entry per ring); more means a damaged trailer.
MAX_HEAD_BYTES = 1 << 20


class PartDamaged(Exception):
    """A part failed a check (magic, checksum, bounds); it must be quarantined, not served."""


class StreamMeta(msgspec.Struct, array_like=True):
    offset: int
    clen: int
    count: int
    dtype: str
    encoding: str
    base: int
    fill: int = -1  # >= 0: every value is this (before decoding); no frame is stored


# The footer and head structs are msgpack arrays, not maps: field names would be most of the
# footer of a small part (a day of the loghub Linux sample holds 3 rows).
class BlockMeta(msgspec.Struct, array_like=True):
    rows: int
    min_time: int
    max_time: int
    streams: dict[str, StreamMeta]


class PartHead(msgspec.Struct, array_like=True):
    """The small summary at the end of a part; every field is also in `PartMeta`."""

    version: int
    level: int
    instance: str
    flush_id: str
    flush_parts: int
    rows: int
    min_time: int
    max_time: int
    created_ns: int
    raw_bytes: int
    data_bytes: int
    index_bytes: int
    positions: dict[str, int] = {}
    replaces: list[str] = []
    flushes: dict[str, int] = {}


class PartMeta(msgspec.Struct, array_like=True):
    version: int
    level: int
    instance: str
    flush_id: str
    flush_parts: int
    rows: int
    min_time: int
    max_time: int
    created_ns: int
    raw_bytes: int
    block_rows: int
    blocks: list[BlockMeta]
    dicts: dict[str, list[bytes]]
    positions: dict[str, int] = {}
    index: dict = {}
    data_bytes: int = 0
    index_bytes: int = 0
    replaces: list[str] = []
    flushes: dict[str, int] = {}  # a merged part: flush id → how many of that flush's parts it holds


_encoder = msgspec.msgpack.Encoder()

class _PartBody(msgspec.Struct, array_like=True):
    """What the footer holds: the fields of `PartMeta` that the head does not."""

    version: int
    block_rows: int
    blocks: list[BlockMeta]
    dicts: dict[str, list[bytes]]
    index: dict
    data_bytes: int
    index_bytes: int


_body_decoder = msgspec.msgpack.Decoder(_PartBody)
_BODY_FIELDS = _PartBody.__struct_fields__
_head_decoder = msgspec.msgpack.Decoder(PartHead)
_HEAD_FIELDS = PartHead.__struct_fields__


def head_of(meta: PartMeta) -> PartHead:
    """The head of a part, from its whole footer."""
    return PartHead(**{k: getattr(meta, k) for k in _HEAD_FIELDS})


class WriteCancelled(Exception):
    """`write_part` stopped because its `cancel` callback asked it to; nothing was written."""


def _check_trailer(tail: bytes, size: int) -> tuple[int, int, int, int]:
    footer_len, head_len, footer_crc, head_crc, _, magic = TRAILER.unpack(tail)
    if magic != MAGIC or head_len > MAX_HEAD_BYTES or footer_len + head_len > size - TRAILER.size - len(MAGIC):
        raise PartDamaged("bad trailer")
    return footer_len, head_len, footer_crc, head_crc


def _decode_head(raw: bytes, crc: int) -> PartHead:
    if zlib.crc32(raw) != crc:
        raise PartDamaged("head checksum mismatch")
    try:
        head = _head_decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise PartDamaged(f"head does not decode: {exc}") from exc
    if head.version not in READABLE_VERSIONS:
        raise PartDamaged(f"format version {head.version}, this logjet reads {READABLE_VERSIONS}")
    return head


def read_head(path: str) -> PartHead:
    """The head of the part at `path`: two small reads, no mapping, no decompression."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < len(MAGIC) + TRAILER.size:
                raise PartDamaged(f"{size} bytes is too short for a part")
            f.seek(size - TRAILER.size)
            _, head_len, _, head_crc = _check_trailer(f.read(TRAILER.size), size)
            f.seek(size - TRAILER.size - head_len)
            return _decode_head(f.read(head_len), head_crc)
    except OSError as exc:
        raise PartDamaged(f"cannot read: {exc}") from exc
