"""The one place numba flags are set: every kernel is decorated with `kernel` from here."""

from numba import njit

# cache=True: compiled code is reused across processes and runs, so workers start fast.
# nogil=True: a kernel never holds the GIL, so a thread pool can run kernels side by side.
# boundscheck stays off (numba's default); wrappers validate inputs before calling a kernel.
NUMBA_FLAGS = {"cache": True, "nogil": True}


def kernel(fn):
    """Compile `fn` as a logjet kernel with the project's numba flags."""
    return njit(**NUMBA_FLAGS)(fn)
