"""The part file: rows sorted by `_time`, cut into blocks of column streams, with a footer.

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
(2: compressed footer, head, `lines`, `_recv.rel`, `kv.derived`, replaces, index).
"""

from __future__ import annotations

import mmap
import os
import struct
import zlib
from typing import Iterable

import msgspec
import numpy as np
import zstandard

from engine.store import columns as C
from engine.store import fields as F
from engine.store.layout import tmp_path
from engine.store.rows import DICT_COLUMNS, U8_COLUMNS, Rows, sort_dictionaries
from native_kernels.gather import take_values

MAGIC = b"LJPART\x00\x01"
FORMAT_VERSION = 2
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


class StreamWriter:
    """Appends zstd frames to a part being written; what `write_part` hands an index builder."""

    def __init__(self, f, level: int):
        self._f = f
        self._zc = zstandard.ZstdCompressor(level=level, write_checksum=True, write_content_size=True)
        self._fast = None
        self.pos = len(MAGIC)

    def add(self, arr: np.ndarray, encoding: str = "ids", base: int = 0) -> StreamMeta:
        arr = np.ascontiguousarray(arr)
        if arr.nbytes and arr.dtype.kind == "u" and arr[0] == arr[-1] and arr.min() == arr.max():
            # A constant (one host, no SD...): no frame, which is 16 bytes even when empty.
            return StreamMeta(0, 0, len(arr), arr.dtype.str, encoding, base, int(arr[0]))
        blob = self._zc.compress(arr.tobytes()) if arr.nbytes else b""
        self._f.write(blob)
        meta = StreamMeta(self.pos, len(blob), len(arr), arr.dtype.str, encoding, base)
        self.pos += len(blob)
        return meta

    def compress(self, data: bytes, fast: bool = False) -> bytes:
        """One zstd frame of `data`, at the part's level (or level 1 when `fast`: for blobs that
        do not compress, like bloom filters, where a high level only burns time)."""
        if fast:
            if self._fast is None:
                self._fast = zstandard.ZstdCompressor(level=1, write_checksum=True, write_content_size=True)
            return self._fast.compress(data)
        return self._zc.compress(data)

    def append(self, frame: bytes) -> tuple[int, int]:
        """Append a frame made by `compress`; (offset, length) for `Part.blob`."""
        self._f.write(frame)
        where = (self.pos, len(frame))
        self.pos += len(frame)
        return where


def _add_values(w: StreamWriter, s: dict, name: str, offsets: np.ndarray, data: np.ndarray) -> None:
    encoding, stream, lengths = C.encode_values(offsets, data)
    if lengths is not None:
        s[f"{name}.len"] = w.add(lengths)
    s[f"{name}.data"] = w.add(stream, encoding)


def _block_streams(w: StreamWriter, rows: Rows, lo: int, hi: int, keys: F.KeyIds) -> dict[str, StreamMeta]:
    s: dict[str, StreamMeta] = {}
    t = rows.time[lo:hi]
    arr, base = C.encode_delta(t)
    s["_time"] = w.add(arr, "delta", base)
    recv = rows.recv[lo:hi]
    rel = recv - t
    # Received in bulk (a replay, a backlog): one recv for many times, so absolute spans less.
    if int(recv.max()) - int(recv.min()) < int(rel.max()) - int(rel.min()):
        arr, base = C.encode_for(recv)
        s["_recv"] = w.add(arr, "for", base)
    else:
        arr, base = C.encode_for(rel)
        s["_recv.rel"] = w.add(arr, "for", base)
    for col in U8_COLUMNS:
        s[col] = w.add(getattr(rows, col)[lo:hi])
    for col in DICT_COLUMNS:
        s[col] = w.add(C.encode_ids(rows.ids[col][lo:hi])[0])
    _add_values(w, s, "message", rows.msg_off[lo:hi + 1], rows.msg_data)
    _add_values(w, s, "sd", rows.sd_off[lo:hi + 1], rows.sd_data)
    derivable = F.split(rows, lo, hi, keys)
    if derivable is None:
        p0, p1 = int(rows.kv_ptr[lo]), int(rows.kv_ptr[hi])
        s["kv.count"] = w.add(C.encode_ids(np.diff(rows.kv_ptr[lo:hi + 1]))[0])
        s["kv.key"] = w.add(C.encode_ids(rows.kv_key[p0:p1])[0])
        s["kv.kind"] = w.add(rows.kv_kind[p0:p1])
        _add_values(w, s, "kv", rows.kv_off[p0:p1 + 1], rows.kv_data)
        return s
    flags, keep = derivable
    s["kv.derived"] = w.add(flags)
    kept_rows = np.searchsorted(rows.kv_ptr, keep, side="right") - 1 - lo
    s["kv.count"] = w.add(C.encode_ids(np.bincount(kept_rows, minlength=hi - lo))[0])
    s["kv.key"] = w.add(C.encode_ids(rows.kv_key[keep])[0])
    s["kv.kind"] = w.add(rows.kv_kind[keep])
    off, data = take_values(rows.kv_off, rows.kv_data, keep)
    _add_values(w, s, "kv", off, data)
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
    replaces: list[str] | None = None,
    flushes: dict[str, int] | None = None,
    cancel=None,
) -> PartMeta:
    """Write `rows` (already sorted by `_time`) as a part at `path`, atomically.

    `index_builder(rows, blocks, writer) -> dict` (see `engine.store.index`) is called after the
    blocks are written: it appends its blobs with `writer.append` and returns the directory
    that goes into `PartMeta.index`. A merge passes `replaces` (the names of the parts this one
    holds the rows of) and `flushes` (see `PartMeta`), and may pass `cancel() -> bool`, asked
    between blocks: when it says yes, the temporary file is removed and `WriteCancelled` raised."""
    n = len(rows)
    if n == 0:
        raise ValueError("a part needs at least one row")
    if n > 1 and np.any(np.diff(rows.time) < 0):
        raise ValueError("rows must be sorted by _time")
    rows = sort_dictionaries(rows)
    tmp = tmp_path(path)
    try:
        meta = _write(tmp, rows, level, instance, flush_id, flush_parts, block_rows, zstd_level, positions,
                      created_ns, fsync, index_builder, replaces, flushes, cancel)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    os.rename(tmp, path)
    if fsync:
        fsync_dir(os.path.dirname(path))
    return meta


