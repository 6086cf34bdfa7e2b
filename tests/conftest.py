"""Shared fixtures: paths to the shared corpus and a clean shared-memory root per test."""

from __future__ import annotations

import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus"


@pytest.fixture
def corpus() -> pathlib.Path:
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    return CORPUS


@pytest.fixture
def shm_dir(tmp_path):
    """A folder for ring files: tmpfs when available, removed after the test."""
    root = "/dev/shm" if os.path.isdir("/dev/shm") else str(tmp_path)
    path = pathlib.Path(root) / f"logjet-test-{os.getpid()}-{os.urandom(3).hex()}"
    path.mkdir()
    yield path
    for child in path.iterdir():
        child.unlink()
    path.rmdir()
