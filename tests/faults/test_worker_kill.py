"""kill -9 of each worker kind mid-load (docs/durability.md): the supervisor restarts it and
counts the restart; a parser, the writer or the API process loses and doubles nothing it took;
a receiver loses only what its own TCP connections held in kernel buffers and in its unwritten
batch, as a prefix cut of each stream, and those senders see their connection fail.

One engine (2 receivers, 2 parsers) serves the module: each test kills another role and sends
runs of its own, and the engine must still drain cleanly at the end."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from http.client import HTTPException

import pytest

from bench.engine import EngineProcess
from tests.faults.helpers import (
    COUNT_CONFIG,
    LINE_BYTES,
    NumberedSender,
    live_metric,
    numbered,
    query,
    send_tcp,
    seq_count,
    wait_rows,
    wait_written,
    worker_pids,
)

pytestmark = pytest.mark.e2e

RUN_LINES = 100_000


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kill")
    config = tmp / "logjet.toml"
    config.write_text(COUNT_CONFIG)
    args = ("--retention", "0", "--receivers", "2", "--parsers", "2", "--config", str(config))
    engine = EngineProcess(str(tmp / "data"), *args, log_path=str(tmp / "engine.log"))
    engine.start()
    yield engine
    assert engine.stop() == 0, engine.log_text()[-3000:]


def _restarts(engine, role: str) -> float:
    return live_metric(engine.url, "logjet_worker_restarts_total", role=role)


def _replaced(engine, role: str, victim: int, timeout: float = 60.0) -> None:
    """Wait until the supervisor has restarted `victim` (counted) and its successor is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _restarts(engine, role) >= 1 and victim not in worker_pids(engine, role):
            return
        time.sleep(0.05)
    raise AssertionError(f"{role} {victim} not restarted\n{engine.log_text()[-3000:]}")