class WriteCancelled(Exception):
    """`write_part` stopped because its `cancel` callback asked it to; nothing was written."""


def _write(tmp, rows, level, instance, flush_id, flush_parts, block_rows, zstd_level, positions,
           created_ns, fsync, index_builder, replaces, flushes, cancel) -> PartMeta:
    n = len(rows)
    blocks = []
    keys = F.KeyIds(list(rows.dicts.get("fieldkey", [])))
    with open(tmp, "wb") as f:
        f.write(MAGIC)
        w = StreamWriter(f, zstd_level)
        for lo in range(0, n, block_rows):
            if cancel is not None and cancel():
                raise WriteCancelled(tmp)
            hi = min(n, lo + block_rows)
            blocks.append(BlockMeta(hi - lo, int(rows.time[lo]), int(rows.time[hi - 1]), _block_streams(w, rows, lo, hi, keys)))
        data_end = w.pos
        index = index_builder(rows, blocks, w) if index_builder else {}
        meta = PartMeta(
            version=FORMAT_VERSION, level=level, instance=instance, flush_id=flush_id,
            flush_parts=flush_parts, rows=n, min_time=int(rows.time[0]), max_time=int(rows.time[-1]),
            created_ns=created_ns, raw_bytes=rows.raw_bytes, block_rows=block_rows, blocks=blocks,
            dicts={c: list(v) for c, v in rows.dicts.items()}, positions=dict(positions or {}), index=index,
            data_bytes=data_end - len(MAGIC), index_bytes=w.pos - data_end, replaces=list(replaces or ()),
            flushes=dict(flushes or {}),
        )
        footer = w.compress(_encoder.encode(_PartBody(**{k: getattr(meta, k) for k in _BODY_FIELDS})))
        head = _encoder.encode(head_of(meta))
        f.write(footer)
        f.write(head)
        f.write(TRAILER.pack(len(footer), len(head), zlib.crc32(footer), zlib.crc32(head), 0, MAGIC))
        f.flush()
        if fsync:
            os.fsync(f.fileno())
    return meta


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
    if head.version != FORMAT_VERSION:
        raise PartDamaged(f"format version {head.version}, this logjet reads {FORMAT_VERSION}")
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


