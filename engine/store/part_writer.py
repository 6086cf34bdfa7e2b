"""Writing a part: rows in, one file out, atomically (layout in `engine.store.part_format`).

Rows are written in blocks of `block_rows`; each column becomes one or two streams (encodings
in `engine.store.encodings`, derived fields in `engine.store.derived_fields`); then the index builder
adds its blobs, then the footer, head and trailer. The file is written under a temporary name,
fsynced and renamed, then the folder is fsynced: a part is whole or absent.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Callable, Mapping, Protocol, Sequence

import numpy as np
import zstandard

from engine.store import derived_fields, encodings
from engine.store.encodings import DELTA, FOR, IDS
from engine.store.layout import (
    KV,
    KV_COUNT,
    KV_DERIVED,
    KV_KEY,
    KV_KIND,
    MESSAGE,
    RECV,
    RECV_REL,
    SD,
    TIME,
    tmp_path,
)
from engine.store.part_format import (
    _BODY_FIELDS,
    FORMAT_VERSION,
    MAGIC,
    TRAILER,
    BlockMeta,
    PartMeta,
    StreamMeta,
    WriteCancelled,
    _PartBody,
    encode_footer,
    encode_head,
    head_of,
)
from engine.store.rows import DICT_COLUMNS, FIELD_KEYS, U8_COLUMNS, Rows, sort_dictionaries
from engine.store.value_frames import GROUP_KEY, add_values, message_frames, own_groups
from native_kernels.gather import take_values


class StreamWriter:
    """Appends zstd frames to a part being written; what `write_part` hands an index builder."""

    def __init__(self, f: BinaryIO, level: int, large_input_params: bool = False) -> None:
        self._f = f
        if large_input_params:
            # zstd picks a level's parameters by input size, and for inputs under 256 KB (most
            # of a merged part's streams) level 9 searches harder (search log 5, min match 4)
            # for frames no smaller: with its large-input parameters for every stream a 1.6M-row
            # merge's columns took 9% less CPU and came out 0.9% smaller (loghub: same size).
            params = zstandard.ZstdCompressionParameters.from_level(level, write_checksum=True, write_content_size=True)
            self._zc = zstandard.ZstdCompressor(compression_params=params)
        else:
            self._zc = zstandard.ZstdCompressor(level=level, write_checksum=True, write_content_size=True)
        self._fast: zstandard.ZstdCompressor | None = None
        self.pos = len(MAGIC)

    def add(self, arr: np.ndarray, encoding: str = IDS, base: int = 0) -> StreamMeta:
        arr = np.ascontiguousarray(arr)
        if arr.nbytes and arr.dtype.kind == "u" and arr[0] == arr[-1] and arr.min() == arr.max():
            # A constant (one host, no SD...): no frame, which is 16 bytes even when empty.
            return StreamMeta(0, 0, len(arr), arr.dtype.str, encoding, base, int(arr[0]))
        blob = self._zc.compress(arr.data) if arr.nbytes else b""
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


def _block_streams(
    w: StreamWriter, rows: Rows, lo: int, hi: int, keys: derived_fields.KeyIds | None, grouped: bool
) -> tuple[dict[str, StreamMeta], np.ndarray | None]:
    """(the block's stream directory, each row's message frame number: None when not cut)."""
    s: dict[str, StreamMeta] = {}
    t = rows.time[lo:hi]
    arr, base = encodings.encode_delta(t)
    s[TIME] = w.add(arr, DELTA, base)
    recv = rows.recv[lo:hi]
    rel = recv - t
    # Received in bulk (a replay, a backlog): one recv for many times, so absolute spans less.
    if int(recv.max()) - int(recv.min()) < int(rel.max()) - int(rel.min()):
        arr, base = encodings.encode_for(recv)
        s[RECV] = w.add(arr, FOR, base)
    else:
        arr, base = encodings.encode_for(rel)
        s[RECV_REL] = w.add(arr, FOR, base)
    for col in U8_COLUMNS:
        s[col] = w.add(getattr(rows, col)[lo:hi])
    for col in DICT_COLUMNS:
        s[col] = w.add(encodings.encode_ids(rows.ids[col][lo:hi])[0])
    frames = message_frames(rows.ids["app"][lo:hi], rows.msg_off[lo : hi + 1], rows.msg_data) if grouped else None
    if frames is not None:
        s[GROUP_KEY[MESSAGE]] = w.add(frames)
    add_values(
        w,
        s,
        MESSAGE,
        rows.msg_off[lo : hi + 1],
        rows.msg_data,
        frames,
        [] if frames is None else list(range(1, int(frames.max()) + 1)),
    )
    add_values(w, s, SD, rows.sd_off[lo : hi + 1], rows.sd_data)
    derivable = derived_fields.split(rows, lo, hi, keys) if keys is not None else None
    if derivable is None:
        p0, p1 = int(rows.kv_ptr[lo]), int(rows.kv_ptr[hi])
        s[KV_COUNT] = w.add(encodings.encode_ids(np.diff(rows.kv_ptr[lo : hi + 1]))[0])
        s[KV_KEY] = w.add(encodings.encode_ids(rows.kv_key[p0:p1])[0])
        s[KV_KIND] = w.add(rows.kv_kind[p0:p1])
        add_values(
            w,
            s,
            KV,
            rows.kv_off[p0 : p1 + 1],
            rows.kv_data,
            rows.kv_key[p0:p1],
            own_groups(rows.kv_key[p0:p1]) if grouped else [],
        )
        return s, frames
    flags, keep = derivable
    s[KV_DERIVED] = w.add(flags)
    kept_rows = np.searchsorted(rows.kv_ptr, keep, side="right") - 1 - lo
    s[KV_COUNT] = w.add(encodings.encode_ids(np.bincount(kept_rows, minlength=hi - lo))[0])
    s[KV_KEY] = w.add(encodings.encode_ids(rows.kv_key[keep])[0])
    s[KV_KIND] = w.add(rows.kv_kind[keep])
    off, data = take_values(rows.kv_off, rows.kv_data, keep)
    add_values(w, s, KV, off, data, rows.kv_key[keep], own_groups(rows.kv_key[keep]) if grouped else [])
    return s, frames


class IndexBuilder(Protocol):
    """`index_builder(rows, blocks, writer, frames) -> directory`: see `PartOptions.index_builder`.
    `frames`: each block's message frame numbers as written (None where it is not cut), so the
    builder need not work them out again."""

    def __call__(
        self, rows: Rows, blocks: list[BlockMeta], writer: StreamWriter, frames: list[np.ndarray | None], /
    ) -> dict[str, Any]: ...


@dataclass(frozen=True, kw_only=True)
class PartOptions:
    """Everything `write_part` needs besides the rows: what the part is (recorded in its head,
    see `PartMeta`) and how to write it."""

    # What the part is.
    level: int  # 0: a flush; a merge: its inputs' highest level + 1
    instance: str  # the writer instance that wrote it
    flush_id: str  # the flush it belongs to ("" for a merged part: see `flushes`)
    flush_parts: int = 1  # how many parts that flush wrote (one per UTC day)
    positions: Mapping[str, int] = field(default_factory=dict)  # ring → position its rows reach
    created_ns: int = 0
    replaces: Sequence[str] = ()  # a merge: the names of the parts it holds the rows of
    flushes: Mapping[str, int] = field(default_factory=dict)  # a merge: flush id → parts of it held
    interim: bool = False  # a merge whose output will be merged again (PartHead.interim)
    # Laid out as a flush is, whatever the level: no value frames, zstd's parameters by input
    # size. For an interim part that the next merge reads whole within a minute or so
    # (engine.write.merge.merge_form): frames only pay off for queries over a part that stays.
    flush_layout: bool = False
    # How to write it.
    block_rows: int = 65536
    zstd_level: int = 3
    fsync: bool = True  # fsync the file and its folder before returning
    derive_fields: bool = False  # store fields found in the message as a flag (derived_fields)
    sort_dicts: bool = True  # store dictionaries sorted (smaller; costs a Python sort of every value)
    # Called after the blocks are written (`engine.store.index_build`): appends its blobs with
    # `writer.append` and returns the directory that goes into `PartMeta.index`.
    index_builder: IndexBuilder | None = None
    # Asked between blocks; when it says yes, the temporary file is removed and WriteCancelled raised.
    cancel: Callable[[], bool] | None = None


def write_part(path: str, rows: Rows, options: PartOptions) -> PartMeta:
    """Write `rows` (already sorted by `_time`) as a part at `path`, atomically (see
    `PartOptions` for the rest). On any error (ENOSPC included) nothing is left behind."""
    meta = stage_part(path, rows, options)
    publish_parts([path], options.fsync)
    return meta


def stage_part(path: str, rows: Rows, options: PartOptions) -> PartMeta:
    """Write the part of `path` under its temporary name (`layout.tmp_path`), whole and fsynced,
    but not yet visible: `publish_parts` renames it. On any error the temporary file is removed."""
    n = len(rows)
    if n == 0:
        raise ValueError("a part needs at least one row")
    if n > 1 and np.any(np.diff(rows.time) < 0):
        raise ValueError("rows must be sorted by _time")
    if options.sort_dicts:
        rows = sort_dictionaries(rows)
    tmp = tmp_path(path)
    try:
        return _write(tmp, rows, options)
    except BaseException:
        discard_staged([path])
        raise


def publish_parts(paths: list[str], fsync: bool) -> None:
    """Rename staged parts into place, then fsync their folders. If a rename or an fsync fails,
    the parts already renamed are removed again with the rest of the staged files: the group is
    on disk whole or not at all (a reader may have seen the first ones for that instant)."""
    done = []
    try:
        for path in paths:
            os.rename(tmp_path(path), path)
            done.append(path)
        if fsync:
            for folder in sorted({os.path.dirname(p) for p in paths}):
                fsync_dir(folder)
    except BaseException:
        for path in done:
            os.unlink(path)
        discard_staged(paths)
        raise


def discard_staged(paths: list[str]) -> None:
    """Remove the temporary files of staged parts (those that exist)."""
    for path in paths:
        try:
            os.unlink(tmp_path(path))
        except FileNotFoundError:
            pass


def _write(tmp: str, rows: Rows, options: PartOptions) -> PartMeta:
    n = len(rows)
    blocks = []
    frames: list[np.ndarray | None] = []  # each block's message frame numbers, for the index
    keys = derived_fields.KeyIds(list(rows.dicts.get(FIELD_KEYS, []))) if options.derive_fields else None
    with open(tmp, "wb") as f:
        f.write(MAGIC)
        # Merged parts that stay only: a flush is on the path that bounds ingest, measured as it is.
        merged = options.level > 0 and not options.flush_layout
        w = StreamWriter(f, options.zstd_level, large_input_params=merged)
        for lo in range(0, n, options.block_rows):
            if options.cancel is not None and options.cancel():
                raise WriteCancelled(tmp)
            hi = min(n, lo + options.block_rows)
            # Merged parts only are cut into value frames (engine.store.value_frames).
            streams, numbers = _block_streams(w, rows, lo, hi, keys, merged)
            blocks.append(BlockMeta(hi - lo, int(rows.time[lo]), int(rows.time[hi - 1]), streams))
            frames.append(numbers)
        data_end = w.pos
        index = options.index_builder(rows, blocks, w, frames) if options.index_builder else {}
        meta = PartMeta(
            version=FORMAT_VERSION,
            level=options.level,
            instance=options.instance,
            flush_id=options.flush_id,
            flush_parts=options.flush_parts,
            rows=n,
            min_time=int(rows.time[0]),
            max_time=int(rows.time[-1]),
            created_ns=options.created_ns,
            raw_bytes=rows.raw_bytes,
            block_rows=options.block_rows,
            blocks=blocks,
            dicts={c: list(v) for c, v in rows.dicts.items()},
            positions=dict(options.positions),
            index=index,
            data_bytes=data_end - len(MAGIC),
            index_bytes=w.pos - data_end,
            replaces=list(options.replaces),
            flushes=dict(options.flushes),
            interim=options.interim,
        )
        footer = encode_footer(
            _PartBody(**{k: getattr(meta, k) for k in _BODY_FIELDS}), meta.min_time, options.zstd_level
        )
        head = encode_head(head_of(meta))
        f.write(footer)
        f.write(head)
        f.write(TRAILER.pack(len(footer), len(head), zlib.crc32(footer), zlib.crc32(head), FORMAT_VERSION, MAGIC))
        f.flush()
        if options.fsync:
            os.fsync(f.fileno())
    return meta


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
