"""The evaluator over explicit clocks: thresholds in sliding windows, groups, absence, silences,
repeats, and reloads that keep what unchanged rules counted. Notifications go through the real
notifiers into an NDJSON file."""

from __future__ import annotations

import asyncio
import json

import pytest

from engine.alert.evaluate import Evaluator, render_template
from engine.alert.notify import Notifiers
from engine.alert.rules import parse_rules
from engine.alert.silences import SilenceError, Silences

S = 10**9
T0 = 1_800_000_000 * S

BASE = """
[settings]
repeat_interval = "1h"
resend_interval = "1m"
[notifiers.f]
type = "file"
path = "{path}"
"""


def _rules(path, body):
    return parse_rules((BASE.format(path=path) + body).encode())


def _run(tmp_path, body, steps, silences=None):
    """Feed `steps` [(t, record or None)] with a tick after each; returns the file's lines and
    the evaluator."""
    out = tmp_path / "alerts.ndjson"

    async def go():
        n = Notifiers({}, lambda *a: None)
        await n.start()
        ev = Evaluator(n, silences or Silences(None))
        rs = _rules(out, body)
        await n.reload(dict(rs.notifiers))
        ev.set_rules(rs, T0)
        for t, rec in steps:
            if rec is not None:
                ev.add_counts(rec)
            ev.tick(t)
        await n.close(5)
        return ev

    ev = asyncio.run(go())
    lines = [json.loads(x) for x in out.read_text().splitlines()] if out.exists() else []
    return lines, ev


def _rec(t, rule, digest, groups, counts):
    return [t, [[rule, digest, groups, counts]]]


THRESHOLD = """
[[rules]]
name = "ssh"
pattern = "Failed password"
threshold = 3
window = "1m"
group_by = ["host"]
annotations = { summary = "{{ $value }} failures on {{ $labels.host }}" }
"""


def test_threshold_fires_once_per_group_and_resolves_when_the_window_empties(tmp_path):
    d = _rules(tmp_path / "x", THRESHOLD).rules[0].digest
    steps = [
        (T0 + 1 * S, _rec(T0 + 1 * S, "ssh", d, [["a"], ["b"]], [2, 1])),  # a: 2 (below), b: 1
        (T0 + 2 * S, _rec(T0 + 2 * S, "ssh", d, [["a"]], [1])),  # a: 3 → fires
        (T0 + 3 * S, _rec(T0 + 3 * S, "ssh", d, [["a"]], [5])),  # still firing: no repeat
        (T0 + 30 * S, None),
        (T0 + 63 * S, None),  # only the t+3 bucket left: 5
        (T0 + 64 * S, None),  # window empty → resolved
    ]
    lines, ev = _run(tmp_path, THRESHOLD, steps)
    assert [(x["status"], x["labels"]["host"]) for x in lines] == [("firing", "a"), ("resolved", "a")]
    first = lines[0]
    assert first["labels"] == {"alertname": "ssh", "severity": "warning", "host": "a"}
    assert first["annotations"] == {"summary": "3 failures on a"}
    assert first["startsAt"].startswith("2027-01-15T08:00:02")
    assert lines[1]["endsAt"] is not None
    assert ev.firing(T0 + 64 * S) == []


def test_absence_fires_after_a_silent_window_and_resolves_on_a_match(tmp_path):
    body = '[[rules]]\nname = "cron"\nquery = "app:CRON"\nabsent = true\nwindow = "10m"\n'
    d = _rules(tmp_path / "x", body).rules[0].digest
    steps = [
        (T0 + 599 * S, None),  # not yet 10 minutes
        (T0 + 600 * S, None),  # fires
        (T0 + 601 * S, _rec(T0 + 601 * S, "cron", d, [[]], [1])),  # a match: resolved
        (T0 + 1000 * S, None),  # quiet again, not for 10m yet
    ]
    lines, _ = _run(tmp_path, body, steps)
    assert [x["status"] for x in lines] == ["firing", "resolved"]


