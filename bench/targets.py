"""What a benchmark run sends to: logjet (started here, or a running one at `--url`) or a peer.

Every target answers the same questions: which port takes a protocol, how many messages are
stored so far (`poll`, called every few milliseconds, so it must be cheap), and what the run
cost (`snapshot`, taken before and after). For a logjet started here `poll` reads the counters
straight from the instance's shared memory, so the measurement does not load the engine's HTTP
process; for `--url` it scrapes /metrics. "Stored" for logjet is `written_rows_total` (rows on
disk, indexed and queryable); for a peer, lines in its output file. A logjet target's
`HttpAccess` says how its HTTP API is reached (HTTPS, token): the HTTP senders and the scrape use it.
"""

from __future__ import annotations

import os
import shutil
from typing import NamedTuple

from bench.engine import EngineProcess, tree_cpu_seconds
from bench.http_access import HttpAccess
from bench.peers import Peer
from bench.send import HTTP_PROTOS
from engine import __version__, metrics
from engine.ipc.shm import InstanceDir


class Poll(NamedTuple):
    stored: int
    received: int  # messages the target read off sockets (= stored for peers)
    dropped: int  # messages the target counted as dropped


def scrape(url: str, access: HttpAccess = HttpAccess()) -> dict[str, float]:
    """Every sample of /metrics as {'name{labels}': value}."""
    text = access.get(url + "/metrics", timeout=10).decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def total(samples: dict[str, float], name: str) -> float:
    return sum(v for k, v in samples.items() if k == name or k.startswith(name + "{"))


def by_label(samples: dict[str, float], name: str) -> dict[str, float]:
    """{first label value: value} of the samples of `name` (e.g. CPU seconds by role)."""
    return {k.split('"')[1]: v for k, v in samples.items() if k.startswith(name + "{")}


class LogjetTarget:
    def __init__(
        self,
        workdir: str,
        engine_args: list[str],
        url: str | None = None,
        syslog_port: int = 5514,
        name: str = "logjet",
        start_timeout: float | None = None,
        access: HttpAccess = HttpAccess(),
    ):
        self.name = name
        self.access = access
        self.workdir = workdir
        self.engine_args = engine_args
        self.start_timeout = start_timeout  # None: EngineProcess's default
        self.url = url.rstrip("/") if url else None
        self.syslog_port = syslog_port
        self.engine: EngineProcess | None = None
        self.version = f"logjet {__version__}"

    @property
    def data_dir(self) -> str | None:
        return self.engine.data_dir if self.engine else None

    def start(self, framing: str = "lf") -> None:
        if self.url:
            return
        os.makedirs(self.workdir, exist_ok=True)
        timeout = {"start_timeout": self.start_timeout} if self.start_timeout else {}
        self.engine = EngineProcess(
            os.path.join(self.workdir, "data"),
            "--retention",
            "0",
            *self.engine_args,
            log_path=os.path.join(self.workdir, "engine.log"),
            **timeout,
        ).start()
        self.url = f"{self.access.scheme}://127.0.0.1:{self.engine.ports['http']}"
        self._shm = InstanceDir(self.engine.instance)

    def port(self, proto: str) -> int:
        if self.engine is None:
            return int(self.url.rsplit(":", 1)[1]) if proto in HTTP_PROTOS else self.syslog_port
        key = {"udp": "syslog_udp", "tls": "syslog_tls"}.get(proto, "http" if proto in HTTP_PROTOS else "syslog_tcp")
        return self.engine.ports[key]

    def poll(self) -> Poll:
        if self.engine is None:
            s = scrape(self.url, self.access)
            return Poll(
                int(total(s, "logjet_written_rows_total")),
                int(total(s, "logjet_received_messages_total")),
                int(total(s, "logjet_dropped_messages_total")),
            )
        samples = metrics.read_all(self._shm.metrics_files())
        got = {"written_rows_total": 0.0, "received_messages_total": 0.0, "dropped_messages_total": 0.0}
        for (name, _), value in samples.items():
            if name in got:
                got[name] += value
        return Poll(
            int(got["written_rows_total"]), int(got["received_messages_total"]), int(got["dropped_messages_total"])
        )

    def snapshot(self) -> dict:
        s = scrape(self.url, self.access)
        cpu = by_label(s, "logjet_process_cpu_seconds_total")
        return {
            "cpu_s": sum(cpu.values()),
            "cpu_by_role": cpu,
            "rss_by_role": by_label(s, "logjet_process_resident_memory_bytes"),
            "dropped_by_reason": by_label(s, "logjet_dropped_messages_total"),
            "alert_matches": total(s, "logjet_alert_matches_total"),
        }

    def cpu_seconds(self) -> float | None:
        """CPU seconds of every process of the engine, from /proc (None for `--url`: not ours to see)."""
        return self.engine.cpu_seconds() if self.engine is not None else None

    def alive(self) -> bool:
        return self.engine is None or self.engine.proc.poll() is None

    def stop(self) -> None:
        if self.engine is not None:
            self.engine.stop()

    def remove(self) -> None:
        if self.engine is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


class PeerTarget:
    """A peer collector (bench.peers) behind the same interface."""

    def __init__(self, peer: Peer):
        self.peer = peer
        self.name = peer.name
        self.version = peer.version(peer.binary)
        self.data_dir = None
        self.access = HttpAccess()  # peers are measured over TCP only

    def start(self, framing: str = "lf") -> None:
        self.peer.start(framing)

    def port(self, proto: str) -> int:
        return self.peer.port

    def poll(self) -> Poll:
        n = self.peer.stored()
        return Poll(n, n, 0)

    def snapshot(self) -> dict:
        return {"cpu_s": self.peer.cpu_seconds()}

    def cpu_seconds(self) -> float | None:
        """CPU seconds of the peer and any process it started, from /proc."""
        return tree_cpu_seconds(self.peer.proc.pid) if self.peer.proc is not None else 0.0

    def alive(self) -> bool:
        return self.peer.proc is not None and self.peer.proc.poll() is None

    def stop(self) -> None:
        self.peer.stop()

    def remove(self) -> None:
        self.peer.remove()
