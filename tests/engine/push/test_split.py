"""engine/push/split.py: a request cut into pieces makes, piece after piece, the very frames (so
the rows) of the whole request, for any number of pieces and any grouping of records."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from engine.push import otlp
from engine.push.loki import LokiDecoder
from engine.push.proto import push_pb2
from engine.push.split import loki_pieces, otlp_pieces

NOW = 1_700_000_000 * 10**9


def _otlp(groups: list[list[int]]) -> ExportLogsServiceRequest:
    """A request with one ResourceLogs per outer list, one ScopeLogs per inner count of records."""
    req = ExportLogsServiceRequest()
    k = 0
    for r, scopes in enumerate(groups):
        rl = req.resource_logs.add(schema_url=f"https://schema/{r}")
        rl.resource.attributes.add(key="service.name").value.string_value = f"svc{r}"
        for s, n in enumerate(scopes):
            sl = rl.scope_logs.add(schema_url="scope-schema")
            sl.scope.name = f"scope{r}.{s}"
            for _ in range(n):
                rec = sl.log_records.add(time_unix_nano=NOW + k, severity_number=9)
                rec.body.string_value = f"record {k}"
                rec.attributes.add(key="k").value.int_value = k
                k += 1
    return req


def _loki(streams: list[int]) -> push_pb2.PushRequest:
    req = push_pb2.PushRequest()
    k = 0
    for s, n in enumerate(streams):
        stream = req.streams.add(labels=f'{{app="app{s}", env="e"}}')
        for _ in range(n):
            entry = stream.entries.add(line=f"entry {k}")
            entry.timestamp.seconds, entry.timestamp.nanos = divmod(NOW + k, 10**9)
            entry.structuredMetadata.add(name="k", value=str(k))
            k += 1
    return req


def _frames(frames) -> list[bytes]:
    buf, starts, ends, _ = frames.packed(1 << 16)
    return [bytes(buf[s:e]) for s, e in zip(starts.tolist(), ends.tolist())]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 7), min_size=1, max_size=3), min_size=1, max_size=4), st.integers(1, 9))
def test_otlp_pieces_make_the_frames_of_the_whole(groups, pieces):
    req = _otlp(groups)
    total = sum(map(sum, groups))
    pieces = min(pieces, max(1, total))
    got = otlp_pieces(req, pieces)
    assert len(got) == pieces
    want = _frames(otlp.protobuf(req.SerializeToString(), NOW))
    assert [f for piece in got for f in _frames(otlp.protobuf(piece, NOW))] == want
    counts = [(otlp.parser_check(piece, 1 << 16) or (0, 0))[0] for piece in got]
    assert sum(counts) == total and max(counts) - min(counts) <= 1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 9), min_size=1, max_size=5), st.integers(1, 9))
def test_loki_pieces_make_the_frames_of_the_whole(streams, pieces):
    req = _loki(streams)
    total = sum(streams)
    pieces = min(pieces, max(1, total))
    got = loki_pieces(req, pieces)
    assert len(got) == pieces
    decoder = LokiDecoder()
    want = _frames(decoder.protobuf(req.SerializeToString(), NOW))
    assert [f for piece in got for f in _frames(decoder.protobuf(piece, NOW))] == want
    sizes = [sum(len(s.entries) for s in push_pb2.PushRequest.FromString(p).streams) for p in got]
    assert sum(sizes) == total and max(sizes) - min(sizes) <= 1
