"""Query limits below HTTP: the concurrency gate, the `limit` a request may ask for, the response
byte budget, deadlines inside a run, the default row limit, and the group cap over real parts."""

from __future__ import annotations

import re
import threading
import time

import pytest

from engine.query.catalog import Catalog
from engine.query.execute import PreparedQuery
from engine.query.limits import (
    Deadline,
    Gate,
    LimitParamError,
    QueryTimeout,
    ResponseBudget,
    TooManyGroups,
    requested_limit,
)


def test_gate_refuses_past_its_capacity_and_tells_when_idle():
    idle: list[int] = []
    gate = Gate(2, on_idle=lambda: idle.append(gate.held))
    assert gate.try_enter() and gate.try_enter()
    assert not gate.try_enter()  # refused at once, never waits
    gate.leave()
    assert idle == [] and gate.try_enter()
    gate.leave()
    gate.leave()
    assert idle == [0] and gate.held == 0
    with pytest.raises(RuntimeError):
        gate.leave()
    with pytest.raises(ValueError):
        Gate(0)


def test_gate_holds_across_threads():
    gate = Gate(3)
    entered: list[bool] = []
    barrier = threading.Barrier(16)

    def enter() -> None:
        barrier.wait()
        entered.append(gate.try_enter())

    threads = [threading.Thread(target=enter) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert entered.count(True) == 3 and gate.held == 3


def test_requested_limit():
    assert requested_limit(None, 10) is None
    assert requested_limit("", 10) is None
    assert requested_limit("0", 10) == 0
    assert requested_limit("10", 10) == 10
    with pytest.raises(LimitParamError, match=r"limit: 11 is more than query.max_rows_limit = 10"):
        requested_limit("11", 10)
    for bad in ("-1", "1.5", "ten", " 3"):
        with pytest.raises(LimitParamError, match="expected a whole number"):
            requested_limit(bad, 10)


def test_response_budget_passes_whole_lines_while_they_fit():
    budget = ResponseBudget(9)
    assert budget.take(b"abc\n") == (b"abc\n", False)
    assert budget.take(b"de\nfg\n") == (b"de\n", True)  # "fg\n" would make 10
    assert budget.sent == 7
    assert budget.take(b"hi\n") == (b"", True)
    assert "query.max_response_bytes = 9" in budget.error() and "after 7 bytes" in budget.error()
    assert ResponseBudget(4).take(b"abcdef\n") == (b"", True)  # not one line fits
    assert ResponseBudget(7).take(b"abcdef\n") == (b"abcdef\n", False)


def test_deadline():
    d = Deadline(10.0)
    d.check()
    assert 9.0 < d.left() <= 10.0
    past = Deadline(0.5, started=time.monotonic() - 1.25)
    with pytest.raises(QueryTimeout) as err:
        past.check()
    assert re.fullmatch(r"query timed out after 1\.[23] s \(query\.timeout\)", err.value.message)
    assert past.left() < 0


def _run(data_dir: str, query: str, **kw: object) -> list[dict]:
    return list(PreparedQuery(query, **kw).objects(Catalog(data_dir)))  # type: ignore[arg-type]


def test_default_limit_cuts_rows_but_not_aggregations(data_dir):
    assert [o["msgid"] for o in _run(data_dir, "*", default_limit=2)] == ["r7", "r6"]  # the newest
    assert [o["msgid"] for o in _run(data_dir, "* | sort by (msgid)", default_limit=2)] == ["r1", "r2"]
    assert len(_run(data_dir, "*", limit=3, default_limit=2)) == 3  # a given limit wins
    assert len(_run(data_dir, "* | stats count() by (msgid)", default_limit=2)) == 7
    assert len(_run(data_dir, "* | stats count() by (msgid)", limit=2, default_limit=5)) == 2


def test_a_run_stops_between_blocks_past_its_deadline(data_dir):
    for query in ("*", "* | stats count() by (host)", "* | sort by (msgid)"):
        with pytest.raises(QueryTimeout):
            list(PreparedQuery(query).chunks(Catalog(data_dir), Deadline(0.0)))
        assert list(PreparedQuery(query).chunks(Catalog(data_dir), Deadline(60.0)))
    # Rows stream block by block (blocks of 2 rows here): the first chunk is out, then time is up.
    run = PreparedQuery("*").chunks(Catalog(data_dir), Deadline(0.2))
    assert next(run)
    time.sleep(0.25)
    with pytest.raises(QueryTimeout):
        list(run)


@pytest.mark.parametrize(
    "query, what",
    [
        ("* | stats count() by (host)", "stats by (host)"),  # 4 hosts
        ("* | stats count(), max(duration_ms) by (msgid)", "stats by (msgid)"),
        ("* | stats count() by (user)", "stats by (user)"),  # a field key: root, alice, ""
        ("* | stats count() by (app, severity)", "stats by (app, severity)"),
        ("* | top 2 by (app)", "top by (app)"),
        ("* | stats count_uniq(msgid)", "count_uniq(msgid)"),
        ("* | histogram(1s)", "histogram(1s)"),
    ],
)
def test_group_cap_stops_the_query_naming_the_fields(data_dir, query, what):
    with pytest.raises(TooManyGroups) as err:
        _run(data_dir, query, max_groups=2)
    assert err.value.message.startswith(f"{what} holds more than 2 groups (query.max_groups)")
    stage = next(w for w in ("stats", "top", "histogram") if w in query)
    assert err.value.position == query.index(stage)
    assert _run(data_dir, query, max_groups=100) == _run(data_dir, query)


def test_group_cap_counts_only_values_of_selected_rows(data_dir):
    # The parts' host dictionaries hold more hosts than the two that sshd rows have.
    assert _run(data_dir, "app:sshd | stats count() by (host)", max_groups=2) == [
        {"host": "web-1", "count()": 1},
        {"host": "web-2", "count()": 1},
    ]
    assert _run(data_dir, "* | stats count() by (severity)", max_groups=5)  # fixed width: nothing held
