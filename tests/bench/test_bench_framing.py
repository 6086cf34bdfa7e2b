"""Microbenchmarks of the receiver's framing kernels, of `Framer` around them, and of the
per-batch metrics update, on one 256 KiB read buffer (`ingest.read_bytes`) of realistic syslog:
what a receiver does per read.

Run with `make bench-kernels`; under plain `make test` each runs once, as a smoke test. No
timing is asserted (speed is reported, never asserted). Every kernel is called once before timing (compilation).
"""

from __future__ import annotations

import numpy as np
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from bench import generate
from engine.metrics import MetricsFile
from engine.receive.framing import Framer
from native_kernels.framing import split_lf, split_octet
from native_kernels.timestamps import parse_rfc3339_spans

pytestmark = pytest.mark.slow  # microbenchmarks; under make test each runs once, as a smoke test

READ_BYTES = 256 * 1024
MAX_LEN = 65536


def _buffer(framing: str) -> tuple[np.ndarray, int]:
    msgs = generate.messages(4000, seed=3, rfc5424=True, now=1.7e9)
    stream = generate.frame(msgs, framing)[:READ_BYTES]
    return np.frombuffer(stream, np.uint8), len(msgs)


def test_bench_split_lf(benchmark):
    buf, _ = _buffer("lf")
    split_lf(buf, MAX_LEN)
    starts, ends, flags, consumed, _ = benchmark(split_lf, buf, MAX_LEN)
    assert len(starts) > 1000 and consumed <= len(buf)


def test_bench_split_octet(benchmark):
    buf, _ = _buffer("octet")
    split_octet(buf, MAX_LEN)
    starts, ends, flags, consumed, _, _ = benchmark(split_octet, buf, MAX_LEN)
    assert len(starts) > 1000 and consumed <= len(buf)


@pytest.mark.parametrize("framing", ["lf", "octet"])
def test_bench_framer_feed(benchmark: BenchmarkFixture, framing: str) -> None:
    # The per-read Python around the kernels: the same stream in 1500-byte reads (a segment each).
    buf, _ = _buffer(framing)
    stream = buf.tobytes()
    reads = [stream[i : i + 1500] for i in range(0, len(stream), 1500)]

    def feed_all() -> int:
        framer = Framer(MAX_LEN)
        return sum(len(framer.feed(read)[1]) for read in reads)

    feed_all()
    assert benchmark(feed_all) > 1000


def test_bench_rfc3339_spans(benchmark):
    # The timestamp field of each RFC 5424 frame of the buffer: "<PRI>1 TIMESTAMP ...".
    buf, _ = _buffer("lf")
    starts, ends, _, _, _ = split_lf(buf, MAX_LEN)
    ts_start = starts + np.array([bytes(buf[s : s + 8]).index(b" ") + 1 for s in starts.tolist()])
    ts_end = ts_start + 27
    parse_rfc3339_spans(buf, ts_start, ts_end)
    ns, ok = benchmark(parse_rfc3339_spans, buf, ts_start, ts_end)
    assert ok.all()


def test_bench_metrics_per_batch(benchmark, tmp_path):
    # What a writer flush adds to its metrics: counters plus one histogram over 100k rows.
    m = MetricsFile(str(tmp_path / "w.metrics"))
    rows, hist = m.counter("written_rows_total"), m.histogram("ingest_to_visible_seconds")
    latencies = np.random.default_rng(0).exponential(0.3, 100_000)

    def flush():
        rows.inc(len(latencies))
        hist.observe_many(latencies)

    benchmark(flush)
    assert rows.get() >= len(latencies)
