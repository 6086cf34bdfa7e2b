"""The supervisor (arbiter): creates the shared memory, starts every worker, restarts the dead,
and drains in order on SIGTERM/SIGINT. It does no data work itself.

Start-up: the rings a killed instance of the same data dir left in /dev/shm are emptied into
parts first (`adoption`); then instance folder, control table and rings in /dev/shm; the ports
are resolved once (a port of 0 becomes a real one) by binding reservation sockets, so restarted
workers rebind the same ports with SO_REUSEPORT; workers (writer, parsers, receivers, API) are
forked from the fork server (`forkserver`, launched first thing so that its preloading overlaps
the rest); once all report READY the ports are printed as one JSON line on stdout, "ready in X s"
is logged (`start_report`) and READY=1 goes to systemd (`sd_notify`).

Supervision loop (signal handlers only queue, the loop acts): a worker that exited is restarted
(`worker_restarts_total{role}`); one whose heartbeat is older than `heartbeat_timeout` gets
SIGABRT, then SIGKILL, then a restart; a worker that exits with EXIT_BOOT_FAILURE, or restarts
too often, stops the engine with a message rather than looping forever. SIGHUP reloads the alert
rules and has the receivers re-read the TLS certificate and key. Under systemd with a watchdog
the loop sends WATCHDOG=1 while every worker is healthy. The workers and rings come from
`ring_plan`, the rules from `engine.alert.publish`; when to restart, abort, kill or stop waiting
is decided by `policy`, on the times this loop reads.

Drain, each stage under `drain_timeout` (the stage's workers get `DRAIN_SIGNAL`; they ignore
SIGTERM, so a SIGTERM to the whole process group reaches only this loop and the order holds):
receivers and API stop reading and write what they hold;
then parsers empty their rings; then the writer flushes. Then the shared memory is removed.
A worker that dies without draining is restarted (`policy.restart_in_drain`), and a restarted
worker is told to drain once it is ready (`policy.may_drain`), so a stop during a restart loses
nothing.
A second signal during the drain turns it into a quick stop (SIGKILL what is left).
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import multiprocessing.process
import os
import signal
import socket
import sys
import time
from collections import deque
from types import FrameType
from typing import TextIO

import msgspec

from engine.alert.publish import CompiledRules, RulesPublisher, compile_rules_file
from engine.alert.rules import RulesError
from engine.auth.tokens import AuthFileError, load_tokens
from engine.config import Settings
from engine.errors import LogjetError
from engine.ipc import control
from engine.ipc.control import ControlTable
from engine.ipc.instance_lock import InstanceLock
from engine.ipc.ring import Ring
from engine.ipc.shm import InstanceDir, new_instance_id
from engine.lifecycle.adoption import Adopter, AdoptionError
from engine.lifecycle.forkserver import ExitWatch, start_early, worker_context
from engine.lifecycle.host_setup import DataDirBusy, DataDirLock, make_private, raise_fd_limit
from engine.lifecycle.orphans import write_owner
from engine.lifecycle.policy import (
    RestartBudget,
    StageDrain,
    StaleEscalation,
    exit_reason,
    heartbeat_stale,
    may_drain,
    refuse_restart,
    restart_in_drain,
    worker_healthy,
)
from engine.lifecycle.ring_plan import RingPlan, plan_rings
from engine.lifecycle.sd_notify import Notifier
from engine.lifecycle.start_report import StartReport
from engine.lifecycle.supervise_wait import SuperviseWait
from engine.metrics import MetricsFile, Value
from engine.receive.listen_sockets import discard_queued, tcp_listener, udp_socket
from engine.receive.udp_drops import read_drops, socket_inode
from engine.units import parse_hostport
from engine.worker.process import DRAIN_SIGNAL, EXIT_OK, WorkerSpec, boot

log = logging.getLogger("logjet.supervise")

# Exit codes of `logjet serve`.
EXIT_DATA_DIR_BUSY = 2  # like a configuration error: nothing was started, retrying will not help
EXIT_START_FAILED = 3
EXIT_WORKER_FAILED = 4

DRAIN_ORDER = (("receiver", "api"), ("parser",), ("writer",))
TICK_S = 0.05
KILL_WAIT_S = 5.0
# While serving, the supervisor wakes at once for an exit or a signal (SuperviseWait), else at
# least this often and HEARTBEAT_LOOKS times per supervisor.heartbeat_timeout, to find stale
# heartbeats and to escalate a put-down (policy.StaleEscalation) in time.
SUPERVISE_WAKE_S = 1.0
HEARTBEAT_LOOKS = 8


class Worker:
    """The supervisor's record of one worker slot."""

    def __init__(self, spec: WorkerSpec, max_restarts_per_minute: int):
        self.spec = spec
        self.process: multiprocessing.process.BaseProcess | None = None
        self.restarts = 0
        self.restart_budget = RestartBudget(max_restarts_per_minute)
        self.stale = StaleEscalation()
        self.exit_watch: ExitWatch | None = None

    def started(self, process: multiprocessing.process.BaseProcess) -> None:
        if self.exit_watch is not None:
            self.exit_watch.close()
        self.process = process
        assert process.pid is not None, "recorded before it started"
        self.exit_watch = ExitWatch(process.pid)

    @property
    def exitcode(self) -> int | None:
        """The worker's exit code, None while it runs. An exit reported while the process still
        runs means the fork server that reports exits died (`forkserver.ExitWatch`): the worker is
        put down first, so that its successor is the only one on its rings."""
        if self.process is None:
            return None
        code = self.process.exitcode
        if code is not None and self.exit_watch is not None and self.exit_watch.alive():
            log.error("%s (pid %d) lost the fork server that started it; killing it", self.spec.name, self.pid)
            _kill(self.pid, signal.SIGKILL)
            self.exit_watch.wait(KILL_WAIT_S)
        return code

    @property
    def running(self) -> bool:
        return self.process is not None and self.exitcode is None

    @property
    def pid(self) -> int:
        assert self.process is not None and self.process.pid is not None, "asked of a worker never started"
        return self.process.pid


