"""engine/parse/json_rows.py shape plans: byte-identical columns to the general path (the oracle)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import generate
from engine.parse.json_keys import DEFAULT_ROLES, KeyRoles
from engine.parse.json_rows import CHUNK_ROWS, MAX_PLANS, decode_json_rows

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


# Nested documents: Filebeat's shape and its neighbours. Rows of a batch share a shape, or share
# only their top-level keys (the plan of the first row's shape must then not take the others).
nested_keys = st.one_of(
    role_keys,
    st.sampled_from(["name", "level", "file", "path", "agent", "version", "a.b", "é", "\u2028"]),
)
nested_values = st.recursive(
    st.one_of(scalars, st.just({}), st.just([]), st.just([{"k": {"x": 1}}])),
    lambda inner: st.dictionaries(nested_keys, inner, min_size=1, max_size=3),
    max_leaves=12,
)
nested_objects = st.dictionaries(nested_keys, nested_values, min_size=1, max_size=6)


def deep(levels: int) -> dict:
    obj: dict = {"leaf": "x"}
    for k in range(levels):
        obj = {f"k{k}": obj, "v": k}
    return obj


def varied(base: dict, swap: dict) -> dict:
    """`base` with each top-level value that `swap` has replaced: same top-level keys, other
    nesting or values."""
    return {k: swap.get(k, v) for k, v in base.items()}


@settings(max_examples=80, deadline=None)
@given(nested_objects, st.lists(st.tuples(nested_objects, st.integers(0, 5)), max_size=5))
def test_nested_plans_match_the_general_path(base, others):
    rows = [as_row(base, 0)]
    for swap, tweak in others:
        rows.append(as_row(base, tweak))  # the same shape, maybe duplicated or cut
        rows.append(as_row(varied(base, swap), tweak % 2))
    assert_same(rows)


@pytest.mark.slow  # 200 generated batches
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nested_objects, st.lists(st.tuples(nested_objects, st.integers(0, 5)), max_size=8))
def test_nested_plans_match_the_general_path_slow(base, others):
    test_nested_plans_match_the_general_path.hypothesis.inner_test(base, others)


def test_nested_odd_documents():
    filebeat = generate.ecs_documents(3, seed=7)
    rows = [
        *filebeat,
        # the same top-level keys, nested otherwise: another key, a missing one, other order
        b'{"@timestamp":"2023-11-14T22:13:20Z","message":"m","log":{"level":"warn","file":{"path":"/a","x":1}},'
        b'"host":{"name":"h"},"service":{"name":"s"},"process":{"pid":1},"agent":{"version":"8","type":"fb"},'
        b'"ecs":{"version":"8.0.0"}}',
        b'{"@timestamp":"2023-11-14T22:13:20Z","message":"m","log":{"level":"warn"},"host":"plain",'
        b'"service":{"name":"s"},"process":{"pid":1},"agent":{},"ecs":{"version":"8.0.0"}}',
        b'{"@timestamp":"2023-11-14T22:13:20Z","message":{"text":"m"},"log":{"level":7,"file":{}},'
        b'"host":{"name":null},"service":{"name":["s"]},"process":{"pid":{"n":1}},"agent":[],'
        b'"ecs":{"version":"\\u00e9\\ud83d\\ude00"}}',
        # values the columns refuse, reached through nested names
        b'{"log":{"level":"verbose","file":{"path":"/p"}},"host":{"name":true},"message":"m"}',
        b'{"log":{"level":"info","file":{"path":"/p"}},"host":{"name":"h"},"message":"m"}',
        b'{"log":{"level":"info"},"host":{"name":"h","ip":"10.0.0.1"},"service":{"name":"s","x":{}}}',
        b'{"log":"text","host":{"name":"h"},"service":{"name":"s"}}',
        b'{"log":{"file":{"path":"/p"}},"_msg":"m","_time":"1700000000","date":1}',
        # keys with dots beside the same names nested, empty objects, arrays, nulls
        b'{"host.name":"a","host":{"name":"b"},"log.level":"warn","log":{"level":"info"},"a.b":1,"a":{"b":2}}',
        b'{"a":{},"b":{"c":{}},"c":[{"d":1}],"d":null,"e":{"f":null,"g":[]}}',
        b'{"a":{"b":{"c":{"d":{"e":1}}}},"message":"m"}',
        # duplicate keys, nested and at the top
        b'{"host":{"name":"a","name":"b"},"log":{"level":"info"},"log":{"level":"warn","x":1}}',
        b'{"service":{"name":"s"},"service":"plain","message":"m"}',
        # unicode escapes in keys and values
        b'{"h\\u00e9":{"n\\u0000":"\\u00e9"},"message":"\\ud83d\\ude00","host":{"name":"\\u2028"}}',
        # nesting past the plan's depth and past the flattening's
        json.dumps(deep(7)).encode(),
        json.dumps(deep(12)).encode(),
        json.dumps(deep(20)).encode(),
        json.dumps({"message": "m", "x": deep(15)}).encode(),
        b"{}",
    ]
    assert_same(rows)
    for row in rows:  # each alone, and each repeated: a batch of one shape
        assert_same([row])
        assert_same([row] * 3)


def test_filebeat_batches_mixed_with_flat_rows():
    docs = generate.ecs_documents(300, seed=11)
    flat = generate.json_messages(300, seed=12)
    assert_same([row for pair in zip(docs, flat) for row in pair])
    assert_same(docs[:150] + [b'{"host":{"name":"h"},"x":1}'] + docs[150:])


def _one_change(doc: dict, path: tuple[str, ...], change) -> dict:
    """A copy of `doc` with `change` applied to the object at `path`."""
    out = json.loads(json.dumps(doc))
    node = out
    for key in path:
        node = node[key]
    change(node)
    return out


FILEBEAT_CHANGES = [
    (("log", "file"), lambda n: n.update(x=1)),  # a key more in a one-key object
    (("host",), lambda n: n.update(ip="10.0.0.1")),
    (("host",), lambda n: n.update(nom=n.pop("name"))),  # another key in a one-key object
    (("agent",), lambda n: n.pop("version")),  # a key less in a two-key object
    (("agent",), lambda n: n.update(type=n.pop("type"))),  # the same keys, other order
    ((), lambda n: n.update(host="plain")),  # an object become a value
    ((), lambda n: n.update(host={})),
    ((), lambda n: n.update(log={"level": "warn"})),
    (("process",), lambda n: n.update(pid={"n": 1})),  # a value become an object
    (("process",), lambda n: n.update(pid={})),
    (("process",), lambda n: n.update(pid=[1, {"a": 2}])),
    (("log",), lambda n: n.update(level=None)),  # values the columns refuse
    (("service",), lambda n: n.update(name=True)),
    ((), lambda n: n.update(message={"text": "m"})),
    ((), lambda n: n.update({"@timestamp": "yesterday"})),
]


@pytest.mark.parametrize("change", range(len(FILEBEAT_CHANGES)))
def test_filebeat_documents_with_one_change(change):
    docs = [json.loads(row) for row in generate.ecs_documents(3, seed=5)]
    path, how = FILEBEAT_CHANGES[change]
    odd = json.dumps(_one_change(docs[1], path, how)).encode()
    rows = [json.dumps(d).encode() for d in docs]
    assert_same([rows[0], odd, rows[2]])  # the plan of the first row's shape meets the odd one
    assert_same([odd, rows[0], rows[2]])  # the odd one's plan meets the usual shape


def test_batches_longer_than_a_chunk():
    # rows are decoded a chunk at a time: shapes change across a chunk's edge, bad rows on it
    docs = generate.ecs_documents(CHUNK_ROWS + 40, seed=13)
    flat = generate.json_messages(40, seed=14)
    rows = docs[: CHUNK_ROWS - 2] + [b'{"a":[1'] + flat + [b"[1]"] + docs[CHUNK_ROWS - 2 :]
    assert_same(rows)
    assert_same(generate.json_messages(2 * CHUNK_ROWS + 1, seed=15))
