"""Collects frames from many connections into raw batches and writes them into the parser rings.

Contract: `add` keeps references to the caller's buffers (no copy) until the batch is written,
so callers pass immutable `bytes`, with frames in order (starts ascending, not overlapping).
A batch is sealed when it reaches `batch_bytes`, or when frames come with other field names (a
request's `?msg_field=...`, `engine.parse.json_keys`: one blob per batch); `flush`
writes sealed and open batches into the rings, round-robin over the parsers' rings and skipping
full ones. When every ring is full `flush` returns False and keeps the batches: the caller
applies back-pressure (TCP) or drops them with `drop_all` (UDP), and tries again later.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from engine.ipc.raw_batch import FRAME_OVERHEAD, SOURCE_OVERHEAD, batch_overhead, raw_size, write_raw
from engine.ipc.record_kinds import KIND_RAW
from engine.ipc.ring import RingProducer

# What callers hand over: a buffer, frame start and end offsets into it, frame flags (truncated,
# framing error), and per frame the index of its sender in a list of senders.
Buffer = bytes | memoryview
Offsets = npt.NDArray[np.int64]
FrameFlags = npt.NDArray[np.uint8]
SenderIds = npt.NDArray[np.uint16]


class _Batch:
    """One batch being filled: references to the callers' buffers and the frames' spans in them."""

    __slots__ = ("chunks", "starts", "ends", "flags", "src", "sources", "data_len", "frames", "first_ns", "names")

    def __init__(self, names: bytes = b"") -> None:
        self.chunks: list[Buffer] = []
        self.starts: list[Offsets] = []
        self.ends: list[Offsets] = []
        self.flags: list[FrameFlags] = []
        self.src: list[SenderIds] = []
        self.sources: dict[str, int] = {}
        self.data_len = 0
        self.frames = 0
        self.first_ns = 0
        self.names = names  # the field names blob of every frame in the batch

    def size(self) -> int:
        return self.data_len + FRAME_OVERHEAD * self.frames + batch_overhead(len(self.sources)) + len(self.names)


class Batcher:
    """Raw batches of one protocol, on their way into `rings`. `clock` (monotonic ns) stamps the
    first frame of each batch, for `oldest_ns`."""

    def __init__(
        self,
        protocol: int,
        rings: list[RingProducer],
        batch_bytes: int,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.protocol = protocol
        self.rings = rings
        max_record = min(r.max_record for r in rings)
        self.batch_bytes = max(4096, min(batch_bytes, max_record // 2))
        self._max_record = max_record
        self._open = _Batch()
        self._sealed: deque[_Batch] = deque()
        self._next_ring = 0
        self._clock = clock
        self._frames = 0  # pending, kept as running totals: read on every add
        self._bytes = 0

    @property
    def pending_frames(self) -> int:
        return self._frames

    @property
    def pending_bytes(self) -> int:
        return self._bytes

    def oldest_ns(self) -> int:
        """When the oldest pending frame arrived (0 if none): the batch-delay clock."""
        if self._sealed:
            return self._sealed[0].first_ns
        return self._open.first_ns

    def add(
        self, buf: Buffer, starts: Offsets, ends: Offsets, flags: FrameFlags, source: str, field_names: bytes = b""
    ) -> None:
        """Add the frames `buf[starts[i]:ends[i]]`, all from `source`, whose JSON rows take
        their columns from `field_names` (`engine.parse.json_keys.encode_overrides`; b"": the
        configured ones)."""
        if len(starts):
            self.add_many(buf, starts, ends, flags, np.zeros(len(starts), np.uint16), [source], field_names)

    def add_many(
        self,
        buf: Buffer,
        starts: Offsets,
        ends: Offsets,
        flags: FrameFlags,
        src: SenderIds,
        sources: list[str],
        field_names: bytes = b"",
    ) -> None:
        """Add frames from several senders: frame i came from `sources[src[i]]`."""
        k = len(starts)
        if k == 0:
            return
        if self._open.names != field_names:
            self._seal()
            self._open = _Batch(field_names)
        b = self._open
        extra = len(buf) + FRAME_OVERHEAD * k + SOURCE_OVERHEAD * len(sources)
        if b.frames and (b.size() + extra > self.batch_bytes or len(b.sources) + len(sources) > 65535):
            self._seal()
            b = self._open
        if b.size() + extra > self.batch_bytes and k > 1:
            # More than a batch at once (a big HTTP body): halves into batches of their own,
            # each half with only its frames' bytes of `buf` (frames lie in order in it).
            for half in (slice(0, k // 2), slice(k // 2, k)):
                lo, hi = int(starts[half][0]), int(ends[half][-1])
                view = memoryview(buf)[lo:hi]
                self.add_many(view, starts[half] - lo, ends[half] - lo, flags[half], src[half], sources, field_names)
            return
        if b.size() + extra > self._max_record:
            # Settings refuse a max_message_bytes this big (engine.config), so this is a bug.
            raise ValueError(f"a frame of {len(buf)} bytes does not fit in a ring record")
        if not b.frames:
            b.first_ns = self._clock()
        remap = np.fromiter((b.sources.setdefault(s, len(b.sources)) for s in sources), np.uint16, len(sources))
        base = b.data_len
        b.chunks.append(buf)
        b.starts.append(starts + base)
        b.ends.append(ends + base)
        b.flags.append(flags)
        b.src.append(remap[src])
        b.data_len += len(buf)
        b.frames += k
        self._frames += k
        self._bytes += len(buf)
        if b.size() >= self.batch_bytes:
            self._seal()

    def _seal(self) -> None:
        if self._open.frames:
            self._sealed.append(self._open)
            self._open = _Batch(self._open.names)

    def flush(self, recv_ns: int | None = None) -> bool:
        """Write every pending batch; False (batches kept) when all rings are full."""
        self._seal()
        while self._sealed:
            if not self._write(self._sealed[0], recv_ns or time.time_ns()):
                return False
            done = self._sealed.popleft()
            self._frames -= done.frames
            self._bytes -= done.data_len
        return True

    def drop_all(self) -> tuple[int, int]:
        """Forget every pending batch; returns (frames, bytes) dropped, for the drop counters."""
        self._seal()
        frames = sum(b.frames for b in self._sealed)
        data = sum(b.data_len for b in self._sealed)
        self._sealed.clear()
        self._frames = self._bytes = 0
        return frames, data

    def _write(self, b: _Batch, recv_ns: int) -> bool:
        starts = np.concatenate(b.starts)
        ends = np.concatenate(b.ends)
        flags = np.concatenate(b.flags)
        src = np.concatenate(b.src)
        sources_blob = "\n".join(b.sources).encode()
        size = raw_size(b.frames, len(sources_blob), b.data_len, len(b.names))
        for attempt in range(len(self.rings)):
            ring = self.rings[(self._next_ring + attempt) % len(self.rings)]
            view = ring.reserve(size)
            if view is None:
                continue
            try:
                written = write_raw(
                    view, recv_ns, self.protocol, starts, ends, src, flags, sources_blob, b.chunks, b.names
                )
                ring.commit(KIND_RAW, written)
            finally:
                view.release()
            self._next_ring = (self._next_ring + attempt + 1) % len(self.rings)
            return True
        return False
