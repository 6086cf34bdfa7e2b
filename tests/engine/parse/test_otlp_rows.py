"""engine/parse/otlp_rows.py: an OTLP request frame parsed straight to columns gives the column
batch, byte for byte, that the general path gives (engine.push.otlp's JSON frames through the
JSON row decoder, the oracle); what the shortcut does not take goes the general path."""

from __future__ import annotations

import time

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from bench import generate, push_bodies
from engine.ipc.raw_batch import OTLP_REQUEST
from engine.parse.otlp_rows import _unique, otlp_rows, warm_up_request
from engine.push import otlp
from engine.store.rows import ROW_PARSE_FALLBACK
from tests.engine.parse.column_batches import MAX_LEN, NOW, assert_same_both_ways, flagged_batch


def _flagged(body: bytes, max_len: int = MAX_LEN):
    return flagged_batch(body, OTLP_REQUEST, max_len)


def assert_same(body: bytes, max_len: int = MAX_LEN) -> None:
    assert_same_both_ways(otlp.protobuf, body, OTLP_REQUEST, max_len)


def test_the_bench_requests_take_the_shortcut_and_match():
    lines = generate.json_messages(3000, seed=7)
    for k in range(0, 3000, 1000):
        body = push_bodies.body("otlp", b"\n".join(lines[k : k + 1000]) + b"\n")
        assert otlp_rows(body, NOW, MAX_LEN) is not None
        assert (otlp.parser_check(body, MAX_LEN) or (0, 0))[0] == 1000
        assert_same(body)
    assert otlp_rows(warm_up_request(), NOW, MAX_LEN) is not None
    assert_same(warm_up_request())


def _sdk_like(n: int) -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    for key, value in (("service.name", "svc"), ("host.name", "h1"), ("deployment.environment", "prod")):
        rl.resource.attributes.add(key=key).value.string_value = value
    rl.resource.attributes.add(key="process.pid").value.int_value = 4242
    sl = rl.scope_logs.add()
    sl.scope.name, sl.scope.version = "app.module", "1.0"
    sl.scope.attributes.add(key="scope.attr").value.bool_value = False
    for i in range(n):
        r = sl.log_records.add(time_unix_nano=NOW - i, severity_number=(9, 13, 17, 14)[i % 4])
        r.severity_text = ("INFO", "WARN", "error", "WARN2")[i % 4]
        r.body.string_value = f'order {i} é "quoted" \\ \n tab\t'
        r.trace_id, r.span_id = bytes(range(i % 3, 16 + i % 3)), bytes(range(8))
        r.event_name = "evt" if i % 2 else ""
        r.attributes.add(key="order.id").value.int_value = -i
        r.attributes.add(key="ok").value.bool_value = bool(i % 2)
        r.attributes.add(key="host.name")  # no value: null; renamed, the resource has it
        r.attributes.add(key="deployment.environment").value.string_value = "record"
    return req


def test_an_sdk_shaped_request_takes_the_shortcut_and_matches():
    body = _sdk_like(50).SerializeToString()
    assert otlp_rows(body, NOW, MAX_LEN) is not None
    assert_same(body)


def _level_without_severity(r) -> None:
    r.severity_number, r.severity_text = 0, ""
    r.attributes.add(key="level").value.string_value = "error"


def test_what_the_shortcut_leaves_goes_the_general_path():
    base = _sdk_like(3)
    cases = []
    for change in (
        lambda r: setattr(r.attributes[0].value, "double_value", 1.5),
        lambda r: r.attributes[0].value.array_value.values.add(),
        lambda r: r.attributes[0].value.kvlist_value.values.add(key="a"),
        lambda r: setattr(r.body, "bytes_value", b"\x00"),
        lambda r: setattr(r, "time_unix_nano", 5),  # before 1973: RFC 3339 text
        lambda r: r.attributes.add(key="order.id").value.SetInParent(),  # a name twice
        _level_without_severity,  # a column's name, the column empty
        lambda r: setattr(r.body, "string_value", "x" * 20000),  # might pass max_len
    ):
        req = ExportLogsServiceRequest()
        req.CopyFrom(base)
        change(req.resource_logs[0].scope_logs[0].log_records[1])
        cases.append(req.SerializeToString())
    for k, body in enumerate(cases):
        assert otlp_rows(body, NOW, MAX_LEN) is None
        # The API decodes what the wire walk does not take itself; the rest goes to a parser,
        # which finds that it does not fit and makes the general path's frames.
        assert (otlp.parser_check(body, MAX_LEN) is None) == (k in (0, 1, 2, 3, 7))
        assert_same(body)
    # A long record is cut at max_len and flagged, as the API cuts frames.
    assert_same(cases[-1], max_len=4096)


@given(st.lists(st.integers(-(2**40), 2**40) | st.integers(-3, 40), min_size=1, max_size=50))
def test_unique_is_numpys(values):
    values = np.array(values, np.int64)
    want, got = np.unique(values, return_inverse=True), _unique(values)
    assert want[0].tolist() == got[0].tolist() and want[1].tolist() == got[1].tolist()


