"""Every stage on the fixed data set (conftest.ROWS)."""

from __future__ import annotations

import pytest

from engine.query.errors import QueryError
from tests.engine.query.conftest import T0


def test_stats_count(run):
    assert run("* | stats count()") == [{"count()": 7}]
    assert run("nomatch | stats count()") == [{"count()": 0}]


def test_stats_by(run):
    assert run("* | stats count() by (app)") == [
        {"app": None, "count()": 1},
        {"app": "app", "count()": 2},
        {"app": "cron", "count()": 1},
        {"app": "nginx", "count()": 1},
        {"app": "sshd", "count()": 2},
    ]


def test_stats_functions(run):
    out = run(
        "app:app | stats count() as n, sum(duration_ms), avg(duration_ms), min(duration_ms), "
        "max(duration_ms), quantile(0.5, duration_ms), count_uniq(user) by (host)"
    )
    assert out == [
        {
            "host": "db-1",
            "n": 2,
            "sum(duration_ms)": 3012.5,
            "avg(duration_ms)": 1506.25,
            "min(duration_ms)": 12.5,
            "max(duration_ms)": 3000.0,
            "quantile(0.5, duration_ms)": 1506.25,
            "count_uniq(user)": 2,
        }
    ]
    assert run("app:nginx | stats sum(duration_ms)") == [{"sum(duration_ms)": None}]


def test_stats_by_two_fields_then_sort_and_limit(run):
    out = run("* | stats count() by (app, severity) | sort by (count() desc, app) | limit 2")
    assert out == [{"app": None, "severity": None, "count()": 1}, {"app": "app", "severity": 3, "count()": 1}]
    out = run("* | stats count() by (app, severity) | sort by (app desc, severity desc) | limit 2")
    assert out == [{"app": "sshd", "severity": 6, "count()": 1}, {"app": "sshd", "severity": 4, "count()": 1}]


def test_histogram(run):
    assert run("* | histogram(1m)") == [
        {"_time": "2026-11-22T10:00:00.000000000Z", "count": 2},
        {"_time": "2026-11-22T10:01:00.000000000Z", "count": 2},
        {"_time": "2026-11-22T10:02:00.000000000Z", "count": 2},
        {"_time": "2026-11-22T10:06:00.000000000Z", "count": 1},
    ]


def test_histogram_by_fields_and_bytes(run):
    assert run("app:sshd OR app:app | histogram(1m, bytes) by (app)") == [
        {"_time": "2026-11-22T10:00:00.000000000Z", "app": "sshd", "count": 2, "bytes": 51 + 55},
        {"_time": "2026-11-22T10:01:00.000000000Z", "app": "app", "count": 2, "bytes": 61 + 47},
    ]
    assert run("host:db-1 OR host:web-1 | histogram(1h) by (host, severity)") == [
        {"_time": "2026-11-22T10:00:00.000000000Z", "host": "db-1", "severity": 3, "count": 1},
        {"_time": "2026-11-22T10:00:00.000000000Z", "host": "db-1", "severity": 6, "count": 1},
        {"_time": "2026-11-22T10:00:00.000000000Z", "host": "web-1", "severity": 4, "count": 1},
        {"_time": "2026-11-22T10:00:00.000000000Z", "host": "web-1", "severity": 6, "count": 1},
    ]


def test_top(run):
    assert run("* | top 2 by (host)") == [{"host": "db-1", "count": 2}, {"host": "web-1", "count": 2}]
    assert run("* | top by (app, host)")[0] == {"app": "app", "host": "db-1", "count": 2}


def test_sort_rows(ids):
    assert ids("duration_ms:* | sort by (duration_ms)") == ["r4", "r3", "r7"]  # "x" makes it text order
    assert ids("app:app | sort by (duration_ms desc)") == ["r3", "r4"]
    assert ids("* | sort by (procid desc) | limit 2") == ["r6", "r2"]
    assert ids("* | sort by (host) | limit 1") == ["r5"]  # no value sorts first
    assert ids("* | limit 3 | sort by (_time)") == ["r5", "r6", "r7"]


def test_limit_and_fields(run):
    assert run("app:sshd | fields host, severity, user | limit 1") == [{"host": "web-2", "severity": 6, "user": None}]
    assert run("* | fields _time, message | limit 1") == [
        {"_time": "2026-11-22T10:06:40.000000000Z", "message": '{"status": 500}'}
    ]
    assert run("user:root | fields user, meta@1.seq") == [{"user": "root", "meta@1.seq": None}]
    assert run("cron | fields meta@1.seq") == [{"meta@1.seq": "5"}]


def test_stats_after_limit(run):
    assert run("* | limit 3 | stats count() by (app)") == [
        {"app": None, "count()": 1},
        {"app": "cron", "count()": 1},
        {"app": "nginx", "count()": 1},
    ]


def test_rows_are_whole_objects(run):
    (row,) = run("r1 OR failed host:web-1")
    assert row["msgid"] == "r1" and row["host"] == "web-1" and row["format"] == "rfc3164"
    assert row["_time"] == "2026-11-22T10:00:00.000000000Z" and row["severity"] == 4


def test_one_aggregation_only():
    from engine.query.execute import PreparedQuery

    with pytest.raises(QueryError):
        PreparedQuery("* | stats count() | histogram(1m)")


def test_time_window_on_stats(run):
    assert run("* | stats count()", start=T0 + 61 * 10**9) == [{"count()": 5}]


def test_recv_is_read_as_stored(run):
    # The fixed rows were received at their own _time: the two columns must agree, whether a
    # stage reads `_recv` from a part block or rows are rendered.
    assert run("* | stats count() by (_recv)") == [
        {"_recv": r["_time"], "count()": r["count()"]} for r in run("* | stats count() by (_time)")
    ]
    newest = run("* | sort by (_recv desc) | limit 1 | fields _time, _recv")
    assert newest[0]["_recv"] == newest[0]["_time"]
    assert run("* | stats max(_recv)") == [{"max(_recv)": run("* | stats max(_time)")[0]["max(_time)"]}]
