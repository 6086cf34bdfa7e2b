"""Reading a part: `Part` maps the file, checks it, and decodes what is asked for.

The format is in `engine.store.part_format`, writing in `engine.store.part_writer`; this module
re-exports both, so `from engine.store.part_reader import ...` is the one import for either side.
"""

from __future__ import annotations

import mmap
import os
import threading
import zlib
from typing import Any, overload

import msgspec
import numpy as np
import zstandard

from engine.store import derived_fields, encodings
from engine.store.part_format import (  # noqa: F401 - re-exported
    _BODY_FIELDS,
    _HEAD_FIELDS,
    FORMAT_VERSION,
    MAGIC,
    TRAILER,
    BlockMeta,
    PartDamaged,
    PartHead,
    PartMeta,
    StreamMeta,
    WriteCancelled,
    _check_trailer,
    _decode_head,
    decode_footer,
    head_of,
    read_head,
)
from engine.store.part_writer import PartOptions, StreamWriter, fsync_dir, write_part  # noqa: F401 - re-exported
from engine.store.layout import (
    KV,
    KV_COUNT,
    KV_DATA,
    KV_DERIVED,
    KV_KEY,
    KV_KIND,
    KV_LEN,
    MESSAGE,
    MESSAGE_DATA,
    MESSAGE_LEN,
    RECV,
    RECV_REL,
    SD,
    SD_DATA,
    SD_LEN,
    TIME,
    frame_groups,
    lengths_stream,
    values_stream,
)
from engine.store.rows import DICT_COLUMNS, FIELD_KEYS, U8_COLUMNS, Rows
from engine.store.value_frames import GROUP_KEY
from native_kernels.gather import group_counts, scatter_frame_spans, take_spans, terminated_spans

# The one import for either side of the format (see the module docstring).
__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "TRAILER",
    "BlockMeta",
    "Part",
    "PartDamaged",
    "PartHead",
    "PartMeta",
    "PartOptions",
    "StreamMeta",
    "StreamWriter",
    "WriteCancelled",
    "decode_footer",
    "fsync_dir",
    "head_of",
    "read_head",
    "write_part",
]

# Stream names of the version 1 layout that `Part.stream` still answers (see there), and the
# value column each is read from (`_recv` is read from `_recv` or `_recv.rel`).
_LOGICAL = {
    **dict.fromkeys((MESSAGE_LEN, MESSAGE_DATA), MESSAGE),
    **dict.fromkeys((SD_LEN, SD_DATA), SD),
    **dict.fromkeys((KV_COUNT, KV_KEY, KV_KIND, KV_LEN, KV_DATA), KV),
}


