"""engine/parse/loki_rows.py: a Loki push request frame parsed straight to columns gives the column
batch, byte for byte, that the general path gives (engine.push.loki's JSON frames through the JSON
row decoder, the oracle); what the shortcut does not take goes the general path."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import generate, push_bodies
from engine.ipc.raw_batch import LOKI_REQUEST
from engine.parse.loki_rows import loki_rows, warm_up_request
from engine.push.bodies import unsnappy
from engine.push.loki import LokiDecoder
from engine.push.proto import push_pb2
from engine.store.rows import ROW_PARSE_FALLBACK
from tests.engine.parse.column_batches import MAX_LEN, NOW, assert_same_both_ways, flagged_batch


def _flagged(body: bytes, max_len: int = MAX_LEN):
    return flagged_batch(body, LOKI_REQUEST, max_len)


def assert_same(body: bytes, max_len: int = MAX_LEN) -> None:
    assert_same_both_ways(LokiDecoder().protobuf, body, LOKI_REQUEST, max_len)


def test_the_bench_requests_take_the_shortcut_and_match():
    lines = generate.json_messages(3000, seed=7)
    for k in range(0, 3000, 1000):
        snappy = push_bodies.body("loki", b"\n".join(lines[k : k + 1000]) + b"\n")
        body = unsnappy(snappy, 1 << 30)
        rows = loki_rows(body, NOW, MAX_LEN)
        assert rows is not None and len(rows.time_ns) == 1000
        assert_same(body)
    assert loki_rows(warm_up_request(), NOW, MAX_LEN) is not None
    assert_same(warm_up_request())


def _promtail_like(n: int) -> push_pb2.PushRequest:
    """Streams whose labels fill columns (host, job, level), keep fields, and collide with
    structured metadata; entries with and without a time, metadata or a line."""
    req = push_pb2.PushRequest()
    for s, labels in enumerate(
        (
            '{job="varlogs", host="node-1", level="warn", env="prod"}',
            '{app="api", instance="10.0.0.1:9100", filename="/var/log/a.log"}',
            '{service_name="svc", detected_level="ERROR", time="label-time", message="m"}',
            '{env="esc\\"aped\\n", a_b="é"}',
        )
    ):
        stream = req.streams.add(labels=labels)
        for i in range(n):
            entry = stream.entries.add(line=f'stream {s} line {i} é "quoted" \\ \n' if i % 5 else "")
            if i % 7:
                entry.timestamp.seconds, entry.timestamp.nanos = divmod(NOW - i, 10**9)
            if i % 3 == 0:
                entry.structuredMetadata.add(name="trace_id", value=f"t{i}")
                entry.structuredMetadata.add(name="env", value="from-metadata")  # a label's name
            if i % 4 == 1:
                entry.structuredMetadata.add(name="host", value=f"meta-host-{i}")  # a column's name
                entry.structuredMetadata.add(name="level", value=("info", "WARN", "err", "5")[i // 4 % 4])
    return req


def test_promtail_shaped_requests_take_the_shortcut_and_match():
    body = _promtail_like(40).SerializeToString()
    assert loki_rows(body, NOW, MAX_LEN) is not None
    assert_same(body)


def test_what_the_shortcut_leaves_goes_the_general_path():
    cases = []
    for change in (
        lambda e: setattr(e.timestamp, "seconds", 5),  # before 1973: RFC 3339 text
        lambda e: e.structuredMetadata.add(name="level", value="notalevel"),  # a severity that is none
        lambda e: [e.structuredMetadata.add(name="k", value=v) for v in "ab"],  # a name twice
        lambda e: setattr(e, "line", "x" * 20000),  # might pass max_len
    ):
        req = _promtail_like(3)
        change(req.streams[1].entries[1])
        cases.append(req.SerializeToString())
    bad_labels = push_pb2.PushRequest()
    bad_labels.streams.add(labels="not labels").entries.add(line="x")
    for body in cases:
        assert loki_rows(body, NOW, MAX_LEN) is None
        assert_same(body)
    assert loki_rows(bad_labels.SerializeToString(), NOW, MAX_LEN) is None
    # A long entry is cut at max_len and flagged, as the API cuts frames.
    assert_same(cases[-1], max_len=4096)


def test_a_damaged_request_frame_is_one_plain_row():
    batch = _flagged(b"\x0a\xff\xff")
    assert len(batch.time) == 1 and batch.flags[0] & ROW_PARSE_FALLBACK
    assert batch.msg_data.tobytes() == b"\x0a\xff\xff"


def test_a_request_without_entries_gives_no_rows():
    req = push_pb2.PushRequest()
    req.streams.add(labels='{app="a"}')
    assert loki_rows(req.SerializeToString(), NOW, MAX_LEN) is None
    assert len(_flagged(req.SerializeToString()).time) == 0


# --- generated requests ---------------------------------------------------------------------

texts = st.text(st.characters(codec="utf-8"), max_size=8) | st.sampled_from(
    ["", "INFO", "warn", "Warning", "critical", "notaname", "é", "3", "level", "host"]
)
# Mostly plain names, some that name a column, a key the frame sets itself, or a prefixed one.
names = st.sampled_from(
    ["a", "b", "a.b", "host", "hostname", "instance", "app", "job", "service_name", "level", "severity",
     "detected_level", "msg", "message", "time", "timestamp", "env", "metadata.env", "label.time", "log", "é"]
)  # fmt: skip
label_names = st.sampled_from(["a", "b", "host", "job", "app", "level", "env", "time", "msg", "instance", "x.y"])
# What the shortcut takes: no severity names (their values here are mostly not levels).
common_names = st.sampled_from(["a", "b", "a.b", "host", "job", "env", "metadata.env", "msg", "trace_id", "é"])
common_label_names = st.sampled_from(["a", "b", "host", "job", "app", "env", "time", "instance", "x.y"])


@st.composite
def requests(draw, common: bool) -> bytes:
    """A request; `common`: of the shape the shortcut takes, short of repeated names."""
    req = push_pb2.PushRequest()
    for _ in range(draw(st.integers(1, 3))):
        labels = draw(st.dictionaries(common_label_names if common else label_names, texts, max_size=4))
        text = "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items() if '"' not in v and "\\" not in v) + "}"
        stream = req.streams.add(labels=text)
        for _ in range(draw(st.integers(1 if common else 0, 4))):
            entry = stream.entries.add(line=draw(texts))
            odd_times = [] if common else [86_400]
            seconds = draw(st.sampled_from([0, NOW // 10**9, NOW // 10**9 + 1, *odd_times]))
            nanos = draw(st.sampled_from([0, 1, 999_999_999]))
            # 0 s and 0 ns is no time (the receive time); 0 s and 1 ns is 1970
            entry.timestamp.seconds, entry.timestamp.nanos = seconds, 0 if common and not seconds else nanos
            for name in draw(st.lists(common_names if common else names, max_size=3, unique=common)):
                entry.structuredMetadata.add(name=name, value=draw(texts))
    return req.SerializeToString()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests(common=False))
def test_generated_requests_match_the_general_path(body):
    assert_same(body)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests(common=True))
def test_generated_common_requests_match_the_general_path(body):
    assert_same(body)


def test_promtail_shaped_requests_mostly_take_the_shortcut():
    """The oracle tests mean something only if the shortcut runs: requests of the shape
    Promtail and Alloy send take it."""
    rng = np.random.default_rng(3)
    taken = sum(
        loki_rows(_promtail_like(int(rng.integers(1, 20))).SerializeToString(), NOW, MAX_LEN) is not None
        for _ in range(20)
    )
    assert taken == 20
