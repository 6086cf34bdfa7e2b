"""The supervisor (arbiter): creates the shared memory, starts every worker, restarts the dead,
and drains in order on SIGTERM/SIGINT. It does no data work itself.

Start-up: instance folder, control table and rings in /dev/shm; the ports are resolved once
(a port of 0 becomes a real one) by binding reservation sockets, so restarted workers rebind
the same ports with SO_REUSEPORT; workers are spawned (writer, parsers, receivers, API); once
all report READY the ports are printed as one JSON line on stdout.

Supervision loop (signal handlers only queue, the loop acts): a worker that exited is restarted
(`worker_restarts_total{role}`); one whose heartbeat is older than `heartbeat_timeout` gets
SIGABRT, then SIGKILL, then a restart; a worker that exits with EXIT_BOOT_FAILURE, or restarts
too often, stops the engine with a message rather than looping forever. SIGHUP reloads the alert
rules and has the receivers re-read the TLS certificate and key.

Drain, each stage under `drain_timeout` (the stage's workers get `DRAIN_SIGNAL`; they ignore
SIGTERM, so a SIGTERM to the whole process group reaches only this loop and the order holds):
receivers and API stop reading and write what they hold;
then parsers empty their rings; then the writer flushes. Then the shared memory is removed.
A second signal during the drain turns it into a quick stop (SIGKILL what is left).
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from collections import deque

from engine.ipc import control
from engine.config import Settings
from engine.errors import LogjetError
from engine.ipc.control import ControlTable
from engine.metrics import MetricsFile
from engine.worker.process import DRAIN_SIGNAL, EXIT_BOOT_FAILURE, EXIT_OK, WorkerSpec, boot
from engine.ipc.ring import Ring
from engine.ipc.shm import InstanceDir, alert_ring_name, column_ring_name, new_instance_id, raw_ring_name
from engine.receive.listen_sockets import tcp_listener, udp_socket
from engine.units import parse_hostport

log = logging.getLogger("logjet.supervise")

# Exit codes of `logjet serve`.
EXIT_START_FAILED = 3
EXIT_WORKER_FAILED = 4

DRAIN_ORDER = (("receiver", "api"), ("parser",), ("writer",))
ALERT_RING_BYTES = 4 << 20  # alert counts: a few hundred bytes per batch that matched a rule
TICK_S = 0.05


class Worker:
    """The supervisor's record of one worker slot."""

    def __init__(self, spec: WorkerSpec):
        self.spec = spec
        self.process: multiprocessing.Process | None = None
        self.restarts = 0
        self.restart_times: deque[float] = deque()
        self.abort_sent_at = 0.0


