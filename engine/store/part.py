"""The part file: rows sorted by `_time`, cut into blocks of column streams, with a footer.

One file per part (`engine.store.layout` names it), written once and never changed:

    offset        size   field
    0             8      magic b"LJPART\\x00\\x01"
    8             ...    streams: each one zstd frame with a content checksum, so a flipped
                         bit fails decompression instead of returning wrong rows
    F             L      footer: msgpack `PartMeta` (block directory, dictionaries, indexes)
    F + L         24     trailer: footer length u64, footer crc32 u32, reserved u32, magic (8)

Each block of up to `block_rows` rows holds these streams (encodings in `engine.store.columns`):
`_time` (delta), `_recv` (for, as `_recv - _time`), `severity` `facility` `format` `flags` (u8),
`host` `app` `procid` `msgid` `source` (dictionary ids), `message.len`/`message.data`,
`sd.len`/`sd.data`, and the fields: `kv.count` per row, `kv.key`, `kv.kind`, `kv.len`/`kv.data`.
A reader decompresses only the streams it asks for.

Atomic creation: written under a temporary name, fsynced, renamed, and the folder fsynced;
a part is whole or absent. FORMAT_VERSION changes whenever any of the above does.
"""

from __future__ import annotations

import mmap
import os
import struct
import threading
import zlib
from typing import Iterable

import msgspec
import numpy as np
import zstandard

from engine.store import columns as C
from engine.store.layout import tmp_path
from engine.store.rows import DICT_COLUMNS, U8_COLUMNS, Rows

MAGIC = b"LJPART\x00\x01"
FORMAT_VERSION = 1
TRAILER = struct.Struct("<QII8s")


class PartDamaged(Exception):
    """A part failed a check (magic, checksum, bounds); it must be quarantined, not served."""


class StreamMeta(msgspec.Struct, array_like=True):
    offset: int
    clen: int
    count: int
    dtype: str
    encoding: str
    base: int


class BlockMeta(msgspec.Struct):
    rows: int
    min_time: int
    max_time: int
    streams: dict[str, StreamMeta]


class PartMeta(msgspec.Struct):
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


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(PartMeta)


class _StreamWriter:
    def __init__(self, f, level: int):
        self._f = f
        self._zc = zstandard.ZstdCompressor(level=level, write_checksum=True, write_content_size=True)
        self.pos = len(MAGIC)

    def add(self, arr: np.ndarray, encoding: str = "ids", base: int = 0) -> StreamMeta:
        arr = np.ascontiguousarray(arr)
        blob = self._zc.compress(arr.data) if arr.nbytes else b""
        self._f.write(blob)
        meta = StreamMeta(self.pos, len(blob), len(arr), arr.dtype.str, encoding, base)
        self.pos += len(blob)
        return meta


def _block_streams(w: _StreamWriter, rows: Rows, lo: int, hi: int) -> dict[str, StreamMeta]:
    s: dict[str, StreamMeta] = {}
    t = rows.time[lo:hi]
    arr, base = C.encode_delta(t)
    s["_time"] = w.add(arr, "delta", base)
    arr, base = C.encode_for(rows.recv[lo:hi] - t)
    s["_recv"] = w.add(arr, "for", base)
    for col in U8_COLUMNS:
        s[col] = w.add(getattr(rows, col)[lo:hi])
    for col in DICT_COLUMNS:
        s[col] = w.add(C.encode_ids(rows.ids[col][lo:hi])[0])
    for name, off, data in (("message", rows.msg_off, rows.msg_data), ("sd", rows.sd_off, rows.sd_data)):
        s[f"{name}.len"] = w.add(C.encode_ids(np.diff(off[lo:hi + 1]))[0])
        s[f"{name}.data"] = w.add(data[off[lo]:off[hi]])
    p0, p1 = int(rows.kv_ptr[lo]), int(rows.kv_ptr[hi])
    s["kv.count"] = w.add(C.encode_ids(np.diff(rows.kv_ptr[lo:hi + 1]))[0])
    s["kv.key"] = w.add(C.encode_ids(rows.kv_key[p0:p1])[0])
    s["kv.kind"] = w.add(rows.kv_kind[p0:p1])
    s["kv.len"] = w.add(C.encode_ids(np.diff(rows.kv_off[p0:p1 + 1]))[0])
    s["kv.data"] = w.add(rows.kv_data[rows.kv_off[p0]:rows.kv_off[p1]])
    return s