class Part:
    """A part opened for reading: the head decoded, the footer checked (and decoded on first use
    of `meta`), the streams mapped. Opening checks every checksum outside the streams, so a part
    that opens has a sound directory; a stream that fails its own checksum raises PartDamaged
    when read. Reads may come from several threads at once; `close` must wait for them."""

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
            footer_len, head_len, footer_crc, head_crc, version = _check_trailer(self._mm[size - TRAILER.size :], size)
            head_at = size - TRAILER.size - head_len
            self.head: PartHead = _decode_head(self._mm[head_at : head_at + head_len], head_crc, version)
            self._data_end = head_at - footer_len
            self._footer = self._mm[self._data_end : head_at]
            if zlib.crc32(self._footer) != footer_crc:
                raise PartDamaged("footer checksum mismatch")
        except PartDamaged:
            self._mm.close()
            raise
        self._meta: PartMeta | None = None
        # The query reads the blocks of one part from a thread pool. A ZstdDecompressor, the
        # field-key encoder and the decoded-values cache must not be shared by two threads at
        # once: one of each per thread.
        self._local = threading.local()

    @property
    def _dctx(self) -> zstandard.ZstdDecompressor:
        dctx = getattr(self._local, "dctx", None)
        if dctx is None:
            dctx = self._local.dctx = zstandard.ZstdDecompressor()
        return dctx

    @property
    def _last(self) -> dict[str, tuple[tuple[int, str], Any]]:
        """column → ((block, column), decoded), this thread's (see `stream`)."""
        last = getattr(self._local, "last", None)
        if last is None:
            last = self._local.last = {}
        return last

    @property
    def meta(self) -> PartMeta:
        """The whole footer (decoded once, on first use)."""
        if self._meta is None:
            try:
                body = decode_footer(self._footer, self.head)
                fields = {k: getattr(self.head, k) for k in _HEAD_FIELDS}
                fields.update({k: getattr(body, k) for k in _BODY_FIELDS})
                self._meta = PartMeta(**fields)
            except (zstandard.ZstdError, msgspec.DecodeError) as exc:
                raise PartDamaged(f"footer does not decode: {exc}") from exc
            self._footer = b""
        return self._meta

    def close(self) -> None:
        self._mm.close()

    def __enter__(self) -> Part:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @overload
    def _inflate(self, offset: int, clen: int, what: str) -> bytes: ...
    @overload
    def _inflate(self, offset: int, clen: int, what: str, into: np.ndarray) -> int: ...
    def _inflate(self, offset: int, clen: int, what: str, into: np.ndarray | None = None) -> bytes | int:
        """The frame at `offset`, inflated; with `into`, inflated into it, and the number of
        bytes it holds (len(into) + 1 when it holds more than fits)."""
        if offset < len(MAGIC) or offset + clen > self._data_end:
            raise PartDamaged(f"{what} at {offset} runs outside the data area")
        try:
            if into is None:
                return self._dctx.decompress(self._mm[offset : offset + clen])
            with self._dctx.stream_reader(self._mm[offset : offset + clen], read_across_frames=True) as reader:
                view = into.data
                got = 0
                while got < len(into):
                    step = reader.readinto(view[got:])
                    if not step:
                        break
                    got += step
                return got + len(reader.read(1))  # one byte more must find the frame's end
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

    def _raw_into(self, meta: StreamMeta, into: np.ndarray) -> np.ndarray:
        """`raw_stream` of a uint8 stream, written into `into` (exactly `meta.count` bytes)."""
        if meta.count == 0 or meta.fill >= 0:
            into[:] = self.raw_stream(meta)
        elif self._inflate(meta.offset, meta.clen, "stream", into) != meta.count:
            raise PartDamaged(f"stream at {meta.offset} holds other than the {meta.count} bytes its footer says")
        return into

    def stream(self, block: int, name: str) -> np.ndarray:
        """Decoded column `name` of `block`. Besides the stored streams, the names of the
        version 1 layout keep working whatever the block stores: `_recv` (absolute),
        `message.len` `message.data` `sd.len` `sd.data` (lengths, and the values' bytes back to
        back), `kv.count` `kv.key` `kv.kind` `kv.len` `kv.data` (every pair, derived ones
        included). The last block's values and fields are cached, so asking for the lengths
        and then the data decodes once."""
        if name == RECV:
            return self.recv(block)
        if name in _LOGICAL:
            return self._logical(block, name)
        return self._physical(block, name)

    def stored_stream(self, block: int, name: str) -> np.ndarray:
        """Decoded stream `name` of `block` as stored (no logical names: `kv.key` holds the
        stored pairs' keys only, without those derived from the message)."""
        return self._physical(block, name)

    def _physical(self, block: int, name: str) -> np.ndarray:
        meta = self.meta.blocks[block].streams[name]
        return encodings.decode(meta.encoding, self.raw_stream(meta), meta.base)

    def _logical(self, b: int, name: str) -> np.ndarray:
        column = _LOGICAL[name]
        key = (b, column)
        if self._last.get(column, (None,))[0] != key:
            self._last[column] = (key, self.logical_columns(b, name))
        stream: np.ndarray = self._last[column][1][name]
        return stream

    def logical_columns(self, b: int, name: str) -> dict[str, np.ndarray]:
        """Every version 1 stream of the value column (message, sd or kv) that logical stream
        `name` belongs to, of block `b`: decoded once and not cached, for readers that keep a
        block's columns themselves for as long as they need them."""
        column = _LOGICAL[name]
        if column == KV:
            ptr, kv_key, kind, off, data = self.fields(b)
            return {KV_COUNT: np.diff(ptr), KV_KEY: kv_key, KV_KIND: kind, KV_LEN: np.diff(off), KV_DATA: data}
        off, data = self.values(b, column)
        return {lengths_stream(column): np.diff(off), values_stream(column): data}

    def blob(self, offset: int, clen: int) -> bytes:
        """A blob written with `StreamWriter.append` (the index's)."""
        return self._inflate(offset, clen, "blob")

    def recv(self, b: int, time: np.ndarray | None = None) -> np.ndarray:
        """`_recv` of block `b` (pass its `_time` if you have it: `_recv.rel` needs it)."""
        streams = self.meta.blocks[b].streams
        if RECV in streams:
            return self._physical(b, RECV)
        recv: np.ndarray = self._physical(b, RECV_REL) + (self._physical(b, TIME) if time is None else time)
        return recv

    def values(self, b: int, name: str, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(offsets int64[n + 1], bytes) of block `b`'s stored `message`, `sd` or `kv` values;
        `n` is the value count (rows, or for `kv` the stored pairs: the sum of the stored
        `kv.count`; `fields` gives every pair)."""
        streams = self.meta.blocks[b].streams
        if frame_groups(streams, name):
            return take_spans(*self.value_spans(b, name))
        if n is None:
            n = self.meta.blocks[b].rows if name != KV else int(self._physical(b, KV_COUNT).sum())
        data_meta = streams[values_stream(name)]
        raw = self.raw_stream(data_meta)
        if data_meta.encoding == encodings.LINES:
            try:
                return encodings.decode_lines(raw, n)
            except ValueError as exc:
                raise PartDamaged(f"{name} values of block {b}: {exc}") from exc
        offsets = encodings.offsets_from_lengths(self._physical(b, lengths_stream(name)))
        if len(offsets) != n + 1 or offsets[-1] != len(raw):
            raise PartDamaged(f"{name} values of block {b} do not match their lengths")
        return offsets, raw

    def value_spans(
        self, b: int, name: str, want: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(buffer, starts, ends) of block `b`'s stored `message`, `sd` or `kv` values: value i
        is buffer[starts[i]:ends[i]]. No copy (`values` copies the bytes to drop the
        separators): for scans that read values where they lie, like word search. `want`
        (bool per value) lets a block whose values are cut into frames by group
        (`engine.store.value_frames`) decompress only the frames holding a wanted value; the
        values of the frames left out read as -1/-1 (no value)."""
        streams = self.meta.blocks[b].streams
        frames = frame_groups(streams, name)
        if not frames:
            n = self.meta.blocks[b].rows if name != KV else int(self._physical(b, KV_COUNT).sum())
            return self._frame_spans(b, name, "", n)
        gids = self._physical(b, GROUP_KEY[name])
        id_count = max(int(gids.max(initial=0)), max(frames)) + 1
        own = np.zeros(id_count, np.bool_)
        own[list(frames)] = True
        # Values per group and the groups holding a wanted value, in one pass over the block.
        per_group, wanted = group_counts(gids, id_count, want)
        groups: list[tuple[int | None, str]] = [(g, x) for g, x in frames.items() if want is None or wanted[g]]
        if want is None or (wanted & ~own).any():
            groups.append((None, ""))  # the rest frame holds a wanted value
        # Each group's frame read (its slot in `groups`), -1 for the frames left out.
        slot_of = np.full(id_count, -1, np.int64)
        counts = np.zeros(len(groups), np.int64)
        for k, (g, _suffix) in enumerate(groups):
            if g is None:
                slot_of[~own] = k
                counts[k] = per_group[~own].sum()
            else:
                slot_of[g] = k
                counts[k] = per_group[g]
        # The frames are inflated straight into one buffer, each at its place: joining them
        # afterwards copied every byte read once more (a tenth of a word search's time).
        metas = [streams.get(values_stream(name, suffix)) for _g, suffix in groups]
        buffer = np.empty(sum(m.count for m in metas if m is not None), np.uint8)
        frame_starts, frame_ends = [], []
        at = 0
        for (_g, suffix), meta, n in zip(groups, metas, counts.tolist()):
            size = 0 if meta is None else meta.count
            _buf, fs, fe = self._frame_spans(b, name, suffix, n, buffer[at : at + size])
            frame_starts.append(fs + at)
            frame_ends.append(fe + at)
            at += size
        # One pass hands every value its span (was a pass and a scatter per frame).
        starts, ends = scatter_frame_spans(
            gids, slot_of, counts, np.concatenate(frame_starts), np.concatenate(frame_ends)
        )
        return buffer, starts, ends

    def group_spans(self, b: int, name: str, group: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(buffer, starts, ends) of the `n` values of `group` in block `b`, in order, when the
        group has its own frame (`engine.store.value_frames`); None when it has not."""
        suffix = frame_groups(self.meta.blocks[b].streams, name).get(group)
        return None if suffix is None else self._frame_spans(b, name, suffix, n)

    def rest_spans(self, b: int, name: str, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(buffer, starts, ends) of the `n` values of block `b` in no group's own frame (all
        of them in a block not cut into frames), in order."""
        return self._frame_spans(b, name, "", n)

    def _frame_spans(
        self, b: int, name: str, suffix: str, n: int, into: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(buffer, starts, ends) of the `n` values in frame `name.data<suffix>` of block `b`;
        with `into` (a uint8 array of the frame's size), inflated there and that is the buffer."""
        meta = self.meta.blocks[b].streams[values_stream(name, suffix)]
        raw = self.raw_stream(meta) if into is None else self._raw_into(meta, into)
        if meta.encoding != encodings.LINES:
            offsets = encodings.offsets_from_lengths(self._physical(b, lengths_stream(name, suffix)))
            if len(offsets) != n + 1 or offsets[-1] != len(raw):
                raise PartDamaged(f"{name} values of block {b} do not match their lengths")
            return raw, offsets[:-1], offsets[1:]
        try:
            starts, ends = terminated_spans(raw, n, encodings.LINE_SEP)
        except ValueError as exc:
            raise PartDamaged(f"{name} values of block {b}: {exc}") from exc
        return raw, starts, ends

    def fields(
        self, b: int, message: tuple[np.ndarray, np.ndarray] | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Block `b`'s fields as (kv_ptr, kv_key, kv_kind, kv_off, kv_data), see `Rows`;
        pass the block's `values(b, "message")` if you have them (derived fields need them)."""
        count = self._physical(b, KV_COUNT)
        kv_off, kv_data = self.values(b, KV, int(count.sum()))
        key = self._physical(b, KV_KEY).astype(np.uint32)
        kind = self._physical(b, KV_KIND)
        if KV_DERIVED not in self.meta.blocks[b].streams:
            return encodings.offsets_from_lengths(count), key, kind, kv_off, kv_data
        keys = getattr(self._local, "keys", None)
        if keys is None:
            keys = self._local.keys = derived_fields.KeyIds(self.meta.dicts.get(FIELD_KEYS, []))
        msg_off, msg_data = message if message is not None else self.values(b, MESSAGE)
        derived = self._physical(b, KV_DERIVED)
        try:
            return derived_fields.join(msg_off, msg_data, derived, count, key, kind, kv_off, kv_data, keys)
        except ValueError as exc:
            raise PartDamaged(f"fields of block {b}: {exc}") from exc

    def read_block(self, b: int) -> Rows:
        """Every column of block `b` as `Rows` (dictionaries are the part's)."""
        time = self._physical(b, TIME)
        u8: dict[str, Any] = {c: self._physical(b, c) for c in U8_COLUMNS}
        ids = {c: self._physical(b, c).astype(np.uint32) for c in DICT_COLUMNS}
        msg_off, msg_data = self.values(b, MESSAGE)
        sd_off, sd_data = self.values(b, SD)
        kv_ptr, kv_key, kv_kind, kv_off, kv_data = self.fields(b, (msg_off, msg_data))
        return Rows(
            time=time,
            recv=self.recv(b, time),
            **u8,
            ids=ids,
            dicts=self.meta.dicts,
            msg_off=msg_off,
            msg_data=msg_data,
            sd_off=sd_off,
            sd_data=sd_data,
            kv_ptr=kv_ptr,
            kv_key=kv_key,
            kv_kind=kv_kind,
            kv_off=kv_off,
            kv_data=kv_data,
        )

    def read_all(self) -> Rows:
        from engine.store.rows import concat

        blocks = [self.read_block(b) for b in range(len(self.meta.blocks))]
        if len(blocks) == 1:
            blocks[0].raw_bytes = self.meta.raw_bytes
            return blocks[0]
        rows = concat(blocks)
        rows.raw_bytes = self.meta.raw_bytes
        return rows
