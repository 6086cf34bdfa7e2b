"""Cutting HTTP ingest bodies (NDJSON and JSON arrays) into frames, and refusing non-objects."""

from __future__ import annotations

import pytest

from engine.api.ingest_routes import frames_of


def frames(body: bytes, max_len: int = 1000):
    buf, starts, ends, flags = frames_of(body, max_len)
    return [buf[s:e] for s, e in zip(starts.tolist(), ends.tolist())], flags.tolist()


def test_ndjson_lines_with_crlf_blank_lines_and_no_final_newline():
    got, _ = frames(b'{"a": 1}\r\n\n  {"b": 2}  \n{"c": 3}')
    assert got == [b'{"a": 1}', b'{"b": 2}', b'{"c": 3}']


def test_json_array_elements_become_frames():
    got, _ = frames(b' [ {"a": [1, 2]}, {"b": "x,y"} ] ')
    assert got == [b'{"a": [1, 2]}', b'{"b": "x,y"}']


def test_non_object_line_is_refused_with_its_position():
    with pytest.raises(ValueError) as info:
        frames_of(b'{"a": 1}\nnot json\n', 1000)
    assert "line 2" in info.value.args[0] and info.value.args[1] == 9


def test_array_of_non_objects_is_refused():
    with pytest.raises(ValueError):
        frames_of(b"[1, 2]", 1000)
    with pytest.raises(ValueError):
        frames_of(b"[{", 1000)


def test_over_long_object_is_truncated_and_flagged():
    got, flags = frames(b'{"m": "' + b"x" * 100 + b'"}\n', max_len=20)
    assert got == [b'{"m": "' + b"x" * 13] and flags == [1]
