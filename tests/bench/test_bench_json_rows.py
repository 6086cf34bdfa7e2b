"""Micro-benchmark of `decode_json_rows` per 10,000-row batch: the shape plans beside the general
path (`fast=False`), on flat NDJSON rows, Filebeat/ECS documents, and the frames engine.push makes
of Loki and OTLP bodies. Run with `make bench-kernels` (pytest-benchmark) and compare the two
paths' medians in one invocation; nothing is asserted about time."""

from __future__ import annotations

import numpy as np
import pytest

from bench import generate, push_bodies
from engine.parse.json_rows import decode_json_rows
from engine.push import otlp
from engine.push.bodies import unsnappy
from engine.push.loki import LokiDecoder

pytestmark = pytest.mark.slow  # microbenchmarks; under make test each runs once, as a smoke test

N = 10_000


def _packed(frames: list[bytes]) -> tuple[bytes, np.ndarray, np.ndarray]:
    lens = np.fromiter(map(len, frames), np.int64, len(frames))
    ends = np.cumsum(lens)
    return b"".join(frames), ends - lens, ends


def _pushed(proto: str, lines: list[bytes]) -> list[bytes]:
    frames: list[bytes] = []
    for k in range(0, len(lines), 1000):  # requests of 1,000 entries, as the ingest bench sends
        body = push_bodies.body(proto, b"\n".join(lines[k : k + 1000]) + b"\n")
        got = LokiDecoder().protobuf(unsnappy(body, 1 << 26)) if proto == "loki" else otlp.protobuf(body)
        frames += got.items
    return frames


@pytest.fixture(scope="module")
def batches():
    lines = generate.json_messages(N, seed=42)
    return {
        "ndjson": _packed(lines),
        "ecs": _packed(generate.ecs_documents(N, seed=42)),
        "loki": _packed(_pushed("loki", lines)),
        "otlp": _packed(_pushed("otlp", lines)),
    }


@pytest.mark.parametrize("path", ["plans", "general"])
@pytest.mark.parametrize("case", ["ndjson", "ecs", "loki", "otlp"])
def test_decode_json_rows(benchmark, batches, case, path):
    buf, starts, ends = batches[case]
    rows = benchmark(decode_json_rows, buf, starts, ends, 0, fast=path == "plans")
    assert rows.ok.all() and len(rows.ok) == N
