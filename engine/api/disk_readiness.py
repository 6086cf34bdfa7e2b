"""The /readyz reason for a full disk: the writer's FLAG_DISK_LOW, with the free space and the
minimum read now, in words."""

from __future__ import annotations

from engine.ipc.control import WriterFlags
from engine.store.free_space import describe, min_free_bytes, volume
from engine.units import AutoByteSize


class DiskReadiness:
    def __init__(self, flags: WriterFlags, data_dir: str, setting: AutoByteSize):
        self.flags = flags
        self.data_dir = data_dir
        self.setting = setting

    def problem(self) -> str | None:
        """None while the writer writes; else why it does not."""
        if not self.flags.disk_low():
            return None
        try:
            total, free = volume(self.data_dir)
        except OSError as exc:
            return f"disk low, and the data dir cannot be read: {exc}"
        minimum = min_free_bytes(self.setting, total)
        sizes = f"free {describe(free)}, minimum {describe(minimum)}"
        if free < minimum:
            return f"disk below storage.min_free_bytes ({sizes})"
        return f"disk full: writes fail with ENOSPC or EDQUOT ({sizes})"
