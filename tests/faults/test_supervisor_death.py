"""The supervisor killed with SIGKILL mid-load (alone, with a worker hung, or with its whole process
group): the next `logjet serve` on the same data dir writes what the dead instance's rings hold,
so every line it read is stored exactly once, and removes its shared memory."""

from __future__ import annotations

import collections
import os
import signal
import socket
import threading
import time

import pytest

from bench.engine import _start_time
from engine.ipc.shm import SHM_ROOT, InstanceDir
from engine.metrics import read_all
from engine.store.rows import ROW_TRUNCATED
from tests.e2e.clients import all_rows, field_column, metric, worker_pids

pytestmark = pytest.mark.e2e

CONNECTIONS = 3
MAX_LINES = 400_000  # per connection: the load is bounded even if the kill never lands
LOAD_S = 30.0
LINES_PER_S = 10_000  # per connection: enough to keep every ring busy, little to read back


def _line(conn: int, i: int) -> bytes:
    return f"<14>Nov 22 10:00:00 h{conn} app: conn={conn} seq={i} padding-padding-padding-padding\n".encode()


class Load:
    """CONNECTIONS TCP senders, each a numbered stream of lines, until stopped or refused."""

    def __init__(self, port: int):
        self.port = port
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._send, args=(c,)) for c in range(CONNECTIONS)]

    def _send(self, conn: int) -> None:
        start = time.monotonic()
        with socket.create_connection(("127.0.0.1", self.port)) as s:
            i = 0
            while not self.stop.is_set() and i < MAX_LINES and time.monotonic() < start + LOAD_S:
                try:
                    s.sendall(b"".join(_line(conn, k) for k in range(i, i + 500)))
                except OSError:
                    return  # the engine closed the connection: what it read is what counts
                i += 500
                time.sleep(max(0.0, start + i / LINES_PER_S - time.monotonic()))

    def __enter__(self) -> "Load":
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)


def _wait_rows_flowing(engine, rows: int = 5_000) -> None:
    deadline = time.monotonic() + 60
    while metric(engine.url, "logjet_written_rows_total") < rows:
        assert time.monotonic() < deadline, engine.log_text()[-3000:]
        time.sleep(0.05)


def _wait_gone(pids: dict[int, int | None], timeout: float = 60) -> None:
    """Until none of `pids` (pid → start time) is a live process."""
    deadline = time.monotonic() + timeout
    while any(started is not None and _start_time(pid) == started and _alive(pid) for pid, started in pids.items()):
        assert time.monotonic() < deadline, f"processes {list(pids)} still running"
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _old_counts(instance: str) -> dict[str, float]:
    """The dead instance's totals, from its metrics files still in shared memory, once they have
    stopped moving (its workers exited, or hang in a drain that cannot finish)."""
    files = InstanceDir(instance, SHM_ROOT).metrics_files()
    last: dict[str, float] = {}
    deadline = time.monotonic() + 30
    while True:
        out: dict[str, float] = collections.Counter()
        for (name, _), value in read_all(files).items():
            out[name] += value
        if out == last or time.monotonic() > deadline:
            return out
        last = out
        time.sleep(1.0)


def _check_exactly_once(data_dir: str) -> int:
    """Every connection's rows are a prefix of what it sent, each line once; returns the rows.
    A line a receiver cut off when it drained is kept, flagged truncated (at most one each)."""
    rows = all_rows(data_dir)
    per_conn = collections.defaultdict(list)
    cut = 0
    for c, s, flags in zip(field_column(rows, b"conn"), field_column(rows, b"seq"), rows.flags.tolist()):
        if flags & ROW_TRUNCATED:
            cut += 1
        else:
            per_conn[int(c)].append(int(s))
    assert cut <= CONNECTIONS
    for conn, got in per_conn.items():
        got.sort()
        assert got == list(range(len(got))), f"connection {conn}: gap or duplicate in {len(got)} rows"
    return len(rows)


@pytest.mark.parametrize("case", ["workers drain", "writer hung"])
def test_supervisor_killed_mid_load_next_start_recovers_every_line_read(start_engine, tmp_path, case):
    # "writer hung": the writer cannot drain on its own; the next start waits drain_timeout for
    # it, kills it, and writes what its rings hold.
    config = tmp_path / "quick.toml"
    config.write_text('[supervisor]\ndrain_timeout = "3s"\n')
    old = start_engine("--config", str(config), name="sup", new_session=True)
    with Load(old.ports["syslog_tcp"]):
        _wait_rows_flowing(old)
        if case == "writer hung":
            os.kill(worker_pids(old, "writer")[0], signal.SIGSTOP)
            time.sleep(0.3)  # rows pile up in the column rings
        old._note_workers()
        os.kill(old.proc.pid, signal.SIGKILL)
        old.proc.wait(10)
    workers = {p: s for p, s in old.worker_pids.items() if p != old.proc.pid}
    if case == "workers drain":
        _wait_gone(workers)
    # else parsers may wait forever for room in a column ring, receivers for room in a raw ring
    counts = _old_counts(old.instance)
    assert os.path.isdir(old.shm_path()), "the dead instance's rings are what the next start recovers"

    new = start_engine("--config", str(config), name="sup", log="sup-next")
    _wait_gone(workers, timeout=5)
    assert not os.path.exists(old.shm_path()), new.log_text()[-3000:]
    assert old.instance in new.log_text()
    received, written = counts["received_messages_total"], counts["written_rows_total"]
    recovered = metric(new.url, "logjet_recovered_rows_total")
    stored = _check_exactly_once(new.data_dir)
    assert stored == received, (stored, received)
    if case == "writer hung":
        # A flush the writer finished just before SIGSTOP may be on disk and not yet counted.
        assert 0 < recovered <= stored - written and "killing them" in new.log_text(), new.log_text()[-3000:]
    else:
        assert recovered == stored - written
    assert new.terminate() == 0


def test_whole_group_killed_mid_load_rings_are_drained_on_restart(start_engine):
    old = start_engine("--parsers", "2", name="group", new_session=True)
    with Load(old.ports["syslog_tcp"]):
        _wait_rows_flowing(old)
        # Stopped first the writer, then the parsers: rows pile up in the column rings, then
        # lines in the raw rings, so the restart needs both a writer and parsers.
        for role in ("writer", "parser"):
            for pid in worker_pids(old, role):
                os.kill(pid, signal.SIGSTOP)
            time.sleep(0.3)
        old._note_workers()
        os.killpg(old.proc.pid, signal.SIGKILL)  # supervisor and every worker, no drain at all
        old.proc.wait(10)
    _wait_gone({p: s for p, s in old.worker_pids.items() if p != old.proc.pid})
    counts = _old_counts(old.instance)

    new = start_engine("--parsers", "2", name="group", log="group-next")
    assert not os.path.exists(old.shm_path()), new.log_text()[-3000:]
    recovered = metric(new.url, "logjet_recovered_rows_total")
    parsed, written = counts["parsed_messages_total"], counts["written_rows_total"]
    stored = _check_exactly_once(new.data_dir)
    # Every row parsed was in a column ring or on disk, and the raw rings may add lines read but
    # not yet parsed; only the batch a receiver was filling (ingest.batch_delay) died with it.
    assert recovered > 0 and written + recovered <= stored, (written, recovered, stored)
    assert parsed <= stored <= counts["received_messages_total"], (parsed, stored, counts)
    assert new.terminate() == 0
