"""The data dir lock, private modes and the fd limit, on real files and a real child process."""

from __future__ import annotations

import os
import resource
import stat
import subprocess
import sys

import pytest

from engine.lifecycle.host_setup import DataDirBusy, DataDirLock, make_private, raise_fd_limit


def test_second_lock_is_refused_naming_the_holder(tmp_path):
    first = DataDirLock(str(tmp_path))
    first.acquire()
    try:
        with pytest.raises(DataDirBusy, match=f"pid {os.getpid()}"):
            DataDirLock(str(tmp_path)).acquire()
    finally:
        first.release()
    again = DataDirLock(str(tmp_path))
    again.acquire()  # released: free again
    again.release()


@pytest.mark.slow  # starts a second Python (the holder), which the fast tier leaves out
def test_lock_dies_with_its_process(tmp_path):
    code = (
        "import sys; from engine.lifecycle.host_setup import DataDirLock;"
        f"DataDirLock({str(tmp_path)!r}).acquire(); sys.stdout.write('held'); sys.stdout.flush(); sys.stdin.read()"
    )
    with subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE) as child:
        try:
            assert child.stdout.read(4) == b"held"
            with pytest.raises(DataDirBusy, match=f"pid {child.pid}"):
                DataDirLock(str(tmp_path)).acquire()
        finally:
            child.kill()
    lock = DataDirLock(str(tmp_path))
    lock.acquire()  # the kernel dropped the dead holder's lock
    lock.release()


def test_make_private_sets_dir_and_file_modes(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    old = os.umask(0o022)
    try:
        make_private(str(data))
        (data / "part").write_bytes(b"x")
        (data / "sub").mkdir()
    finally:
        os.umask(old)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "part").stat().st_mode) == 0o600
    assert stat.S_IMODE((data / "sub").stat().st_mode) == 0o700


def test_fd_limit_is_raised_to_the_hard_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        if hard != resource.RLIM_INFINITY and hard > 64:
            resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
        before, after = raise_fd_limit()
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == after
        assert after == (hard if hard != resource.RLIM_INFINITY else before)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