class Supervisor:
    """One `logjet serve` run: start, supervise, drain (see the module docstring)."""

    def __init__(self, settings: Settings, out: TextIO = sys.stdout, notifier: Notifier | None = None):
        self.settings = settings.resolved()
        self.out = out
        self.notify = notifier or Notifier(None)
        self.instance = new_instance_id()
        self.dir = InstanceDir(self.instance)
        self.lock = DataDirLock(self.settings.data_dir)
        self.instance_lock = InstanceLock(self.dir.lock)
        self.recovered_rows = 0
        self.ctx = worker_context(self.settings.supervisor.worker_start)
        self.report = StartReport(forked=self.settings.supervisor.worker_start == "forkserver")
        self.workers: list[Worker] = []
        self.ports: dict[str, int] = {}
        self._reserved: list[socket.socket] = []
        self._udp_reserved: list[socket.socket] = []
        self._signals: deque[int] = deque()
        self.control: ControlTable | None = None
        self.metrics: MetricsFile | None = None
        self.rules: RulesPublisher | None = None
        self._restart_counters: dict[str, Value] = {}
        self._udp_start_drops: Value | None = None
        self._reload_requested = False
        self.serving = False  # every worker was ready once and the ports line is out

    # --- start-up -----------------------------------------------------------------------------
    def _reserve_ports(self) -> None:
        listen = self.settings.listen
        for key, kind in (("syslog_tcp", "tcp"), ("syslog_udp", "udp"), ("syslog_tls", "tcp"), ("http", "tcp")):
            value = getattr(listen, key)
            if not value:
                continue
            host, port = parse_hostport(value)
            try:
                if kind == "tcp":
                    sock = tcp_listener(host, port, listen=False)
                    self._reserved.append(sock)
                else:
                    sock = udp_socket(host, port)
                    self._udp_reserved.append(sock)
            except OSError as exc:
                raise StartError(f"cannot bind {key} {value}: {exc.strerror or exc}") from None
            self.ports[key] = sock.getsockname()[1]

    def _plan(self) -> RingPlan:
        shm_root = os.path.dirname(self.dir.path)
        plan = plan_rings(self.settings, self.instance, shm_root, self.ports)
        per_minute = self.settings.supervisor.max_restarts_per_minute
        self.workers = [Worker(spec, per_minute) for spec in plan.workers]
        return plan

    def _create_shm(self, plan: RingPlan) -> None:
        self.dir.create()
        write_owner(self.dir, self.settings.data_dir)
        self.instance_lock.hold_shared()
        ControlTable.create(self.dir.control, len(self.workers))
        self.control = ControlTable(self.dir.control)
        with open(self.dir.workers, "w") as f:
            json.dump([{"name": w.spec.name, "role": w.spec.role, "slot": w.spec.slot} for w in self.workers], f)
        raw_bytes = self.settings.rings.raw_ring_bytes.bytes
        col_bytes = self.settings.rings.column_ring_bytes.bytes
        for name, size in plan.ring_bytes(raw_bytes, col_bytes).items():
            Ring.create(self.dir.ring(name), size)
        self.metrics = MetricsFile(self.dir.metrics("supervisor"))
        self.rules = RulesPublisher(self.dir.alert_rules, self.metrics)
        for role in ("receiver", "parser", "writer", "api"):
            self._restart_counters[role] = self.metrics.counter("worker_restarts_total", role=role)
        self.metrics.counter("recovered_rows_total").inc(self.recovered_rows)
        self._udp_start_drops = self.metrics.counter("dropped_messages_total", reason="udp_start")

    def _spawn(self, w: Worker) -> None:
        assert self.control is not None, "spawned after _create_shm"
        spec = msgspec.structs.replace(w.spec, restarts=w.restarts, supervisor_pid=os.getpid())
        slot = self.control.slots[spec.slot]
        slot["state"] = control.STARTING
        slot["heartbeat_ns"] = time.time_ns()
        slot["started_ns"] = time.time_ns()
        slot["restarts"] = w.restarts
        proc = self.ctx.Process(target=boot, args=(spec, self.settings), name=f"logjet-{spec.name}", daemon=False)
        proc.start()
        slot["pid"] = proc.pid
        w.started(proc)
        w.stale.reset()

    def start(self) -> None:
        """Bring everything up and print the ports line. Raises StartError (DataDirBusy when
        another instance holds the data dir)."""
        make_private(self.settings.data_dir)
        self.lock.acquire()
        before, after = raise_fd_limit()
        if after > before:
            log.info("file descriptor limit raised from %d to %d", before, after)
        kernels = self.report.begin()
        self.notify.status(kernels)
        start_early(self.ctx)  # its preloading overlaps the checks below
        self.notify.status("checking the configuration and alert rules")
        rules = self._load_rules()  # before anything else: a bad rules file stops the start
        self._check_tls()
        self._check_auth()
        self._adopt_orphans()
        self._reserve_ports()
        self._create_shm(self._plan())
        self._publish_rules(rules)
        self.notify.status(f"starting {len(self.workers)} workers ({kernels})")
        for w in self.workers:
            self._spawn(w)
        assert self.control is not None
        deadline = time.monotonic() + self.settings.supervisor.start_timeout.seconds
        while True:
            states = self.control.slots["state"]
            if all(states[w.spec.slot] == control.READY for w in self.workers):
                break
            for w in self.workers:
                code = w.exitcode
                if code is not None:
                    raise StartError(f"{w.spec.name} exited during start-up (exit code {code}); see its log above")
            if time.monotonic() > deadline:
                slow = [w.spec.name for w in self.workers if states[w.spec.slot] != control.READY]
                raise StartError(f"workers not ready after {self.settings.supervisor.start_timeout}: {', '.join(slow)}")
            if self._signals:
                raise StartError("interrupted during start-up")
            time.sleep(TICK_S)
        # Receivers hold the UDP port now; a reservation socket would steal datagrams. What it
        # holds already (sent during the start, spread over it and the receivers' sockets by
        # SO_REUSEPORT) is not read by anyone: counted as lost, not lost silently.
        lost = 0
        for sock in self._udp_reserved:
            # Its queue, and what the kernel dropped once that queue was full (/proc/net/udp).
            lost += discard_queued(sock) + sum(read_drops({socket_inode(sock)}).values())
            sock.close()
        self._udp_reserved = []
        if lost and self._udp_start_drops is not None:
            self._udp_start_drops.inc(lost)
            log.warning("%d UDP datagrams that came during the start were dropped (the port's reservation)", lost)
        # Logged before the ports line: whoever waits for that line finds the log line written.
        self.report.ready()
        line = {**self.ports, "instance": self.instance, "pid": os.getpid()}
        self.out.write(json.dumps(line) + "\n")
        self.out.flush()
        self.notify.ready("serving " + ", ".join(f"{k}={v}" for k, v in self.ports.items()))
        self.serving = True

    def _adopt_orphans(self) -> None:
        """Empty the rings killed instances of this data dir left (see `adoption`)."""
        adopter = Adopter(
            self.settings,
            self.ctx,
            self.instance,
            os.path.dirname(self.dir.path),
            interrupted=lambda: bool(self._signals),
            status=self.notify.status,
        )
        try:
            self.recovered_rows = adopter.adopt_all()
        except AdoptionError as exc:
            if self._signals:
                raise StartError("interrupted during start-up, while recovering a killed instance") from None
            raise StartError(str(exc)) from None

    # --- TLS ----------------------------------------------------------------------------------
    def _check_tls(self) -> None:
        """Refuse to start when the TLS listener's files do not load (receivers load them again)."""
        if not self.settings.listen.syslog_tls:
            return
        from engine.receive.tls_context import TlsConfigError, build_context

        try:
            build_context(self.settings.tls)
        except TlsConfigError as exc:
            raise StartError(f"syslog TLS listener refused: {exc}") from None

    def reload_tls(self) -> None:
        """SIGHUP: each receiver re-reads the certificate and key (and keeps its old context,
        with an error in the log, if they do not load)."""
        if not self.settings.listen.syslog_tls:
            return
        for w in self.workers:
            if w.spec.role == "receiver" and w.running:
                _kill(w.pid, signal.SIGHUP)
        log.info("SIGHUP: receivers told to reload the TLS certificate")

    # --- API access ---------------------------------------------------------------------------
    def _check_auth(self) -> None:
        """Refuse to start when the auth file does not load; say how open the API is."""
        if not self.settings.listen.http:
            return
        if self.settings.listen.http_tls:
            from engine.receive.tls_context import TlsConfigError, build_context

            try:
                build_context(msgspec.structs.replace(self.settings.tls, client_ca_file=""))
            except TlsConfigError as exc:
                raise StartError(f"HTTPS listener refused: {exc}") from None
        try:
            tokens = load_tokens(
                self.settings.auth.file, [msgspec.structs.asdict(t) for t in self.settings.auth.tokens]
            )
        except AuthFileError as exc:
            raise StartError(f"API tokens refused: {exc}") from None
        anonymous = self.settings.auth.anonymous
        if anonymous == "any":
            log.warning('auth.anonymous = "any": the HTTP API takes every request without a token, from anywhere')
        elif not tokens:
            who = "no request" if anonymous == "none" else "only requests from this host (loopback)"
            log.info("no API tokens configured: %s can use the HTTP API (see docs/security.md)", who)

    def reload_auth(self) -> None:
        """SIGHUP: the API worker re-reads the auth file and the HTTPS certificate."""
        if not (self.settings.auth.file or self.settings.listen.http_tls):
            return
        for w in self.workers:
            if w.spec.role == "api" and w.running:
                _kill(w.pid, signal.SIGHUP)
        log.info("SIGHUP: the API worker told to reload its tokens and certificate")

    # --- alert rules --------------------------------------------------------------------------
    def _load_rules(self) -> CompiledRules:
        """The configured rules, compiled. Raises StartError."""
        try:
            return compile_rules_file(self.settings)
        except RulesError as exc:
            raise StartError(f"alert rules refused: {exc}") from None

    def _publish_rules(self, rules: CompiledRules) -> None:
        assert self.rules is not None, "published after _create_shm"
        self.rules.publish(rules)

    def reload_rules(self) -> bool:
        """SIGHUP: check the rules file again; if it is good, publish it and tell the parsers and
        the evaluator. A bad file leaves the rules in force as they are."""
        if not self.settings.alerts.rules_file:
            if not self.settings.listen.syslog_tls:
                log.info("SIGHUP: no alert rules file configured; nothing to reload")
            return False
        try:
            rules = self._load_rules()
        except StartError as exc:
            log.error("SIGHUP: %s; keeping the rules in force", exc)
            return False
        self._publish_rules(rules)
        for w in self.workers:
            if w.spec.role in ("parser", "api") and w.running:
                _kill(w.pid, signal.SIGHUP)
        assert self.rules is not None
        log.info("SIGHUP: alert rules reloaded (generation %d)", self.rules.generation)
        return True

    # --- supervision --------------------------------------------------------------------------
    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signals.append(signum)  # only queue: the loop acts

    def _on_hup(self, signum: int, frame: FrameType | None) -> None:
        self._reload_requested = True

    def install_signals(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        signal.signal(signal.SIGHUP, self._on_hup)

    def serve_forever(self) -> int:
        """Supervise until a signal; then drain. Returns the exit code for `logjet serve`."""
        timeout_ns = self.settings.supervisor.heartbeat_timeout.ns
        look_s = min(SUPERVISE_WAKE_S, timeout_ns / 1e9 / HEARTBEAT_LOOKS)
        failure = None
        nap = SuperviseWait()
        try:
            while not self._signals and failure is None:
                nap.wait(self._sentinels(), self._next_look_s(look_s))
                failure = self._supervise_once(timeout_ns)
        finally:
            nap.close()
        if failure:
            log.error("%s", failure)
        code = self.drain(failure or "")
        return EXIT_WORKER_FAILED if failure else code

    def _sentinels(self) -> list[int]:
        """The exit sentinels of the workers' processes: ready once a worker has exited."""
        return [w.process.sentinel for w in self.workers if w.process is not None and w.process.exitcode is None]

    def _next_look_s(self, look_s: float) -> float:
        """Seconds until the next timed duty: a heartbeat look, or the watchdog's keep-alive."""
        if self.notify.watchdog_s > 0:
            # An unhealthy engine pings no keep-alive: it is looked at every TICK_S meanwhile.
            return min(look_s, max(TICK_S, self.notify.next_ping - time.monotonic()))
        return look_s

    def _supervise_once(self, timeout_ns: int) -> str | None:
        """One round of supervision: reloads asked for, dead and stale workers, the watchdog.
        A message when the engine must stop."""
        if self._signals:
            return None
        if self._reload_requested:
            self._reload_requested = False
            self.reload_rules()
            self.reload_tls()
            self.reload_auth()
        failure = self._check_workers(time.time_ns(), time.monotonic(), timeout_ns)
        if failure is None and self.notify.watchdog_due(time.monotonic()) and self._healthy(time.time_ns()):
            self.notify.ping(time.monotonic())
        return failure

    def _check_workers(self, now_ns: int, now: float, heartbeat_timeout_ns: float) -> str | None:
        """One look at every worker: restart the dead, put down the stale. A message when the
        engine must stop instead."""
        assert self.control is not None
        for w in self.workers:
            code = w.exitcode
            if code is not None:
                failure = self._reap(w, code, now)
                if failure:
                    return failure
                continue
            slot = self.control.slots[w.spec.slot]
            if heartbeat_stale(int(slot["state"]), int(slot["heartbeat_ns"]), now_ns, heartbeat_timeout_ns):
                self._put_down(w, now)
        return None

    def _healthy(self, now_ns: int) -> bool:
        """Whether every worker is working or being replaced in time (`policy.worker_healthy`):
        what a WATCHDOG=1 vouches for."""
        assert self.control is not None
        sup = self.settings.supervisor
        slots = self.control.slots
        return all(
            worker_healthy(
                int(slots["state"][w.spec.slot]),
                int(slots["heartbeat_ns"][w.spec.slot]),
                int(slots["started_ns"][w.spec.slot]),
                now_ns,
                sup.heartbeat_timeout.ns,
                sup.start_timeout.ns,
            )
            for w in self.workers
        )

    def _reap(self, w: Worker, code: int, now: float) -> str | None:
        """A worker exited while it should be running: restart it, or say why not."""
        failure = refuse_restart(w.spec.name, code, w.restart_budget, now)
        if failure:
            return failure
        assert w.process is not None
        log.warning("%s (pid %s) died (%s); restarting it", w.spec.name, w.process.pid, exit_reason(code))
        w.process.close()
        w.restarts += 1
        self._spawn(w)
        # Counted once the replacement is in its slot: whoever reads the counter then finds the
        # new pid in the control table, not the dead one (a forked start takes a while).
        self._restart_counters[w.spec.role].inc()
        return None

    def _put_down(self, w: Worker, now: float) -> None:
        """A stale heartbeat: SIGABRT (a traceback from faulthandler if enabled), then SIGKILL."""
        sig = w.stale.signal_due(now)
        if sig == signal.SIGABRT:
            log.warning("%s (pid %s) missed its heartbeat; aborting it", w.spec.name, w.pid)
        if sig is not None:
            _kill(w.pid, sig)

    # --- shutdown -----------------------------------------------------------------------------
    def drain(self, why: str = "") -> int:
        """Stop the workers stage by stage; remove the shared memory. Returns 0 when clean.
        `why` names the cause in the log; by default the stop signal, or a worker's failure."""
        began = time.monotonic()
        if not why:
            why = signal.Signals(self._signals[0]).name if self._signals else "a worker failed"
        running = sum(1 for w in self.workers if w.running)
        # An operator stopping the engine sees it begin and end (systemd gets STOPPING=1 too).
        log.info("stopping (%s): draining %d workers", why, running)
        clean = True
        timeout = self.settings.supervisor.drain_timeout.seconds
        n_signals = len(self._signals)
        for roles in DRAIN_ORDER:
            stage = [w for w in self.workers if w.spec.role in roles and w.process is not None]
            self.notify.stopping(f"draining: {', '.join(roles)}")
            told: set[int] = set()
            given_up: set[int] = set()
            wait = StageDrain(time.monotonic(), timeout, n_signals)
            while self._drain_step(stage, told, given_up):
                if wait.must_kill(time.monotonic(), len(self._signals)):
                    clean = self._kill_stage(stage) and clean
                    break
                if self.notify.watchdog_due(time.monotonic()):
                    self.notify.ping(time.monotonic())  # the drain is bounded by its own deadlines
                time.sleep(TICK_S)
            for w in stage:
                code = w.exitcode
                if code not in (EXIT_OK, None):
                    log.error("%s ended its drain with %s", w.spec.name, exit_reason(code))
                    clean = False
        self.close()
        log.info("stopped in %.2f s%s", time.monotonic() - began, "" if clean else " (not cleanly: see above)")
        return 0 if clean else EXIT_WORKER_FAILED

    def _drain_step(self, stage: list[Worker], told: set[int], given_up: set[int]) -> bool:
        """One look at a drain stage; True while any of its workers runs. A worker that died
        without draining (`policy.restart_in_drain`) is restarted, within its restart budget,
        since its rings still hold what it had not passed on (not when the start failed: nothing
        was taken yet); each running worker is sent the drain signal once it may take it
        (`policy.may_drain`). `told` and `given_up` hold slots."""
        assert self.control is not None, "drained after _create_shm"
        states = self.control.slots["state"]
        for w in stage:
            slot = w.spec.slot
            code = w.exitcode
            if code is not None and self.serving and slot not in given_up and restart_in_drain(code, slot in told):
                failure = self._reap(w, code, time.monotonic())
                if failure:
                    log.error("%s", failure)
                    given_up.add(slot)
                told.discard(slot)
            elif w.running and slot not in told and may_drain(int(states[slot]), w.restarts):
                _kill(w.pid, DRAIN_SIGNAL)
                told.add(slot)
        return any(w.running for w in stage)

    def _kill_stage(self, stage: list[Worker]) -> bool:
        """SIGKILL the stage's workers still running, and wait for them; False when any was."""
        clean = True
        for w in stage:
            if w.running:
                log.error("%s did not stop in time; killing it", w.spec.name)
                _kill(w.pid, signal.SIGKILL)
                clean = False
        for w in stage:
            if w.process is not None:
                w.process.join(5)
        return clean

    def close(self) -> None:
        """Release the ports, SIGKILL any worker left, remove the shared memory."""
        for sock in self._reserved + self._udp_reserved:
            sock.close()
        self._reserved, self._udp_reserved = [], []
        for w in self.workers:
            if w.process is not None and w.running:
                _kill(w.pid, signal.SIGKILL)
                w.process.join(5)
            if w.exit_watch is not None:
                w.exit_watch.close()
        try:
            if self.control is not None:
                self.control.close()
                self.control = None
        finally:
            self.dir.remove()
            self.instance_lock.release()
            self.lock.release()
            self.notify.close()


class StartError(LogjetError):
    """The engine cannot start; the message says why."""


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def serve(settings: Settings, notifier: Notifier) -> int:
    """`logjet serve`: run until a signal, drain, exit code. `notifier` was taken from the
    environment by the caller, before it launched the fork server (`Notifier.from_environ`)."""
    sup = Supervisor(settings, notifier=notifier)
    sup.install_signals()
    try:
        sup.start()
    except DataDirBusy as exc:
        log.error("%s", exc)
        sup.close()
        return EXIT_DATA_DIR_BUSY
    except StartError as exc:
        log.error("%s", exc)
        sup.drain("start-up failed") if sup.workers and sup.control is not None else sup.close()
        return EXIT_START_FAILED
    except BaseException:
        sup.close()
        raise
    return sup.serve_forever()
