"""End to end under failure (docs/durability.md): SIGTERM during load (to the supervisor, or to
its whole process group) loses nothing read, and the next start serves it all; a SIGTERM while a
killed worker is being restarted loses nothing either; workers of a killed supervisor drain and
exit; a hung worker is put down and restarted. (kill -9 of each worker kind: test_worker_kill.)"""

from __future__ import annotations

import collections
import os
import signal
import socket
import threading
import time

import pytest

from engine.store.rows import ROW_TRUNCATED
from tests.e2e.clients import all_rows, field_column, metric, send_tcp, wait_written, worker_pids
from tests.faults.helpers import numbered, query, wait_rows

pytestmark = pytest.mark.e2e


def _line(conn: int, i: int) -> bytes:
    return f"<14>Nov 22 10:00:00 h{conn} app: conn={conn} seq={i} padding-padding-padding-padding\n".encode()


def _terminate_group(engine, timeout: float = 120) -> int:
    """SIGTERM to the engine's whole process group, as timeout(1) or `kill -TERM -PGID` do."""
    engine._note_workers()
    os.killpg(engine.proc.pid, signal.SIGTERM)
    return engine.proc.wait(timeout)


@pytest.mark.parametrize("to", ["supervisor", "group"])
def test_sigterm_during_load_loses_nothing_read(start_engine, to):
    # "group": every worker gets the SIGTERM too; they ignore it and the supervisor still drains
    # them in order (a writer stopping before the parsers would leave rows in the rings).
    engine = start_engine(name=f"sigterm-{to}", new_session=to == "group")
    port = engine.ports["syslog_tcp"]
    stop = threading.Event()
    sent = collections.Counter()

    def sender(conn: int) -> None:
        with socket.create_connection(("127.0.0.1", port)) as s:
            i = 0
            # Bounded: stops at the SIGTERM (the engine closes the socket) or after 2M lines.
            while not stop.is_set() and i < 2_000_000:
                block = b"".join(_line(conn, k) for k in range(i, i + 500))
                try:
                    s.sendall(block)
                except OSError:
                    break
                i += 500
                sent[conn] = i

    threads = [threading.Thread(target=sender, args=(c,)) for c in range(3)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    code = engine.terminate(timeout=120) if to == "supervisor" else _terminate_group(engine)
    stop.set()
    for t in threads:
        t.join(30)
    assert code == 0, engine.log_text()
    assert "restarting" not in engine.log_text(), engine.log_text()
    assert not os.path.exists(engine.shm_path()), "shared memory must be removed on exit"
    rows = all_rows(engine.data_dir)
    assert len(rows) > 1000, "the engine must have taken load before the SIGTERM"
    conns = field_column(rows, b"conn")
    seqs = field_column(rows, b"seq")
    per_conn = collections.defaultdict(list)
    cut = collections.Counter()
    for c, s, flags in zip(conns, seqs, rows.flags.tolist()):
        if flags & ROW_TRUNCATED:
            # The line each connection was in the middle of when reading stopped: kept, but
            # flagged, since its end never came (its seq may be cut short too).
            cut[c] += 1
        elif c is not None and s is not None:
            per_conn[int(c)].append(int(s))
    # At most one cut line per connection; a line cut before its `conn=` field has no
    # connection to count under, so the total is bounded by the connections too.
    assert all(n <= 1 for c, n in cut.items() if c is not None) and sum(cut.values()) <= len(threads), cut
    for conn, got in per_conn.items():
        got.sort()
        # TCP delivers a prefix of the stream: whatever was read must all be there, once.
        assert got == list(range(len(got))), f"connection {conn}: gap or duplicate in {len(got)} rows"
        assert len(got) <= sent[conn]
    # The next start on the same data dir serves every row, and takes more.
    again = start_engine(name=f"sigterm-{to}")
    assert query(again.url, "* | stats count() as n") == [{"n": len(rows)}]
    send_tcp(again.ports["syslog_tcp"], numbered("aftersigterm", 0, 1000))
    assert wait_rows(again.url, "aftersigterm", 1000).exactly(0, 1000)


@pytest.mark.parametrize("role", ["parser", "writer"])
def test_sigterm_while_a_worker_restarts_loses_nothing_read(start_engine, role):
    # The stop comes while the killed worker is dead or its successor still starting: the
    # supervisor restarts it and tells it to drain once it is ready, rather than skipping it
    # or killing it with the drain signal before its handler is set.
    engine = start_engine(name=f"restarting-{role}")
    n = 50_000
    send_tcp(engine.ports["syslog_tcp"], numbered("restarting", 0, n))
    victim = worker_pids(engine, role)[0]
    os.kill(victim, signal.SIGKILL)
    assert engine.terminate() == 0, engine.log_text()
    seqs = collections.Counter(field_column(all_rows(engine.data_dir), b"seq"))
    assert len(seqs) == n and max(seqs.values()) == 1, f"{n - len(seqs)} missing\n{engine.log_text()[-3000:]}"


def test_workers_drain_and_exit_when_the_supervisor_is_killed(start_engine):
    engine = start_engine(name="orphans")
    send_tcp(engine.ports["syslog_tcp"], b"".join(_line(0, i) for i in range(1000)))
    assert wait_written(engine.url, 1000, timeout=30) >= 1000
    workers = [pid for role in ("receiver", "parser", "writer", "api") for pid in worker_pids(engine, role)]
    engine.proc.kill()  # SIGKILL: no drain from the supervisor
    engine.proc.wait(10)
    deadline = time.monotonic() + 60
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in workers if _alive(pid)], engine.log_text()[-3000:]
    assert len(all_rows(engine.data_dir)) == 1000
    assert "is gone; draining" in engine.log_text()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


def test_hung_worker_is_killed_and_restarted(start_engine, tmp_path):
    config = tmp_path / "hb.toml"
    config.write_text('[supervisor]\nheartbeat_timeout = "2s"\n')
    engine = start_engine("--config", str(config), name="hung")
    victim = worker_pids(engine, "parser")[0]
    os.kill(victim, signal.SIGSTOP)  # alive but silent: only the heartbeat can tell
    deadline = time.monotonic() + 60
    while metric(engine.url, "logjet_worker_restarts_total", role="parser") < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert metric(engine.url, "logjet_worker_restarts_total", role="parser") == 1
    assert victim not in worker_pids(engine, "parser")
    send_tcp(engine.ports["syslog_tcp"], b"<14>Nov 22 10:00:00 h app: after restart seq=0\n")
    assert wait_written(engine.url, 1, timeout=30) >= 1
    assert engine.terminate() == 0
