"""engine/parse/json_rows.py shape plans: byte-identical columns to the general path (the oracle)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import generate
from engine.parse.json_keys import DEFAULT_ROLES, KeyRoles
from engine.parse.json_rows import MAX_PLANS, decode_json_rows

RECV = 1_700_000_000 * 10**9


def spans(rows: list[bytes]) -> tuple[bytes, np.ndarray, np.ndarray]:
    lens = np.array([len(r) for r in rows], np.int64)
    ends = np.cumsum(lens)
    return b"".join(rows), ends - lens, ends


def assert_same(rows: list[bytes], roles: KeyRoles = DEFAULT_ROLES) -> None:
    """The plan path and the general path give equal columns, byte for byte, twice over (the
    second time every shape's plan is remembered already)."""
    buf, starts, ends = spans(rows)
    want = decode_json_rows(buf, starts, ends, RECV, roles, fast=False)
    for _ in range(2):
        got = decode_json_rows(buf, starts, ends, RECV, roles)
        for name, a, b in zip(want._fields, want, got):
            if isinstance(a, np.ndarray):
                assert a.dtype == b.dtype and a.tolist() == b.tolist(), name
            else:
                assert a == b, name
                assert [type(x) for x in a] == [type(x) for x in b], name


# Keys that fill columns (built-in and other shippers' names) beside ordinary ones, so that
# generated objects hit every role, its duplicates and its unusable values.
role_keys = st.sampled_from(
    ["level", "severity", "host", "hostname", "service", "app", "appname", "msg", "message", "time",
     "timestamp", "@timestamp", "_msg", "log", "_time", "date", "host.name", "service.name", "log.level"]
)  # fmt: skip
keys = st.one_of(role_keys, st.text("xyzé.", min_size=1, max_size=3))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6),
    st.sampled_from(
        [
            "info",
            "WARN",
            " error ",
            "3",
            "60",
            "1700000000",
            "2023-11-14T22:13:20.5Z",
            "2023-11-14 22:13:20",
            "✓ ünïcode",
            "verbose",
        ]
    ),  # fmt: skip
    st.sampled_from([3, 30, 42, 1_700_000_000, 1_700_000_000_123, 1.7e9, 1.7e18, 10**19]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=2), st.dictionaries(keys, inner, max_size=3)),
    max_leaves=6,
)
objects = st.dictionaries(keys, values, max_size=7)


def as_row(obj: dict, tweak: int) -> bytes:
    text = json.dumps(obj, ensure_ascii=tweak % 2 == 0).encode()
    if tweak == 2 and len(obj) > 1:  # a duplicate key: the decoder keeps the last value
        first = next(iter(obj))
        text = text[:-1] + b"," + json.dumps(first).encode() + b":1}"
    if tweak == 3:  # truncated: this row is not JSON, its neighbours are
        text = text[: len(text) // 2]
    return text


@pytest.mark.slow  # 300 generated batches
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(objects, st.integers(0, 5)), min_size=1, max_size=8))
def test_plans_match_the_general_path(batch):
    assert_same([as_row(obj, tweak) for obj, tweak in batch])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(objects, st.integers(0, 5)), min_size=1, max_size=4))
def test_plans_match_the_general_path_fast_tier(batch):
    assert_same([as_row(obj, tweak) for obj, tweak in batch])


def test_same_shape_with_values_the_columns_refuse():
    # one shape; each row after the first has a value its column cannot use, so it stays a field
    rows = [
        b'{"time":"2023-11-14T22:13:20Z","level":"info","host":"a","msg":"m","n":1}',
        b'{"time":"yesterday","level":"info","host":"a","msg":"m","n":1}',
        b'{"time":1700000000,"level":"verbose","host":"a","msg":"m","n":1}',
        b'{"time":1700000000,"level":6,"host":true,"msg":["x"],"n":{"k":[1]}}',
        b'{"time":1e300,"level":"6","host":7,"msg":null,"n":"\\u00e9"}',
        b'{"time":"2023-11-14T22:13:20Z","level":"info","host":"a","msg":"m","n":1',
        b"[1,2]",
        b'{"_msg":"a","_time":"1700000000","host.name":"h","x":1}',
        b'{"_msg":5,"_time":"1700000000","host.name":"h","x":1}',
        b'{"log":{"level":"warn"},"message":"m","host":{"name":"h"}}',
        b"{}",
    ]
    assert_same(rows)


def test_bench_shapes_and_request_names():
    assert_same(generate.json_messages(200, seed=3) + generate.ecs_documents(200, seed=4))
    assert_same(generate.json_messages(50, seed=5), KeyRoles.build(requested={"msg": ["app"]}))


def test_many_shapes_start_the_memory_over():
    roles = KeyRoles.build()
    rows = [b'{"k%d":1,"msg":"m"}' % k for k in range(MAX_PLANS + 10)]
    assert_same(rows, roles)
    assert 0 < len(roles.plans) <= MAX_PLANS
