"""Where kernels are cached (native_kernels.cache_folder) and what a start says about it
(engine.lifecycle.start_report): real folders under tmp_path, no processes."""

from __future__ import annotations

import logging
import os
import pathlib
import time

from engine.lifecycle import start_report
from engine.lifecycle.start_report import StartReport
from engine.store.layout import KERNELS_WARM
from native_kernels import cache_folder

KEY = "0123456789abcdef"


def _package(tmp_path: pathlib.Path) -> pathlib.Path:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "kernels.py").write_text("def k(): pass\n")
    (pkg / cache_folder.SELF).write_text("# names folders\n")
    return pkg


def test_the_operators_folder_comes_first_then_the_users_cache_then_the_package(tmp_path):
    pkg = _package(tmp_path)
    env = {"LOGJET_KERNEL_CACHE": "/var/cache/logjet/numba", "XDG_CACHE_HOME": "/x/cache", "HOME": "/home/u"}
    assert cache_folder.candidates(env, pkg, KEY) == [
        pathlib.Path("/var/cache/logjet/numba", KEY),
        pathlib.Path("/x/cache/logjet/numba", KEY),
        pkg / "__pycache__" / f"numba-{KEY}",
    ]
    # No XDG_CACHE_HOME (or a relative one, which XDG says to ignore): ~/.cache.
    for xdg in ({}, {"XDG_CACHE_HOME": "rel/cache"}):
        assert cache_folder.candidates({"HOME": "/home/u", **xdg}, pkg, KEY) == [
            pathlib.Path("/home/u/.cache/logjet/numba", KEY),
            pkg / "__pycache__" / f"numba-{KEY}",
        ]
    assert cache_folder.candidates({}, pkg, KEY) == [pkg / "__pycache__" / f"numba-{KEY}"]


def test_the_first_folder_that_can_be_made_and_written_is_chosen(tmp_path):
    pkg = _package(tmp_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    # A path under a file can be made by nobody (root included): the next candidate is taken.
    env = {"LOGJET_KERNEL_CACHE": str(blocker / "cache"), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    chosen = cache_folder.choose(env, pkg, KEY)
    assert chosen == tmp_path / "xdg" / "logjet" / "numba" / KEY
    assert chosen.is_dir()
    env["XDG_CACHE_HOME"] = str(blocker / "xdg")
    assert cache_folder.choose(env, pkg, KEY) == pkg / "__pycache__" / f"numba-{KEY}"


def test_numba_cache_dir_set_by_the_operator_is_left_to_numba(tmp_path, monkeypatch):
    assert cache_folder.configured({"NUMBA_CACHE_DIR": str(tmp_path)}) is None
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("LOGJET_KERNEL_CACHE", raising=False)
    folder = cache_folder.configured({"HOME": str(tmp_path)})
    assert folder is not None and folder.parent == tmp_path / ".cache" / "logjet" / "numba"


def test_the_key_follows_every_kernel_source_and_numba_but_not_the_folder_chooser(tmp_path):
    pkg = _package(tmp_path)
    key = cache_folder.sources_key(pkg, "0.68.1")
    assert len(key) == cache_folder.KEY_CHARS
    assert cache_folder.sources_key(pkg, "0.68.1") == key, "the same sources: the same folder (a reinstall)"
    assert cache_folder.sources_key(pkg, "0.69.0") != key
    (pkg / cache_folder.SELF).write_text("# edited\n")
    assert cache_folder.sources_key(pkg, "0.68.1") == key, "it holds no kernel"
    (pkg / "kernels.py").write_text("def k(): return 1\n")
    assert cache_folder.sources_key(pkg, "0.68.1") != key


def test_prune_removes_other_keys_unused_for_a_day_and_nothing_else(tmp_path):
    root = tmp_path / "numba"
    current, recent, stale, stale_pkg = (root / k for k in (KEY, "1" * 16, "2" * 16, "numba-" + "3" * 16))
    other = root / "not-a-key"
    for folder in (current, recent, stale, stale_pkg, other):
        folder.mkdir(parents=True)
    day_ago = time.time() - cache_folder.PRUNE_AFTER_S - 60
    for folder in (stale, stale_pkg, other):
        os.utime(folder, (day_ago, day_ago))
    removed = cache_folder.prune(current)
    assert sorted(removed) == sorted([stale, stale_pkg])
    assert sorted(p.name for p in root.iterdir()) == sorted([KEY, "1" * 16, "not-a-key"])


def test_choosing_a_folder_marks_it_used_so_other_installs_keep_it(tmp_path):
    pkg = _package(tmp_path)
    env = {"LOGJET_KERNEL_CACHE": str(tmp_path / "cache")}
    folder = cache_folder.choose(env, pkg, KEY)
    assert folder is not None
    old = time.time() - 10 * cache_folder.PRUNE_AFTER_S
    os.utime(folder, (old, old))
    assert cache_folder.choose(env, pkg, KEY) == folder
    assert time.time() - folder.stat().st_mtime < 60
    assert cache_folder.prune(tmp_path / "cache" / ("f" * 16)) == []


def test_a_folder_is_warm_once_marked_and_keeps_what_loading_took(tmp_path):
    assert not start_report.is_warm(tmp_path)
    assert not start_report.is_warm(None)
    start_report.mark_warm(tmp_path, {"imports": 1.23456, "parsing": 0.5})
    assert start_report.is_warm(tmp_path)
    assert start_report.load_times(tmp_path) == {"imports": 1.235, "parsing": 0.5}
    assert [p.name for p in tmp_path.iterdir()] == [KERNELS_WARM], "no temporary file left"
    (tmp_path / KERNELS_WARM).write_text("not json")
    assert start_report.load_times(tmp_path) == {}


def test_a_first_start_says_it_compiles_and_every_start_says_when_it_is_ready(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="logjet.supervise")
    cold = StartReport(tmp_path)
    assert not cold.warm
    said = cold.begin()
    assert said.startswith(f"compiling kernels (first start, about {start_report.COLD_COMPILE_S} s)")
    assert str(tmp_path) in said and said in caplog.text
    start_report.mark_warm(tmp_path, {"imports": 1.0, "storage": 20.0})
    assert cold.ready(age_s=31.25) == "ready in 31.2 s (kernels compiled: imports 1.00, storage 20.00 s)"

    caplog.clear()
    warm = StartReport(tmp_path)
    assert warm.warm
    assert "compiling" not in warm.begin() and "compiling" not in caplog.text
    assert warm.ready(age_s=1.5).startswith("ready in 1.5 s (kernels loaded: ")
    assert StartReport(None, warm=False).ready(age_s=2.0) == "ready in 2.0 s"


def test_process_age_counts_from_the_interpreters_start():
    age = start_report.process_age_s()
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    assert 0 < age < uptime
    assert start_report.process_age_s() >= age


def test_a_start_without_the_fork_server_marks_the_cache_warm_once_ready(tmp_path):
    # Spawned workers compile their own kernels; by "ready" they have, and nothing else marks it.
    report = StartReport(tmp_path)
    assert not report.warm
    assert report.ready(age_s=40.0) == "ready in 40.0 s"
    assert start_report.is_warm(tmp_path) and StartReport(tmp_path).warm
    start_report.mark_warm(tmp_path, {"imports": 1.0})
    assert StartReport(tmp_path, forked=False).ready(age_s=9.0) == "ready in 9.0 s", "no fork server: no warm-up of its"