def _wait_until(cond, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.mark.parametrize("role", ["parser", "writer"])
def test_kill_worker_mid_load_loses_and_doubles_nothing(engine, role):
    runs = [f"{role}{k}" for k in range(3)]
    before = live_metric(engine.url, "logjet_written_rows_total")
    dups_before = live_metric(engine.url, "logjet_dropped_messages_total", reason="duplicate")
    port = engine.ports["syslog_tcp"]
    # Paced (3 x 30k lines/s: over 3 s of load), and killed once rows flow: mid-load.
    senders = [NumberedSender(port, run, limit=RUN_LINES, rate=30_000) for run in runs]
    victim = worker_pids(engine, role)[0]
    for s in senders:
        s.start()
    _wait_until(lambda: live_metric(engine.url, "logjet_written_rows_total") >= before + 10_000)
    at_kill = live_metric(engine.url, "logjet_written_rows_total") - before
    os.kill(victim, signal.SIGKILL)
    for s in senders:
        s.join(120)
    conns = [c for s in senders for c in s.connections]
    assert at_kill < len(runs) * RUN_LINES, "the load ended before the kill"
    assert [(c.error, c.sent) for c in conns] == [("", RUN_LINES)] * len(runs), "no sender may notice the kill"
    # written_rows_total counts rows written by the dead writer too; dedup happens before
    # writing, so reaching the total and then reading back each number once proves both halves.
    wait_written(engine.url, before + len(runs) * RUN_LINES, timeout=120)
    time.sleep(1.5)  # a flush interval and more: nothing further may appear
    assert live_metric(engine.url, "logjet_written_rows_total") - before == len(runs) * RUN_LINES
    for c in conns:
        assert seq_count(engine.url, c.run).exactly(0, RUN_LINES), (c, seq_count(engine.url, c.run))
    assert _restarts(engine, role) == 1
    assert victim not in worker_pids(engine, role)
    # A parser's successor parses again what its predecessor had not released; the writer
    # drops what it already took, and counts it (zero when the kill fell between batches).
    dups = live_metric(engine.url, "logjet_dropped_messages_total", reason="duplicate") - dups_before
    print(f"kill -9 {role} after {at_kill:.0f} rows: {dups:.0f} duplicate rows dropped")


def _tcp_sockets() -> dict[tuple[int, int], int]:
    """(local port, remote port) → socket inode, for the IPv4 TCP sockets of this host."""
    out = {}
    with open("/proc/net/tcp") as f:
        for line in f.read().splitlines()[1:]:
            cols = line.split()
            local, remote, inode = cols[1], cols[2], int(cols[9])
            out[(int(local.split(":")[1], 16), int(remote.split(":")[1], 16))] = inode
    return out


def _holder(pids: list[int], inode: int) -> int | None:
    """Which of `pids` holds the socket `inode` open."""
    for pid in pids:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    return None


def _kernel_buffer_bytes() -> int:
    """The most a TCP connection holds in kernel buffers: the receiver's socket at its largest
    (tcp_rmem) and the sender's (tcp_wmem)."""
    with open("/proc/sys/net/ipv4/tcp_rmem") as r, open("/proc/sys/net/ipv4/tcp_wmem") as w:
        return int(r.read().split()[2]) + int(w.read().split()[2])


def test_kill_receiver_mid_load_loses_only_its_unread_streams(engine):
    port = engine.ports["syslog_tcp"]
    receivers = worker_pids(engine, "receiver")
    received_before = live_metric(engine.url, "logjet_received_messages_total", protocol="tcp")
    written_before = live_metric(engine.url, "logjet_written_rows_total")
    # Paced (4 x 15k lines/s), so the load lasts through the restart without flooding the machine.
    senders = [NumberedSender(port, f"recv{k}", rate=15_000) for k in range(4)]
    for s in senders:
        s.start()
        assert s.connected.wait(30)
    # SO_REUSEPORT spreads the connections over the receivers: find which holds which (once
    # each has been accepted: until then the socket is in the kernel but no receiver holds it).
    holder: dict[str, int | None] = {}

    def find_holders() -> bool:
        sockets = _tcp_sockets()
        for s in senders:
            c = s.connections[0]
            inode = sockets.get((port, c.local_port))
            holder[c.run] = _holder(receivers, inode) if inode else None
        return None not in holder.values()

    _wait_until(find_holders)
    assert None not in holder.values(), holder
    held = {pid: [run for run, h in holder.items() if h == pid] for pid in receivers}
    victim = min((pid for pid in receivers if held[pid]), key=lambda pid: len(held[pid]))
    _wait_until(lambda: live_metric(engine.url, "logjet_written_rows_total") >= written_before + 20_000)
    os.kill(victim, signal.SIGKILL)
    _replaced(engine, "receiver", victim)
    time.sleep(0.5)  # more load through the successor
    conns = [c for s in senders for c in s.finish(120)]
    assert len(conns) < 20, "reconnects must not loop"
    clean_lines = sum(c.sent for c in conns if not c.error)
    wait_written(engine.url, written_before + clean_lines, timeout=120)
    time.sleep(1.5)  # a flush interval and more: nothing further may appear
    lost = 0
    for c in conns:
        got = seq_count(engine.url, c.run)
        if c.run in held[victim]:
            # Killed under it: the sender saw the connection fail, and what is stored is a
            # prefix of its stream (TCP keeps order; nothing after a gap can have been read).
            assert c.error, f"{c.run}: the sender must see its connection fail"
            assert got.is_prefix and got.rows <= c.attempted, (c, got)
            lost += c.attempted - got.rows
        else:
            # On the other receiver, or connected after the kill: untouched.
            assert not c.error and got.exactly(0, c.sent), (c, got)
    assert 0 < lost * LINE_BYTES <= len(held[victim]) * _kernel_buffer_bytes() + (2 << 20), lost
    # What the dead receiver had read but not yet written into a ring is counted as received
    # and never stored: at most its open batch (ingest.batch_bytes) and one read.
    received = live_metric(engine.url, "logjet_received_messages_total", protocol="tcp") - received_before
    stored = live_metric(engine.url, "logjet_written_rows_total") - written_before
    assert 0 <= received - stored <= ((1 << 20) + (256 << 10)) // LINE_BYTES, (received, stored)
    assert _restarts(engine, "receiver") == 1
    n = len(held[victim])
    print(f"kill -9 receiver: {lost} lines lost on {n} connections, {received - stored:.0f} of them read")


def _post(url: str, objs: list[dict]) -> int:
    """POST them as NDJSON; the status, or 0 when the connection failed."""
    body = b"".join(json.dumps(o).encode() + b"\n" for o in objs)
    try:
        with urllib.request.urlopen(urllib.request.Request(url + "/api/v1/ingest", data=body), timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, HTTPException):
        return 0


class _Poster(threading.Thread):
    """Posts NDJSON bodies of `per_post` numbered objects one after another until told to
    finish, noting each post's HTTP status (0: the connection failed)."""

    def __init__(self, url: str, run: str, per_post: int = 200):
        super().__init__(daemon=True)
        self.url, self.run_name, self.per_post = url, run, per_post
        self.outcomes: list[int] = []
        self._finish = threading.Event()

    def answered(self, since: int = 0) -> int:
        return sum(s == 200 for s in self.outcomes[since:])

    def finish(self) -> list[int]:
        self._finish.set()
        self.join(60)
        return self.outcomes

    def run(self) -> None:
        deadline = time.monotonic() + 60
        while not self._finish.is_set() and time.monotonic() < deadline:
            post = len(self.outcomes)
            objs = [
                {"message": f"posted {post}", "run": self.run_name, "post": post, "seq": post * self.per_post + i}
                for i in range(self.per_post)
            ]
            self.outcomes.append(_post(self.url, objs))
            if not self.outcomes[-1]:
                time.sleep(0.02)  # refused: the API process is being restarted


def test_kill_api_mid_load_loses_no_acknowledged_row(engine):
    port = engine.ports["syslog_tcp"]
    http_before = live_metric(engine.url, "logjet_received_messages_total", protocol="http")
    tcp = NumberedSender(port, "api", rate=20_000, limit=RUN_LINES)
    poster = _Poster(engine.url, "apihttp")
    victim = worker_pids(engine, "api")[0]
    tcp.start()
    poster.start()
    _wait_until(lambda: poster.answered() >= 20)
    os.kill(victim, signal.SIGKILL)
    killed_at = len(poster.outcomes)
    _replaced(engine, "api", victim)
    _wait_until(lambda: poster.answered(killed_at) >= 20)
    outcomes = poster.finish()
    tcp.join(120)
    [conn] = tcp.connections
    assert conn.error == "" and conn.sent == RUN_LINES, conn
    assert set(outcomes) <= {200, 0}, outcomes  # a failed connection, never an error answer
    acked = [p for p, s in enumerate(outcomes) if s == 200]
    failed = [p for p, s in enumerate(outcomes) if s != 200]
    assert failed, "no request met the dead API process"
    assert wait_rows(engine.url, conn.run, RUN_LINES, timeout=120).rows == RUN_LINES
    time.sleep(1.5)  # a flush interval and more: nothing further may appear
    assert seq_count(engine.url, conn.run).exactly(0, RUN_LINES)  # TCP does not pass through the API
    stored = {int(o["post"]): int(o["n"]) for o in query(engine.url, "run:apihttp | stats count() as n by (post)")}
    # Each answered post is stored whole and once; a post whose connection failed is whole or
    # absent (its body was one ring record), and the client cannot tell which.
    assert all(stored.get(p) == poster.per_post for p in acked), stored
    assert all(stored.get(p, 0) in (0, poster.per_post) for p in failed), stored
    assert set(stored) <= set(range(len(outcomes)))
    got = seq_count(engine.url, "apihttp")
    assert got.rows == got.distinct == sum(stored.values())
    assert _restarts(engine, "api") == 1
    # Counters live in shared memory, not in the dead process: they never go back.
    http = live_metric(engine.url, "logjet_received_messages_total", protocol="http") - http_before
    assert http >= len(acked) * poster.per_post
    # The successor takes HTTP ingest, and TCP still flows.
    assert _post(engine.url, [{"message": "after", "run": "apiafter", "seq": 0}]) == 200
    send_tcp(port, numbered("apitcpafter", 0, 10))
    assert wait_rows(engine.url, "apiafter", 1).exactly(0, 1)
    assert wait_rows(engine.url, "apitcpafter", 10).exactly(0, 10)
    anyway = sum(p in stored for p in failed)
    print(f"kill -9 api: {len(failed)} of {len(outcomes)} posts failed, {anyway} of them stored anyway")
