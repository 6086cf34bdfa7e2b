"""What the stages that make fields cost: each next to the column query that answers the same
from stored fields, on the same 200k generated rows (bench.query's data: generated traffic
through the engine's parser, flushed and merged as the writer would).

Run with `--benchmark-enable` (pytest-benchmark); under plain `make test` each runs once, as a
smoke test that the two answers agree. Groups pair a stage with its column peer, so the ratio
of medians is the price of working on rendered rows instead of columns.
"""

from __future__ import annotations

import pytest

from bench.query import load_or_make
from engine.query.catalog import Catalog
from engine.query.execute import PreparedQuery

pytestmark = pytest.mark.slow  # makes 200k rows, then microbenchmarks

ROWS = 200_000

# group: (the column query, the same answer through a field-making stage)
PAIRS = {
    "objects": ("* | stats count() by (app)", "* | filter * | stats count() by (app)"),
    # no stored field holds the user of these lines: the peer groups the same rows by host
    "extract": (
        'app:sshd "Failed password" | stats count() by (host)',
        'app:sshd "Failed password" | extract "Failed password for <user> from " | stats count() by (user)',
    ),
    "logfmt": (
        "status:* | stats count() by (status)",
        "status:* | unpack_logfmt fields (status) | stats count() by (status)",
    ),
    "math": ("* | stats max(duration_ms)", "* | math duration_ms * 1 as d | stats max(d) as max(duration_ms)"),
    "filter": ("status:>=500 | stats count()", "status:* | filter status:>=500 | stats count()"),
}


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    data = str(tmp_path_factory.mktemp("stages-bench"))
    load_or_make(data, ROWS, 1, log=lambda m: None)
    return Catalog(data)


def _run(catalog: Catalog, q: str) -> list[dict]:
    return list(PreparedQuery(q).objects(catalog))


@pytest.mark.parametrize("group", sorted(PAIRS))
@pytest.mark.parametrize("side", ["columns", "stage"])
def test_bench_stage_beside_columns(benchmark, catalog, group, side):
    columns, stage = PAIRS[group]
    want = _run(catalog, columns)
    benchmark.group = group
    got = benchmark.pedantic(_run, args=(catalog, columns if side == "columns" else stage), rounds=7, warmup_rounds=1)
    if group == "extract":  # the same rows, grouped otherwise
        assert sum(o["count()"] for o in got) == sum(o["count()"] for o in want) > 0
        assert all(o["user"] for o in got if side == "stage")
    else:
        assert got == want and got
