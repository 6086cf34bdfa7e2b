"""The shared-memory single-producer/single-consumer ring of variable-length records.

A ring is a file under /dev/shm (see `engine.ipc.shm`), mapped by exactly one producer process and
one consumer process. Because it is a file, it outlives a crashed worker: the supervisor starts
a new one that attaches and carries on from the positions in the header.

File layout (little-endian; positions are byte counts since the ring was created and only grow,
so `pos & (capacity - 1)` is the offset in the data area and `write_pos - read_pos` the bytes in
use):

    offset  size  field                 written by
    0       8     magic b"LJRING\\x00\\x01"
    8       4     format version (1)
    12      4     reserved
    16      8     capacity (data area bytes, a power of two)
    24      8     created (ns since epoch)
    64      8     write_pos             producer  (its own 64-byte cache line)
    72      8     records written       producer
    80      8     producer pid          producer
    128     8     read_pos              consumer  (its own 64-byte cache line)
    136     8     records released      consumer
    144     8     consumer pid          consumer
    4096    cap   data area: records

A record is `[u32 payload length][u16 kind][u16 flags][payload]`, padded to 8 bytes. A record is
always contiguous: when it does not fit before the end of the data area the producer writes a
PAD record (kind 0) that fills the rest, and the record goes to offset 0.

Publication without locks: the producer copies the payload and the record header, then stores
`write_pos` (one aligned 8-byte store); the consumer reads `write_pos`, then the records before
it, and stores `read_pos` only when it no longer needs their bytes. This relies on x86-64's
total store order (stores become visible in program order); logjet targets x86-64.

The consumer may read ahead of what it releases (`read` moves a private cursor, `release`
publishes `read_pos`): the writer keeps records un-released until the part holding their rows is
on disk, so the ring is the write-ahead log. A consumer that restarts resumes at `read_pos`.

Waking: each ring has a doorbell (`engine.ipc.doorbell`, a FIFO beside the file) that `commit`
rings, so a consumer with nothing to do sleeps in the kernel instead of polling the header.
"""

from __future__ import annotations

import mmap
import os
import struct
import time
from typing import NamedTuple

import numpy as np

from engine.errors import LogjetError
from engine.ipc.doorbell import Doorbell
from engine.ipc.shm import doorbell_path

MAGIC = b"LJRING\x00\x01"
VERSION = 1
HEADER_BYTES = 4096
RECORD_HEADER = struct.Struct("<IHH")
KIND_PAD = 0
# A record may take at most this share of the ring: a bigger one could wait forever for a
# contiguous stretch (after a pad record) while the consumer waits for it.
MAX_RECORD_SHARE = 4

# uint64 word indexes into the header
_W_CAPACITY = 2
_W_CREATED = 3
_W_WRITE_POS = 8
_W_WRITTEN = 9
_W_PRODUCER_PID = 10
_W_READ_POS = 16
_W_RELEASED = 17
_W_CONSUMER_PID = 18


class RingError(LogjetError):
    """The ring file is missing, damaged or of another format version."""


class Record(NamedTuple):
    """One record read from a ring. `payload` is a view into shared memory: valid until the
    consumer releases a position past `end_pos`."""

    kind: int
    flags: int
    payload: memoryview
    end_pos: int


def _align8(n: int) -> int:
    return (n + 7) & ~7


