"""End to end: a real `logjet serve` stopped with SIGTERM says so in its log: the signal and how
many workers it drains when it begins, and how long the drain took once it is done."""

from __future__ import annotations

import json
import re

import pytest

from engine.ipc.shm import SHM_ROOT, InstanceDir

pytestmark = pytest.mark.e2e


def test_sigterm_logs_the_drain_and_how_long_it_took(start_engine):
    engine = start_engine("--receivers", "1", "--parsers", "1")
    with open(InstanceDir(engine.instance, SHM_ROOT).workers) as f:
        workers = len(json.load(f))
    assert engine.terminate() == 0
    log = engine.log_text()
    began = re.search(r"stopping \(SIGTERM\): draining (\d+) workers", log)
    assert began, log
    assert int(began.group(1)) == workers >= 4, (began.group(1), workers)  # receiver, parser, writer, api
    ended = re.search(r"stopped in (\d+\.\d\d) s\n", log[began.end() :])
    assert ended and "not cleanly" not in log, log
