"""How much room the data dir's volume has: free bytes (statvfs), the `storage.min_free_bytes`
minimum resolved for that volume, and which OS errors mean "no room" (ENOSPC, EDQUOT)."""

from __future__ import annotations

import errno
import os
from typing import NamedTuple

from engine.units import AutoByteSize

# "auto" minimum: this share of the volume, at most AUTO_MAX_BYTES (what VictoriaLogs and most
# databases keep free: room for a merge's output and for the OS).
AUTO_SHARE = 0.05
AUTO_MAX_BYTES = 1 << 30

# The errors a write gets when the volume (or the user's quota on it) is full.
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


class Volume(NamedTuple):
    total: int  # bytes of the volume
    free: int  # bytes an unprivileged write may still take (statvfs f_bavail, as `df` shows)


def volume(path: str) -> Volume:
    """Size and free space of the volume holding `path` (one statvfs: microseconds)."""
    st = os.statvfs(path)
    return Volume(st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize)


def min_free_bytes(setting: AutoByteSize, total: int) -> int:
    """The minimum free space for a volume of `total` bytes: the setting, or for "auto" the
    smaller of AUTO_MAX_BYTES and AUTO_SHARE of the volume."""
    if setting.is_auto:
        return min(AUTO_MAX_BYTES, int(total * AUTO_SHARE))
    return setting.bytes


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc` is the OS saying there is no room (ENOSPC, or EDQUOT from a quota)."""
    return isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS


def describe(n: int) -> str:
    """Bytes for people: "1.5 GiB", "12.0 MiB", "800 KiB", "512 B"."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n >> 10} KiB" if n >= 1 << 10 else f"{n} B"
