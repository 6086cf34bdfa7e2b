"""The inline answer from block counts (engine.query.quick) equals the usual run's and a
brute-force count, and is refused (None) wherever its work could not be proven small: real
parts written with the real index builder."""

from __future__ import annotations

import pytest

from engine.query.catalog import Catalog
from engine.query.errors import QueryError
from engine.query.execute import PreparedQuery
from engine.query.limits import Deadline, QueryTimeout
from engine.query.quick import quick_answer
from tests.engine.query.test_block_counts import FILTERS, STAGES, T0, _brute, _canon, store  # noqa: F401


def _loaded(data: str) -> Catalog:
    """The catalog of `data` once a usual run opened its parts and loaded their block counts."""
    catalog = Catalog(data)
    list(PreparedQuery("* | stats count() by (host)").objects(catalog))
    return catalog


@pytest.mark.parametrize("flt", FILTERS, ids=[f[0] for f in FILTERS])
def test_quick_answers_equal_the_usual_run(store, flt):  # noqa: F811 - the fixture
    data, recs = store
    catalog = _loaded(data)
    matches = [r for r in recs if flt[1](r)]
    for stage in STAGES:
        text = f"{flt[0]} {stage}"
        quick = quick_answer(PreparedQuery(text), catalog, Deadline(60))
        assert quick is not None, stage
        got = [o for chunk in quick for o in chunk]
        assert got == list(PreparedQuery(text).objects(catalog)), stage
        assert _canon(got) == _canon(_brute(stage, matches)), stage


def test_a_time_range_within_blocks_is_read_the_usual_way(store):  # noqa: F811
    data, _ = store
    catalog = _loaded(data)
    whole = quick_answer(PreparedQuery("* | stats count()", T0, T0 + 10**15), catalog, None)
    assert whole == [[{"count()": 3000}]]
    assert quick_answer(PreparedQuery("* | stats count()", T0 + 300 * 10**6, T0 + 2_700 * 10**6), catalog, None) is None


@pytest.mark.parametrize(
    "text",
    [
        "sshd | stats count()",  # a message word: blocks must be read
        "msgid:id7 | stats count()",  # a dictionary column without block counts
        "* | stats count() by (msgid)",
        "* | stats count() by (host, severity)",  # up to 9 x 256 groups: too many to make inline
        "* | stats count(), max(severity) by (host)",  # not a count
        "* | sort by (_time) | limit 5 | stats count()",
        "app:sshd",  # rows
        "* | extract 'm <n>' | stats count() by (n)",
    ],
)
def test_what_block_counts_cannot_prove_small_is_refused(store, text):  # noqa: F811
    data, _ = store
    assert quick_answer(PreparedQuery(text), _loaded(data), None) is None


def test_parts_not_open_or_counts_not_loaded_are_refused(store):  # noqa: F811
    data, _ = store
    catalog = Catalog(data)
    assert quick_answer(PreparedQuery("* | stats count()"), catalog, None) is None  # nothing open
    catalog.scopes()  # open, the block counts not read yet
    assert quick_answer(PreparedQuery("* | stats count()"), catalog, None) is None
    list(PreparedQuery("* | stats count()").objects(catalog))
    assert quick_answer(PreparedQuery("* | stats count()"), catalog, None) == [[{"count()": 3000}]]


def test_past_the_deadline_and_past_the_group_cap_it_raises(store):  # noqa: F811
    data, _ = store
    catalog = _loaded(data)
    with pytest.raises(QueryTimeout):
        quick_answer(PreparedQuery("* | stats count()"), catalog, Deadline(0))
    with pytest.raises(QueryError, match="query.max_groups"):
        quick_answer(PreparedQuery("* | stats count() by (host)", max_groups=2), catalog, None)
