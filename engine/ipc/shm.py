"""Names of every shared-memory file of one running instance, and their creation and removal.

All of an instance's shared memory lives in one folder, `/dev/shm/logjet-<instance>/`, so it
outlives a crashed worker, can be inspected with `ls`, and is removed in one step at shutdown
(or by a test's clean-up, which knows the instance from the start-up line).
"""

from __future__ import annotations

import os
import secrets
import shutil

# tmpfs: memory-backed, so ring traffic never touches a disk. Overridable for systems without it.
SHM_ROOT = "/dev/shm" if os.path.isdir("/dev/shm") else "/tmp"
PREFIX = "logjet-"


def new_instance_id() -> str:
    """Unique per `logjet serve` run: the supervisor's pid plus randomness (pids get reused)."""
    return f"{os.getpid()}-{secrets.token_hex(3)}"


class InstanceDir:
    """The folder of one instance and the names inside it; only paths, no open files."""

    def __init__(self, instance: str, root: str = SHM_ROOT):
        self.instance = instance
        self.path = os.path.join(root, PREFIX + instance)

    def create(self) -> None:
        os.makedirs(self.path, mode=0o700, exist_ok=False)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def exists(self) -> bool:
        return os.path.isdir(self.path)

    def ring(self, name: str) -> str:
        return os.path.join(self.path, f"{name}.ring")

    def dictionary_log(self, ring: str) -> str:
        """The writer's log of the dictionary entries that came through `ring`."""
        return os.path.join(self.path, f"{ring}.dict")

    def metrics(self, worker: str) -> str:
        return os.path.join(self.path, f"{worker}.metrics")

    def metrics_files(self) -> list[str]:
        try:
            names = os.listdir(self.path)
        except FileNotFoundError:
            return []
        return sorted(os.path.join(self.path, n) for n in names if n.endswith(".metrics"))

    @property
    def alert_rules(self) -> str:
        """The rule set in force (`engine.alert.snapshot`): written by the supervisor, read by
        parsers and the evaluator at start and on SIGHUP."""
        return os.path.join(self.path, "alerts.snapshot")

    @property
    def owner(self) -> str:
        """Which data dir the instance serves (`engine.lifecycle.orphans`): how a later
        `logjet serve` on that data dir finds what a killed one left here."""
        return os.path.join(self.path, "owner.json")

    @property
    def lock(self) -> str:
        """Held shared by every process of the instance while it lives (`engine.ipc.instance_lock`)."""
        return os.path.join(self.path, "instance.lock")

    @property
    def control(self) -> str:
        return os.path.join(self.path, "control")

    @property
    def workers(self) -> str:
        """JSON list of {"name", "role", "slot"}: which control slot is which worker."""
        return os.path.join(self.path, "workers.json")


def instance_dirs(root: str = SHM_ROOT) -> list[InstanceDir]:
    """Every instance folder under `root`, running or left behind, oldest name first."""
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return []
    return [
        InstanceDir(name[len(PREFIX) :], root)
        for name in names
        if name.startswith(PREFIX) and os.path.isdir(os.path.join(root, name))
    ]


def doorbell_path(ring_path: str) -> str:
    """The doorbell FIFO of the ring at `ring_path` (`engine.ipc.doorbell`): beside it, `.bell`."""
    return ring_path.removesuffix(".ring") + ".bell"


def raw_ring_name(producer: str, parser: int) -> str:
    """Ring from a receiver (or the HTTP ingest) to parser `parser`."""
    return f"raw-{producer}-p{parser}"


def column_ring_name(parser: int) -> str:
    """Ring from parser `parser` to the writer."""
    return f"col-p{parser}"


def alert_ring_name(parser: int) -> str:
    """Ring of alert rule counts from parser `parser` to the evaluator (in the API worker)."""
    return f"alert-p{parser}"
