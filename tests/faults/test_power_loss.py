"""Power loss (docs/durability.md): what reaches the disk, in what order, and what a cut leaves.

A power cut cannot be made in a test, so two real checks stand in for it. strace(1) on the
writer records the calls that make a part durable, and each part must be fsynced under its
temporary name before the rename that shows it, and its folder fsynced after (a new day
folder: the data dir too, before a part goes in). And a cut at an arbitrary instant of a busy
engine (every process SIGKILLed, the shared memory gone as after a reboot) must leave a data
dir that the next start serves whole: every row of every part once, no temporary file. A part
torn by a cut that fsync did not guard is quarantined and counted, never served."""

from __future__ import annotations

import collections
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from bench.engine import descendants
from tests.engine.query.rowgen import record, write_records
from tests.faults.helpers import (
    COUNT_CONFIG,
    NumberedSender,
    live_metric,
    numbered,
    send_tcp,
    seq_count,
    wait_rows,
    worker_pids,
)

pytestmark = pytest.mark.e2e

TRACED = "fsync,fdatasync,rename,renameat,renameat2,mkdir,mkdirat,unlink,unlinkat"
# One strace -f -y line: "TID name(args) = result", or an unfinished / resumed half of one.
_CALL = re.compile(r"^(\d+) +(?:<\.\.\. )?(\w+)(?:\(| resumed>)(.*)$")
_FD_PATH = re.compile(r"^\d+<(.*?)>")
_STRINGS = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _calls(trace: str) -> dict[int, list[tuple[str, list[str], str]]]:
    """Per thread, its traced calls in order as (name, path arguments, result); an unfinished
    call is joined to its resumed half."""
    per_thread: dict[int, list[tuple[str, list[str], str]]] = collections.defaultdict(list)
    pending: dict[int, str] = {}
    for line in trace.splitlines():
        m = _CALL.match(line)
        if not m:
            continue  # "+++ exited", signals
        tid, name, rest = int(m.group(1)), m.group(2), m.group(3)
        if rest.endswith("<unfinished ...>"):
            pending[tid] = rest.removesuffix("<unfinished ...>")
            continue
        rest = pending.pop(tid, "") + rest
        args, _, result = rest.rpartition(" = ")
        fd = _FD_PATH.match(args)
        paths = [fd.group(1)] if fd else _STRINGS.findall(args)
        per_thread[tid].append((name, paths, result.split()[0] if result else ""))
    return per_thread