class Supervisor:
    def __init__(self, settings: Settings, out=sys.stdout):
        self.settings = settings.resolved()
        self.out = out
        self.instance = new_instance_id()
        self.dir = InstanceDir(self.instance)
        self.ctx = multiprocessing.get_context("spawn")
        self.workers: list[Worker] = []
        self.ports: dict[str, int] = {}
        self._reserved: list[socket.socket] = []
        self._udp_reserved: list[socket.socket] = []
        self._signals: deque[int] = deque()
        self.control: ControlTable | None = None
        self.metrics: MetricsFile | None = None
        self._restart_counters: dict = {}
        self._reload_requested = False
        self._rules_generation = 0  # of the alert rules snapshot; bumped by each publish

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

    def _plan(self) -> None:
        s = self.settings
        R, P = s.workers.receivers, s.workers.parsers
        producers = [f"r{r}" for r in range(R)] + (["api"] if s.listen.http else [])
        raw_rings = {(p, q): raw_ring_name(p, q) for p in producers for q in range(P)}
        specs = []
        common = dict(instance=self.instance, shm_root=os.path.dirname(self.dir.path), ports=self.ports)
        specs.append(
            WorkerSpec(role="writer", index=0, slot=0, inputs=tuple(column_ring_name(q) for q in range(P)), **common)
        )
        for q in range(P):
            specs.append(
                WorkerSpec(
                    role="parser",
                    index=q,
                    slot=len(specs),
                    inputs=tuple(raw_rings[(p, q)] for p in producers),
                    outputs=(column_ring_name(q), alert_ring_name(q)),
                    **common,
                )
            )
        syslog_ports = {k: v for k, v in self.ports.items() if k != "http"}
        for r in range(R):
            specs.append(
                WorkerSpec(
                    role="receiver",
                    index=r,
                    slot=len(specs),
                    outputs=tuple(raw_rings[(f"r{r}", q)] for q in range(P)),
                    **{**common, "ports": syslog_ports},
                )
            )
        if s.listen.http:
            specs.append(
                WorkerSpec(
                    role="api",
                    index=0,
                    slot=len(specs),
                    inputs=tuple(alert_ring_name(q) for q in range(P)),
                    outputs=tuple(raw_rings[("api", q)] for q in range(P)),
                    **common,
                )
            )
        slots = tuple((sp.name, sp.slot) for sp in specs)
        self.workers = [Worker(msgspec_replace(sp, all_slots=slots)) for sp in specs]
        self.raw_rings = list(raw_rings.values())
        self.col_rings = [column_ring_name(q) for q in range(P)]
        self.alert_rings = [alert_ring_name(q) for q in range(P)]

    def _create_shm(self) -> None:
        self.dir.create()
        ControlTable.create(self.dir.control, len(self.workers))
        self.control = ControlTable(self.dir.control)
        with open(self.dir.workers, "w") as f:
            json.dump([{"name": w.spec.name, "role": w.spec.role, "slot": w.spec.slot} for w in self.workers], f)
        raw_bytes = self.settings.rings.raw_ring_bytes.bytes
        col_bytes = self.settings.rings.column_ring_bytes.bytes
        for name in self.raw_rings:
            Ring.create(self.dir.ring(name), raw_bytes)
        for name in self.col_rings:
            Ring.create(self.dir.ring(name), col_bytes)
        for name in self.alert_rings:
            Ring.create(self.dir.ring(name), ALERT_RING_BYTES)
        self.metrics = MetricsFile(self.dir.metrics("supervisor"))
        for role in ("receiver", "parser", "writer", "api"):
            self._restart_counters[role] = self.metrics.counter("worker_restarts_total", role=role)

    def _spawn(self, w: Worker) -> None:
        spec = msgspec_replace(w.spec, restarts=w.restarts)
        slot = self.control.slots[spec.slot]
        slot["state"] = control.STARTING
        slot["heartbeat_ns"] = time.time_ns()
        slot["started_ns"] = time.time_ns()
        slot["restarts"] = w.restarts
        proc = self.ctx.Process(target=boot, args=(spec, self.settings), name=f"logjet-{spec.name}", daemon=False)
        proc.start()
        slot["pid"] = proc.pid
        w.process = proc
        w.abort_sent_at = 0.0

    def start(self) -> None:
        """Bring everything up and print the ports line. Raises StartError."""
        os.makedirs(self.settings.data_dir, exist_ok=True)
        rules = self._load_rules()  # before anything else: a bad rules file stops the start
        self._check_tls()
        self._reserve_ports()
        self._plan()
        self._create_shm()
        self._publish_rules(*rules)
        for w in self.workers:
            self._spawn(w)
        deadline = time.monotonic() + self.settings.supervisor.start_timeout.seconds
        while True:
            states = self.control.slots["state"]
            if all(states[w.spec.slot] == control.READY for w in self.workers):
                break
            for w in self.workers:
                code = w.process.exitcode
                if code is not None:
                    raise StartError(f"{w.spec.name} exited during start-up (exit code {code}); see its log above")
            if time.monotonic() > deadline:
                slow = [w.spec.name for w in self.workers if states[w.spec.slot] != control.READY]
                raise StartError(f"workers not ready after {self.settings.supervisor.start_timeout}: {', '.join(slow)}")
            if self._signals:
                raise StartError("interrupted during start-up")
            time.sleep(TICK_S)
        # Receivers hold the UDP port now; a reservation socket would steal datagrams.
        for sock in self._udp_reserved:
            sock.close()
        self._udp_reserved = []
        line = {**self.ports, "instance": self.instance, "pid": os.getpid()}
        self.out.write(json.dumps(line) + "\n")
        self.out.flush()

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
            if w.spec.role == "receiver" and w.process is not None and w.process.exitcode is None:
                _kill(w.process.pid, signal.SIGHUP)
        log.info("SIGHUP: receivers told to reload the TLS certificate")

    # --- alert rules --------------------------------------------------------------------------
    def _load_rules(self):
        """(rule set, compiled database) of the configured rules file. Raises StartError."""
        from engine.alert.rules import EMPTY, RulesError, load_rules
        from engine.alert.snapshot import compiled_database

        path = self.settings.alerts.rules_file
        if not path:
            return EMPTY, b"", ""
        path = os.path.abspath(path)
        t0 = time.monotonic()
        try:
            rs = load_rules(path)
            db = compiled_database(rs, self.settings.data_dir)
        except RulesError as exc:
            raise StartError(f"alert rules refused: {exc}") from None
        log.info(
            "alert rules: %d from %s (%d patterns, ready in %.1f s)",
            len(rs.rules),
            path,
            len(rs.pattern_rules),
            time.monotonic() - t0,
        )
        if not self.settings.listen.http:
            log.warning(
                "alert rules mark rows (alert:NAME) but nothing fires: the evaluator runs in "
                "the HTTP API process, and listen.http is off"
            )
        return rs, db, path

    def _publish_rules(self, rs, db: bytes, path: str) -> None:
        from engine.alert.snapshot import Snapshot, write

        self._rules_generation += 1
        write(self.dir.alert_rules, Snapshot(self._rules_generation, rs.source, path, db))
        self.metrics.gauge("alert_rules").set(len(rs.rules))

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
        self._publish_rules(*rules)
        for w in self.workers:
            if w.spec.role in ("parser", "api") and w.process is not None and w.process.exitcode is None:
                _kill(w.process.pid, signal.SIGHUP)
        log.info("SIGHUP: alert rules reloaded (generation %d)", self._rules_generation)
        return True

    # --- supervision --------------------------------------------------------------------------
    def _on_signal(self, signum, frame) -> None:
        self._signals.append(signum)  # only queue: the loop acts

    def _on_hup(self, signum, frame) -> None:
        self._reload_requested = True

    def install_signals(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        signal.signal(signal.SIGHUP, self._on_hup)

    def serve_forever(self) -> int:
        """Supervise until a signal; then drain. Returns the exit code for `logjet serve`."""
        timeout_ns = self.settings.supervisor.heartbeat_timeout.ns
        failure = None
        while not self._signals and failure is None:
            time.sleep(TICK_S)
            if self._reload_requested:
                self._reload_requested = False
                self.reload_rules()
                self.reload_tls()
            now_ns = time.time_ns()
            for w in self.workers:
                code = w.process.exitcode
                if code is not None:
                    failure = self._reap(w, code)
                    if failure:
                        break
                    continue
                slot = self.control.slots[w.spec.slot]
                if slot["state"] == control.READY and now_ns - slot["heartbeat_ns"] > timeout_ns:
                    self._murder(w)
        if failure:
            log.error("%s", failure)
        code = self.drain()
        return EXIT_WORKER_FAILED if failure else code

    def _reap(self, w: Worker, code: int) -> str | None:
        """A worker exited while it should be running: restart it, or say why not."""
        why = f"exit code {code}" if code >= 0 else f"signal {signal.Signals(-code).name}"
        if code == EXIT_BOOT_FAILURE:
            return f"{w.spec.name} cannot start ({why}); stopping"
        now = time.monotonic()
        w.restart_times.append(now)
        while w.restart_times and now - w.restart_times[0] > 60:
            w.restart_times.popleft()
        if len(w.restart_times) > self.settings.supervisor.max_restarts_per_minute:
            return f"{w.spec.name} died {len(w.restart_times)} times in a minute ({why}); stopping"
        log.warning("%s (pid %s) died (%s); restarting it", w.spec.name, w.process.pid, why)
        w.process.close()
        w.restarts += 1
        self._restart_counters[w.spec.role].inc()
        self._spawn(w)
        return None

    def _murder(self, w: Worker) -> None:
        """A stale heartbeat: SIGABRT (a traceback from faulthandler if enabled), then SIGKILL."""
        now = time.monotonic()
        if not w.abort_sent_at:
            log.warning("%s (pid %s) missed its heartbeat; aborting it", w.spec.name, w.process.pid)
            w.abort_sent_at = now
            _kill(w.process.pid, signal.SIGABRT)
        elif now - w.abort_sent_at > 5:
            _kill(w.process.pid, signal.SIGKILL)

    # --- shutdown -----------------------------------------------------------------------------
    def drain(self) -> int:
        """Stop the workers stage by stage; remove the shared memory. Returns 0 when clean."""
        clean = True
        timeout = self.settings.supervisor.drain_timeout.seconds
        n_signals = len(self._signals)
        for roles in DRAIN_ORDER:
            stage = [w for w in self.workers if w.spec.role in roles and w.process is not None]
            for w in stage:
                if w.process.exitcode is None:
                    _kill(w.process.pid, DRAIN_SIGNAL)
            deadline = time.monotonic() + timeout
            while any(w.process.exitcode is None for w in stage):
                hurry = len(self._signals) > n_signals
                if time.monotonic() > deadline or hurry:
                    for w in stage:
                        if w.process.exitcode is None:
                            log.error("%s did not stop in time; killing it", w.spec.name)
                            _kill(w.process.pid, signal.SIGKILL)
                            clean = False
                    for w in stage:
                        w.process.join(5)
                    break
                time.sleep(TICK_S)
            for w in stage:
                if w.process.exitcode not in (EXIT_OK, None):
                    clean = False
        self.close()
        return 0 if clean else EXIT_WORKER_FAILED

    def close(self) -> None:
        for sock in self._reserved + self._udp_reserved:
            sock.close()
        self._reserved, self._udp_reserved = [], []
        for w in self.workers:
            if w.process is not None and w.process.exitcode is None:
                _kill(w.process.pid, signal.SIGKILL)
                w.process.join(5)
        try:
            if self.control is not None:
                self.control.close()
                self.control = None
        finally:
            self.dir.remove()


class StartError(LogjetError):
    """The engine cannot start; the message says why."""


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def msgspec_replace(spec: WorkerSpec, **changes) -> WorkerSpec:
    import msgspec

    return msgspec.structs.replace(spec, **changes)


def serve(settings: Settings) -> int:
    """`logjet serve`: run until a signal, drain, exit code."""
    sup = Supervisor(settings)
    sup.install_signals()
    try:
        sup.start()
    except StartError as exc:
        log.error("%s", exc)
        sup.drain() if sup.workers and sup.control is not None else sup.close()
        return EXIT_START_FAILED
    except BaseException:
        sup.close()
        raise
    return sup.serve_forever()
