"""A copy of a data dir (`cp -a`, a restored backup) served beside its original on the same host:
both hold the same id, and neither start may take the other's running instance for an orphan
of its own (wait for its workers, kill them, write its rings into the wrong data dir)."""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.request

import pytest

from tests.faults.helpers import query, wait_written

pytestmark = pytest.mark.e2e


def _ingest(url: str, app: str, n: int) -> None:
    body = b"".join(json.dumps({"app": app, "msg": f"{app} line {i}"}).encode() + b"\n" for i in range(n))
    req = urllib.request.Request(url + "/api/v1/ingest", data=body, headers={"Content-Type": "application/x-ndjson"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status in (200, 204)


def _count(url: str, app: str) -> int:
    got = query(url, f"app:{app} | stats count() as n")
    return int(got[0]["n"]) if got else 0


def test_a_copy_served_beside_its_original_leaves_the_original_alone(start_engine, tmp_path):
    original = start_engine(name="original")
    _ingest(original.url, "before-copy", 100)
    assert wait_written(original.url, 100) >= 100
    shutil.copytree(tmp_path / "original-data", tmp_path / "copy-data", ignore=shutil.ignore_patterns(".tmp-*"))
    started = time.monotonic()
    copy = start_engine(name="copy")
    # Not held up by the original's workers (it would wait for them to drain, then kill them).
    assert time.monotonic() - started < 30, copy.log_text()[-3000:]
    assert "orphan" not in copy.log_text().lower() and "removing them" not in copy.log_text()
    assert os.path.isdir(original.shm_path())
    # Both go on, each with its own rows.
    _ingest(original.url, "after-copy-original", 10)
    _ingest(copy.url, "after-copy-copy", 20)
    deadline = time.monotonic() + 30
    while (_count(original.url, "after-copy-original"), _count(copy.url, "after-copy-copy")) != (10, 20):
        assert time.monotonic() < deadline, (original.log_text()[-2000:], copy.log_text()[-2000:])
        time.sleep(0.2)
    assert _count(original.url, "after-copy-copy") == 0 and _count(copy.url, "after-copy-original") == 0
    assert _count(copy.url, "before-copy") == 100 and _count(original.url, "before-copy") == 100
