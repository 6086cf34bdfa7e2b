"""LogQL over the query tests' fixed rows (tests/engine/query/conftest.py): what selectors, line
and label filters select, and what metric queries count, window by window."""

from __future__ import annotations

import pytest

from engine.query.catalog import Catalog
from engine.query.logql import metadata
from engine.query.logql.answers import Answers
from engine.query.logql.syntax import LogQLError
from tests.engine.query.conftest import ROWS, T0

S = 10**9
END = T0 + 1000 * S
MESSAGES = {spec["message"].decode(): rid for rid, spec in ROWS.items()}


@pytest.fixture
def answers(data_dir):
    return lambda: Answers(Catalog(data_dir))


@pytest.fixture
def lines(answers):
    """Row ids of a log query's answer, in answer order (streams flattened by time)."""

    def lines(query: str, forward: bool = False, limit: int = 100) -> list[str]:
        data = answers().query_range(query, T0 - S, END, 60 * S, limit, forward)
        assert data["resultType"] == "streams"
        entries = [(int(ts), line) for s in data["result"] for ts, line in s["values"]]
        entries.sort(reverse=not forward)
        return [MESSAGES[line] for _, line in entries]

    return lines


def test_stream_selectors(lines):
    assert lines('{app="sshd"}') == ["r2", "r1"]
    assert lines('{host=~"web-.*", severity!="info"}') == ["r1"]
    assert lines('{detected_level="info"}') == ["r7", "r4", "r2"]
    assert lines('{severity=~"err|warning"}') == ["r3", "r1"]
    assert lines('{app=""}') == ["r5"]
    assert lines('{app=~".*"}') == ["r7", "r6", "r5", "r4", "r3", "r2", "r1"]
    assert lines('{app!~"s.*|c.*", facility="local0"}') == ["r4", "r3"]


def test_line_filters_are_substrings_and_regexes(lines):
    assert lines('{host=~".+"} |= "ssh2"') == ["r2", "r1"]
    assert lines('{host=~".+"} |= "fail"') == ["r6"]  # "failedx": a substring, not a word
    assert lines('{host=~".+"} |~ "(?i)fail"') == ["r6", "r1"]
    assert lines('{host=~".+"} != "ssh2" !~ "level="') == ["r7", "r6"]
    assert lines('{host=~".+"} |= "Accepted" or "CMD"') == ["r6", "r2"]
    assert lines('{host=~".+"} |= ""') == lines('{host=~".+"}')


def test_label_filters_on_fields(lines):
    assert lines('{app=~".+"} | logfmt | duration_ms > 100') == ["r3"]
    assert lines('{app=~".+"} | json | status >= 500') == ["r7"]
    assert lines('{app=~".+"} | logfmt | level="error" or user="alice"') == ["r4", "r3"]
    assert lines('{app=~".+"} | logfmt | duration_ms != 3000') == ["r4"]  # "x" is no number: left out
    assert lines('{app=~".+"} | __error__="" | severity <= 4') == ["r3", "r1"]
    assert lines('{app=~".+"} | __error__!=""') == []
    # Extracted keys are labels after a parser only, as Loki's parsed labels; columns always.
    assert lines('{app=~".+"} | level="error"') == []
    assert lines('{app=~".+"} | level=""') == lines('{app=~".+"}')
    assert lines('{app=~".+"} | procid="100"') == ["r1"]


def test_direction_and_limit(lines):
    assert lines('{app=~".+"}', forward=True, limit=2) == ["r1", "r2"]
    assert lines('{app=~".+"}', limit=2) == ["r7", "r6"]


def test_stream_labels_and_parsed_labels(answers):
    data = answers().query_range('{app="app"} | logfmt | drop msg', T0 - S, END, 60 * S, 1, False)
    (stream,) = data["result"]
    assert stream["stream"] == {
        "app": "app",
        "detected_level": "info",
        "duration_ms": "12.5",
        "facility": "local0",
        "host": "db-1",
        "level": "info",
        "severity": "info",
        "user": "alice",
    }
    assert stream["values"] == [[str(T0 + 62 * S), "level=info msg=done duration_ms=12.5 user=alice"]]
    assert list(data) == ["resultType", "result", "stats"]


def _matrix(answers, query: str, start: int, end: int, step_s: int = 60) -> dict:
    data = answers().query_range(query, start, end, step_s * S, 100, False)
    assert data["resultType"] == "matrix"
    return {tuple(sorted(r["metric"].items())): r["values"] for r in data["result"]}


def test_count_over_time_windows_end_at_each_step(answers):
    # Rows at +0 s, +30 s (sshd), +61 s, +62 s (app), +126 s (cron), +400 s (nginx); windows (t-60s, t].
    got = _matrix(answers, 'sum by (app) (count_over_time({host=~".+"}[1m]))', T0, T0 + 400 * S)
    t = T0 / 1e9
    assert got == {
        (("app", "app"),): [[t + 120, "2"]],
        (("app", "cron"),): [[t + 180, "1"]],
        (("app", "sshd"),): [[t, "1"], [t + 60, "1"]],
    }
    wide = _matrix(answers, 'sum(count_over_time({host=~".+"}[5m]))', T0, T0 + 400 * S, step_s=100)
    assert wide == {(): [[t, "1"], [t + 100, "4"], [t + 200, "5"], [t + 300, "4"], [t + 400, "2"]]}


