"""The one place numba flags are set: every kernel is decorated with `kernel` from here.

Also the place the compile cache lives. numba's own cache checks only the source file of the
function it compiled, yet kernels call kernels from other modules (syslog → timestamps, sd):
edit `timestamps.py` alone and numba would load stale machine code. So the cache folder is
keyed by a hash of every source file of this package; any edit anywhere starts a fresh cache.
"""

from __future__ import annotations

import hashlib
import pathlib
import shutil
from typing import TypedDict

import numba
from numba import njit


class NumbaFlags(TypedDict):
    """The keyword arguments every kernel's `njit` gets."""

    cache: bool
    nogil: bool


# cache=True: compiled code is reused across processes and runs, so workers start fast.
# nogil=True: a kernel never holds the GIL, so a thread pool can run kernels side by side.
# boundscheck stays off (numba's default); wrappers validate inputs before calling a kernel.
NUMBA_FLAGS: NumbaFlags = {"cache": True, "nogil": True}

_PACKAGE = pathlib.Path(__file__).resolve().parent
_CACHE_ROOT = _PACKAGE / "__pycache__"
_CACHE_PREFIX = "numba-"


def _sources_key() -> str:
    digest = hashlib.sha256(numba.__version__.encode())
    for path in sorted(_PACKAGE.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _configure_cache() -> None:
    # numba.config's options are set from the environment at run time; its stubs do not list them.
    if numba.config.CACHE_DIR:  # type: ignore[attr-defined]
        return  # someone chose a folder (NUMBA_CACHE_DIR): theirs to manage
    folder = _CACHE_ROOT / (_CACHE_PREFIX + _sources_key())
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return  # read-only install: numba falls back to its own locations
    numba.config.CACHE_DIR = str(folder)  # type: ignore[attr-defined]  # a run-time option, as above
    # Caches of older sources are dead weight: remove them.
    for old in _CACHE_ROOT.glob(_CACHE_PREFIX + "*"):
        if old != folder:
            shutil.rmtree(old, ignore_errors=True)


_configure_cache()


def kernel(fn):
    """Compile `fn` as a logjet kernel with the project's numba flags."""
    return njit(**NUMBA_FLAGS)(fn)