def test_a_damaged_request_frame_is_one_plain_row():
    batch = _flagged(b"\x0a\xff\xff")
    assert len(batch.time) == 1 and batch.flags[0] & ROW_PARSE_FALLBACK
    assert batch.msg_data.tobytes() == b"\x0a\xff\xff"


# --- generated requests ---------------------------------------------------------------------

texts = st.text(st.characters(codec="utf-8"), max_size=8) | st.sampled_from(
    ["", "INFO", "warn", "Warning", "FATAL", "critical", "ERROR3", "notaname", "é", "level", "host", "severity"]
)
names = st.sampled_from(
    ["a", "b", "a.b", "host", "host.name", "service.name", "pid", "level", "msg", "time", "attr.a", "scope.name",
     "severity", "trace_id", "é", "", "app", "log", "x.y"]
)  # fmt: skip


def _any_value(draw, value, depth: int = 0) -> None:
    kind = draw(
        st.sampled_from(["string", "int", "bool", "none", "string", "int", "double", "bytes", "array", "kvlist"])
    )
    if kind == "string":
        value.string_value = draw(texts)
    elif kind == "int":
        value.int_value = draw(st.integers(-(2**63), 2**63 - 1))
    elif kind == "bool":
        value.bool_value = draw(st.booleans())
    elif kind == "double":
        value.double_value = draw(st.floats(allow_nan=False, width=64))
    elif kind == "bytes":
        value.bytes_value = draw(st.binary(max_size=6))
    elif kind == "array" and depth < 2:
        for _ in range(draw(st.integers(0, 2))):
            _any_value(draw, value.array_value.values.add(), depth + 1)
    elif kind == "kvlist" and depth < 2:
        for _ in range(draw(st.integers(0, 2))):
            _any_value(draw, value.kvlist_value.values.add(key=draw(names)).value, depth + 1)


# Mostly plain names, a few that name a column or a field the frame sets itself.
common_names = st.sampled_from(
    ["a", "b", "a.b", "pid", "attr.a", "scope.name", "trace_id", "é", "", "x.y", "k", "severity", "level", "host.name"]
)


def _attributes(draw, attributes, common: bool) -> None:
    listed = st.lists(common_names, max_size=3, unique=True) if common else st.lists(names, max_size=3)
    for key in draw(listed):
        kv = attributes.add(key=key)
        if common:
            kind = draw(st.sampled_from(["string", "int", "bool", "none"]))
            if kind == "string":
                kv.value.string_value = draw(texts)
            elif kind == "int":
                kv.value.int_value = draw(st.integers(-(2**63), 2**63 - 1))
            elif kind == "bool":
                kv.value.bool_value = draw(st.booleans())
        else:
            _any_value(draw, kv.value)


@st.composite
def requests(draw, common: bool) -> bytes:
    """A request; `common`: of the shape the shortcut takes, short of names and repeats."""
    req = ExportLogsServiceRequest()
    for _ in range(draw(st.integers(1, 2))):
        rl = req.resource_logs.add()
        if draw(st.booleans()):
            rl.resource.attributes.add(key="service.name").value.string_value = draw(texts)
        if draw(st.booleans()):
            rl.resource.attributes.add(key="host.name").value.string_value = draw(texts)
        _attributes(draw, rl.resource.attributes, common)
        for _ in range(draw(st.integers(1, 2))):
            sl = rl.scope_logs.add()
            sl.scope.name = draw(texts)
            sl.scope.version = draw(texts)
            _attributes(draw, sl.scope.attributes, common)
            for _ in range(draw(st.integers(1 if common else 0, 4))):
                r = sl.log_records.add()
                odd_times = [] if common else [2**63 + 5, 86_400 * 10**9]
                r.time_unix_nano = draw(st.sampled_from([0, NOW, NOW + 1, *odd_times]))
                r.observed_time_unix_nano = draw(st.sampled_from([0, NOW - 7]))
                r.severity_number = draw(st.sampled_from([0, 1, 9, 12, 13, 17, 21, 24, 25, 99, -1]))
                r.severity_text = draw(texts)
                if common or draw(st.booleans()):
                    if draw(st.booleans()):
                        r.body.string_value = draw(texts)
                else:
                    _any_value(draw, r.body)
                if draw(st.booleans()):
                    r.trace_id = draw(st.binary(max_size=16))
                    r.span_id = draw(st.binary(max_size=8))
                r.event_name = draw(st.sampled_from(["", "e", "é"]))
                _attributes(draw, r.attributes, common)
    return req.SerializeToString()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests(common=False))
def test_generated_requests_match_the_general_path(body):
    assert_same(body)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests(common=True))
def test_generated_common_requests_match_the_general_path(body):
    assert_same(body)


def test_common_requests_mostly_take_the_shortcut():
    """The oracle tests above mean something only if the shortcut runs: most requests of the
    common shape, with plain names, take it."""
    taken = 0
    rng = np.random.default_rng(3)
    for _ in range(50):
        req = _sdk_like(int(rng.integers(1, 20)))
        taken += otlp_rows(req.SerializeToString(), time.time_ns(), MAX_LEN) is not None
    assert taken == 50
