"""`| unpack_json` and `| unpack_logfmt`: flattening against a reference over generated JSON,
logfmt round trips of generated pairs, bad input left alone, and both through the executor."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.query.errors import QueryError
from engine.query.language.parser import parse
from engine.query.stages.unpack_json import unpack
from engine.query.stages.unpack_logfmt import parse_logfmt

keys = st.text(alphabet="abcxyz_", min_size=1, max_size=4)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.text(max_size=8),
    st.floats(allow_nan=False, allow_infinity=False),
)
json_values = st.recursive(
    scalars, lambda ch: st.one_of(st.lists(ch, max_size=3), st.dictionaries(keys, ch, max_size=3)), max_leaves=8
)


def flatten(obj: dict, prefix: str = "") -> dict[str, str]:
    """Reference: nested objects to dotted names; strings as text, the rest as compact JSON."""
    out: dict[str, str] = {}
    for k, v in obj.items():
        if isinstance(v, dict) and v:
            out.update(flatten(v, prefix + k + "."))
        elif isinstance(v, str):
            out[prefix + k] = v
        else:
            out[prefix + k] = json.dumps(v, separators=(",", ":"), ensure_ascii=False)
    return out


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(keys, json_values, max_size=5))
def test_json_flattens_like_the_reference(obj):
    got = unpack(json.dumps(obj))
    want = flatten(obj)
    assert got is not None and got.keys() == want.keys()
    for k, v in want.items():
        # numbers may be spelled differently (1e-05 vs 1e-5): compare what they mean
        assert got[k] == v or json.loads(got[k]) == json.loads(v)


@given(st.text(max_size=20))
def test_json_that_is_not_an_object_gives_nothing(text):
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        assert unpack(text) is None


logfmt_values = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8)


def render_logfmt(pairs: dict[str, str]) -> str:
    out = []
    for k, v in pairs.items():
        bare = v and not any(c.isspace() or c in '"=\\' for c in v)
        out.append(f"{k}={v}" if bare else f"{k}={json.dumps(v)}")
    return " ".join(out)


@given(st.dictionaries(keys, logfmt_values, max_size=5))
def test_logfmt_round_trips(pairs):
    assert parse_logfmt(render_logfmt(pairs)) == pairs


def test_logfmt_forms():
    assert parse_logfmt('a=1 b="x y" c d= =e f="q\\"u" g="open') == {
        "a": "1",
        "b": "x y",
        "c": "",
        "d": "",
        "f": 'q"u',
        "g": "open",
    }
    assert parse_logfmt("  ") == {}
    assert parse_logfmt("a=1 a=2") == {"a": "2"}


@given(st.text(max_size=30))
def test_logfmt_never_fails(text):
    assert isinstance(parse_logfmt(text), dict)


@pytest.mark.parametrize(
    "query, message",
    [
        ("* | unpack_json fields", "expected '\\(' and a list of fields"),
        ("* | unpack_json junk", "unexpected 'junk' in unpack_json"),
        ("* | unpack_logfmt result_prefix x", "result_prefix needs a quoted prefix"),
        ("* | unpack_json if (", "expected a filter"),
    ],
)
def test_bad_stages_are_named(query, message):
    with pytest.raises(QueryError, match=message):
        parse(query)


def test_unpack_json_through_the_executor(run):
    assert run("app:nginx | unpack_json | fields status, duration_ms") == [{"status": "500", "duration_ms": "x"}]
    out = run('* | unpack_json result_prefix "j." | filter j.status:>=500 | fields msgid, j.status')
    assert out == [{"msgid": "r7", "j.status": "500"}]
    # Not JSON: left as it is (the row is still there, with no new field).
    out = run("app:sshd | unpack_json | fields msgid, status")
    assert out == [{"msgid": "r2", "status": None}, {"msgid": "r1", "status": None}]
    out = run("* | math 1 as one | unpack_json from nosuch | stats count() by (one)")
    assert out == [{"one": 1, "count()": 7}]


def test_unpack_logfmt_through_the_executor(run):
    out = run('app:app | unpack_logfmt fields (msg, level) result_prefix "l_" | fields msgid, l_msg, l_level, l_user')
    assert out == [
        {"msgid": "r4", "l_msg": "done", "l_level": "info", "l_user": None},
        {"msgid": "r3", "l_msg": "upstream timeout", "l_level": "error", "l_user": None},
    ]
    out = run("* | unpack_logfmt | stats count() by (level)")
    assert out == [{"level": None, "count()": 5}, {"level": "error", "count()": 1}, {"level": "info", "count()": 1}]
    out = run('* | unpack_logfmt if (severity:err) result_prefix "e_" | filter e_user:* | fields e_user')
    assert out == [{"e_user": "root"}]
