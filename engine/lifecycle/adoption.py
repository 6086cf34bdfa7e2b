"""Adoption: before it starts its own workers, `logjet serve` empties into parts the rings that a
killed instance of the same data dir left in /dev/shm, exactly once, then removes them.

The rings are the write-ahead log (see docs/architecture.md), so the dead instance's rings hold
every row it read and did not write. Adopting them is the recovery after a worker crash, done
for all workers at once, by workers of the dead instance that the new supervisor starts:

1. `orphans.claim`: wait until none of its processes is left (they may still be draining on
   their own), then take its instance lock exclusively and make this process the supervisor in
   its control table, so that none of its workers that was still booting can touch a ring.
2. Rings all empty (the common case after the workers' own drain): nothing to do.
3. Otherwise start, as that instance (its name, its rings, its control slots), a parser for
   each parser ring set that holds records and the writer, then drain them in order. The writer
   first reads that instance's parts (`recovery.recover_positions`): a flush it finished is
   skipped, an unfinished one deleted and written again, a batch re-parsed from a raw record
   whose output was already written is a duplicate by its origin. Nothing is written twice.
4. Remove the folder. The rows written are logged and counted (`recovered_rows_total`).

It runs before the new instance's writer exists: that writer's merges take every whole part
of the data dir, and once an unfinished flush of the dead instance were merged away, the
positions that make step 3 exact would be lost. An instance that cannot be adopted (a damaged
ring, a worker that fails) stops the start with an error that says where its rings are:
starting without them would lose their rows, or later write them twice.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import multiprocessing.context
import multiprocessing.process
import os
import re
import signal
import time
from collections.abc import Callable

import msgspec

from engine.config import Settings
from engine.errors import LogjetError
from engine.ipc import control
from engine.ipc.control import ControlTable
from engine.ipc.ring import Ring, RingError
from engine.ipc.shm import InstanceDir
from engine.lifecycle.forkserver import WorkerContext
from engine.lifecycle.orphans import claim, orphans_of
from engine.lifecycle.policy import StageDrain
from engine.metrics import read_all
from engine.worker.process import DRAIN_SIGNAL, EXIT_OK, WorkerSpec, boot

log = logging.getLogger("logjet.supervise")

_RAW = re.compile(r"^raw-(.+)-p(\d+)\.ring$")
_COLUMNS = re.compile(r"^col-p(\d+)\.ring$")
TICK_S = 0.05


class AdoptionError(LogjetError):
    """A dead instance's rings could not be emptied; the message says which and where."""


class DrainPlan:
    """What a dead instance's folder holds: its rings by parser, and which hold records."""

    def __init__(self, shm: InstanceDir):
        self.shm = shm
        self.raw: dict[int, list[str]] = {}  # parser → the raw rings it reads
        self.columns: dict[int, str] = {}  # parser → its column ring
        names = os.listdir(shm.path)
        for name in sorted(names):
            if m := _RAW.match(name):
                self.raw.setdefault(int(m.group(2)), []).append(name[: -len(".ring")])
            elif m := _COLUMNS.match(name):
                self.columns[int(m.group(1))] = name[: -len(".ring")]
        # ring → (records, bytes) written and not yet released
        self.pending = {name: _pending(shm, name) for name in self._rings()}

    def _rings(self) -> list[str]:
        return [name for names in self.raw.values() for name in names] + list(self.columns.values())

    @property
    def empty(self) -> bool:
        return not any(used for _, used in self.pending.values())

    def records(self, kind: str) -> int:
        """Records held by the raw ("raw-") or the column ("col-") rings."""
        return sum(records for name, (records, _) in self.pending.items() if name.startswith(kind))

    def workers(self, shm_root: str) -> list[WorkerSpec]:
        """The writer, and a parser for every parser whose raw rings hold records, in the control
        slots the dead instance gave them. Raises AdoptionError."""
        try:
            with open(self.shm.workers) as f:
                slots = {w["name"]: int(w["slot"]) for w in json.load(f)}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise AdoptionError(f"cannot read {self.shm.workers}: {exc}") from None
        instance = self.shm.instance

        def spec(role: str, index: int, **rings: str | tuple[str, ...]) -> WorkerSpec:
            name = f"{role}-{index}"
            if name not in slots:
                raise AdoptionError(f"{self.shm.workers} has no slot for {name}")
            base = WorkerSpec(role, index, slots[name], instance, shm_root, {}, drain_only=True)
            return msgspec.structs.replace(base, **rings)

        specs = [spec("writer", 0, input_rings=tuple(self.columns[q] for q in sorted(self.columns)))]
        for q, inputs in sorted(self.raw.items()):
            if q not in self.columns:
                raise AdoptionError(f"{self.shm.path} has raw rings for parser {q} but no column ring")
            if any(self.pending[name][1] for name in inputs):
                specs.append(spec("parser", q, input_rings=tuple(inputs), column_ring=self.columns[q]))
        return specs


def _pending(shm: InstanceDir, name: str) -> tuple[int, int]:
    try:
        ring = Ring(shm.ring(name))
    except RingError as exc:
        raise AdoptionError(str(exc)) from None
    try:
        return ring.records_pending, ring.used_bytes
    finally:
        ring.close()


