"""The batch parser: one bad row costs one row, and host falls back to the sender's address."""

from __future__ import annotations

import numpy as np
import pytest

import engine.parse.batch_parser as columns
from bench.rows import iter_rows
from engine.config import Parse
from engine.ipc.column_batch import ColumnBatch
from engine.ipc.raw_batch import raw_batch_of
from engine.query.render import row_objects
from engine.store.rows import concat


def objects(lines, **kw):
    return row_objects(concat(list(iter_rows(lines, recv_ns=1_700_000_000 * 10**9, **kw))))


def rfc5424(i: int) -> bytes:
    return b'<165>1 2024-05-06T07:08:09.%06dZ web-%d app%d %d ID%d [ex@1 k="%d"] request done status=%d' % (
        i,
        i % 7,
        i % 3,
        i,
        i % 5,
        i,
        200 + i % 4,
    )


def check_full(obj: dict, i: int) -> None:
    """Row of rfc5424(i), parsed in full."""
    assert obj["host"] == f"web-{i % 7}" and obj["app"] == f"app{i % 3}" and obj["procid"] == str(i)
    assert obj["message"] == f"request done status={200 + i % 4}"
    assert obj["fields"]["status"] == str(200 + i % 4) and obj["format"] == "rfc5424"
    assert "parse_fallback" not in obj.get("_flags", [])


@pytest.mark.parametrize(
    "bad",
    [
        b"{" + b'"a":{' * 5000 + b"1" + b"}" * 5001,  # deeper than the decoder goes
        b'{"a": [1, 2}',  # syntax
        b'{"msg": "caf\xe9"}',  # invalid UTF-8
        b"{" + b'"k":{' * 40 + b'"v":1' + b"}" * 41,  # deep, but decodable: kept, flattened
    ],
)
def test_one_bad_json_line_costs_one_row(bad):
    lines = [rfc5424(i) for i in range(10_000)]
    lines.insert(5_000, bad)
    objs = objects(lines, batch_lines=20_000)
    assert len(objs) == 10_001
    full = [o for o in objs if o["format"] == "rfc5424"]
    [odd] = [o for o in objs if o["format"] != "rfc5424"]
    assert len(full) == 10_000
    for o in full:
        check_full(o, int(o["procid"]))
    if odd["format"] == "json":  # decodable: its nesting past a depth is kept as one field
        deep = list(odd["fields"])
        assert len(deep) == 1 and deep[0].count(".") == columns_depth() - 1
        assert "parse_fallback" not in odd.get("_flags", [])
    else:
        assert odd["format"] == "plain" and "parse_fallback" in odd["_flags"]
        assert odd["message"] == bad.decode("utf-8", "replace")


def columns_depth() -> int:
    from engine.parse.json_rows import MAX_FLATTEN_DEPTH

    return MAX_FLATTEN_DEPTH


def test_a_row_that_makes_a_kernel_fail_is_isolated(monkeypatch):
    """Fault injection: the kv kernel raises on any batch holding "BOOM"; only those rows fall back."""
    real = columns.extract_kv

    def failing(data, starts, ends, cap):
        for s, e in zip(starts.tolist(), ends.tolist()):
            if b"BOOM" in bytes(data[s:e]):
                raise RuntimeError("injected kernel failure")
        return real(data, starts, ends, cap)

    monkeypatch.setattr(columns, "extract_kv", failing)
    lines = [rfc5424(i) for i in range(3_000)]
    lines[17] = b"<13>Oct 11 22:14:15 h1 app: BOOM k=v"
    lines[2_222] = b"<13>Oct 11 22:14:15 h2 app: BOOM again"
    parser = columns.BatchParser(Parse())
    batch = parser.parse(raw_batch_of(lines, 1_700_000_000 * 10**9))
    assert batch.fallback == 2 and batch.rows == 3_000
    objs = objects(lines, batch_lines=5_000)
    plain = [o for o in objs if "parse_fallback" in o.get("_flags", [])]
    assert sorted(o["message"] for o in plain) == sorted([lines[17].decode(), lines[2_222].decode()])
    rest = [o for o in objs if o not in plain]
    assert len(rest) == 2_998
    for o in rest:
        check_full(o, int(o["procid"]))


def test_host_falls_back_to_the_senders_address():
    lines = [
        b"<14>python handler message",  # Python's SysLogHandler: no host
        b"<13>Oct 11 22:14:15 app[3]: no host",  # hostless 3164
        b"134681 node-246 unix.hw state_change",  # plain
        b'{"msg": "json without host"}',
        b"<13>Oct 11 22:14:15 named-host app[3]: with host",
        b"<13>1 2024-05-06T07:08:09Z - app - - - nil host",
    ]
    objs = objects(lines)
    assert [o["host"] for o in objs] == ["127.0.0.1"] * 4 + ["named-host", "127.0.0.1"]
    assert ["host_from_source" in o.get("_flags", []) for o in objs] == [True] * 4 + [False, True]
    off = objects(lines, settings=Parse(host_from_source=False))
    assert [o.get("host") for o in off] == [None] * 4 + ["named-host", None]


def test_address_of():
    assert columns.address_of("10.1.2.3:514") == b"10.1.2.3"
    assert columns.address_of("[::1]:5514") == b"::1"
    assert columns.address_of("unknown") is None and columns.address_of("http") is None


def test_append_rows_keeps_offsets_consistent():
    parser = columns.BatchParser(Parse())
    a = parser.parse(raw_batch_of([rfc5424(i) for i in range(5)], 0))
    b = parser.parse_plain(raw_batch_of([b"x=1 plain", b"second y=2"], 0))
    both = columns._append_rows(a, b)
    assert both.rows == 7 and len(both.msg_off) == 8 and both.raw_bytes == a.raw_bytes + b.raw_bytes
    msgs = [bytes(both.msg_data[both.msg_off[i] : both.msg_off[i + 1]]) for i in range(7)]
    assert msgs[5:] == [b"x=1 plain", b"second y=2"] and msgs[0].startswith(b"request done")
    assert both.kv_ptr[-1] == len(both.kv_key) and both.kv_off[-1] == len(both.kv_data)
    assert np.all(np.diff(both.kv_ptr.astype(np.int64)) >= 0)
    # The joined batch is one the writer accepts: every bound checks out on decode.
    decoded = ColumnBatch.decode(both.encode())
    assert decoded.rows == 7 and np.array_equal(decoded.kv_ptr, both.kv_ptr)
