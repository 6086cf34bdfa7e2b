"""engine/lifecycle/kernel_warmup.py: the parsing step runs through, its rows readable by the
writer's intake (a step that fails only logs, so nothing else would notice)."""

from __future__ import annotations

from engine.config import Settings
from engine.lifecycle.kernel_warmup import FRAMES, warm_parsing


def test_the_parsing_step_gives_the_writer_readable_rows():
    rows = warm_parsing(Settings())
    assert len(rows) == len(FRAMES)
