"""Compression figures of the loghub corpus as the engine stores it, held as floors so that a
format change that costs ratio fails here (the bench reports the exact figures)."""

import pytest

from bench import compression
from engine.config import Storage

pytestmark = pytest.mark.slow  # builds and merges parts of the whole corpus, twice


def test_loghub_ratio_floors(tmp_path, corpus):
    storage = Storage(fsync=False)
    live = compression.loghub(corpus, storage, str(tmp_path / "live"), live=True)["merged"]
    assert live["rows"] == 20_000 and live["parts"] == 1
    assert live["file_ratio"] >= 11.3  # measured 11.50 (format 3, merged at small_merge_zstd_level 19)
    spread = compression.loghub(corpus, storage, str(tmp_path / "spread"))["merged"]
    assert spread["rows"] == 20_000
    assert spread["file_ratio"] >= 10.0  # measured 10.09: 44 one-part days of the Linux sample