def test_a_silence_mutes_and_its_end_lets_the_alert_through(tmp_path):
    sil = Silences(str(tmp_path / "sil.json"))
    s = sil.add(
        json.dumps(
            {"matchers": [{"name": "host", "value": "a"}], "startsAt": str(T0 // S), "endsAt": str(T0 // S + 10)}
        ).encode(),
        now_ns=T0,
    )
    body = '[[rules]]\nname = "boom"\npattern = "boom"\ngroup_by = ["host"]\nwindow = "1h"\n'
    d = _rules(tmp_path / "x", body).rules[0].digest
    steps = [
        (T0 + 1 * S, _rec(T0 + 1 * S, "boom", d, [["a"], ["b"]], [1, 1])),
        (T0 + 5 * S, None),
        (T0 + 11 * S, None),  # the silence is over
    ]
    lines, ev = _run(tmp_path, body, steps, sil)
    assert [(x["labels"]["host"], x["time"] >= "") for x in lines] == [("b", True), ("a", True)]
    assert Silences(str(tmp_path / "sil.json")).items[s.id].matchers[0].value == "a"  # persisted


def test_alertmanager_style_resend_and_repeat_interval(tmp_path):
    body = '[[rules]]\nname = "boom"\npattern = "boom"\nwindow = "24h"\n'
    d = _rules(tmp_path / "x", body).rules[0].digest
    steps = [(T0 + 1 * S, _rec(T0 + 1 * S, "boom", d, [[]], [1]))] + [(T0 + k * 600 * S, None) for k in range(1, 8)]
    lines, _ = _run(tmp_path, body, steps)
    # A file notifier hears it fire, then again after repeat_interval (1h), not every tick.
    assert [x["status"] for x in lines] == ["firing", "firing"]


def test_reload_keeps_counts_of_unchanged_rules_and_resolves_removed_ones(tmp_path):
    out = tmp_path / "alerts.ndjson"
    two = THRESHOLD + '[[rules]]\nname = "boom"\npattern = "boom"\n'

    async def go():
        n = Notifiers({}, lambda *a: None)
        await n.start()
        ev = Evaluator(n, Silences(None))
        rs = _rules(out, two)
        await n.reload(dict(rs.notifiers))
        ev.set_rules(rs, T0)
        by = rs.by_name()
        ev.add_counts(_rec(T0 + S, "ssh", by["ssh"].digest, [["a"]], [2]))
        ev.add_counts(_rec(T0 + S, "boom", by["boom"].digest, [[]], [1]))
        ev.tick(T0 + S)
        # Reload: ssh unchanged, boom removed, a new rule added.
        rs2 = _rules(out, THRESHOLD + '[[rules]]\nname = "new"\npattern = "new"\n')
        ev.set_rules(rs2, T0 + 2 * S)
        ev.add_counts(_rec(T0 + 2 * S, "ssh", by["ssh"].digest, [["a"]], [1]))  # 2 + 1 = 3: fires
        ev.tick(T0 + 3 * S)
        await n.close(5)
        return ev

    ev = asyncio.run(go())
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [(x["rule"], x["status"]) for x in lines] == [("boom", "firing"), ("boom", "resolved"), ("ssh", "firing")]
    assert [a["rule"] for a in ev.firing(T0 + 3 * S)] == ["ssh"]


def test_counts_from_an_older_definition_are_ignored(tmp_path):
    lines, ev = _run(tmp_path, THRESHOLD, [(T0 + S, _rec(T0 + S, "ssh", "0" * 16, [["a"]], [99]))])
    assert lines == [] and ev.firing(T0 + S) == []


def test_templates():
    assert render_template("{{ $value }} on {{$labels.host}}{{ $labels.none }}", {"host": "h"}, 3.0) == "3 on h"
    assert render_template("{{ $value }}", {}, 2.5) == "2.5"


MATCHER = b'{"name": "host", "value": "web1"}'


@pytest.mark.parametrize(
    "body, needle",
    [
        (b"{}", "matchers"),
        (b'{"matchers": []}', "at least one matcher"),
        (b'{"matchers": [{"name": "a", "value": "("}], "isRegex": true}', "bad silence"),
        (b'{"matchers": [{"name": "a", "value": "(", "isRegex": true}], "duration": "1h"}', "bad regex"),
        (b'{"matchers": [{"name": "a", "value": "x"}]}', "endsAt or duration"),
        (b'{"matchers": [{"name": "a", "value": "x"}], "endsAt": "2001-01-01T00:00:00Z"}', "in the future"),
        (b"not json", "bad silence"),
        (b'{"matchers": [%s], "duration": "1h"}' % b",".join([MATCHER] * 101), "at most 100 matchers, not 101"),
        (b'{"matchers": [%s], "duration": "366d"}' % MATCHER, "within a year .365d. from now, not in 366 days"),
        (b'{"matchers": [%s], "endsAt": "2999-01-01T00:00:00Z"}' % MATCHER, "within a year"),
        (b'{"matchers": [%s], "startsAt": "2100-01-01T00:00:00Z", "duration": "1h"}' % MATCHER, "within a year"),
    ],
)
def test_bad_silences_are_refused(body, needle):
    with pytest.raises(SilenceError, match=needle):
        Silences(None).add(body)


def test_silences_up_to_the_bounds_are_taken():
    s = Silences(None).add(b'{"matchers": [%s], "duration": "365d"}' % b",".join([MATCHER] * 100), now_ns=T0)
    assert len(s.matchers) == 100 and s.endsAt - s.startsAt == 365 * 86400 * S


def test_silence_matchers_follow_alertmanager():
    sil = Silences(None)
    sil.add(
        b'{"matchers": [{"name": "host", "value": "web.*", "isRegex": true}, '
        b'{"name": "severity", "value": "info", "isEqual": false}], "duration": "1h"}',
        now_ns=T0,
    )
    assert sil.matching({"host": "web1", "severity": "critical"}, T0 + S)
    assert not sil.matching({"host": "xweb1", "severity": "critical"}, T0 + S)  # regexes are anchored
    assert not sil.matching({"host": "web1", "severity": "info"}, T0 + S)
    assert not sil.matching({"host": "web1", "severity": "critical"}, T0 + 3601 * S)


def test_groups_past_the_cap_are_dropped_and_counted(tmp_path, monkeypatch):
    from engine.alert import evaluate
    from engine.metrics import MetricsFile, read_all

    monkeypatch.setattr(evaluate, "MAX_GROUPS_PER_RULE", 3)
    body = '[[rules]]\nname = "by-port"\npattern = "refused"\ngroup_by = ["port"]\nthreshold = 2\n'
    rs = _rules(tmp_path / "x", body)
    metrics = MetricsFile(str(tmp_path / "api.metrics"))
    ev = Evaluator(None, Silences(None), metrics)
    ev.set_rules(rs, T0)
    d = rs.rules[0].digest
    ev.add_counts(_rec(T0 + S, "by-port", d, [[str(p)] for p in range(10)], [1] * 10))
    ev.add_counts(_rec(T0 + 2 * S, "by-port", d, [["0"], ["99"]], [1, 1]))  # a known group still counts
    st = ev.states["by-port"]
    assert sorted(st.groups) == [("0",), ("1",), ("2",)] and st.groups[("0",)].window.total(T0 + 2 * S, 60 * S) == 2
    assert read_all([str(tmp_path / "api.metrics")])[("alert_groups_dropped_total", (("rule", "by-port"),))] == 8


def test_for_keeps_an_alert_pending_until_the_condition_has_held_that_long(tmp_path):
    body = '[[rules]]\nname = "busy"\npattern = "x"\nthreshold = 2\nwindow = "1m"\nfor = "30s"\n'
    d = _rules(tmp_path / "x", body).rules[0].digest
    states = []

    async def go():
        n = Notifiers({}, lambda *a: None)
        await n.start()
        ev = Evaluator(n, Silences(None))
        rs = _rules(tmp_path / "alerts.ndjson", body)
        await n.reload(dict(rs.notifiers))
        ev.set_rules(rs, T0)
        ev.add_counts(_rec(T0 + S, "busy", d, [[]], [2]))
        for t in (1, 20, 31, 40):
            ev.tick(T0 + t * S)
            states.append([a["state"] for a in ev.firing(T0 + t * S)])
        await n.close(5)

    asyncio.run(go())
    assert states == [["pending"], ["pending"], ["firing"], ["firing"]]
    lines = [json.loads(x) for x in (tmp_path / "alerts.ndjson").read_text().splitlines()]
    assert [x["status"] for x in lines] == ["firing"] and lines[0]["startsAt"].endswith(":31.000Z")


def test_a_condition_that_breaks_off_resets_for(tmp_path):
    body = '[[rules]]\nname = "busy"\npattern = "x"\nthreshold = 2\nwindow = "10s"\nfor = "30s"\n'
    d = _rules(tmp_path / "x", body).rules[0].digest
    steps = [
        (T0 + S, _rec(T0 + S, "busy", d, [[]], [2])),
        (T0 + 20 * S, None),  # window empties at 11 s
        (T0 + 25 * S, _rec(T0 + 25 * S, "busy", d, [[]], [2])),
        (T0 + 50 * S, None),
    ]
    lines, ev = _run(tmp_path, body, steps)
    assert lines == [] and [a["state"] for a in ev.firing(T0 + 50 * S)] == []
