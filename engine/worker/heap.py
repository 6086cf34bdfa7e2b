"""How much freed memory a process keeps in glibc's heap, and handing it back to the OS.

By default glibc gives each large array its own mapping, unmapped when freed, and trims the
heap's top as soon as a little is free: so a process that frees and allocates the same sizes
over and over (a merge's columns, a query's decompressed blocks) faults its working set in
afresh each time, page by page, and on a VM whose freed pages go back to the host each fault
costs several times more. `keep_freed` raises both thresholds; `give_back` returns what is free
when the process can afford the faults later. Not glibc: the allocator's own defaults, and
both are no-ops.
"""

from __future__ import annotations

import ctypes
import logging
import time
from collections.abc import Callable

log = logging.getLogger("logjet.heap")

# glibc's mallopt parameters.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def _libc() -> ctypes.CDLL | None:
    # The C library this process already has loaded: ctypes.util.find_library would run ldconfig.
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


def keep_freed(mmap_threshold: int, trim_threshold: int) -> None:
    """Allocations below `mmap_threshold` bytes come from the heap (and are reused once freed);
    the heap's top is given back only when more than `trim_threshold` bytes of it are free."""
    libc = _libc()
    try:
        if libc is not None:
            libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold)
            libc.mallopt(_M_TRIM_THRESHOLD, trim_threshold)
    except AttributeError:
        pass  # not glibc


def _malloc_trim() -> Callable[[int], int] | None:
    libc = _libc()
    try:
        trim: Callable[[int], int] | None = libc.malloc_trim if libc is not None else None
    except (AttributeError, TypeError):  # not glibc: its allocator returns memory itself
        return None
    return trim


_trim = _malloc_trim()


def give_back() -> None:
    """Return the free pages of the C heap to the OS. glibc keeps what a big job freed in its
    arenas (one per thread that allocated), so the process would stay at its peak size."""
    if _trim is not None:
        t0 = time.perf_counter()
        _trim(0)
        log.debug("malloc_trim took %.1f ms", (time.perf_counter() - t0) * 1e3)
