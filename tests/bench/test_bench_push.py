"""Micro-benchmark of the push routes' two stages per 1,000-entry request, beside NDJSON's.

Stage 1 (the API process): a Loki push (snappy protobuf, 8 streams) or an OTLP request
(protobuf, 8 resources) into frames, beside NDJSON cut into frames; `otlp-request` is what the
API does with an OTLP request of the common shape instead (checks it, counts its records).
Stage 2 (a parser): those frames parsed into a column batch by `BatchParser`; for
`otlp-request`, the request itself as one flagged frame (engine.parse.otlp_rows). The bodies are `logjet bench ingest
--proto loki|otlp|http`'s, built before timing. Run with `make bench-kernels` (pytest-benchmark);
nothing is asserted about time (speed is reported by benchmarks, never asserted)."""

from __future__ import annotations

import time

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from bench import generate, push_bodies
from engine.api.ingest_routes import frames_of
from engine.config import Parse
from engine.ipc.raw_batch import OTLP_REQUEST, raw_batch_of
from engine.parse.batch_parser import BatchParser
from engine.push import otlp
from engine.push.bodies import parse_protobuf, unsnappy
from engine.push.loki import LokiDecoder

pytestmark = pytest.mark.slow  # microbenchmarks; under make test each runs once, as a smoke test

N = 1000
MAX_LEN = 64 << 10


@pytest.fixture(scope="module")
def bodies():
    lines = generate.json_messages(N, seed=42)
    ndjson = b"\n".join(lines) + b"\n"
    return {"http": ndjson, "loki": push_bodies.body("loki", ndjson), "otlp": push_bodies.body("otlp", ndjson)}


def _frames(proto: str, body: bytes, loki: LokiDecoder) -> list[bytes]:
    if proto == "http":
        buf, starts, ends, _ = frames_of(body, MAX_LEN)
        return [buf[s:e] for s, e in zip(starts.tolist(), ends.tolist())]
    frames = loki.protobuf(unsnappy(body, 1 << 26)) if proto == "loki" else otlp.protobuf(body)
    return frames.items


@pytest.mark.parametrize("proto", ["http", "loki", "otlp", "otlp-request"])
def test_api_stage(benchmark, bodies, proto):
    body, loki = bodies[proto.removesuffix("-request")], LokiDecoder()
    if proto == "otlp-request":

        def check() -> int | None:
            parse_protobuf(ExportLogsServiceRequest(), body, otlp.REQUEST)
            checked = otlp.parser_check(body, MAX_LEN)
            return None if checked is None else checked[0]

        assert benchmark(check) == N
    elif proto == "http":
        result = benchmark(frames_of, body, MAX_LEN)
        assert len(result[1]) == N
    elif proto == "loki":
        result = benchmark(lambda: loki.protobuf(unsnappy(body, 1 << 26)).packed(MAX_LEN))
        assert len(result[1]) == N
    else:
        result = benchmark(lambda: otlp.protobuf(body).packed(MAX_LEN))
        assert len(result[1]) == N


@pytest.mark.parametrize("proto", ["http", "loki", "otlp", "otlp-request"])
def test_parser_stage(benchmark, bodies, proto):
    if proto == "otlp-request":
        raw = raw_batch_of([bodies["otlp"]], time.time_ns(), protocol=2, flags=OTLP_REQUEST)
    else:
        raw = raw_batch_of(_frames(proto, bodies[proto], LokiDecoder()), time.time_ns(), protocol=2)
    parser = BatchParser(Parse())
    batch = benchmark(parser.parse, raw)
    assert batch.fallback == 0 and len(batch.time) == N
