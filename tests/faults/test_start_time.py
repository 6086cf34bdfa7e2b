"""Start fast, visibly (docs/durability.md): a start says on stderr when it is ready; a first
start (an empty kernel cache) says first that it compiles the kernels, and only that once; the
first row sent once the engine is ready is queryable within a second, on a fresh data dir.

How long starts take is measured by `logjet bench start` (BENCHMARKS.md), not here: the one
figure checked is the README's promise that a row is searchable within a second."""

from __future__ import annotations

import glob
import json
import os
import socket
import time
import urllib.parse
import urllib.request
import uuid

import pytest

from engine.lifecycle.start_report import is_warm, kernel_cache
from engine.store.layout import KERNELS_WARM

pytestmark = pytest.mark.e2e

COMPILING = "compiling kernels (first start, about"
VISIBLE_WITHIN_S = 1.0  # README: "every line parsed, indexed and searchable within a second"


def _rows(url: str, q: str) -> list[dict]:
    with urllib.request.urlopen(f"{url}/api/v1/query?{urllib.parse.urlencode({'q': q})}", timeout=10) as r:
        return [json.loads(line) for line in r.read().splitlines() if line.strip()]


def test_first_row_after_ready_is_queryable_within_a_second_on_a_fresh_data_dir(start_engine):
    if not is_warm(kernel_cache()):
        start_engine(name="fill-the-kernel-cache", start_timeout=900).stop()  # the one first start
    engine = start_engine(name="fresh")
    assert not glob.glob(os.path.join(engine.data_dir, "*", "*.ljp")), "a fresh data dir: no part yet"
    with urllib.request.urlopen(engine.url + "/readyz", timeout=10) as r:
        assert r.status == 200, "ready when the ports line is out"
    token = "first" + uuid.uuid4().hex[:12]
    sent = time.monotonic()
    with socket.create_connection(("127.0.0.1", engine.ports["syslog_tcp"])) as s:
        s.sendall(f"<13>1 2026-01-01T00:00:00Z host app - - - hello {token}\n".encode())
    while not (rows := _rows(engine.url, token)):
        assert time.monotonic() - sent < 30, "the row never became queryable"
        time.sleep(0.01)
    visible_s = time.monotonic() - sent
    assert [r["message"] for r in rows] == [f"hello {token}"]
    assert visible_s < VISIBLE_WITHIN_S, f"first row queryable after {visible_s:.2f} s"
    log = engine.log_text()
    assert "ready in " in log and COMPILING not in log


@pytest.mark.slow
def test_a_first_start_says_it_compiles_the_kernels_and_the_next_does_not(start_engine, tmp_path):
    cache = tmp_path / "kernel-cache"
    env = {"LOGJET_KERNEL_CACHE": str(cache)}
    first = start_engine(name="cold", env=env, start_timeout=900)
    log = first.log_text()
    assert COMPILING in log and str(cache) in log
    assert log.index(COMPILING) < log.index("ready in "), "said before the wait, not after"
    assert "kernels compiled: " in log
    first.stop()
    (folder,) = cache.iterdir()  # one folder, named by the kernel sources
    assert (folder / KERNELS_WARM).is_file()

    again = start_engine(name="warm", env=env)
    log = again.log_text()
    assert "ready in " in log and "kernels loaded: " in log
    assert COMPILING not in log, "kernels compile at most once per install"
