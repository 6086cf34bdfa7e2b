"""engine/parse/json_struct.py and native_kernels/json_order.py: rows decoded into Structs of a
known shape, flat or nested, give the general path's columns byte for byte, whatever the next
chunk holds."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import generate
from engine.parse.json_struct import StructShape, order_free, shape_keys
from engine.parse.json_keys import KeyRoles
from engine.parse.json_rows import CHUNK_ROWS, decode_json_rows
from engine.parse.json_shapes import plan_of, shape_of
from native_kernels.json_order import keys_in_order, plain_key
from tests.engine.parse.test_json_rows_plans import (
    FILEBEAT_CHANGES,
    RECV,
    _one_change,
    assert_same,
    nested_objects,
    role_keys,
    scalars,
    spans,
    values,
    varied,
)


def order_of(rows: list[bytes], keys: list[str], nested: bool = False) -> list[bool]:
    lens = np.array([len(r) for r in rows], np.int64)
    ends = np.cumsum(lens)
    data = np.frombuffer(b"".join(rows), np.uint8)
    return keys_in_order(data, ends - lens, ends, [k.encode() for k in keys], nested).tolist()


def test_keys_in_order_reads_the_top_level_only():
    keys = ["a", "b"]
    rows = [
        b'{"a":1,"b":2}',
        b' { "a" : {"b":1,"a":[2,"}"]} , "b" : "\\"a\\"" } ',
        b'{"b":2,"a":1}',  # another order
        b'{"\\u0061":1,"b":2}',  # "a" written with an escape
        b'{"a":1,"a":3,"b":2}',  # a key repeated before the last one
        b'{"a":1,"b":2,"a":3}',  # repeated after it: a dict keeps the first place too
        b'{"ab":1,"b":2}',
    ]
    assert order_of(rows, keys) == [True, True, False, False, False, True, False]


def test_keys_in_order_nested_reads_every_object_outside_arrays():
    keys = ["a", "b", "c", "d"]  # the shape ("a", ("b", ("c",)), "d")
    rows = [
        b'{"a":1,"b":{"c":2},"d":3}',
        b' { "a" : "{\\"x\\":1}" , "b" : { "c" : [ {"z":1}, "]" ] } , "d" : {} } ',
        b'{"a":1,"b":{"c":2},"d":{"e":1}}',  # an object where the shape keeps a value whole
        b'{"a":1,"d":3,"b":{"c":2}}',  # another order at the top
        b'{"a":1,"b":{"c":2,"c":3},"d":3}',  # a key repeated in the nested object
        b'{"a":1,"b":{"c":2},"d":3,"a":4}',  # repeated after the last key: a mismatch when nested
        b'{"a":1,"b":{"\\u0063":2},"d":3}',  # a nested key written with an escape
    ]
    assert order_of(rows, keys, nested=True) == [True, True, False, False, False, False, False]


def test_shape_keys_are_in_the_order_of_the_bytes():
    doc = json.loads(generate.ecs_documents(1)[0])
    shape = shape_of(doc)
    assert shape_keys(shape) == [m.group(1) for m in re.finditer(r'"([^"]+)":', json.dumps(doc))]
    plan = plan_of(shape)
    assert plan is not None and StructShape.fits(shape, plan)
    message_object = shape_of({"message": {"text": "m"}, "host": {"name": "h"}})
    plan = plan_of(message_object)  # the message taken whole: an object a Struct cannot give as a dict
    assert plan is not None and not StructShape.fits(message_object, plan)


def test_plain_keys():
    assert plain_key("host.name") and plain_key("é")
    assert not plain_key('a"b') and not plain_key("a\\b") and not plain_key("a\nb")


def fresh() -> KeyRoles:
    return KeyRoles.build()


def test_bench_rows_take_the_struct_path():
    roles = fresh()
    rows = generate.json_messages(2 * CHUNK_ROWS + 7, seed=3)
    assert_same(rows, roles)
    assert roles.struct is not None and roles.struct.shape == ("time", "host", "app", "level", "pid", "msg")


flat_keys = st.lists(
    st.one_of(role_keys, st.text("xyzé.", min_size=1, max_size=3)), min_size=1, max_size=6, unique=True
)


def variant(keys: list[str], vals: list, how: int, other) -> bytes:
    """A row of the shape `keys`, or one thing away from it (`how`)."""
    pairs = list(zip(keys, vals))
    if how == 1:  # another value, maybe an object or a list
        pairs[0] = (pairs[0][0], other)
    elif how == 2:  # another order
        pairs.reverse()
    elif how == 3:  # a key missing
        pairs.pop()
    elif how == 4:  # a key more
        pairs.append(("zz_extra", other))
    elif how == 5:  # a key written with an escape
        escaped = json.dumps(keys[0]).replace(keys[0][0], "\\u%04x" % ord(keys[0][0]), 1)
        return json.dumps(dict(pairs), ensure_ascii=False).replace(f'"{keys[0]}"', escaped, 1).encode()
    elif how == 6:  # a key twice
        return (json.dumps(dict(pairs))[:-1] + f", {json.dumps(keys[0])}: {json.dumps(other)}}}").encode()
    elif how == 7:  # not JSON
        return json.dumps(dict(pairs)).encode()[:-1]
    elif how == 8:  # not an object
        return json.dumps(vals).encode()
    return json.dumps(dict(pairs), ensure_ascii=how == 9).encode()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    flat_keys,
    st.data(),
    st.lists(st.tuples(st.integers(0, 9), values, st.integers(0, CHUNK_ROWS - 1)), max_size=6),
)
def test_struct_path_matches_the_general_path(keys, data, changes):
    base = data.draw(st.lists(scalars, min_size=len(keys), max_size=len(keys)))
    same = json.dumps(dict(zip(keys, base))).encode()
    rows = [same] * (2 * CHUNK_ROWS)
    for how, other, at in changes:  # the second chunk meets the shape the first one taught
        rows[CHUNK_ROWS + at] = variant(keys, base, how, other)
    assert_same(rows, fresh())
    taught = fresh()  # the first chunk alone teaches the shape: the second one took the Structs
    buf, starts, ends = spans(rows[:CHUNK_ROWS])
    decode_json_rows(buf, starts, ends, RECV, taught)
    assert taught.struct is not None and taught.struct.shape == tuple(keys)


def test_a_chunk_of_another_shape_forgets_the_struct():
    roles = fresh()
    first = generate.json_messages(CHUNK_ROWS, seed=5)
    other = [json.dumps({"msg": f"m{i}", "x": i}).encode() for i in range(CHUNK_ROWS)]
    assert_same(first + other + first, roles)
    assert roles.struct is not None and roles.struct.shape[-1] == "msg"


def test_order_matters_with_two_fields_or_two_names_for_a_column():
    def free(keys: tuple[str, ...]) -> bool:
        plan = plan_of(keys)
        assert plan is not None
        return order_free(keys, plan)

    assert free(("time", "host", "app", "level", "pid", "msg"))
    assert free(("msg",)) and free(("a",))
    assert not free(("msg", "a", "b"))  # the fields keep the object's order
    assert not free(("level", "severity", "msg"))  # the first usable level wins
    assert not free(("msg", "_msg"))  # so does the first usable message
    assert not free(("time", "date"))


def test_filebeat_documents_take_the_struct_path():
    roles = fresh()
    rows = generate.ecs_documents(2 * CHUNK_ROWS + 7, seed=3)
    assert_same(rows, roles)
    assert roles.struct is not None and roles.struct.shape == shape_of(json.loads(rows[0]))


@pytest.mark.parametrize("change", range(len(FILEBEAT_CHANGES)))
def test_a_taught_filebeat_shape_meets_one_change(change):
    docs = [json.loads(row) for row in generate.ecs_documents(CHUNK_ROWS + 3, seed=9)]
    path, how = FILEBEAT_CHANGES[change]
    rows = [json.dumps(d, separators=(",", ":")).encode() for d in docs]
    rows[CHUNK_ROWS + 1] = json.dumps(_one_change(docs[CHUNK_ROWS + 1], path, how)).encode()
    roles = fresh()
    assert_same(rows, roles)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(nested_objects, st.lists(st.tuples(nested_objects, st.integers(0, CHUNK_ROWS - 1)), max_size=4))
def test_nested_struct_path_matches_the_general_path(base, changes):
    same = json.dumps(base).encode()
    rows = [same] * (2 * CHUNK_ROWS)
    for swap, at in changes:  # the second chunk meets the shape the first one taught
        rows[CHUNK_ROWS + at] = json.dumps(varied(base, swap)).encode()
    assert_same(rows, fresh())
