"""Rows whose time is out of range (older than retention, further ahead than max_future): adjusted
to their receive time with the sender's time kept, or dropped and counted; the RFC 3164 year
boundary is not mistaken for a bad clock."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from engine.config import Parse, load
from engine.parse.batch_parser import BatchParser
from engine.parse.time_bounds import IN_RANGE, TOO_NEW, TOO_OLD, TimeBounds, adjust_fields
from engine.ipc.raw_batch import raw_batch_of
from engine.query.render import row_objects
from engine.store.part_reader import Part, PartOptions, write_part
from engine.write.intake import RingIntake

S = 10**9
DAY = 86400 * S
BOUNDS = TimeBounds(retention_ns=7 * DAY, max_future_ns=DAY)


def ns(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.timezone.utc).timestamp()) * S


RECV = ns(2026, 6, 15, 12, 0, 0)
LINES = [
    b"<13>1 2025-06-15T12:00:00Z old app - - - stamped a year ago k=1",
    b"<13>1 2026-06-22T12:00:00Z new app - - - stamped a week ahead k=2",
    b"<13>1 2026-06-15T11:59:00Z ok app - - - on time k=3",
    b'{"msg": "json a year old", "time": "2025-06-15T12:00:00Z", "host": "j"}',
    b"<13>1 2026-06-08T12:00:01Z edge app - - - just inside retention",
]


def parse(lines: list[bytes], recv_ns: int, bounds: TimeBounds = BOUNDS, settings: Parse = Parse()):
    """(column batch, rows as the writer gets them, rendered objects)."""
    batch = BatchParser(settings, bounds=bounds).parse(raw_batch_of(lines, recv_ns))
    rows = RingIntake().decode(batch.encode())[1]
    return batch, rows, row_objects(rows)


def test_classify_bounds_are_exclusive_and_zero_turns_each_off():
    recv = RECV
    times = np.array([recv - 7 * DAY - 1, recv - 7 * DAY, recv, recv + DAY, recv + DAY + 1], np.int64)
    assert BOUNDS.classify(times, recv).tolist() == [TOO_OLD, IN_RANGE, IN_RANGE, IN_RANGE, TOO_NEW]
    assert TimeBounds(0, DAY).classify(times, recv).tolist() == [0, 0, 0, 0, TOO_NEW]
    assert TimeBounds(7 * DAY, 0).classify(times, recv).tolist() == [TOO_OLD, 0, 0, 0, 0]
    # bounds past the int64 range are no bounds (a retention of a million days)
    assert TimeBounds(10**6 * DAY, 10**6 * DAY).classify(times, recv).tolist() == [0] * 5


def test_bounds_come_from_retention_and_the_parse_settings():
    s = load(None, {"storage.retention": "30d", "parse.max_future": "2h", "parse.out_of_range": "drop"})
    assert TimeBounds.of(s) == TimeBounds(30 * DAY, 2 * 3600 * S, True)
    assert TimeBounds.of(load(None, {"storage.retention": "0"})).retention_ns == 0


def test_adjusted_rows_keep_the_senders_time_in_fields():
    batch, rows, objs = parse(LINES, RECV)
    assert batch.out_of_range == (2, 1)
    old, new, ok, js, edge = objs
    recv_text = "2026-06-15T12:00:00.000000000Z"
    assert old["_time"] == new["_time"] == js["_time"] == recv_text
    assert old["fields"] == {"k": "1", "sender_time": "2025-06-15T12:00:00.000000000Z", "time_adjusted": "too_old"}
    assert new["fields"] == {"k": "2", "sender_time": "2026-06-22T12:00:00.000000000Z", "time_adjusted": "too_new"}
    assert js["fields"] == {"sender_time": "2025-06-15T12:00:00.000000000Z", "time_adjusted": "too_old"}
    assert ok["_time"] == "2026-06-15T11:59:00.000000000Z" and ok["fields"] == {"k": "3"}
    assert edge["_time"] == "2026-06-08T12:00:01.000000000Z" and edge["fields"] == {}
    assert [o["message"] for o in objs] == [
        "stamped a year ago k=1",
        "stamped a week ahead k=2",
        "on time k=3",
        "json a year old",
        "just inside retention",
    ]


def test_dropped_rows_leave_the_others_whole():
    lines = LINES * 3
    batch, rows, objs = parse(lines, RECV, BOUNDS._replace(drop=True))
    assert batch.out_of_range == (6, 3) and batch.rows == 6
    assert [o["message"] for o in objs] == ["on time k=3", "just inside retention"] * 3
    assert [o["fields"] for o in objs] == [{"k": "3"}, {}] * 3
    assert [o["host"] for o in objs] == ["ok", "edge"] * 3


def test_every_row_dropped_gives_an_empty_batch():
    batch, rows, objs = parse(LINES[:2], RECV, BOUNDS._replace(drop=True))
    assert batch.rows == 0 and batch.out_of_range == (1, 1) and objs == []
    assert len(batch.kv_ptr) == 1 and len(batch.msg_off) == 1


@pytest.mark.parametrize(
    "line, recv, want",
    [
        # received just after midnight on Jan 1: last year's Dec 31, seconds old
        (b"<13>Dec 31 23:59:58 h app: late", ns(2027, 1, 1, 0, 0, 5), ns(2026, 12, 31, 23, 59, 58)),
        # received just before midnight on Dec 31: next year's Jan 1, seconds ahead
        (b"<13>Jan  1 00:00:03 h app: early", ns(2026, 12, 31, 23, 59, 59), ns(2027, 1, 1, 0, 0, 3)),
    ],
)
def test_rfc3164_year_boundary_is_not_a_bad_clock(line, recv, want):
    # Bounds of a minute back and ten seconds ahead: a stamp a year off would be caught.
    batch, rows, objs = parse([line], recv, TimeBounds(retention_ns=60 * S, max_future_ns=10 * S))
    assert batch.out_of_range == (0, 0)
    assert int(rows.time[0]) == want and objs[0]["fields"] == {}


def test_rfc3164_date_far_from_receipt_is_adjusted():
    # A device clock months off: the nearest year still puts the date 4 months ahead.
    batch, rows, objs = parse([b"<13>Oct 15 12:00:00 h app: reset clock"], RECV)
    assert batch.out_of_range == (0, 1)
    assert objs[0]["fields"] == {"sender_time": "2026-10-15T12:00:00.000000000Z", "time_adjusted": "too_new"}


def test_adjust_fields_are_fixed_width_and_in_row_order():
    f = adjust_fields(
        np.array([4, 9]), np.array([0, 1_700_000_000_123_456_789]), np.array([TOO_OLD, TOO_NEW], np.uint8)
    )
    assert f.rows.tolist() == [4, 4, 9, 9]
    values = [bytes(f.values[1][a:b]) for a, b in zip(f.values[0][:-1], f.values[0][1:])]
    keys = [bytes(f.keys[1][a:b]) for a, b in zip(f.keys[0][:-1], f.keys[0][1:])]
    assert keys == [b"sender_time", b"time_adjusted"] * 2
    assert values == [b"1970-01-01T00:00:00.000000000Z", b"too_old", b"2023-11-14T22:13:20.123456789Z", b"too_new"]


def test_adjusted_rows_read_back_from_a_part_with_derived_fields(tmp_path):
    """The added pairs come after the message's own, so derived fields still apply."""
    _, rows, _ = parse(LINES, RECV)
    path = str(tmp_path / "p.ljp")
    order = np.argsort(rows.time, kind="stable")
    rows = rows.take(order)
    write_part(
        path, rows, PartOptions(level=0, instance="i", flush_id="f", block_rows=128, fsync=False, derive_fields=True)
    )
    with Part(path) as part:
        back = part.read_all()
        assert "kv.derived" in part.meta.blocks[0].streams
    for i in range(len(rows)):
        assert back.fields(i) == rows.fields(i)
