"""engine.store.derived_fields: pairs found in the message are not stored twice, and every row reads
back exactly, whatever parser settings made the rows."""

import numpy as np
import pytest

from bench.rows import rows_from_lines, sort_by_time
from engine.config import Parse
from engine.store import value_frames
from engine.store.part_reader import Part, PartOptions, write_part

LINES = [
    b"<13>Oct 11 22:14:15 h app[1]: user=root rhost=10.0.0.1 uid=0 ok",
    b'<13>1 2003-10-11T22:14:15.003Z h app 1 m [x@1 k="v" j="w"] a=1 b="two words" c=3 d=4',
    b'{"msg": "k=v and x=y", "level": "info", "svc": {"name": "a"}}',
    b"plain no pairs at all",
    b"plain a=1 a=2 a=1",
    b'<13>1 2003-10-11T22:14:15.003Z h app 1 m [x@1 k="v"] no pairs',
]


def _rows(settings):
    return sort_by_time(rows_from_lines(LINES * 50, recv_ns=1_700_000_000_000_000_000, settings=settings))


@pytest.mark.parametrize("level", [0, 1], ids=["flushed", "merged"])
@pytest.mark.parametrize(
    "settings",
    [Parse(), Parse(extract_kv=False), Parse(max_fields_per_row=2), Parse(max_fields_per_row=0)],
    ids=["default", "no-kv", "cap-2", "cap-0"],
)
def test_fields_read_back_exactly(tmp_path, settings, level, monkeypatch):
    # Merged parts cut messages and stored values into frames (engine.store.value_frames).
    monkeypatch.setattr(value_frames, "MIN_FRAME_VALUES", 8)
    rows = _rows(settings)
    path = str(tmp_path / "p.ljp")
    write_part(
        path,
        rows,
        PartOptions(level=level, instance="i", flush_id="f", block_rows=128, fsync=False, derive_fields=True),
    )
    with Part(path) as part:
        back = part.read_all()
        streams = part.meta.blocks[0].streams
        stored_pairs = sum(b.streams["kv.key"].count for b in part.meta.blocks)
    assert any(n.startswith("message.data@") for n in streams) == (level > 0)
    for i in range(len(rows)):
        assert back.fields(i) == rows.fields(i), (i, rows.message(i))
    assert np.array_equal(back.kv_ptr, rows.kv_ptr)
    if settings.extract_kv and settings.max_fields_per_row >= 4:
        # Only the SD params and the JSON keys are stored; the rest comes from the messages.
        assert "kv.derived" in streams
        assert stored_pairs < len(rows.kv_key) / 2
    elif settings.max_fields_per_row == 2:
        assert stored_pairs >= len(rows.kv_key) * 0.5  # rows cut at the cap are kept whole