class Ring:
    """A mapped ring file; use `RingProducer` / `RingConsumer` for the two ends."""

    bell: Doorbell | None = None

    def __init__(self, path: str):
        self.path = path
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError as exc:
            raise RingError(f"cannot open ring {path}: {exc}") from exc
        try:
            size = os.fstat(fd).st_size
            if size < HEADER_BYTES:
                raise RingError(f"ring {path} is damaged: {size} bytes is smaller than its header")
            self._mm = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        if self._mm[:8] != MAGIC:
            raise RingError(f"ring {path} is damaged: bad magic {self._mm[:8]!r}")
        (version,) = struct.unpack_from("<I", self._mm, 8)
        if version != VERSION:
            raise RingError(f"ring {path} has format version {version}, this logjet reads {VERSION}")
        self._hdr = np.frombuffer(self._mm, dtype=np.uint64, count=HEADER_BYTES // 8)
        self.capacity = int(self._hdr[_W_CAPACITY])
        if self.capacity & (self.capacity - 1) or size != HEADER_BYTES + self.capacity:
            raise RingError(f"ring {path} is damaged: capacity {self.capacity} does not match size {size}")
        self._mask = self.capacity - 1
        self._data = np.frombuffer(self._mm, dtype=np.uint8, offset=HEADER_BYTES, count=self.capacity)
        self._view = memoryview(self._mm)[HEADER_BYTES:]
        self.max_record = self.capacity // MAX_RECORD_SHARE

    @staticmethod
    def rounded_capacity(capacity: int) -> int:
        """The data bytes a ring asked for `capacity` gets: a power of two, 4 KiB at least."""
        return 1 << max(12, (int(capacity) - 1).bit_length())

    @staticmethod
    def record_limit(capacity: int) -> int:
        """The largest record a ring created with `capacity` takes."""
        return Ring.rounded_capacity(capacity) // MAX_RECORD_SHARE

    @staticmethod
    def create(path: str, capacity: int) -> None:
        """Create a zeroed ring file of `capacity` data bytes (rounded up to a power of two)."""
        capacity = Ring.rounded_capacity(capacity)
        tmp = f"{path}.tmp"
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.ftruncate(fd, HEADER_BYTES + capacity)
            header = bytearray(HEADER_BYTES)
            header[:8] = MAGIC
            struct.pack_into("<I", header, 8, VERSION)
            struct.pack_into("<QQ", header, 16, capacity, time.time_ns())
            os.pwrite(fd, header, 0)
        finally:
            os.close(fd)
        os.rename(tmp, path)

    # Positions and counters, readable from either end (and by the supervisor and metrics).
    @property
    def write_pos(self) -> int:
        return int(self._hdr[_W_WRITE_POS])

    @property
    def read_pos(self) -> int:
        return int(self._hdr[_W_READ_POS])

    @property
    def used_bytes(self) -> int:
        return int(self._hdr[_W_WRITE_POS]) - int(self._hdr[_W_READ_POS])

    @property
    def records_written(self) -> int:
        return int(self._hdr[_W_WRITTEN])

    @property
    def records_pending(self) -> int:
        """Records written and not yet released by the consumer."""
        return int(self._hdr[_W_WRITTEN]) - int(self._hdr[_W_RELEASED])

    def close(self) -> None:
        if self.bell is not None:
            self.bell.close()
        # Views into the map must go before the map itself can close.
        self._view.release()
        del self._hdr, self._data
        try:
            self._mm.close()
        except BufferError:
            # A caller still holds a record view; the map is freed when that view goes.
            pass


class RingProducer(Ring):
    """The writing end. One process at a time; a restarted producer resumes at `write_pos`.
    With `doorbell` (the default) every commit wakes a sleeping consumer; a ring whose consumer
    polls on a timer anyway (alert counts) goes without."""

    def __init__(self, path: str, doorbell: bool = True):
        super().__init__(path)
        self._hdr[_W_PRODUCER_PID] = os.getpid()
        self.bell = Doorbell(doorbell_path(path)) if doorbell else None

    def free_bytes(self) -> int:
        return self.capacity - self.used_bytes

    def reserve(self, n: int) -> memoryview | None:
        """Room for a payload of `n` bytes, or None while the ring is too full. Fill the view,
        then `commit`. Raises ValueError if `n` can never fit."""
        if n > self.max_record:
            raise ValueError(f"record of {n} bytes exceeds the ring's limit of {self.max_record}")
        need = _align8(RECORD_HEADER.size + n)
        wpos = int(self._hdr[_W_WRITE_POS])
        free = self.capacity - (wpos - int(self._hdr[_W_READ_POS]))
        off = wpos & self._mask
        tail = self.capacity - off
        if tail < need:
            # Pad to the end and start at 0; the pad is published together with the record.
            if free < tail + need:
                return None
            RECORD_HEADER.pack_into(self._view, off, tail - RECORD_HEADER.size, KIND_PAD, 0)
            self._pad = tail
            off = 0
        else:
            if free < need:
                return None
            self._pad = 0
        self._reserved_off = off
        start = off + RECORD_HEADER.size
        return self._view[start : start + n]

    def commit(self, kind: int, n: int, flags: int = 0) -> int:
        """Publish the record reserved last with its payload of `n` bytes; returns its end position."""
        RECORD_HEADER.pack_into(self._view, self._reserved_off, n, kind, flags)
        end = int(self._hdr[_W_WRITE_POS]) + self._pad + _align8(RECORD_HEADER.size + n)
        self._hdr[_W_WRITTEN] += 1
        self._hdr[_W_WRITE_POS] = end
        if self.bell is not None:
            self.bell.ring()
        return end

    def try_write(self, kind: int, payload: bytes | bytearray | memoryview, flags: int = 0) -> bool:
        """Copy one bytes-like payload in as a record; False while the ring is full."""
        n = len(payload)
        view = self.reserve(n)
        if view is None:
            return False
        view[:] = payload
        self.commit(kind, n, flags)
        return True


class RingConsumer(Ring):
    """The reading end. `read` moves a private cursor; `release` frees space for the producer.
    `bell` is the doorbell to sleep on (`engine.ipc.doorbell.Waiter`), None without `doorbell`."""

    def __init__(self, path: str, doorbell: bool = True):
        super().__init__(path)
        self._hdr[_W_CONSUMER_PID] = os.getpid()
        self.cursor = int(self._hdr[_W_READ_POS])
        self.bell = Doorbell(doorbell_path(path)) if doorbell else None

    def pending_bytes(self) -> int:
        """Bytes written and not yet read through `read` (the cursor)."""
        return int(self._hdr[_W_WRITE_POS]) - self.cursor

    def read(self) -> Record | None:
        """The next record after the cursor, or None if there is none yet."""
        wpos = int(self._hdr[_W_WRITE_POS])
        while self.cursor < wpos:
            off = self.cursor & self._mask
            n, kind, flags = RECORD_HEADER.unpack_from(self._view, off)
            total = _align8(RECORD_HEADER.size + n)
            if off + total > self.capacity or self.cursor + total > wpos:
                raise RingError(f"ring {self.path} is damaged: record of {n} bytes at {self.cursor}")
            self.cursor += total
            if kind == KIND_PAD:
                continue
            start = off + RECORD_HEADER.size
            return Record(kind, flags, self._view[start : start + n], self.cursor)
        return None

    def release(self, pos: int, records: int = 1) -> None:
        """Give the producer back every byte before `pos` (an `end_pos` of a record read)."""
        self._hdr[_W_RELEASED] += records
        self._hdr[_W_READ_POS] = pos
