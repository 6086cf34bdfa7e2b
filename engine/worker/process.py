"""The process boundary: what crosses into a spawned worker, and the worker's boot sequence.

Only a frozen `WorkerSpec` and the frozen `Settings` cross (both pickle); everything else
(rings, sockets, metrics, logging) is set up again inside the child. Signal handlers only set
a flag that the worker's loop reads (gunicorn's rule: no work inside a handler).
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
import traceback
from types import FrameType

import msgspec

from engine.config import Settings
from engine.errors import LogjetError
from engine.worker.supervisor_link import SupervisorWatch

# Exit codes the supervisor understands. A boot failure (a port taken, a bad data dir) would
# fail again on restart, so it stops the restart loop and the whole engine with a message.
EXIT_OK = 0
EXIT_CRASH = 1
EXIT_BOOT_FAILURE = 3

ROLE_MODULES = {
    "receiver": "engine.receive.worker",
    "parser": "engine.parse.worker",
    "writer": "engine.write.worker",
    "api": "engine.api.worker",
}


class WorkerSpec(msgspec.Struct, frozen=True):
    """Who a worker is and which shared memory it uses; set by the supervisor
    (`engine.lifecycle.ring_plan`). Rings are named as in `engine.ipc.shm`."""

    role: str
    index: int
    slot: int
    instance: str
    shm_root: str
    ports: dict[str, int]
    # The rings it consumes: the writer every column ring, a parser one raw ring per producer,
    # the API every alert ring.
    input_rings: tuple[str, ...] = ()
    raw_rings: tuple[str, ...] = ()  # receivers and the API: the raw rings they fill, one per parser
    column_ring: str = ""  # a parser: the ring of column batches to the writer
    alert_ring: str = ""  # a parser: the ring of alert rule counts to the evaluator
    restarts: int = 0
    all_slots: tuple[tuple[str, int], ...] = ()  # (name, slot) of every worker, for the API
    # Started by a later `logjet serve` to empty the rings of this dead instance into parts
    # (`engine.lifecycle.adoption`): the writer skips what the instance's parts hold and merges
    # nothing; no alert counts are sent (nobody evaluates them).
    drain_only: bool = False
    # The supervisor that started it (0: its parent). Workers are forked by that supervisor's fork
    # server, so it is their grandparent (`engine.worker.supervisor_link`).
    supervisor_pid: int = 0

    @property
    def name(self) -> str:
        return f"{self.role}-{self.index}"


class BootError(LogjetError):
    """A worker cannot start for a reason a restart will not fix."""


# The supervisor's "drain now" to one worker. Not SIGTERM: a SIGTERM sent to the whole process
# group or cgroup (timeout(1), `kill -TERM -PGID`, systemd's default KillMode=control-group)
# would stop every stage at once, and a writer that stops before the parsers have emptied their
# rings leaves rows behind. Workers ignore SIGTERM; the supervisor drains them in order.
DRAIN_SIGNAL = signal.SIGUSR2


class StopFlag:
    """Set by DRAIN_SIGNAL; read by the worker loop. A second one means 'stop now'. Also notes
    SIGHUP (`reload`), which the loop clears once it has reloaded."""

    def __init__(self) -> None:
        self.stopping = False
        self.hurry = False
        self.reload = False

    def install(self) -> None:
        signal.signal(DRAIN_SIGNAL, self._handle)
        signal.signal(signal.SIGHUP, self._reload)

    def _reload(self, signum: int, frame: FrameType | None) -> None:
        self.reload = True

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping:
            self.hurry = True
        self.stopping = True


def set_process_name(name: str) -> None:
    """Show the role in `ps`/`top` (Linux: the 15-byte comm), so operators can tell workers apart."""
    try:
        with open("/proc/self/comm", "w") as f:
            f.write(name[:15])
    except OSError:
        pass


def _watch_supervisor(spec: WorkerSpec) -> None:
    """Drain if the supervisor vanishes (killed with SIGKILL): workers ignore SIGTERM, so an
    orphan would otherwise run until someone finds it."""
    watch = SupervisorWatch(spec.supervisor_pid or os.getppid())
    watch.start(lambda: os.kill(os.getpid(), DRAIN_SIGNAL))


def boot(spec: WorkerSpec, settings: Settings) -> None:
    """Entry point of every worker, forked from the fork server or spawned."""
    set_process_name(f"lj-{spec.name}")
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s {spec.name}[%(process)d] %(levelname)s %(message)s",
        stream=sys.stderr,
        force=True,  # a worker forked from the fork server may inherit handlers set there
    )
    # The supervisor owns Ctrl-C: a terminal's SIGINT goes to the whole process group, and
    # workers must drain in the supervisor's order, not all at once.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # SIGHUP means "reload the alert rules" (parsers, API) or "reload the TLS certificate"
    # (receivers), forwarded by the supervisor; by default it would kill a worker that has not
    # yet installed its handler.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # see DRAIN_SIGNAL
    _watch_supervisor(spec)
    try:
        module = importlib.import_module(ROLE_MODULES[spec.role])
        module.run(settings, spec)
    except BootError as exc:
        logging.getLogger(spec.name).error("cannot start: %s", exc)
        os._exit(EXIT_BOOT_FAILURE)
    except KeyboardInterrupt:
        os._exit(EXIT_OK)
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(EXIT_CRASH)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_OK)
