"""Finds the instance folders in /dev/shm that a killed `logjet serve` of this data dir left
behind, and waits until no process of such an instance is left.

Each instance writes `owner.json` into its folder as it creates it: the data dir's path and its
id, a random one stored in the data dir (`layout.DATA_DIR_ID`) the first time `logjet serve`
uses it. Not the path, nor device and inode: another spelling of the path is the same data
dir, and a data dir removed and made again (inodes are reused) is not. Whoever holds the data
dir lock knows that the supervisor of every other instance of that data dir is
dead (the kernel dropped its lock with it), except that of a copy of the data dir (`cp -a`, a
restored backup) served at the same time: it holds the same id, but the folder its owner names
is still there, and is another one; such an instance is never taken. Its workers may still be draining on their own
(they notice within a second) and hold the instance lock until they exit. Workers that outlive
`supervisor.drain_timeout` are stuck (a parser waiting on a column ring whose writer is gone):
they get SIGKILL, which loses nothing, since the rings keep what they did not write out.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import time
from collections.abc import Callable

import msgspec

from engine.ipc.instance_lock import InstanceLock
from engine.ipc.shm import SHM_ROOT, InstanceDir, instance_dirs
from engine.store.layout import DATA_DIR_ID

log = logging.getLogger("logjet.supervise")

# After SIGKILL the kernel needs a moment to tear a process down (unmapping 100s of MiB).
KILL_GRACE_S = 10.0
POLL_S = 0.05


class Owner(msgspec.Struct, frozen=True):
    """What `owner.json` holds."""

    data_dir: str  # as given, for the log
    data_dir_id: str
    supervisor_pid: int
    created_ns: int


def data_dir_id(data_dir: str) -> str:
    """The data dir's id, made (random) if it has none yet. Call while holding its lock."""
    path = os.path.join(data_dir, DATA_DIR_ID)
    try:
        with open(path) as f:
            ident = f.read().strip()
        if ident:
            return ident
    except FileNotFoundError:
        pass
    ident = secrets.token_hex(16)
    _write_atomically(path, (ident + "\n").encode())
    return ident


def write_owner(shm: InstanceDir, data_dir: str) -> None:
    """Record in a new instance's folder which data dir it serves."""
    owner = Owner(os.path.abspath(data_dir), data_dir_id(data_dir), os.getpid(), time.time_ns())
    _write_atomically(shm.owner, msgspec.json.encode(owner))


def _write_atomically(path: str, data: bytes) -> None:
    """Temp name, then rename: a reader sees all of it or nothing."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


def read_owner(shm: InstanceDir) -> Owner | None:
    """The folder's owner, or None when it has none that can be read (another user's folder, one
    made by a logjet before owners were recorded, or one whose supervisor died creating it)."""
    try:
        with open(shm.owner, "rb") as f:
            return msgspec.json.decode(f.read(), type=Owner)
    except (OSError, msgspec.DecodeError):
        return None


def orphans_of(data_dir: str, running: str, root: str = SHM_ROOT) -> list[tuple[InstanceDir, Owner]]:
    """The instance folders of `data_dir` other than the `running` instance's, oldest first.
    Call only while holding the data dir lock: then none of their supervisors is alive."""
    ident = data_dir_id(data_dir)
    found = []
    for shm in instance_dirs(root):
        if shm.instance == running:
            continue
        owner = read_owner(shm)
        if owner is not None and owner.data_dir_id == ident and not _a_copy(owner, data_dir):
            found.append((shm, owner))
    return sorted(found, key=lambda item: item[1].created_ns)


def _a_copy(owner: Owner, data_dir: str) -> bool:
    """Whether the instance served another folder holding the same id: a copy of this data dir
    (or this one's original), which its own `logjet serve` may be serving now. A folder that is
    gone, or holds another id by now, was this data dir before a move (or is not a data dir any
    more): its instances are this one's."""
    try:
        theirs, ours = os.stat(owner.data_dir), os.stat(data_dir)
        if (theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino):
            return False
        with open(os.path.join(owner.data_dir, DATA_DIR_ID)) as f:
            return f.read().strip() == owner.data_dir_id
    except OSError:
        return False


def claim(shm: InstanceDir, wait_s: float, interrupted: Callable[[], bool]) -> InstanceLock | None:
    """Wait until no process of the instance is left, then hold its lock exclusively (returned).
    Processes still holding it after `wait_s` get SIGKILL. None when `interrupted()` turns
    true, or when some process still holds the lock KILL_GRACE_S after its SIGKILL."""
    lock = InstanceLock(shm.lock)
    start = time.monotonic()
    killed_at: float | None = None
    told = False
    while not lock.try_exclusive():
        now = time.monotonic()
        if interrupted():
            lock.release()
            return None
        if not told:
            log.info(
                "instance %s: waiting up to %.0f s for its workers (pids %s) to finish their own drain",
                shm.instance,
                wait_s,
                _pids(lock),
            )
            told = True
        if killed_at is None and now - start > wait_s:
            pids = lock.holders()
            log.warning("instance %s: workers %s still running after %.0f s; killing them", shm.instance, pids, wait_s)
            for pid in pids:
                _kill(pid)
            killed_at = now
        elif killed_at is not None and now - killed_at > KILL_GRACE_S:
            log.error("instance %s: processes %s survive SIGKILL", shm.instance, _pids(lock))
            lock.release()
            return None
        time.sleep(POLL_S)
    return lock


def _pids(lock: InstanceLock) -> str:
    return ", ".join(map(str, lock.holders())) or "unknown"


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
