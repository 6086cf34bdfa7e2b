"""engine/parse/json_rows.py: JSON rows → columns and fields."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.parse import json_rows
from engine.parse.json_rows import decode_json_rows
from native_kernels.syslog import FORMAT_JSON, NO_VALUE, TS_NONE, TS_UTC, parse_frames
from native_kernels.timestamps import TimeZone

RECV = 1_700_000_000 * 10**9


def decode(rows: list[bytes], recv=RECV):
    lens = np.array([len(r) for r in rows], np.int64)
    ends = np.cumsum(lens)
    return decode_json_rows(b"".join(rows), ends - lens, ends, recv)


def fields_of(res, row: int) -> dict:
    return {k: v for r, k, v in zip(res.field_row.tolist(), res.field_key, res.field_value) if r == row}


def ns(iso: str) -> int:
    dt = datetime.fromisoformat(iso)
    return int(dt.timestamp()) * 10**9 + dt.microsecond * 1000


def test_known_keys_fill_columns_and_the_rest_are_fields():
    res = decode(
        [
            b'{"level":"error","host":"web1","service":"api","msg":"boom",'
            b'"time":"2023-11-14T22:13:20.123456789Z","user":{"id":7,"tags":["a","b"],'
            b'"geo":{"cc":"DE"}},"ok":true,"n":null,"f":1.5,"empty":{}}'
        ]
    )
    assert res.ok.tolist() == [True]
    assert res.severity[0] == 3
    assert (res.host[0], res.app[0], res.message[0]) == (b"web1", b"api", b"boom")
    assert res.ts_kind[0] == TS_UTC
    assert res.time_ns[0] == ns("2023-11-14T22:13:20+00:00") + 123456789
    assert fields_of(res, 0) == {
        b"user.id": b"7",
        b"user.tags": b'["a","b"]',
        b"user.geo.cc": b"DE",
        b"ok": b"true",
        b"n": b"null",
        b"f": b"1.5",
        b"empty": b"{}",
    }


@pytest.mark.parametrize(
    "value,expect",
    [
        ('"emerg"', 0),
        ('"PANIC"', 0),
        ('"alert"', 1),
        ('"crit"', 2),
        ('"Critical"', 2),
        ('"fatal"', 2),
        ('"err"', 3),
        ('"ERROR"', 3),
        ('"warn"', 4),
        ('"warning"', 4),
        ('"notice"', 5),
        ('"info"', 6),
        ('"INFO "', 6),
        ('"debug"', 7),
        ('"trace"', 7),
        ("0", 0),
        ("7", 7),
        ('"5"', 5),
        ("30", 6),
        ("50", 3),
        ("60", 2),
        ("10", 7),
    ],
)
def test_severity_names_and_numbers(value, expect):
    res = decode([b'{"level":%s}' % value.encode()])
    assert res.severity[0] == expect and fields_of(res, 0) == {}


@pytest.mark.parametrize("value", ['"verbose"', "8", "-1", "3.0", "true", "[3]", '""'])
def test_unknown_severity_stays_a_field(value):
    res = decode([b'{"severity":%s}' % value.encode()])
    assert res.severity[0] == NO_VALUE
    text = json.loads(value).encode() if value.startswith('"') else value.encode()
    assert fields_of(res, 0) == {b"severity": text}  # strings as their text, the rest as JSON


@pytest.mark.parametrize("key", ["time", "timestamp", "@timestamp"])
@pytest.mark.parametrize(
    "value,expect",
    [
        ('"2023-11-14T22:13:20Z"', ns("2023-11-14T22:13:20+00:00")),
        ('"2023-11-14T23:13:20.5+01:00"', ns("2023-11-14T22:13:20.500000+00:00")),
        ('"2023-11-14 22:13:20"', ns("2023-11-14T22:13:20+00:00")),  # no offset: UTC
        ('"2023-11-14T22:13:20+0000"', ns("2023-11-14T22:13:20+00:00")),
        ("1700000000", 1_700_000_000 * 10**9),
        ("1700000000.25", 1_700_000_000_250_000_000),
        ("1700000000123", 1_700_000_000_123_000_000),
        ("1700000000123456", 1_700_000_000_123_456_000),
        ("1700000000123456789", 1_700_000_000_123_456_789),
    ],
)
def test_time_forms(key, value, expect):
    res = decode([b'{"%s":%s}' % (key.encode(), value.encode())])
    assert res.ts_kind[0] == TS_UTC and res.time_ns[0] == expect
    assert fields_of(res, 0) == {}


@pytest.mark.parametrize("value", ['"yesterday"', '"2023-13-40T00:00:00Z"', "true", "null", "1e300", '{"a":1}'])
def test_unusable_time_stays_a_field(value):
    res = decode([b'{"msg":"m","time":%s,"z":1}' % value.encode()])
    assert res.ts_kind[0] == TS_NONE and res.time_ns[0] == RECV
    f = fields_of(res, 0)
    assert f.get(b"time", f.get(b"time.a")) is not None and f[b"z"] == b"1"


def test_first_alias_wins_the_other_stays_a_field():
    res = decode(
        [
            b'{"msg":"a","message":"b","hostname":"h1","host":"h2","level":"x",'
            b'"severity":"info","app":{"name":"n"},"appname":"real"}'
        ]
    )
    assert (res.message[0], res.host[0], res.app[0]) == (b"a", b"h1", b"real")
    assert res.severity[0] == 6
    assert fields_of(res, 0) == {b"message": b"b", b"host": b"h2", b"level": b"x", b"app.name": b"n"}


def test_non_string_message_is_json_text_and_missing_one_is_none():
    res = decode([b'{"message":{"a":[1,2]}}', b'{"x":1}', b'{"host":42,"msg":""}'])
    assert res.message == [b'{"a":[1,2]}', None, b""]
    assert res.host == [None, None, b"42"]


def test_rows_that_are_not_json_objects():
    rows = [
        b"{",
        b'{"a":1} tail',
        b"[1,2]",
        b'"str"',
        b"",
        b'{"a":"\xff"}',
        b"{}",
        b'{"a":[1',
        b'{"b":1}]}',
        b'  {"ok":1}  ',
    ]
    res = decode(rows)
    assert res.ok.tolist() == [False, False, False, False, False, False, True, False, False, True]
    assert res.field_row.tolist() == [9] and res.field_value == [b"1"]
    assert np.all(res.time_ns == RECV) and np.all(res.severity == NO_VALUE)


def test_rows_come_from_any_buffer_and_the_decoder_is_reused():
    text = b'xx{"msg":"hi"}yy'
    decoder = json_rows._DECODER
    for buf in (text, bytearray(text), memoryview(text), np.frombuffer(text, np.uint8)):
        res = decode_json_rows(buf, np.array([2]), np.array([14]), 0)
        assert res.message == [b"hi"]
    assert json_rows._DECODER is decoder
    with pytest.raises(ValueError):
        decode_json_rows(text, np.array([2]), np.array([99]), 0)
    empty = decode_json_rows(b"", np.zeros(0, np.int64), np.zeros(0, np.int64), 0)
    assert len(empty.ok) == 0 and empty.field_row.dtype == np.int64


def test_after_parse_frames():
    lines = [b"<13>Oct 11 22:14:15 h a: m", b' {"level":"warn","msg":"disk 91%"}', b"{bad"]
    lens = np.array([len(x) for x in lines])
    ends = np.cumsum(lens)
    buf = b"".join(lines)
    cols = parse_frames(np.frombuffer(buf, np.uint8), ends - lens, ends, RECV, TimeZone.from_name("UTC"))
    idx = np.flatnonzero(cols.format == FORMAT_JSON)
    assert idx.tolist() == [1, 2]
    res = decode_json_rows(buf, cols.msg_s[idx], cols.msg_e[idx], RECV)
    assert res.ok.tolist() == [True, False]  # the caller keeps row 2 as plain text
    assert res.severity[0] == 4 and res.message[0] == b"disk 91%"


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**18), 10**18),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text("abc.", min_size=1, max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)
plain_keys = st.text("xyz_", min_size=1, max_size=4)


def flat(prefix, obj, out):
    for k, v in obj.items():
        if isinstance(v, dict) and v:
            flat(prefix + k + ".", v, out)
        else:
            out.append((prefix + k).encode())


@pytest.mark.slow  # 200 generated batches
@settings(max_examples=200, deadline=None)
@given(st.lists(st.dictionaries(plain_keys, json_values, max_size=5), min_size=1, max_size=5))
def test_every_other_key_becomes_a_field(objs):
    rows = [json.dumps(o).encode() for o in objs]
    res = decode(rows)
    assert res.ok.all()
    assert res.field_row.tolist() == sorted(res.field_row.tolist())
    for i, o in enumerate(objs):
        keys: list = []
        flat("", o, keys)
        got = [k for r, k in zip(res.field_row.tolist(), res.field_key) if r == i]
        assert got == keys
        for r, k, v in zip(res.field_row.tolist(), res.field_key, res.field_value):
            if r == i and b"." not in k:
                val = o[k.decode()]
                assert json.loads(v) == val if not isinstance(val, str) else v == val.encode()
