"""Shared helpers of the fault tests (docs/durability.md): numbered syslog lines over TCP,
exactly-once counts through the query API, waiting for rows, a worker's pid by role.

Every line carries `run=RUN seq=I`: a run is one stream of lines numbered from 0, and
`seq_count` asks the query API how many rows of a run are stored, how many distinct numbers
they hold and the lowest and highest: one `stats` query, whatever the row count (a run of more
than `query.max_groups` = 100,000 lines needs the engine started with `COUNT_CONFIG`). Reads go
through `until_up`, since some tests kill the API process that answers them.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Callable, TypeVar

from tests.e2e.clients import metric, send_tcp, worker_pids

__all__ = [
    "COUNT_CONFIG",
    "LINE_BYTES",
    "NumberedSender",
    "SeqCount",
    "live_metric",
    "numbered",
    "query",
    "send_tcp",
    "seq_count",
    "until_up",
    "wait_rows",
    "wait_written",
    "worker_pids",
]

T = TypeVar("T")
LINE_BYTES = 85  # about: the length of a numbered line (see `numbered`)
# Config lines that let `seq_count` count runs of up to 10M lines.
COUNT_CONFIG = "[query]\nmax_groups = 10000000\n"


def numbered(run: str, first: int, stop: int) -> bytes:
    """Syslog lines of `run` numbered `first` .. `stop - 1`, LF framed."""
    return "".join(
        f"<14>Nov 22 10:00:00 faulthost faultapp: run={run} seq={i} padding-padding-padding\n"
        for i in range(first, stop)
    ).encode()


def until_up(call: Callable[[], T], timeout: float = 60.0) -> T:
    """`call()`, retried while the HTTP port refuses or drops connections (an API process being
    restarted); an HTTP error status is an answer and is raised at once."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except urllib.error.HTTPError:
            raise
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def query(url: str, q: str, limit: int | None = None) -> list[dict]:
    """The NDJSON objects `/api/v1/query` answers for `q`."""
    params: dict[str, str | int] = {"q": q}
    if limit is not None:
        params["limit"] = limit

    def get() -> list[dict]:
        with urllib.request.urlopen(url + "/api/v1/query?" + urllib.parse.urlencode(params), timeout=60) as resp:
            return [json.loads(line) for line in resp.read().splitlines() if line]

    return until_up(get)


def live_metric(url: str, name: str, **labels: str) -> float:
    """`metric`, waiting for the API process if it is being restarted."""
    return until_up(lambda: metric(url, name, **labels))


def wait_written(url: str, expected: float, timeout: float = 60.0) -> float:
    """Wait until `logjet_written_rows_total` reaches `expected`; returns the last value."""
    deadline = time.monotonic() + timeout
    got = live_metric(url, "logjet_written_rows_total")
    while got < expected and time.monotonic() < deadline:
        time.sleep(0.1)
        got = live_metric(url, "logjet_written_rows_total")
    return got


@dataclass(frozen=True)
class SeqCount:
    """What the store holds of one run: rows, distinct numbers, the lowest and highest."""

    rows: int
    distinct: int
    lo: int | None
    hi: int | None

    def exactly(self, first: int, stop: int) -> bool:
        """Each of `first` .. `stop - 1` once, nothing else."""
        if stop == first:
            return self.rows == 0
        return self.rows == self.distinct == stop - first and (self.lo, self.hi) == (first, stop - 1)

    @property
    def is_prefix(self) -> bool:
        """0 .. rows - 1, each once: what TCP delivers of a stream cut short."""
        return self.exactly(0, self.rows)


def seq_count(url: str, run: str) -> SeqCount:
    [got] = query(url, f"run:{run} | stats count() as n, count_uniq(seq) as u, min(seq) as lo, max(seq) as hi")
    lo, hi = (None if got[k] is None else int(got[k]) for k in ("lo", "hi"))
    return SeqCount(int(got["n"]), int(got["u"]), lo, hi)


def wait_rows(url: str, run: str, rows: int, timeout: float = 60.0) -> SeqCount:
    """Wait until `rows` rows of `run` are stored; returns the last count."""
    deadline = time.monotonic() + timeout
    got = seq_count(url, run)
    while got.rows < rows and time.monotonic() < deadline:
        time.sleep(0.1)
        got = seq_count(url, run)
    return got


@dataclass
class Connection:
    """One TCP connection of a `NumberedSender`: its run and how far its lines got."""

    run: str
    local_port: int
    sent: int = 0  # lines in chunks whose sendall returned
    attempted: int = 0  # those and the lines of a chunk whose sendall failed part way
    error: str = ""  # the error that ended it; "" when it was closed cleanly


class NumberedSender(threading.Thread):
    """Sends numbered lines over TCP, `chunk` lines per sendall (at most `rate` lines a second
    when given), until `finish()`, `limit` lines or `max_s`. When a connection fails it notes the
    error and connects again (retrying while refused), numbering the new connection's lines from
    0 as run `{run}c{k}`: what went out on each connection is known, and no line is sent twice."""

    def __init__(
        self, port: int, run: str, chunk: int = 500, limit: int = 2_000_000, rate: float = 0, max_s: float = 60.0
    ):
        super().__init__(daemon=True)
        self.port, self.run_name, self.chunk, self.limit, self.max_s = port, run, chunk, limit, max_s
        self.pause = chunk / rate if rate else 0.0
        self.connections: list[Connection] = []
        self._finish = threading.Event()
        self.connected = threading.Event()

    def finish(self, timeout: float = 60.0) -> list[Connection]:
        self._finish.set()
        self.join(timeout)
        return self.connections

    def run(self) -> None:
        deadline = time.monotonic() + self.max_s
        total = 0
        while not self._finish.is_set() and total < self.limit and time.monotonic() < deadline:
            try:
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
            except OSError:
                time.sleep(0.02)  # refused: no receiver listens this instant
                continue
            conn = Connection(f"{self.run_name}c{len(self.connections)}", sock.getsockname()[1])
            self.connections.append(conn)
            self.connected.set()
            with sock:
                try:
                    while not self._finish.is_set() and total < self.limit and time.monotonic() < deadline:
                        conn.attempted += self.chunk
                        sock.sendall(numbered(conn.run, conn.sent, conn.sent + self.chunk))
                        conn.sent += self.chunk
                        total += self.chunk
                        if self.pause:
                            time.sleep(self.pause)
                    # Close cleanly and wait for the engine's close: it has read everything.
                    sock.shutdown(socket.SHUT_WR)
                    while sock.recv(4096):
                        pass
                except OSError as exc:
                    conn.error = f"{type(exc).__name__}: {exc}"
                    total += conn.attempted - conn.sent
                    continue
                return
