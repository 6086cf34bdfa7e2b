"""Alert matching inside the parser: rows carry the rules they matched, `where` and `query` rules
filter with the query engine, and per-(rule, group) counts reach the evaluator's ring."""

from __future__ import annotations

import time

import msgspec
import pytest

from engine.alert import snapshot
from engine.alert.ingest_alerts import IngestAlerts
from engine.alert.rules import parse_rules
from engine.ipc.raw_batch import RawBatch, raw_batch_of
from engine.ipc.record_kinds import KIND_ALERT_COUNTS
from engine.config import Parse
from engine.metrics import MetricsFile, read_all
from engine.parse.batch_parser import BatchParser
from engine.query.render import row_objects
from engine.ipc.ring import Ring, RingConsumer, RingProducer
from engine.store.rows import KV_ALERT
from engine.write.intake import RingIntake

RULES = b"""
[[rules]]
name = "segv"
pattern = 'segfault at [0-9a-f]+'
group_by = ["host"]
[[rules]]
name = "ssh"
pattern = 'Failed password'
where = "app:sshd"
[[rules]]
name = "disk"
query = 'app:kernel AND "I/O error"'
[[rules]]
name = "quiet"
pattern = 'never ever matches this'
"""

FRAMES = [
    b"<13>Oct 11 22:14:15 web1 kernel: app[1]: segfault at 7f00 ip 0 sp 0",
    b"<13>Oct 11 22:14:15 web2 kernel: segfault at dead ip 0 sp 0",
    b"<13>Oct 11 22:14:15 web2 kernel: segfault at beef ip 0 sp 0",
    b"<13>Oct 11 22:14:15 web1 sshd[7]: Failed password for root from 10.0.0.1",
    b"<13>Oct 11 22:14:15 web1 notsshd[7]: Failed password for root from 10.0.0.1",
    b"<13>Oct 11 22:14:15 db1 kernel: sd 0:0: I/O error, dev sda segfault at 1",
    b'{"msg": "all fine", "host": "web3", "level": "info"}',
    b"<13>Oct 11 22:14:15 web1 sshd[7]: Accepted password for bob k=v",
]


def _raw(frames: list[bytes], recv_ns: int) -> RawBatch:
    return raw_batch_of(frames, recv_ns)


@pytest.fixture
def setup(tmp_path):
    from engine.alert.snapshot import Snapshot, compiled_database

    rs = parse_rules(RULES)
    snap = str(tmp_path / "alerts.snapshot")
    snapshot.write(snap, Snapshot(1, RULES, "rules.toml", compiled_database(rs, str(tmp_path))))
    Ring.create(str(tmp_path / "a.ring"), 1 << 16)
    metrics = MetricsFile(str(tmp_path / "p.metrics"))
    alerts = IngestAlerts(snap, metrics, RingProducer(str(tmp_path / "a.ring")))
    assert alerts.load()
    return alerts, RingConsumer(str(tmp_path / "a.ring")), tmp_path


def test_rows_carry_their_rules_and_counts_reach_the_ring(setup):
    alerts, ring, tmp_path = setup
    parser = BatchParser(Parse(), alerts)
    recv = time.time_ns()
    batch = parser.parse(_raw(FRAMES, recv))
    # Rows as the writer sees them: the dictionaries from the header, values rendered.
    rows = RingIntake().decode(batch.encode())[1]
    objs = row_objects(rows)
    assert [o.get("_alerts", []) for o in objs] == [["segv"], ["segv"], ["segv"], ["ssh"], [], ["segv", "disk"], [], []]
    assert objs[7]["fields"] == {"k": "v"}  # a row's own fields are kept beside the alerts
    assert int((batch.kv_kind == KV_ALERT).sum()) == 6

    rec = ring.read()
    assert rec.kind == KIND_ALERT_COUNTS
    recv_ns, entries = msgspec.msgpack.decode(rec.payload)
    assert recv_ns == recv
    by_rule = {e[0]: (e[2], e[3]) for e in entries}
    assert sorted(zip(*by_rule["segv"])) == [(["db1"], 1), (["web1"], 1), (["web2"], 2)]
    assert by_rule["ssh"] == ([[]], [1])
    assert by_rule["disk"] == ([[]], [1])
    assert "quiet" not in by_rule
    samples = read_all([str(tmp_path / "p.metrics")])
    assert samples[("alert_matches_total", (("rule", "segv"),))] == 4


