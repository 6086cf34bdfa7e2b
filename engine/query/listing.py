"""Folder listings kept while the folder's mtime says nothing changed in it.

Every query lists the data dir and the day folders its time range touches; a `stat` costs a
fraction of a `listdir` and of the `isdir` of each entry. A folder's mtime changes whenever an
entry is added, removed or renamed in it (a part renamed into place, merged away, a day folder
made or deleted by retention), so an unchanged mtime means an unchanged listing, with one
exception: the mtime has a coarse tick (a few ms on Linux file systems, up to seconds on some
others), and a change within the same tick as the one before leaves it as it was. So a listing
is only kept when the folder's last change was at least RACY_NS before it was read; a folder
changed more recently is listed again each time until its last change is that old.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Callable, TypeVar

T = TypeVar("T")

# Longer than the mtime tick of any file system a data dir is on (2 s on FAT, 1 s on ext3).
RACY_NS = 2_000_000_000


class Listings:
    """Listings by folder, each made by its own `read` and kept while the folder is unchanged.
    Thread-safe: a listing read twice at once is only read twice."""

    def __init__(self) -> None:
        self._kept: dict[str, tuple[int, object]] = {}  # folder -> (its mtime, listing)
        self._lock = threading.Lock()

    def get(self, folder: str, read: Callable[[], T]) -> T:
        """read() of `folder`, or the one kept for it while its mtime is the same."""
        try:
            mtime = os.stat(folder).st_mtime_ns
        except OSError:  # gone, or not there yet: nothing to keep
            with self._lock:
                self._kept.pop(folder, None)
            return read()
        with self._lock:
            kept = self._kept.get(folder)
        if kept is not None and kept[0] == mtime:
            return kept[1]  # type: ignore[return-value]  # put there by the same `read`
        # The mtime is taken before reading, so a change in between makes it differ next time;
        # a change after reading is a tick apart from the last one if that was RACY_NS before.
        settled = time.time_ns() - mtime >= RACY_NS
        listing = read()
        with self._lock:
            if settled:
                self._kept[folder] = (mtime, listing)
            else:
                self._kept.pop(folder, None)
        return listing

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
