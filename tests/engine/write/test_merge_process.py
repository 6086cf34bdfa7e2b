"""The writer's merge process: merges come back as from `merge_parts`, errors as the same
exceptions, a stop kills a merge in progress and leaves no temporary file, a process killed from
outside is replaced, and the child holds nothing of the writer's but its socket."""

import os
import signal
import threading
import time

import pytest

from bench.rows import synthetic_rows
from engine.config import Storage
from engine.store.index_read import PartIndex
from engine.store.layout import part_name, tmp_path as temporary_of
from engine.store.live import live_parts
from engine.store.part_reader import Part, WriteCancelled, read_head
from engine.write.flush_writer import FlushWriter
from engine.store.index_build import make_index_builder
from engine.write.merge_process import MergeProcess, MergeProcessGone
from engine.write.part_merge import InputDamaged, MergeJob

pytestmark = pytest.mark.slow  # forks

START_S = 1_700_000_000 - 1_700_000_000 % 86400 + 3600
STORAGE = Storage(fsync=False, block_rows=1024)


def _parts(folder, count, rows_each):
    writer = FlushWriter(str(folder), "me", 1024, 1, False)
    for k in range(count):
        writer.write_flush(synthetic_rows(rows_each, seed=k, start_s=START_S + k), {"r": k + 1})
    paths = sorted(live_parts(str(folder)))
    inputs = [(p, read_head(p)) for p in paths]
    out = os.path.join(os.path.dirname(paths[0]), part_name(1, min(h.min_time for _, h in inputs), "me", 999))
    return inputs, out


def _job(inputs, out):
    return MergeJob(inputs, out, "me", 3, False, 1024, False, False)


@pytest.fixture
def process():
    p = MergeProcess(make_index_builder(STORAGE), nice=10)
    p.start()
    yield p
    p.stop()


def test_a_merge_comes_back_with_its_head_and_index(tmp_path, process):
    inputs, out = _parts(tmp_path, 3, 2000)
    head = process.merge(_job(inputs, out))
    assert head == read_head(out) and head.rows == 6000 and head.level == 1
    assert sorted(head.replaces) == sorted(os.path.basename(p) for p, _ in inputs)
    with Part(out) as part:
        assert PartIndex(part).size_bytes() > 0


def test_the_child_holds_only_its_socket_and_runs_at_lower_priority(tmp_path, process):
    lock = open(tmp_path / "held", "w")  # opened before a replacement is forked below
    process.stop()
    process._stopping = False
    process.start()
    fds = {int(fd) for fd in os.listdir(f"/proc/{process.pid}/fd")}
    assert fds - {0, 1, 2} and len(fds - {0, 1, 2}) == 1  # the socket; not `lock`
    with open(f"/proc/{process.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    assert int(fields[16]) == os.nice(0) + 10  # field 19 of proc(5): nice
    with open(f"/proc/{process.pid}/comm") as f:
        assert f.read().strip() == "lj-merge"
    lock.close()


def test_a_damaged_or_missing_input_raises_as_in_the_writer(tmp_path, process):
    inputs, out = _parts(tmp_path, 2, 500)
    with open(inputs[0][0], "r+b") as f:
        f.seek(100)
        f.write(b"\xff" * 64)  # inside the first block's data
    with pytest.raises(InputDamaged) as info:
        process.merge(_job(inputs, out))
    assert info.value.path == inputs[0][0]
    os.unlink(inputs[1][0])  # retention took it meanwhile
    with pytest.raises(InputDamaged, match="cannot open"):
        process.merge(_job(inputs[1:], out))
    assert not os.path.exists(out) and not os.path.exists(temporary_of(out))


def test_stop_during_a_merge_abandons_it_and_leaves_no_temporary(tmp_path, process):
    inputs, out = _parts(tmp_path, 8, 20000)
    outcome = []

    def run():
        try:
            process.merge(MergeJob(inputs, out, "me", 19, False, 1024, False, False))  # slow on purpose
            outcome.append("done")
        except WriteCancelled:
            outcome.append("cancelled")

    t = threading.Thread(target=run)
    t.start()
    deadline = time.monotonic() + 60
    while not os.path.exists(temporary_of(out)) and time.monotonic() < deadline and t.is_alive():
        time.sleep(0.01)
    child = process.pid
    process.stop()
    t.join(30)
    assert outcome == ["cancelled"]
    assert not os.path.exists(out) and not os.path.exists(temporary_of(out))
    assert not os.path.exists(f"/proc/{child}")  # reaped
    assert sorted(live_parts(str(tmp_path))) == sorted(p for p, _ in inputs)


def test_a_child_killed_from_outside_is_replaced(tmp_path, process):
    inputs, out = _parts(tmp_path, 2, 500)
    first = process.pid
    os.kill(first, signal.SIGKILL)
    time.sleep(0.2)
    head = process.merge(_job(inputs, out))  # the dead one is noticed before sending
    assert head.rows == 1000 and process.pid not in (0, first)
    os.kill(process.pid, signal.SIGKILL)
    inputs2, out2 = _parts(tmp_path / "again", 8, 20000)
    # Killed during a merge (not stopped): MergeProcessGone, no temporary; the next one works.
    killer = threading.Timer(0.3, lambda: os.kill(process.pid, signal.SIGKILL) if process.pid else None)
    killer.start()
    with pytest.raises(MergeProcessGone):
        process.merge(MergeJob(inputs2, out2, "me", 19, False, 1024, False, False))
    killer.join()
    assert not os.path.exists(temporary_of(out2))
    assert process.merge(_job(inputs2, out2)).rows == 160000
