"""Microbenchmark of alert pattern matching: one parser batch of realistic messages against 10,
1,000 and 10,000 generated rules (`make bench-kernels`; a single smoke run under `make test`).
The figure to watch is ns per message against the parse cost of ~2-3 µs per message."""

import numpy as np
import pytest

from bench import generate
from bench.alert_rules import text as rules_text
from engine.alert.rules import compile_rules, parse_rules
from native_kernels.patterns import PatternMatcher

pytestmark = pytest.mark.slow  # microbenchmarks; under make test each runs once, as a smoke test

BATCH = 4096


@pytest.fixture(scope="module")
def batch():
    bodies = [m.split(b": ", 1)[-1] for m in generate.messages(BATCH, seed=3)]
    off = np.zeros(len(bodies) + 1, np.int64)
    np.cumsum([len(b) for b in bodies], out=off[1:])
    return off, np.frombuffer(b"".join(bodies), np.uint8)


@pytest.mark.parametrize("n", [10, 1000, 10000])
def test_bench_match_batch(benchmark, batch, n, tmp_path):
    if n == 10000 and not benchmark.enabled:
        pytest.skip("10,000 patterns take ~10 s to compile: only under make bench-kernels")
    rs = parse_rules(rules_text(n).encode())
    matcher = PatternMatcher(compile_rules(rs))
    off, data = batch
    found = matcher.match(off, data)
    assert len(found.rows) > 0  # the generated rules match some of the synthetic traffic
    benchmark(matcher.match, off, data)