def test_a_batch_that_matches_nothing_sends_nothing(setup):
    alerts, ring, _ = setup
    parser = BatchParser(Parse(), alerts)
    batch = parser.parse(_raw([b"<13>Oct 11 22:14:15 h app: hello"] * 50, time.time_ns()))
    assert ring.read() is None
    assert not (batch.kv_kind == KV_ALERT).any()


def test_a_full_ring_drops_and_counts_without_blocking(setup):
    alerts, ring, tmp_path = setup
    parser = BatchParser(Parse(), alerts)
    for _ in range(2000):  # far more records than 64 KiB holds; nobody reads them
        parser.parse(_raw(FRAMES[:1], time.time_ns()))
    samples = read_all([str(tmp_path / "p.metrics")])
    assert samples[("alert_count_records_dropped_total", (("reason", "ring_full"),))] > 0


def test_reload_picks_up_a_new_generation(setup):
    alerts, _, tmp_path = setup
    from engine.alert.snapshot import Snapshot

    snapshot.write(alerts.path, Snapshot(2, b'[[rules]]\nname = "x"\nquery = "app:kernel"\n', "r.toml", b""))
    assert alerts.load()
    assert [r.name for r in alerts.rules.rules] == ["x"] and alerts.matcher is None
    parser = BatchParser(Parse(), alerts)
    batch = parser.parse(_raw(FRAMES, time.time_ns()))
    assert int((batch.kv_kind == KV_ALERT).sum()) == 4


def test_the_counts_record_is_what_the_evaluator_reads(setup):
    from engine.alert.evaluate import Evaluator
    from engine.alert.model import decode_counts
    from engine.alert.notify import Notifiers
    from engine.alert.silences import Silences

    alerts, ring, _ = setup
    recv = time.time_ns()
    BatchParser(Parse(), alerts).parse(_raw(FRAMES, recv))
    recv_ns, entries = decode_counts(ring.read().payload)  # as the API worker decodes it
    assert recv_ns == recv
    by_rule = {name: (keys, counts) for name, _, keys, counts in entries}
    assert sorted(zip(*by_rule["segv"])) == [(["db1"], 1), (["web1"], 1), (["web2"], 2)]
    ev = Evaluator(Notifiers({}, lambda *outcome: None), Silences(None))
    ev.set_rules(alerts.rules, recv)
    ev.add_counts((recv_ns, entries))
    ev.tick(recv)
    assert sorted({a["rule"] for a in ev.firing(recv)}) == ["disk", "segv", "ssh"]


def test_a_full_ring_without_metrics_drops_quietly(tmp_path):
    from engine.alert.snapshot import Snapshot, compiled_database

    snap = str(tmp_path / "alerts.snapshot")
    snapshot.write(snap, Snapshot(1, RULES, "rules.toml", compiled_database(parse_rules(RULES), str(tmp_path))))
    Ring.create(str(tmp_path / "a.ring"), 1 << 12)
    alerts = IngestAlerts(snap, None, RingProducer(str(tmp_path / "a.ring")))
    assert alerts.load()
    parser = BatchParser(Parse(), alerts)
    for _ in range(200):  # more records than 4 KiB holds; nobody reads them
        parser.parse(_raw(FRAMES[:1], time.time_ns()))


@pytest.mark.parametrize("drop", [False, True], ids=["adjust", "drop"])
def test_rows_with_a_clock_a_year_off_still_count(setup, drop):
    """Alerts count rows as they arrive, whatever their time: adjusted rows and dropped ones too."""
    from engine.parse.time_bounds import TimeBounds

    alerts, ring, _ = setup
    recv = time.time_ns()
    year_ago = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(recv / 1e9 - 365 * 86400))
    frames = [f"<13>1 {year_ago} web1 kernel - - - segfault at 7f00 ip 0".encode()] * 3
    bounds = TimeBounds(retention_ns=7 * 86400 * 10**9, max_future_ns=86400 * 10**9, drop=drop)
    batch = BatchParser(Parse(), alerts, bounds).parse(_raw(frames, recv))
    assert batch.out_of_range == (3, 0) and batch.rows == (0 if drop else 3)
    recv_ns, entries = msgspec.msgpack.decode(ring.read().payload)
    assert recv_ns == recv
    assert {e[0]: e[3] for e in entries} == {"segv": [3]}
