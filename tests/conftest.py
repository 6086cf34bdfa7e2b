"""Shared fixtures (the shared corpus, a clean shared-memory root per test) and the marker
rules: tests under tests/e2e and tests/faults are marked `e2e`; a test that starts a process is marked `e2e`
(it starts the engine) or `slow` (any other process), so `make test-fast` starts none."""

from __future__ import annotations

import os
import shutil
import pathlib
from collections.abc import Generator, Iterator

import pytest

from tests.child_processes import ChildProcessLog, marker_problem

REPO = pathlib.Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus"
ENGINE_TEST_DIRS = tuple(pathlib.Path(__file__).resolve().parent / d for d in ("e2e", "faults"))

_children = ChildProcessLog()


def pytest_configure(config: pytest.Config) -> None:
    _children.install()


def pytest_unconfigure(config: pytest.Config) -> None:
    _children.uninstall()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = [
        i.nodeid
        for i in items
        if any(d in i.path.parents for d in ENGINE_TEST_DIRS) and i.get_closest_marker("e2e") is None
    ]
    if unmarked:
        raise pytest.UsageError(f"tests under tests/e2e and tests/faults must be marked e2e: {', '.join(unmarked)}")


def _children_need_markers(item: pytest.Item) -> Generator[None, object, object]:
    """Wraps one test phase: fails it when it started a process its markers do not allow."""
    _children.started.clear()
    _children.recording = True
    try:
        result = yield
    finally:
        _children.recording = False
    problem = marker_problem(_children.started, {m.name for m in item.iter_markers()})
    if problem:
        pytest.fail(f"{item.nodeid} {problem}", pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _children_need_markers(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _children_need_markers(item))


@pytest.fixture
def corpus() -> pathlib.Path:
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    return CORPUS


@pytest.fixture
def shm_dir(tmp_path: pathlib.Path) -> Iterator[pathlib.Path]:
    """A folder for ring files: tmpfs when available, removed after the test."""
    root = "/dev/shm" if os.path.isdir("/dev/shm") else str(tmp_path)
    path = pathlib.Path(root) / f"logjet-test-{os.getpid()}-{os.urandom(3).hex()}"
    path.mkdir()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
