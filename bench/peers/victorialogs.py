"""VictoriaLogs as a query peer: the binary is found (never shipped or built here), started on a
loopback port with its own storage folder, loaded with JSON lines, flushed and merged, and
asked LogsQL over its HTTP API.

The binary is `.peers/victorialogs/victoria-logs` (an ignored folder) or the path in
`$LOGJET_PEER_VICTORIALOGS`; BENCHMARKS.md says how it was built. It is stopped by its PID
(SIGTERM, then SIGKILL), never by name.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterable

from bench.http_client import HttpError, KeepAlive
from bench.peers.base import LOCAL_PEERS, PeerError, first_existing, free_port, log_tail, stop_child

ENV = "LOGJET_PEER_VICTORIALOGS"
BINARY = os.path.join(LOCAL_PEERS, "victorialogs", "victoria-logs")
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
# The fields that make a stream: syslog's natural ones (VictoriaLogs' own syslog input uses the
# host and the app too). Filters on them are stream filters, its fastest kind.
STREAM_FIELDS = ("host", "app")
INGEST_PATH = "/insert/jsonline"


def find() -> str | None:
    """The binary's path, or None when it is not there."""
    return first_existing([os.environ.get(ENV), BINARY])


def missing_note() -> str:
    return (
        f"VictoriaLogs is not installed (no executable at {BINARY} or ${ENV}): the peer is skipped. "
        "Build it from its public source with the Go toolchain (BENCHMARKS.md, Query beside VictoriaLogs)."
    )


def version(binary: str) -> str:
    try:
        out = subprocess.run([binary, "-version"], capture_output=True, timeout=30, text=True)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unknown ({exc})"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else "unknown"


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text format → {name{labels}: value} (comments skipped)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            out[name] = float(value)
        except ValueError:
            continue
    return out


class VictoriaLogs:
    """One VictoriaLogs process with its storage in `workdir` (the caller removes the folder)."""

    name = "victorialogs"

    def __init__(self, binary: str, workdir: str):
        self.binary = binary
        self.workdir = workdir
        self.port = 0
        self.log_path = os.path.join(workdir, "victoria-logs.log")
        self.proc: subprocess.Popen[bytes] | None = None
        self.http: KeepAlive | None = None

    def __enter__(self) -> "VictoriaLogs":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> "VictoriaLogs":
        os.makedirs(self.workdir, exist_ok=True)
        self.port = free_port()
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [
                self.binary,
                f"-storageDataPath={os.path.join(self.workdir, 'data')}",
                f"-httpListenAddr=127.0.0.1:{self.port}",
                # The bench's rows may be days old when its data is reused: keep them all.
                "-retentionPeriod=100y",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )
        self.http = KeepAlive(self.port)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                self.stop()
                raise PeerError(f"victoria-logs exited at start-up (code {self.proc.returncode}):\n{self.log_text()}")
            try:
                if self.http.get("/health").strip() == b"OK":
                    return self
            except (OSError, HttpError):
                self.http.close()
            if time.monotonic() > deadline:
                self.stop()
                raise PeerError(f"victoria-logs did not answer /health in {START_TIMEOUT_S:.0f}s:\n{self.log_text()}")
            time.sleep(0.1)

    def _client(self) -> KeepAlive:
        if self.http is None:
            raise PeerError("victoria-logs is not started")
        return self.http

    def ingest(self, lines: Iterable[bytes]) -> None:
        """POST JSON lines (objects with `_time`, `_msg` and the stream fields) in one request."""
        body = b"\n".join(lines) + b"\n"
        params = {"_msg_field": "_msg", "_time_field": "_time", "_stream_fields": ",".join(STREAM_FIELDS)}
        self._client().request("POST", INGEST_PATH, params, body)

    def metrics(self) -> dict[str, float]:
        return parse_metrics(self._client().get("/metrics").decode())

    def settle(self, expected_rows: int, timeout_s: float = 1800.0, log=print) -> dict[str, float]:
        """Make every ingested row searchable and merge the parts: force_flush, then force_merge
        (it runs in the background) until no merge is active and `* | count()` is
        `expected_rows`. Returns the storage metrics then. Raises PeerError when a row is
        dropped or missing."""
        http = self._client()
        http.get("/internal/force_flush")
        http.get("/internal/force_merge")
        deadline = time.monotonic() + timeout_s
        time.sleep(1.0)  # the merge starts in a goroutine after the answer
        idle = 0
        while True:
            m = self.metrics()
            idle = idle + 1 if m.get("vl_active_force_merges", 0) == 0 else 0
            if idle >= 2:
                break
            if time.monotonic() > deadline:
                raise PeerError(f"victoria-logs still merging after {timeout_s:.0f}s")
            time.sleep(0.5)
        http.get("/internal/force_flush")
        dropped = sum(v for k, v in m.items() if k.startswith("vl_rows_dropped_total"))
        stored = self.count()
        if dropped or stored != expected_rows:
            raise PeerError(
                f"victoria-logs holds {stored:,} rows of {expected_rows:,} sent ({dropped:.0f} dropped); "
                f"its log:\n{self.log_text()}"
            )
        log(f"  victoria-logs: {stored:,} rows searchable, merges done")
        return m

    def count(self) -> int:
        (obj,) = self.query("* | stats count() as n")
        return int(obj["n"])

    def query_raw(self, logsql: str, start_ns: int | None = None, end_ns: int | None = None, limit: int | None = None):
        """The raw body of /select/logsql/query: `start_ns <= _time < end_ns` (VictoriaLogs' end
        is inclusive, so one nanosecond is taken off)."""
        params = {"query": logsql}
        if start_ns is not None:
            params["start"] = str(start_ns)
        if end_ns is not None:
            params["end"] = str(end_ns - 1)
        if limit is not None:
            params["limit"] = str(limit)
        return self._client().get("/select/logsql/query", params)

    def query(self, logsql: str, start_ns: int | None = None, end_ns: int | None = None, limit: int | None = None):
        """The answer's objects (one JSON object a line)."""
        body = self.query_raw(logsql, start_ns, end_ns, limit)
        return [json.loads(line) for line in body.splitlines() if line.strip()]

    def stop(self) -> None:
        if self.http is not None:
            self.http.close()
        stop_child(self.proc, STOP_TIMEOUT_S)
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None

    def disk_bytes(self) -> int:
        total = 0
        for root, _, files in os.walk(os.path.join(self.workdir, "data")):
            for f in files:
                try:
                    total += os.path.getsize(os.path.join(root, f))
                except OSError:
                    pass
        return total

    def log_text(self) -> str:
        return log_tail(self.log_path)
