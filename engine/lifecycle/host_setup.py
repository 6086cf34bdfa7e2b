"""What `logjet serve` claims from the host before it starts anything: the data dir (locked,
private), a private umask, and as many file descriptors as the hard limit allows.

- One instance per data dir: an exclusive `flock` on `<data_dir>/logjet.lock`, held by the
  supervisor for its lifetime (the kernel drops it when the process dies, so a crash leaves no
  stale lock). The file holds the holder's pid, for the message the second start prints.
- Private files: the umask is set to 077 before any file or folder is made, so parts, silences,
  the dictionary log and the shared-memory folder are 0600/0700 in every process (spawned workers
  inherit the umask); the data dir itself is set to 0700 even when it already existed.
- Descriptors: every TCP connection is one; the soft limit (often 1024) is raised to the hard one.
"""

from __future__ import annotations

import fcntl
import os
import resource

from engine.errors import LogjetError

LOCK_NAME = "logjet.lock"
PRIVATE_UMASK = 0o077
DATA_DIR_MODE = 0o700


class DataDirBusy(LogjetError):
    """Another running instance holds the data dir's lock."""


class DataDirLock:
    """The exclusive lock of one data dir; `release` (or process exit) gives it up."""

    def __init__(self, data_dir: str):
        self.path = os.path.join(data_dir, LOCK_NAME)
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise DataDirBusy(
                f"data dir {os.path.dirname(self.path)} is in use by another logjet (pid {holder}); "
                "one instance per data dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock; the file stays (removing it would race)
            self._fd = None


def make_private(data_dir: str) -> None:
    """Private umask for this process and its children; the data dir made (if needed) 0700."""
    os.umask(PRIVATE_UMASK)
    os.makedirs(data_dir, mode=DATA_DIR_MODE, exist_ok=True)
    os.chmod(data_dir, DATA_DIR_MODE)


def raise_fd_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit; returns (old soft, new soft)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            return soft, soft
        return soft, hard
    return soft, soft