def _traced(pid: int) -> bool:
    """Whether every thread of `pid` has a tracer attached."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            if "TracerPid:\t0\n" in f.read():
                return False
    return True


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (.ci/install-senders installs it)")
def test_parts_are_fsynced_before_their_rename_and_their_folders_after(start_engine, tmp_path):
    config = tmp_path / "merge.toml"
    config.write_text("[storage]\nmerge_min_parts = 2\n")  # a merge within the test, traced too
    engine = start_engine("--config", str(config), name="fsync")
    writer = worker_pids(engine, "writer")[0]
    # The writer flushes; its merge process (a child forked at start) merges.
    traced = [writer, *descendants(writer)]
    assert len(traced) == 2, traced
    out = tmp_path / "strace.out"
    command = ["strace", "-f", "-qq", "-y", "-e", f"trace={TRACED}", "-o", str(out)]
    for pid in traced:
        command += ["-p", str(pid)]
    with subprocess.Popen(command, stderr=subprocess.PIPE) as tracer:
        try:
            deadline = time.monotonic() + 30
            while not all(_traced(pid) for pid in traced):
                if tracer.poll() is not None:
                    why = tracer.stderr.read().decode()
                    if "Operation not permitted" in why:  # not root, and ptrace limited to descendants
                        pytest.skip(f"strace cannot attach to the writer: {why.strip()}")
                    raise AssertionError(why)
                assert time.monotonic() < deadline, "strace did not attach within 30 s"
                time.sleep(0.05)
            # Three flushes, then their merge (once the oldest flushed part is 4 s old).
            for k in range(3):
                send_tcp(engine.ports["syslog_tcp"], numbered(f"fsync{k}", 0, 2000))
                assert wait_rows(engine.url, f"fsync{k}", 2000).exactly(0, 2000)
            deadline = time.monotonic() + 60
            while live_metric(engine.url, "logjet_written_parts_total", origin="merge") < 1:
                assert time.monotonic() < deadline, "no merge"
                time.sleep(0.1)
        finally:
            tracer.send_signal(signal.SIGINT)  # detaches; the writer runs on
            tracer.wait(30)
    data = os.path.realpath(engine.data_dir)
    renames = 0
    for calls in _calls(out.read_text()).values():
        made: set[str] = set()  # folders this thread made, not yet fsynced in the data dir
        for i, (name, paths, result) in enumerate(calls):
            if name.startswith("mkdir") and result == "0":
                made.add(paths[-1])
            elif name == "fsync" and paths == [data]:
                made.clear()
            elif name.startswith("rename") and os.path.basename(paths[0]).startswith(".tmp-"):
                tmp, final = paths[-2], paths[-1]
                folder = os.path.dirname(final)
                renames += 1
                assert result == "0", calls[i]
                assert ("fsync", [tmp], "0") in calls[:i], f"{final} renamed before its file was fsynced"
                assert folder not in made, f"{final} renamed into {folder} before the data dir was fsynced"
                # The folder is fsynced before this thread starts writing the next part.
                later = calls[i + 1 :]
                nxt = next((j for j, c in enumerate(later) if c[0] == "fsync" and ".tmp-" in c[1][0]), len(later))
                assert ("fsync", [folder], "0") in later[:nxt], f"{folder} not fsynced after {final}"
    assert renames >= 4, f"three flushes and a merge should have been traced, got {renames} renames"


def test_a_cut_at_any_instant_leaves_a_data_dir_the_next_start_serves_whole(start_engine, tmp_path):
    config = tmp_path / "count.toml"
    config.write_text(COUNT_CONFIG)
    # One connection, one parser: the rows reach the disk in the order sent, so what a cut
    # leaves must be a prefix of the stream.
    args = ("--parsers", "1", "--config", str(config))
    engine = start_engine(*args, name="cut")
    sender = NumberedSender(engine.ports["syslog_tcp"], "cut", rate=50_000, limit=500_000)
    sender.start()
    deadline = time.monotonic() + 30
    while live_metric(engine.url, "logjet_written_rows_total") < 50_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    written = live_metric(engine.url, "logjet_written_rows_total")
    # The cut: every process at once, mid-flush as likely as not; a reboot empties /dev/shm.
    engine.kill()
    shutil.rmtree(engine.shm_path(), ignore_errors=True)
    [conn, *_] = sender.finish()
    again = start_engine(*args, name="cut")  # the same data dir
    assert again.data_dir == engine.data_dir
    got = seq_count(again.url, conn.run)
    # Every row counted as written before the cut is served, once, and nothing after a gap.
    assert got.is_prefix and written <= got.rows <= conn.attempted, (got, written, conn)
    tmp = [n for _, _, files in os.walk(again.data_dir) for n in files if n.startswith(".tmp-")]
    assert not tmp, tmp
    send_tcp(again.ports["syslog_tcp"], numbered("aftercut", 0, 1000))
    assert wait_rows(again.url, "aftercut", 1000).exactly(0, 1000)
    assert again.terminate() == 0
    print(f"cut: {written:.0f} rows counted written, {got.rows} served after, {conn.attempted} sent")


def test_a_torn_part_is_quarantined_counted_and_never_served(start_engine, tmp_path):
    # What a cut can leave with storage.fsync = false (or a disk that lies about its flushes): a
    # part renamed into place whose end never reached the disk. Three parts, the middle one torn.
    data = tmp_path / "torn-data"  # the data dir start_engine(name="torn") uses
    t0 = time.time_ns()
    paths = [
        write_records(
            str(data),
            [record(time=t0 + i, fields=[(b"run", f"torn{k}".encode()), (b"seq", b"%d" % i)]) for i in range(1000)],
            seq=k + 1,
        )[0]
        for k in range(3)
    ]
    with open(paths[1], "r+b") as f:
        f.truncate(os.path.getsize(paths[1]) // 2)
    engine = start_engine(name="torn")
    # The writer checks every part at start and moves the torn one aside, with the reason.
    assert live_metric(engine.url, "logjet_quarantined_parts_total") == 1
    moved = os.path.join(
        str(data), "quarantine", f"{os.path.basename(os.path.dirname(paths[1]))}-{os.path.basename(paths[1])}"
    )
    assert os.path.exists(moved) and os.path.exists(moved + ".reason") and not os.path.exists(paths[1])
    assert seq_count(engine.url, "torn0").exactly(0, 1000) and seq_count(engine.url, "torn2").exactly(0, 1000)
    assert seq_count(engine.url, "torn1").rows == 0
    send_tcp(engine.ports["syslog_tcp"], numbered("aftertorn", 0, 100))
    assert wait_rows(engine.url, "aftertorn", 100).exactly(0, 100)
