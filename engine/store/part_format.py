"""The part file format: rows sorted by `_time`, cut into blocks of column streams, with a footer.

This module holds the layout, its structs and the cheap head read; `part_writer` writes parts,
`part_reader` reads them (and re-exports all three, so `engine.store.part_reader` is the one import).

One file per part (`engine.store.layout` names it), written once and never changed:

    offset        size   field
    0             8      magic b"LJPART\\x00\\x01"
    8             ...    streams: each one zstd frame with a content checksum, so a flipped
                         bit fails decompression instead of returning wrong rows (a stream
                         whose values are all one unsigned value has no frame: its `fill`)
    ...           ...    index blobs (zstd frames, written by `engine.store.index_build`)
    F             L      footer: msgpack `_PartBody` (the block directory, dictionaries, index
                         directory) compressed against FOOTER_DICT_V3 (`engine.store.format_dicts`)
    H = F + L     M      head: msgpack `PartHead` compressed against HEAD_DICT_V3: the small fields
                         that listing and planning need (level, rows, time range, replaces,
                         positions), so `read_head` answers without inflating the footer;
                         `Part.meta` is both together
    H + M         32     trailer: footer length u64, head length u32, footer crc32 u32,
                         head crc32 u32, format version u32, magic (8)

Footer and head are zstd frames without magic, checksum or dictionary id (the trailer's crc32s
check them, the trailer's version names the dictionary) at the part's level (the head at 19:
it is ~100 bytes). The footer stores no stream offsets and block times as deltas (see
`_relative`): in a small part (a quiet day of a few hundred rows) footer and head would
otherwise outweigh the rows.

Version 2, still read: the footer a zstd frame (magic, checksum) of the same `_PartBody`
compressed alone, with stream offsets and absolute block times; the head plain msgpack; the
trailer's version field 0.

Each block of up to `block_rows` rows holds these streams (encodings in `engine.store.encodings`):
`_time` (delta); `_recv` (for) or `_recv.rel` (for, as `_recv - _time`), whichever spans less;
`severity` `facility` `format` `flags` (u8); `host` `app` `procid` `msgid` `source` (dictionary
ids); `message.data` `sd.data` (`lines`, or `bytes` with `message.len` `sd.len`); the fields:
`kv.count` per row, `kv.key`, `kv.kind`, `kv.data` (`lines`, or `bytes` with `kv.len`), and
`kv.derived` when the pairs found in the message text are not stored (`engine.store.derived_fields`).
A reader decompresses only the streams it asks for; `Part.values` hides the value encodings.

Dictionaries are stored sorted (`rows.sort_dictionaries`): they compress several times better.

Sizes: `data_bytes` is the streams' compressed bytes, `index_bytes` the index blobs'; both are
in the head, so index overhead is reported per part.

Merges: `replaces` lists the names of the parts a merged part holds the rows of; a reader that
sees a part and one that replaces it ignores the replaced one (`engine.store.live`).

Atomic creation: written under a temporary name, fsynced, renamed, and the folder fsynced;
a part is whole or absent. FORMAT_VERSION changes whenever any of the above does
(2: compressed footer, head, `lines`, `_recv.rel`, `kv.derived`, replaces, index;
3: footer and head compressed against fixed dictionaries, no stream offsets, block times as
deltas, the version in the trailer; a merged part's flush id is empty; the message and field
values of merged parts cut into frames by kind of line and by key, `engine.store.value_frames`).
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from typing import Any

import msgspec
import zstandard

from engine.errors import LogjetError
from engine.store.format_dicts import FOOTER_DICT_V3, HEAD_DICT_V3

MAGIC = b"LJPART\x00\x01"
FORMAT_VERSION = 3
# Footer length, head length, footer crc32, head crc32, format version (0 in version 2), magic.
TRAILER = struct.Struct("<QIIII8s")
# A head is a few hundred bytes (positions: one entry per ring); more means a damaged trailer.
MAX_HEAD_BYTES = 1 << 20


class PartDamaged(LogjetError):
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
    flush_id: str  # "" in a merged part (its `flushes` say what it holds)
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
    # Compressed at the interim merge level, to be merged again (engine.write.merge); False in
    # parts written before the field existed.
    interim: bool = False


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
    index: dict[str, Any] = {}
    data_bytes: int = 0
    index_bytes: int = 0
    replaces: list[str] = []
    flushes: dict[str, int] = {}  # a merged part: flush id → how many of that flush's parts it holds
    interim: bool = False  # see PartHead


_encoder = msgspec.msgpack.Encoder()


class _PartBody(msgspec.Struct, array_like=True):
    """What the footer holds: the fields of `PartMeta` that the head does not."""

    version: int
    block_rows: int
    blocks: list[BlockMeta]
    dicts: dict[str, list[bytes]]
    index: dict[str, Any]
    data_bytes: int
    index_bytes: int


_body_decoder = msgspec.msgpack.Decoder(_PartBody)
_BODY_FIELDS = _PartBody.__struct_fields__
_head_decoder = msgspec.msgpack.Decoder(PartHead)
_HEAD_FIELDS = PartHead.__struct_fields__


def head_of(meta: PartMeta) -> PartHead:
    """The head of a part, from its whole footer."""
    return PartHead(**{k: getattr(meta, k) for k in _HEAD_FIELDS})


class WriteCancelled(LogjetError):
    """`write_part` stopped because its `cancel` callback asked it to; nothing was written."""


def _check_trailer(tail: bytes, size: int) -> tuple[int, int, int, int, int]:
    """(footer length, head length, footer crc, head crc, format version) of a trailer."""
    footer_len, head_len, footer_crc, head_crc, version, magic = TRAILER.unpack(tail)
    if magic != MAGIC or head_len > MAX_HEAD_BYTES or footer_len + head_len > size - TRAILER.size - len(MAGIC):
        raise PartDamaged("bad trailer")
    version = version or 2  # version 2 wrote 0 there
    if version != 2 and version not in _DICTS:
        raise PartDamaged(f"format version {version}, this logjet reads 2 to {FORMAT_VERSION}")
    return footer_len, head_len, footer_crc, head_crc, version


def _raw_dict(data: bytes) -> zstandard.ZstdCompressionDict:
    return zstandard.ZstdCompressionDict(data, dict_type=zstandard.DICT_TYPE_RAWCONTENT)


# version → (footer dictionary, head dictionary). Never change an entry (see format_dicts).
_DICTS = {3: (_raw_dict(FOOTER_DICT_V3), _raw_dict(HEAD_DICT_V3))}
_FOOTER, _HEAD = 0, 1
# The head is ~150 bytes: its top level costs microseconds.
HEAD_ZSTD_LEVEL = 19
# Decompressors are not thread-safe and heads are read from several threads (query, merges).
_local = threading.local()


def _compress(data: bytes, level: int, which: int) -> bytes:
    zdict = _DICTS[FORMAT_VERSION][which]
    params = zstandard.ZstdCompressionParameters.from_level(
        level,
        source_size=len(data),
        dict_size=len(zdict),
        format=zstandard.FORMAT_ZSTD1_MAGICLESS,
        write_checksum=0,
        write_content_size=1,
        write_dict_id=0,
    )
    return zstandard.ZstdCompressor(compression_params=params, dict_data=zdict).compress(data)


def _decompress(data: bytes, version: int, which: int) -> bytes:
    key = (version, which)
    cache = getattr(_local, "dctx", None)
    if cache is None:
        cache = _local.dctx = {}
    dctx = cache.get(key)
    if dctx is None:
        if version == 2:  # a frame with magic and checksum, no dictionary
            dctx = zstandard.ZstdDecompressor()
        else:
            dctx = zstandard.ZstdDecompressor(dict_data=_DICTS[version][which], format=zstandard.FORMAT_ZSTD1_MAGICLESS)
        cache[key] = dctx
    return dctx.decompress(data)


def encode_footer(body: _PartBody, min_time: int, level: int) -> bytes:
    """The footer bytes of `body` (this version's layout; `body` is not changed). `min_time`
    is the part's (the head's): block times are stored as deltas from it (see `_relative`)."""
    return _compress(_encoder.encode(_relative(body, min_time)), level, _FOOTER)


def encode_head(head: PartHead) -> bytes:
    return _compress(_encoder.encode(head), HEAD_ZSTD_LEVEL, _HEAD)


def _relative(body: _PartBody, min_time: int) -> _PartBody:
    """Version 3 stores no stream offsets (0: the streams lie back to back in directory order,
    so each is the sum of the lengths before it) and block times as deltas (a block's min from
    the previous block's max, the part's min for the first; its max from its min): on a part
    of a few rows, 8-byte times and offsets were ~5% of the compressed footer."""
    blocks = []
    prev = min_time
    for b in body.blocks:
        streams = {name: msgspec.structs.replace(s, offset=0) for name, s in b.streams.items()}
        blocks.append(BlockMeta(b.rows, b.min_time - prev, b.max_time - b.min_time, streams))
        prev = b.max_time
    return msgspec.structs.replace(body, blocks=blocks)


def _absolute(body: _PartBody, min_time: int) -> None:
    """Undo `_relative` in place; PartDamaged when the streams' lengths do not add up to the
    data area (`data_bytes`)."""
    prev = min_time
    at = len(MAGIC)
    for b in body.blocks:
        b.min_time = prev + b.min_time
        b.max_time = prev = b.min_time + b.max_time
        for s in b.streams.values():
            if s.fill < 0:
                s.offset = at
                at += s.clen
    if at != len(MAGIC) + body.data_bytes:
        raise PartDamaged(f"the footer's streams take {at - len(MAGIC)} bytes, the data area {body.data_bytes}")


def decode_footer(raw: bytes, head: PartHead) -> _PartBody:
    """The `_PartBody` in footer bytes of the part with `head` (the footer's crc already checked).
    Raises zstandard.ZstdError or msgspec.DecodeError when they do not decode, PartDamaged when
    they decode to a body that does not fit the head or the file."""
    body = _body_decoder.decode(_decompress(raw, head.version, _FOOTER))
    if body.version != head.version:
        raise PartDamaged(f"footer of format version {body.version} in a version {head.version} part")
    if body.version >= 3:
        _absolute(body, head.min_time)
    return body


def _decode_head(raw: bytes, crc: int, version: int) -> PartHead:
    if zlib.crc32(raw) != crc:
        raise PartDamaged("head checksum mismatch")
    try:
        head = _head_decoder.decode(raw if version == 2 else _decompress(raw, version, _HEAD))
    except (zstandard.ZstdError, msgspec.DecodeError) as exc:
        raise PartDamaged(f"head does not decode: {exc}") from exc
    if head.version != version:
        raise PartDamaged(f"head of format version {head.version} in a version {version} part")
    return head


def read_head(path: str) -> PartHead:
    """The head of the part at `path`: two small reads, no mapping, no decompression."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < len(MAGIC) + TRAILER.size:
                raise PartDamaged(f"{size} bytes is too short for a part")
            f.seek(size - TRAILER.size)
            _, head_len, _, head_crc, version = _check_trailer(f.read(TRAILER.size), size)
            f.seek(size - TRAILER.size - head_len)
            return _decode_head(f.read(head_len), head_crc, version)
    except OSError as exc:
        raise PartDamaged(f"cannot read: {exc}") from exc
