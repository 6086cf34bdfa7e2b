"""The one place numba flags are set: every kernel is decorated with `kernel` from here.

Also where the compile cache is pointed: at the folder `cache_folder` chooses (keyed by a hash
of every source file of this package, since numba's own cache checks only the file of the
function it compiled, yet kernels call kernels from other modules). `CACHE_FOLDER` is that
folder, or None when numba keeps its default (NUMBA_CACHE_DIR set, or nothing writable).
"""

from __future__ import annotations

import os
import pathlib
from typing import TypedDict

import numba
from numba import njit

from native_kernels import cache_folder


class NumbaFlags(TypedDict):
    """The keyword arguments every kernel's `njit` gets."""

    cache: bool
    nogil: bool


# cache=True: compiled code is reused across processes and runs, so workers start fast.
# nogil=True: a kernel never holds the GIL, so a thread pool can run kernels side by side.
# boundscheck stays off (numba's default); wrappers validate inputs before calling a kernel.
NUMBA_FLAGS: NumbaFlags = {"cache": True, "nogil": True}


def _configure_cache() -> pathlib.Path | None:
    # numba.config's options are set from the environment at run time; its stubs do not list them.
    if numba.config.CACHE_DIR:  # type: ignore[attr-defined]
        return None  # someone chose a folder (NUMBA_CACHE_DIR): theirs to manage
    folder = cache_folder.configured(os.environ)
    if folder is None:
        return None  # nothing writable: numba falls back to its own locations
    numba.config.CACHE_DIR = str(folder)  # type: ignore[attr-defined]  # a run-time option, as above
    cache_folder.prune(folder)
    return folder


CACHE_FOLDER = _configure_cache()


def kernel(fn):
    """Compile `fn` as a logjet kernel with the project's numba flags."""
    return njit(**NUMBA_FLAGS)(fn)
