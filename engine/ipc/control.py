"""The control table in shared memory: one slot per worker with its pid, state and heartbeat.

The supervisor creates the file and assigns slots; each worker writes only its own slot (its
heartbeat every loop, its state when it changes); the supervisor and the HTTP API read them all
(to restart the stale, and for `/readyz`). Single writer per field, so no locks.

Layout: a 64-byte header (magic b"LJCTRL\\x00\\x01", slot count u64, supervisor pid u64), then
`slots` records of 64 bytes:

    field          type   meaning
    pid            i64    the worker process now in the slot (0 before the first start)
    heartbeat_ns   i64    wall clock of the worker's last loop turn
    state          i64    STARTING / READY / DRAINING / STOPPED
    restarts       i64    times the supervisor restarted this slot
    started_ns     i64    when the current process started
    progress       i64    role-specific counter of work done (records, batches) for stall checks
    flags          i64    bit field of states other workers act on (below)
    (one reserved i64)

Flags (set and cleared only by the slot's worker):

    bit  name            slot     meaning
    0    FLAG_DISK_LOW   writer   the data dir's volume is below `storage.min_free_bytes` (or
                                  the last write got ENOSPC): the writer is not writing, so
                                  receivers label UDP drops `disk_full` and the API answers
                                  ingest and /readyz with the reason
"""

from __future__ import annotations

import mmap
import os
import time

import numpy as np

MAGIC = b"LJCTRL\x00\x01"
HEADER_BYTES = 64
SLOT_DTYPE = np.dtype(
    [
        ("pid", "<i8"),
        ("heartbeat_ns", "<i8"),
        ("state", "<i8"),
        ("restarts", "<i8"),
        ("started_ns", "<i8"),
        ("progress", "<i8"),
        ("flags", "<i8"),
        ("reserved", "<i8"),
    ]
)
assert SLOT_DTYPE.itemsize == 64

STARTING, READY, DRAINING, STOPPED = 0, 1, 2, 3
STATE_NAMES = {STARTING: "starting", READY: "ready", DRAINING: "draining", STOPPED: "stopped"}

FLAG_DISK_LOW = 1 << 0
# The slot name of the one writer (`WorkerSpec.name`), whose flags receivers and the API read.
WRITER = "writer-0"


class ControlTable:
    """A mapped control file. `slots` is a numpy record array over the shared memory."""

    def __init__(self, path: str):
        fd = os.open(path, os.O_RDWR)
        try:
            self._mm = mmap.mmap(fd, os.fstat(fd).st_size)
        finally:
            os.close(fd)
        if self._mm[:8] != MAGIC:
            raise ValueError(f"control file {path} is damaged")
        count = int(np.frombuffer(self._mm, dtype="<u8", count=1, offset=8)[0])
        self.slots = np.frombuffer(self._mm, dtype=SLOT_DTYPE, count=count, offset=HEADER_BYTES)

    @staticmethod
    def create(path: str, slots: int) -> None:
        with open(path, "wb") as f:
            header = bytearray(HEADER_BYTES)
            header[:8] = MAGIC
            header[8:16] = slots.to_bytes(8, "little")
            header[16:24] = os.getpid().to_bytes(8, "little")
            f.write(header)
            f.write(bytes(SLOT_DTYPE.itemsize * slots))

    @property
    def supervisor_pid(self) -> int:
        """The supervisor the instance's workers answer to: the one that created the table, or
        the later instance that adopted it (`engine.lifecycle.adoption`). A worker starts only
        as that process's child (`engine.worker.loop.WorkerShm`)."""
        return int(np.frombuffer(self._mm, dtype="<u8", count=1, offset=16)[0])

    def adopt(self, pid: int | None = None) -> None:
        """Make this process (or process `pid`) the instance's supervisor (see `supervisor_pid`)."""
        np.frombuffer(self._mm, dtype="<u8", count=1, offset=16)[0] = os.getpid() if pid is None else pid

    def beat(self, slot: int, progress: int | None = None) -> None:
        """Called by a worker once per loop turn: proof of life for the supervisor."""
        self.slots["heartbeat_ns"][slot] = time.time_ns()
        if progress is not None:
            self.slots["progress"][slot] = progress

    def set_state(self, slot: int, state: int) -> None:
        self.slots["state"][slot] = state
        self.slots["heartbeat_ns"][slot] = time.time_ns()

    def set_flag(self, slot: int, flag: int, on: bool) -> None:
        """Set or clear `flag` in `slot` (only the slot's own worker calls this)."""
        flags = int(self.slots["flags"][slot])
        self.slots["flags"][slot] = flags | flag if on else flags & ~flag

    def flags(self, slot: int) -> int:
        return int(self.slots["flags"][slot])

    def close(self) -> None:
        del self.slots
        try:
            self._mm.close()
        except BufferError:
            # A caller still holds a view of a slot; the map goes when that view does.
            pass


class WriterFlags:
    """The writer's flags as another worker reads them: one load from shared memory per call."""

    def __init__(self, ctl: ControlTable, all_slots: tuple[tuple[str, int], ...]):
        self._ctl = ctl
        self._slot = next((slot for name, slot in all_slots if name == WRITER), None)

    def disk_low(self) -> bool:
        return self._slot is not None and bool(self._ctl.flags(self._slot) & FLAG_DISK_LOW)
