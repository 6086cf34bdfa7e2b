"""The instance folder's liveness lock: every process of an instance holds it shared, so a later
instance can tell, without trusting pids, that none of them is left before it adopts the rings.

`flock` locks belong to the open file and the kernel drops them when the last process holding
it dies, however it dies (SIGKILL included). So "an exclusive lock can be taken" means "no
process of this instance is alive". `holders` names the processes that still hold it, from
/proc/locks, for the message and for putting down workers that outlived their supervisor.
"""

from __future__ import annotations

import fcntl
import os

PROC_LOCKS = "/proc/locks"


class InstanceLock:
    """One process's handle on an instance's lock file (created if missing)."""

    def __init__(self, path: str):
        self.path = path
        self._fd: int | None = None

    def _open(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return self._fd

    def hold_shared(self) -> None:
        """Mark this process as one of the instance's: held until `release` or exit. Blocks
        only while an adopting instance holds it exclusively (a moment)."""
        fcntl.flock(self._open(), fcntl.LOCK_SH)

    def try_exclusive(self) -> bool:
        """Whether no process of the instance holds the lock; if so it is held exclusively by
        this process until `release` (so none can start using the instance meanwhile)."""
        try:
            fcntl.flock(self._open(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def holders(self) -> list[int]:
        """PIDs of the processes holding the lock now (from /proc/locks, by the file's inode)."""
        return lock_holders(self.path)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def lock_holders(path: str, proc_locks: str = PROC_LOCKS) -> list[int]:
    """PIDs holding a flock on the file at `path` (none if it is gone or /proc is not readable)."""
    try:
        st = os.stat(path)
        with open(proc_locks) as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    ident = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    pids = set()
    for line in lines:
        # "1: FLOCK  ADVISORY  READ  1234 00:1a:5678 0 EOF"; a waiter's line has "->" after the index.
        fields = line.split()
        if "->" in fields:
            continue
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == ident:
            pid = int(fields[4])
            if pid > 0:
                pids.add(pid)
    return sorted(pids)
