"""Fault: senders whose clocks are wrong (a year behind, a week ahead). With
`parse.out_of_range = "adjust"` their rows are stored at their receive time, the sender's time in
`sender_time` and the row marked `time_adjusted`, so retention does not delete them at once;
with "drop" they are dropped; either way they are counted. Alerts count them as they arrive."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.parse
import urllib.request

import pytest

from tests.e2e.clients import metric, send_tcp, wait_until, wait_written, worker_pids

pytestmark = pytest.mark.e2e

DAY = 86400
RULES = """
[settings]
evaluation_interval = "100ms"

[[rules]]
name = "skewed"
pattern = 'clock-skew-probe'
threshold = 1
window = "1m"
"""


def stamp(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e6):06d}Z"


def line(t: float, text: str) -> bytes:
    return f"<13>1 {stamp(t)} host app - - - {text}\n".encode()


def query(url: str, q: str) -> list[dict]:
    with urllib.request.urlopen(url + "/api/v1/query?" + urllib.parse.urlencode({"q": q}), timeout=30) as resp:
        return [json.loads(x) for x in resp.read().splitlines() if x]


def ingest_http(url: str, objects: list[dict]) -> dict:
    body = "\n".join(json.dumps(o) for o in objects).encode()
    req = urllib.request.Request(url + "/api/v1/ingest", data=body, method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def test_bad_clocks_are_adjusted_counted_alerted_and_kept_by_retention(start_engine, tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    engine = start_engine(
        "--retention", "2h", "--alert-rules", str(rules), "--receivers", "1", "--parsers", "1", name="skew"
    )
    port, url = engine.ports["syslog_tcp"], engine.url
    # A row inside retention by two seconds, in a flush of its own: retention deletes it soon
    # after, which shows retention ran while the adjusted rows below stay.
    edge_sent = time.time()
    send_tcp(port, line(edge_sent - 2 * 3600 + 2, "t=edge almost expired"))
    assert wait_written(url, 1) == 1
    year_ago, week_ahead = time.time() - 365 * DAY, time.time() + 7 * DAY
    send_tcp(
        port,
        line(year_ago, "t=skew clock-skew-probe from a year ago")
        + line(week_ahead, "t=skew from a week ahead")
        + line(time.time(), "t=skew on time"),
    )
    assert ingest_http(url, [{"msg": "t=skew json from a year ago", "time": stamp(year_ago)}]) == {"accepted": 1}
    assert wait_written(url, 5) == 5

    rows = {r["message"]: r for r in query(url, "t:skew")}
    assert len(rows) == 4
    old, new = rows["t=skew clock-skew-probe from a year ago"], rows["t=skew from a week ahead"]
    old_json, ok = rows["t=skew json from a year ago"], rows["t=skew on time"]
    for row, sender, reason in (
        (old, year_ago, "too_old"),
        (new, week_ahead, "too_new"),
        (old_json, year_ago, "too_old"),
    ):
        assert row["_time"] == row["_recv"], row  # stored at its receive time
        assert row["fields"]["sender_time"] == stamp(sender).replace("Z", "000Z")
        assert row["fields"]["time_adjusted"] == reason
    assert "time_adjusted" not in ok["fields"]
    assert {r["message"] for r in query(url, "time_adjusted:too_old")} == {
        "t=skew clock-skew-probe from a year ago",
        "t=skew json from a year ago",
    }
    assert metric(url, "logjet_time_adjusted_total", reason="too_old") == 2
    assert metric(url, "logjet_time_adjusted_total", reason="too_new") == 1

    # The rule matches the row stamped a year ago: it fires, as for any row arriving now.
    firing = wait_until(lambda: [a for a in _alerts(url) if a["rule"] == "skewed" and a["state"] == "firing"])
    assert len(firing) == 1 and firing[0]["value"] == 1

    # Retention: a restarted writer runs it at once. The row two seconds inside retention when
    # it came is past it now and goes; the adjusted rows stay.
    time.sleep(max(0.0, edge_sent + 2.5 - time.time()))
    (writer,) = worker_pids(engine, "writer")
    os.kill(writer, signal.SIGKILL)
    assert wait_until(lambda: metric(url, "logjet_deleted_parts_total", reason="retention") >= 1, 30)
    assert query(url, "t:edge") == []
    assert {r["message"] for r in query(url, "t:skew")} == set(rows)


def _alerts(url: str) -> list[dict]:
    with urllib.request.urlopen(url + "/api/v1/alerts", timeout=10) as resp:
        return json.loads(resp.read())["alerts"]


def test_bad_clocks_are_dropped_and_counted(start_engine, tmp_path):
    config = tmp_path / "drop.toml"
    config.write_text('[parse]\nout_of_range = "drop"\n')
    engine = start_engine(
        "--config", str(config), "--retention", "2h", "--receivers", "1", "--parsers", "1", name="skew-drop"
    )
    url = engine.url
    send_tcp(
        engine.ports["syslog_tcp"],
        line(time.time() - 365 * DAY, "t=skew from a year ago")
        + line(time.time() + 7 * DAY, "t=skew from a week ahead")
        + line(time.time(), "t=skew on time"),
    )
    assert wait_written(url, 1) == 1
    assert wait_until(lambda: metric(url, "logjet_dropped_messages_total", reason="too_new") == 1)
    assert metric(url, "logjet_dropped_messages_total", reason="too_old") == 1
    assert [r["message"] for r in query(url, "t:skew")] == ["t=skew on time"]
    assert metric(url, "logjet_received_messages_total", protocol="tcp") == 3
    assert metric(url, "logjet_time_adjusted_total") == 0