def write_part(
    path: str,
    rows: Rows,
    *,
    level: int,
    instance: str,
    flush_id: str,
    flush_parts: int = 1,
    block_rows: int = 65536,
    zstd_level: int = 3,
    positions: dict[str, int] | None = None,
    created_ns: int = 0,
    fsync: bool = True,
    index_builder=None,
) -> PartMeta:
    """Write `rows` (already sorted by `_time`) as a part at `path`, atomically.
    `index_builder(rows, blocks) -> (index dict, extra bytes writer)` adds indexes (see store.index)."""
    n = len(rows)
    if n == 0:
        raise ValueError("a part needs at least one row")
    if n > 1 and np.any(np.diff(rows.time) < 0):
        raise ValueError("rows must be sorted by _time")
    tmp = tmp_path(path)
    blocks = []
    with open(tmp, "wb") as f:
        f.write(MAGIC)
        w = _StreamWriter(f, zstd_level)
        for lo in range(0, n, block_rows):
            hi = min(n, lo + block_rows)
            blocks.append(BlockMeta(hi - lo, int(rows.time[lo]), int(rows.time[hi - 1]), _block_streams(w, rows, lo, hi)))
        index = index_builder(rows, blocks, w) if index_builder else {}
        meta = PartMeta(
            version=FORMAT_VERSION, level=level, instance=instance, flush_id=flush_id,
            flush_parts=flush_parts, rows=n, min_time=int(rows.time[0]), max_time=int(rows.time[-1]),
            created_ns=created_ns, raw_bytes=rows.raw_bytes, block_rows=block_rows, blocks=blocks,
            dicts={c: list(v) for c, v in rows.dicts.items()}, positions=dict(positions or {}), index=index,
        )
        footer = _encoder.encode(meta)
        f.write(footer)
        f.write(TRAILER.pack(len(footer), zlib.crc32(footer), 0, MAGIC))
        f.flush()
        if fsync:
            os.fsync(f.fileno())
    os.rename(tmp, path)
    if fsync:
        fsync_dir(os.path.dirname(path))
    return meta


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Part:
    """A part opened for reading: the footer in memory, the streams mapped."""

    def __init__(self, path: str):
        self.path = path
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            raise PartDamaged(f"cannot open: {exc}") from exc
        try:
            size = os.fstat(fd).st_size
            if size < len(MAGIC) + TRAILER.size:
                raise PartDamaged(f"{size} bytes is too short for a part")
            self._mm = mmap.mmap(fd, size, prot=mmap.PROT_READ)
        finally:
            os.close(fd)
        self.size = size
        if self._mm[:8] != MAGIC:
            raise PartDamaged("bad magic at the start")
        footer_len, crc, _, magic = TRAILER.unpack_from(self._mm, size - TRAILER.size)
        if magic != MAGIC or footer_len > size - TRAILER.size - len(MAGIC):
            raise PartDamaged("bad trailer")
        start = size - TRAILER.size - footer_len
        footer = self._mm[start:start + footer_len]
        if zlib.crc32(footer) != crc:
            raise PartDamaged("footer checksum mismatch")
        try:
            self.meta: PartMeta = _decoder.decode(footer)
        except msgspec.DecodeError as exc:
            raise PartDamaged(f"footer does not decode: {exc}") from exc
        if self.meta.version != FORMAT_VERSION:
            raise PartDamaged(f"format version {self.meta.version}, this logjet reads {FORMAT_VERSION}")
        self._data_end = start
        # A ZstdDecompressor must not be used by two threads at once, and the query reads the
        # blocks of one part from a thread pool: one decompressor per thread.
        self._local = threading.local()

    @property
    def _dctx(self) -> zstandard.ZstdDecompressor:
        dctx = getattr(self._local, "dctx", None)
        if dctx is None:
            dctx = self._local.dctx = zstandard.ZstdDecompressor()
        return dctx

    def close(self) -> None:
        self._mm.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def raw_stream(self, meta: StreamMeta) -> np.ndarray:
        if meta.count == 0:
            return np.empty(0, meta.dtype)
        if meta.offset + meta.clen > self._data_end:
            raise PartDamaged(f"stream at {meta.offset} runs past the data area")
        try:
            raw = self._dctx.decompress(self._mm[meta.offset:meta.offset + meta.clen])
        except zstandard.ZstdError as exc:
            raise PartDamaged(f"stream at {meta.offset} is damaged: {exc}") from exc
        arr = np.frombuffer(raw, dtype=meta.dtype)
        if len(arr) != meta.count:
            raise PartDamaged(f"stream at {meta.offset} holds {len(arr)} values, footer says {meta.count}")
        return arr

    def stream(self, block: int, name: str) -> np.ndarray:
        meta = self.meta.blocks[block].streams[name]
        return C.decode(meta.encoding, self.raw_stream(meta), meta.base)

    def extra_blob(self, offset: int, clen: int) -> bytes:
        """An index blob written by the index builder (zstd frame)."""
        if offset + clen > self._data_end:
            raise PartDamaged(f"index blob at {offset} runs past the data area")
        try:
            return self._dctx.decompress(self._mm[offset:offset + clen])
        except zstandard.ZstdError as exc:
            raise PartDamaged(f"index blob at {offset} is damaged: {exc}") from exc

    def read_block(self, b: int) -> Rows:
        """Every column of block `b` as `Rows` (dictionaries are the part's)."""
        time = self.stream(b, "_time")
        recv = self.stream(b, "_recv") + time
        u8 = {c: self.stream(b, c) for c in U8_COLUMNS}
        ids = {c: self.stream(b, c).astype(np.uint32) for c in DICT_COLUMNS}
        msg_off = C.offsets_from_lengths(self.stream(b, "message.len"))
        sd_off = C.offsets_from_lengths(self.stream(b, "sd.len"))
        kv_ptr = C.offsets_from_lengths(self.stream(b, "kv.count"))
        kv_off = C.offsets_from_lengths(self.stream(b, "kv.len"))
        return Rows(
            time=time, recv=recv, **u8, ids=ids, dicts=self.meta.dicts,
            msg_off=msg_off, msg_data=self.stream(b, "message.data"),
            sd_off=sd_off, sd_data=self.stream(b, "sd.data"),
            kv_ptr=kv_ptr, kv_key=self.stream(b, "kv.key").astype(np.uint32), kv_kind=self.stream(b, "kv.kind"),
            kv_off=kv_off, kv_data=self.stream(b, "kv.data"),
        )

    def read_all(self) -> Rows:
        from engine.store.rows import concat

        blocks = [self.read_block(b) for b in range(len(self.meta.blocks))]
        if len(blocks) == 1:
            blocks[0].extra["raw_bytes"] = self.meta.raw_bytes
            return blocks[0]
        rows = concat(blocks)
        rows.extra["raw_bytes"] = self.meta.raw_bytes
        return rows


def iter_parts(paths: Iterable[str]):
    for path in paths:
        yield Part(path)
