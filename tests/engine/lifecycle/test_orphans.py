"""Finding what a dead instance left, on real folders and real locks: owners by data dir identity,
the instance lock as proof of life (and who holds it), and a worker that may no longer start."""

from __future__ import annotations

import os
import shutil

import pytest

from engine.ipc import control
from engine.ipc.control import ControlTable
from engine.ipc.instance_lock import InstanceLock, lock_holders
from engine.ipc.shm import InstanceDir
from engine.lifecycle.orphans import claim, orphans_of, read_owner, write_owner
from engine.lifecycle.policy import worker_healthy
from engine.worker.loop import WorkerShm
from engine.worker.process import BootError, WorkerSpec

S = 1_000_000_000


def _instance(root, name: str, data_dir: str | None) -> InstanceDir:
    shm = InstanceDir(name, str(root))
    shm.create()
    if data_dir is not None:
        write_owner(shm, data_dir)
    return shm


def test_orphans_are_the_other_instances_of_the_same_data_dir_oldest_first(tmp_path):
    data, other = tmp_path / "data", tmp_path / "other"
    data.mkdir()
    other.mkdir()
    root = tmp_path / "shm"
    root.mkdir()
    first = _instance(root, "1-aaaaaa", str(data))
    second = _instance(root, "2-bbbbbb", str(data) + "/.")  # another spelling of the same folder
    _instance(root, "3-cccccc", str(other))
    _instance(root, "4-dddddd", None)  # no owner: never taken
    running = _instance(root, "5-eeeeee", str(data))
    found = orphans_of(str(data), running.instance, str(root))
    assert [shm.instance for shm, _ in found] == [first.instance, second.instance]
    owner = read_owner(first)
    assert owner is not None and owner.supervisor_pid == os.getpid() and owner.data_dir == str(data)


def test_a_data_dir_made_again_at_the_same_path_is_another_data_dir(tmp_path):
    data, root = tmp_path / "data", tmp_path / "shm"
    data.mkdir()
    root.mkdir()
    _instance(root, "1-aaaaaa", str(data))
    shutil.rmtree(data)
    data.mkdir()  # may well get the same inode back
    assert orphans_of(str(data), "2-bbbbbb", str(root)) == []


def test_a_copy_of_the_data_dir_is_another_data_dir_while_it_is_there(tmp_path):
    # `cp -a data copy`: the same id in two folders, each of which may be served at once; an
    # instance of one is never the other's to take. Once the folder it served is gone (moved
    # to where this data dir is now), it is this one's.
    data, root = tmp_path / "data", tmp_path / "shm"
    data.mkdir()
    root.mkdir()
    original = _instance(root, "1-aaaaaa", str(data))
    copy = tmp_path / "copy"
    shutil.copytree(data, copy)
    assert orphans_of(str(copy), "2-bbbbbb", str(root)) == []
    assert [shm.instance for shm, _ in orphans_of(str(data), "2-bbbbbb", str(root))] == [original.instance]
    shutil.rmtree(data)  # the original moved away: `mv data copy`
    assert [shm.instance for shm, _ in orphans_of(str(copy), "2-bbbbbb", str(root))] == [original.instance]


def test_an_unreadable_owner_is_no_owner(tmp_path):
    shm = _instance(tmp_path, "1-aaaaaa", None)
    with open(shm.owner, "w") as f:
        f.write("{not json")
    assert read_owner(shm) is None


def test_the_instance_lock_tells_alive_from_dead_and_names_its_holders(tmp_path):
    path = str(tmp_path / "instance.lock")
    worker = InstanceLock(path)
    worker.hold_shared()
    assert lock_holders(path) == [os.getpid()]
    adopter = InstanceLock(path)
    assert not adopter.try_exclusive()  # a process of the instance is alive
    worker.release()
    assert adopter.try_exclusive()
    assert lock_holders(path) == [os.getpid()]
    adopter.release()
    assert lock_holders(path) == []


def test_claim_waits_for_the_instances_processes_and_can_be_interrupted(tmp_path):
    shm = _instance(tmp_path, "1-aaaaaa", str(tmp_path))
    alive = InstanceLock(shm.lock)
    alive.hold_shared()
    assert claim(shm, wait_s=3600, interrupted=lambda: True) is None
    alive.release()
    lock = claim(shm, wait_s=3600, interrupted=lambda: True)
    assert lock is not None
    assert not InstanceLock(shm.lock).try_exclusive()  # held by the claim until released
    lock.release()


def test_a_worker_whose_supervisor_is_not_its_parent_refuses_to_start(shm_dir):
    # Its supervisor died while it booted, or a later instance adopted the rings since: either
    # way the control table names a supervisor that is not this process's parent.
    shm = InstanceDir(shm_dir.name[len("logjet-") :], str(shm_dir.parent))
    ControlTable.create(shm.control, 1)  # names this test process, not its parent
    spec = WorkerSpec("parser", 0, 0, shm.instance, str(shm_dir.parent), {})
    with pytest.raises(BootError, match="no longer run by the supervisor"):
        WorkerShm(spec)
    assert not os.path.exists(shm.metrics("parser-0")), "nothing of the instance is touched"


def test_adopting_a_control_table_makes_this_process_its_supervisor(shm_dir):
    path = str(shm_dir / "control")
    with open(path, "wb") as f:
        f.write(b"LJCTRL\x00\x01" + (1).to_bytes(8, "little") + (99999999).to_bytes(8, "little") + bytes(40 + 64))
    table = ControlTable(path)
    assert table.supervisor_pid == 99999999
    table.adopt()
    assert ControlTable(path).supervisor_pid == os.getpid()
    table.close()


def test_watchdog_health_on_explicit_clocks():
    now = 1_700_000_000 * S
    beat, hb, start = now - 5 * S, 15 * S, 120 * S
    assert worker_healthy(control.READY, beat, 0, now, hb, start)
    assert not worker_healthy(control.READY, now - 16 * S, 0, now, hb, start)  # stale, not yet replaced
    # A restarted worker loading its kernels counts until the start timeout.
    assert worker_healthy(control.STARTING, 0, now - 100 * S, now, hb, start)
    assert not worker_healthy(control.STARTING, 0, now - 121 * S, now, hb, start)
