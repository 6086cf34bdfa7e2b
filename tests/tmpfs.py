"""A small disk of a test's own for the full-disk tests: a tmpfs mounted with mount(2) through libc
(as root; skipped otherwise), and filler files that leave a chosen amount of it free."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
from collections.abc import Iterator

import pytest

from engine.store.free_space import volume

# The C library already loaded into this process (ctypes.util.find_library would run ldconfig).
_libc = ctypes.CDLL(None, use_errno=True)
MNT_DETACH = 2
FILLER = "filler"


@contextlib.contextmanager
def small_tmpfs(path: str, size: int) -> Iterator[str]:
    """A tmpfs of `size` bytes at `path` (created), unmounted afterwards whatever happens.
    Skips the test when this process may not mount (not root, or a container without
    CAP_SYS_ADMIN): mount(2) itself, so no `mount` process is started."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    os.makedirs(path, exist_ok=True)
    options = f"size={size},mode=0700".encode()
    if _libc.mount(b"tmpfs", os.fsencode(path), b"tmpfs", 0, options) != 0:
        pytest.skip(f"cannot mount a tmpfs at {path}: {os.strerror(ctypes.get_errno())}")
    try:
        yield path
    finally:
        if _libc.umount2(os.fsencode(path), 0) != 0 and ctypes.get_errno() == errno.EBUSY:
            _libc.umount2(os.fsencode(path), MNT_DETACH)  # a file still open: detach, freed on close


def fill(folder: str, leave_free: int, name: str = FILLER) -> str:
    """Write a filler file into `folder` so that about `leave_free` bytes of its volume stay
    free (to the page; 0: until ENOSPC). Returns its path: delete it to free the space."""
    path = os.path.join(folder, name)
    chunk = b"\0" * (1 << 16)
    with open(path, "ab", buffering=0) as f:
        while True:
            room = volume(folder).free - leave_free
            if room <= 0:
                break
            try:
                f.write(chunk[: min(len(chunk), room)])
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
    return path