class Adopter:
    """Adopts every dead instance of the settings' data dir (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        ctx: WorkerContext,
        running: str,
        shm_root: str,
        interrupted: Callable[[], bool],
        status: Callable[[str], None],
    ):
        self.settings = settings
        self.ctx = ctx
        self.running = running
        self.shm_root = shm_root
        self.interrupted = interrupted
        self.status = status

    def adopt_all(self) -> int:
        """Rows written from the rings of dead instances. Raises AdoptionError."""
        rows = 0
        for shm, owner in orphans_of(self.settings.data_dir, self.running, self.shm_root):
            self.status(f"recovering the rings of instance {shm.instance}")
            log.info("instance %s (pid %d) of this data dir left %s", shm.instance, owner.supervisor_pid, shm.path)
            rows += self.adopt(shm)
        return rows

    def adopt(self, shm: InstanceDir) -> int:
        lock = claim(shm, self.settings.supervisor.drain_timeout.seconds, self.interrupted)
        if lock is None:
            raise AdoptionError(self._left_as_is(shm, "its processes did not exit"))
        try:
            if os.path.exists(shm.control):
                table = ControlTable(shm.control)
                table.adopt()
                table.close()
        except ValueError as exc:
            raise AdoptionError(self._left_as_is(shm, str(exc))) from None
        finally:
            lock.release()  # from here on only workers this process starts take it
        try:
            plan = DrainPlan(shm)
            if plan.empty:
                log.info("instance %s: its rings are empty (its workers wrote everything); removing them", shm.instance)
                shm.remove()
                return 0
            raw, columns = plan.records("raw-"), plan.records("col-")
            before = _written_rows(shm)
            self._drain(shm, plan.workers(self.shm_root))
            rows = _written_rows(shm) - before
        except (AdoptionError, OSError, ValueError) as exc:
            raise AdoptionError(self._left_as_is(shm, str(exc))) from None
        log.warning(
            "instance %s: recovered %d rows from %d raw and %d column batches left in its rings; removing them",
            shm.instance,
            rows,
            raw,
            columns,
        )
        shm.remove()
        return rows

    def _left_as_is(self, shm: InstanceDir, why: str) -> str:
        return (
            f"cannot recover instance {shm.instance} of this data dir ({why}); its unwritten rows are in "
            f"{shm.path}: fix the cause and start again, or remove that folder to start without them"
        )

    def _drain(self, shm: InstanceDir, specs: list[WorkerSpec]) -> None:
        """Start the workers, wait until they are ready, drain the parsers, then the writer."""
        ctl = ControlTable(shm.control)
        procs: list[multiprocessing.process.BaseProcess] = []
        try:
            for spec in specs:
                slot = ctl.slots[spec.slot]
                slot["state"] = control.STARTING
                slot["heartbeat_ns"] = slot["started_ns"] = time.time_ns()
                spec = msgspec.structs.replace(spec, supervisor_pid=os.getpid())
                started = self.ctx.Process(target=boot, args=(spec, self.settings), name=f"logjet-{spec.name}")
                started.start()
                slot["pid"] = started.pid
                procs.append(started)
            self._wait_ready(ctl, specs, procs)
            for role in ("parser", "writer"):
                self._drain_stage([p for p, s in zip(procs, specs) if s.role == role])
        finally:
            for proc in procs:
                if proc.exitcode is None:
                    _kill(proc, signal.SIGKILL)
                    proc.join(5)
            ctl.close()

    def _wait_ready(
        self, ctl: ControlTable, specs: list[WorkerSpec], procs: list[multiprocessing.process.BaseProcess]
    ) -> None:
        deadline = time.monotonic() + self.settings.supervisor.start_timeout.seconds
        while not all(ctl.slots["state"][s.slot] == control.READY for s in specs):
            for proc in procs:
                if proc.exitcode is not None:
                    raise AdoptionError(f"{proc.name} exited while starting (exit code {proc.exitcode})")
            if self.interrupted():
                raise AdoptionError("interrupted")
            if time.monotonic() > deadline:
                raise AdoptionError(f"its workers were not ready after {self.settings.supervisor.start_timeout}")
            time.sleep(TICK_S)

    def _drain_stage(self, stage: list[multiprocessing.process.BaseProcess]) -> None:
        for proc in stage:
            _kill(proc, DRAIN_SIGNAL)
        wait = StageDrain(time.monotonic(), self.settings.supervisor.drain_timeout.seconds, 0)
        while any(proc.exitcode is None for proc in stage):
            if wait.must_kill(time.monotonic(), 1 if self.interrupted() else 0):
                late = ", ".join(p.name for p in stage if p.exitcode is None)
                why = (
                    "interrupted"
                    if self.interrupted()
                    else f"not drained after {self.settings.supervisor.drain_timeout}"
                )
                raise AdoptionError(f"{late}: {why}")
            time.sleep(TICK_S)
        for proc in stage:
            if proc.exitcode != EXIT_OK:
                raise AdoptionError(f"{proc.name} failed (exit code {proc.exitcode}); see its log above")


def _kill(proc: multiprocessing.process.BaseProcess, sig: int) -> None:
    if proc.pid is None:
        return
    try:
        os.kill(proc.pid, sig)
    except ProcessLookupError:
        pass


def _written_rows(shm: InstanceDir) -> int:
    totals = read_all([shm.metrics("writer-0")])
    return int(sum(v for (name, _), v in totals.items() if name == "written_rows_total"))