def test_rate_bytes_and_series_labels(answers):
    got = _matrix(answers, 'rate({app="sshd"}[1m])', T0, T0 + 60 * S)
    t = T0 / 1e9
    web1 = (("app", "sshd"), ("detected_level", "warn"), ("facility", "auth"), ("host", "web-1"))
    web2 = (("app", "sshd"), ("detected_level", "info"), ("facility", "auth"), ("host", "web-2"))
    assert got == {
        (*web1, ("severity", "warning")): [[t, "0.016666666666666666"]],
        (*web2, ("severity", "info")): [[t + 60, "0.016666666666666666"]],
    }
    assert _matrix(answers, 'sum(bytes_over_time({app="sshd"}[2m]))', T0 + 60 * S, T0 + 60 * S) == {
        (): [[t + 60, str(51 + 55)]]
    }
    assert _matrix(answers, 'sum(count_over_time({app="sshd"}[1m] offset 1m))', T0 + 60 * S, T0 + 60 * S) == {
        (): [[t + 60, "1"]]
    }


def test_vector_aggregations_and_arithmetic(answers):
    at = T0 + 599 * S  # windows are (t - 10m, t]: the row at T0 is in

    def instant(query: str) -> list:
        return answers().instant(query, at)["result"]

    assert instant('topk(2, sum by (host) (count_over_time({host=~".+"}[10m])))') == [
        {"metric": {"host": "db-1"}, "value": [at / 1e9, "2"]},
        {"metric": {"host": "web-1"}, "value": [at / 1e9, "2"]},
    ]
    assert instant('count(sum by (host) (count_over_time({host=~".+"}[10m])))')[0]["value"][1] == "4"
    assert instant('max(sum by (host) (count_over_time({host=~".+"}[10m]))) * 10 - 1')[0]["value"][1] == "19"
    assert instant('sum by (detected_level) (count_over_time({host=~".+"}[10m]))') == [
        {"metric": {"detected_level": "debug"}, "value": [at / 1e9, "1"]},
        {"metric": {"detected_level": "error"}, "value": [at / 1e9, "1"]},
        {"metric": {"detected_level": "info"}, "value": [at / 1e9, "3"]},
        {"metric": {"detected_level": "warn"}, "value": [at / 1e9, "1"]},
    ]
    assert instant("vector(1)+vector(1)") == [{"metric": {}, "value": [at / 1e9, "2"]}]
    assert answers().instant("2 * 3", at)["result"] == [at / 1e9, "6"]


def test_refusals(answers):
    with pytest.raises(LogQLError, match="instant query type"):
        answers().instant('{app="x"}', T0)
    with pytest.raises(LogQLError, match="sum by"):
        answers().query_range('count_over_time({app="x"} | json [1m])', T0, END, 60 * S, 10, False)
    with pytest.raises(LogQLError, match="11,000 points"):
        answers().query_range('count_over_time({app="x"}[1m])', T0, T0 + 20_000 * S, S, 10, False)
    with pytest.raises(LogQLError, match="invalid regex"):
        answers().query_range('{app=~"("}', T0, END, 60 * S, 10, False)


def test_metadata(answers):
    assert metadata.label_names(answers(), T0, END) == ["app", "detected_level", "facility", "host", "severity"]
    assert metadata.label_values(answers(), "app", T0, END, None) == ["app", "cron", "nginx", "sshd"]
    assert metadata.label_values(answers(), "detected_level", T0, END, None) == ["debug", "error", "info", "warn"]
    assert metadata.label_values(answers(), "host", T0, END, '{app="sshd"}') == ["web-1", "web-2"]
    assert metadata.label_values(answers(), "user", T0, END, None) == []
    assert metadata.series(answers(), ['{host="db-1"}'], T0, END) == [
        {"app": "app", "detected_level": "error", "facility": "local0", "host": "db-1", "severity": "err"},
        {"app": "app", "detected_level": "info", "facility": "local0", "host": "db-1", "severity": "info"},
    ]
    stats = metadata.index_stats(answers(), '{app=~"sshd|app"}', T0, END)
    assert (stats["streams"], stats["entries"]) == (4, 4)
    with pytest.raises(LogQLError, match="only label matchers"):
        metadata.series(answers(), ['{app="x"} |= "y"'], T0, END)


def test_logs_volume_query_groups_by_parsed_labels_only_after_a_parser(answers):
    at = T0 + 599 * S
    volume = 'sum by (level, detected_level) (count_over_time({{app=~"app|sshd"}}{} | drop __error__ [10m]))'
    plain = answers().instant(volume.format(""), at)["result"]
    assert {(tuple(r["metric"].items()), r["value"][1]) for r in plain} == {
        ((("detected_level", "error"),), "1"),
        ((("detected_level", "info"),), "2"),
        ((("detected_level", "warn"),), "1"),
    }
    parsed = answers().instant(volume.format(" | logfmt"), at)["result"]
    assert {(tuple(sorted(r["metric"].items())), r["value"][1]) for r in parsed} == {
        ((("detected_level", "error"), ("level", "error")), "1"),
        ((("detected_level", "info"),), "1"),
        ((("detected_level", "info"), ("level", "info")), "1"),
        ((("detected_level", "warn"),), "1"),
    }