class Part:
    """A part opened for reading: the head decoded, the footer checked (and decoded on first use
    of `meta`), the streams mapped. Opening checks every checksum outside the streams, so a part
    that opens has a sound directory; a stream that fails its own checksum raises PartDamaged
    when read."""

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
        try:
            if self._mm[:8] != MAGIC:
                raise PartDamaged("bad magic at the start")
            footer_len, head_len, footer_crc, head_crc = _check_trailer(self._mm[size - TRAILER.size:], size)
            head_at = size - TRAILER.size - head_len
            self.head: PartHead = _decode_head(self._mm[head_at:head_at + head_len], head_crc)
            self._data_end = head_at - footer_len
            self._footer = self._mm[self._data_end:head_at]
            if zlib.crc32(self._footer) != footer_crc:
                raise PartDamaged("footer checksum mismatch")
        except PartDamaged:
            self._mm.close()
            raise
        self._meta: PartMeta | None = None
        self._keys: F.KeyIds | None = None
        self._dctx = zstandard.ZstdDecompressor()

    @property
    def meta(self) -> PartMeta:
        """The whole footer (decoded once, on first use)."""
        if self._meta is None:
            try:
                body = _body_decoder.decode(self._dctx.decompress(self._footer))
                fields = {k: getattr(self.head, k) for k in _HEAD_FIELDS}
                fields.update({k: getattr(body, k) for k in _BODY_FIELDS})
                self._meta = PartMeta(**fields)
            except (zstandard.ZstdError, msgspec.DecodeError) as exc:
                raise PartDamaged(f"footer does not decode: {exc}") from exc
            self._footer = b""
        return self._meta

    def close(self) -> None:
        self._mm.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _inflate(self, offset: int, clen: int, what: str) -> bytes:
        if offset < len(MAGIC) or offset + clen > self._data_end:
            raise PartDamaged(f"{what} at {offset} runs outside the data area")
        try:
            return self._dctx.decompress(self._mm[offset:offset + clen])
        except zstandard.ZstdError as exc:
            raise PartDamaged(f"{what} at {offset} is damaged: {exc}") from exc

    def raw_stream(self, meta: StreamMeta) -> np.ndarray:
        if meta.count == 0:
            return np.empty(0, meta.dtype)
        if meta.fill >= 0:
            return np.full(meta.count, meta.fill, dtype=meta.dtype)
        arr = np.frombuffer(self._inflate(meta.offset, meta.clen, "stream"), dtype=meta.dtype)
        if len(arr) != meta.count:
            raise PartDamaged(f"stream at {meta.offset} holds {len(arr)} values, footer says {meta.count}")
        return arr

    def stream(self, block: int, name: str) -> np.ndarray:
        meta = self.meta.blocks[block].streams[name]
        return C.decode(meta.encoding, self.raw_stream(meta), meta.base)

    def blob(self, offset: int, clen: int) -> bytes:
        """A blob written with `StreamWriter.append` (the index's)."""
        return self._inflate(offset, clen, "blob")

    def recv(self, b: int, time: np.ndarray | None = None) -> np.ndarray:
        """`_recv` of block `b` (pass its `_time` if you have it: `_recv.rel` needs it)."""
        streams = self.meta.blocks[b].streams
        if "_recv" in streams:
            return self.stream(b, "_recv")
        return self.stream(b, "_recv.rel") + (self.stream(b, "_time") if time is None else time)

    def values(self, b: int, name: str, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(offsets int64[n + 1], bytes) of block `b`'s `message`, `sd` or `kv` values; `n` is
        the value count (rows, or for `kv` the pairs: the sum of `kv.count`)."""
        streams = self.meta.blocks[b].streams
        if n is None:
            n = self.meta.blocks[b].rows if name != "kv" else int(self.stream(b, "kv.count").sum())
        data_meta = streams[f"{name}.data"]
        raw = self.raw_stream(data_meta)
        if data_meta.encoding == "lines":
            try:
                return C.decode_lines(raw, n)
            except ValueError as exc:
                raise PartDamaged(f"{name} values of block {b}: {exc}") from exc
        offsets = C.offsets_from_lengths(self.stream(b, f"{name}.len"))
        if len(offsets) != n + 1 or offsets[-1] != len(raw):
            raise PartDamaged(f"{name} values of block {b} do not match their lengths")
        return offsets, raw

    def fields(self, b: int, message: tuple[np.ndarray, np.ndarray] | None = None):
        """Block `b`'s fields as (kv_ptr, kv_key, kv_kind, kv_off, kv_data), see `Rows`;
        pass the block's `values(b, "message")` if you have them (derived fields need them)."""
        count = self.stream(b, "kv.count")
        kv_off, kv_data = self.values(b, "kv", int(count.sum()))
        key = self.stream(b, "kv.key").astype(np.uint32)
        kind = self.stream(b, "kv.kind")
        if "kv.derived" not in self.meta.blocks[b].streams:
            return C.offsets_from_lengths(count), key, kind, kv_off, kv_data
        if self._keys is None:
            self._keys = F.KeyIds(self.meta.dicts.get("fieldkey", []))
        msg_off, msg_data = message if message is not None else self.values(b, "message")
        try:
            return F.join(msg_off, msg_data, self.stream(b, "kv.derived"), count, key, kind, kv_off, kv_data,
                          self._keys)
        except ValueError as exc:
            raise PartDamaged(f"fields of block {b}: {exc}") from exc

    def read_block(self, b: int) -> Rows:
        """Every column of block `b` as `Rows` (dictionaries are the part's)."""
        time = self.stream(b, "_time")
        u8 = {c: self.stream(b, c) for c in U8_COLUMNS}
        ids = {c: self.stream(b, c).astype(np.uint32) for c in DICT_COLUMNS}
        msg_off, msg_data = self.values(b, "message")
        sd_off, sd_data = self.values(b, "sd")
        kv_ptr, kv_key, kv_kind, kv_off, kv_data = self.fields(b, (msg_off, msg_data))
        return Rows(
            time=time, recv=self.recv(b, time), **u8, ids=ids, dicts=self.meta.dicts,
            msg_off=msg_off, msg_data=msg_data, sd_off=sd_off, sd_data=sd_data,
            kv_ptr=kv_ptr, kv_key=kv_key, kv_kind=kv_kind, kv_off=kv_off, kv_data=kv_data,
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
