"""`| extract` and `| extract_regexp`: the matcher against a reference built on `str.partition`,
round trips of rendered patterns, and the stages through the executor on real parts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.query.errors import QueryError
from engine.query.language.parser import parse
from engine.query.stages.extract import compile_pattern, match

ALPHABET = 'ab =:<>"x,\\'
texts = st.text(alphabet=ALPHABET, max_size=30)
literals = st.text(alphabet="ab =:,x", min_size=1, max_size=3)


def reference(head: str, parts: list[tuple[str, str]], s: str) -> dict[str, str] | None:
    """The same matching, without quoted values: partition at each literal's first occurrence."""
    rest = s
    if head:
        _, found, rest = rest.partition(head)
        if not found:
            return None
    out = {}
    for name, after in parts:
        if after:
            value, found, rest = rest.partition(after)
            if not found:
                return None
        else:
            value, rest = rest, ""
        if name != "_":
            out[name] = value
    return out


@given(
    head=st.text(alphabet="ab =:,x", max_size=3),
    afters=st.lists(literals, min_size=1, max_size=3),
    last_open=st.booleans(),
    s=st.text(alphabet="ab =:,x", max_size=30),
)
def test_matches_like_the_reference(head, afters, last_open, s):
    if last_open:
        afters = afters[:-1] + [""]
    names = [f"f{k}" for k in range(len(afters))]
    parts = list(zip(names, afters))
    pattern = compile_pattern(head + "".join(f"<{n}>{a}" for n, a in parts))
    assert match(pattern, s) == reference(head, parts, s)


@given(
    values=st.lists(st.text(alphabet="xyz0 ", max_size=6), min_size=1, max_size=4), noise=st.text("xyz ", max_size=5)
)
def test_rendered_values_come_back(values, noise):
    """Values free of the literals, rendered into the pattern, are found again."""
    names = [f"v{k}" for k in range(len(values))]
    literal = [f"|{k}=" for k in range(len(values))]
    pattern = compile_pattern("".join(f"{lit}<{n}>" for lit, n in zip(literal, names)) + ";")
    s = noise + "".join(f"{lit}{v}" for lit, v in zip(literal, values)) + ";" + noise
    assert match(pattern, s) == dict(zip(names, values))


def test_quoted_values_are_unquoted_unless_plain():
    p = compile_pattern("msg=<msg> user=<user>")
    assert match(p, 'msg="a \\"b\\" c" user=root') == {"msg": 'a "b" c', "user": "root"}
    plain = compile_pattern("msg=<plain:msg> user=<user>")
    assert match(plain, 'msg="a b" user=root') == {"msg": '"a b"', "user": "root"}
    assert match(compile_pattern("ip=<ip> <_> port=<port>"), "ip=1.2.3.4 x y port=22") == {
        "ip": "1.2.3.4",
        "port": "22",
    }
    assert match(compile_pattern("<all>"), "anything") == {"all": "anything"}
    assert match(compile_pattern("a<x>"), "b") is None


@pytest.mark.parametrize(
    "query, message",
    [
        ('* | extract "no placeholder"', "no <field> placeholder"),
        ('* | extract "<a><b>;"', "right before another placeholder"),
        ("* | extract", "needs a quoted pattern"),
        ('* | extract "<a>" junk', "unexpected 'junk' in extract"),
        ('* | extract_regexp "(a)"', "needs named groups"),
        ('* | extract_regexp "(?P<a>"', "bad regex"),
    ],
)
def test_bad_stages_are_named(query, message):
    with pytest.raises(QueryError, match=message):
        parse(query)


def test_extract_through_the_executor(run):
    out = run('app:sshd | extract "for <user> from <ip> port <port> " | fields msgid, user, ip, port')
    assert out == [
        {"msgid": "r2", "user": "admin", "ip": "10.0.0.2", "port": "22"},
        {"msgid": "r1", "user": "root", "ip": "10.0.0.1", "port": "22"},
    ]
    # Fields only where the pattern matched; later stages group and filter on them.
    assert run('* | extract "port <port> " | stats count() by (port)') == [
        {"port": None, "count()": 5},
        {"port": "22", "count()": 2},
    ]
    assert run('* | extract "from <ip> " | filter ip:10.0.0.1 | fields msgid') == [{"msgid": "r1"}]
    out = run('* | extract if (host:web-2) "for <who> from" | fields msgid, who | filter who:*')
    assert out == [{"msgid": "r2", "who": "admin"}]
    out = run('* | extract "<h>-<n>" from host | filter n:* | sort by (n desc, h) | fields host, h, n | limit 2')
    assert out == [{"host": "test-3", "h": "test", "n": "3"}, {"host": "web-2", "h": "web", "n": "2"}]


def test_extract_options(run):
    out = run('msgid:r3 | extract "level=<user> " keep_original_fields | fields user')
    assert out == [{"user": "root"}]  # the row's own user stays
    out = run('msgid:r3 | extract "level=<level> " result_prefix "x_" | fields x_level, level')
    assert out == [{"x_level": "error", "level": "error"}]
    assert run('msgid:r3 | extract "duration_ms=<d> user" skip_empty_results | fields d') == [{"d": "3000"}]


def test_extract_regexp_through_the_executor(run):
    out = run('* | extract_regexp "(?P<user>\\\\w+) from (?P<ip>[0-9.]+)" | filter ip:* | fields msgid, user, ip')
    assert out == [
        {"msgid": "r2", "user": "admin", "ip": "10.0.0.2"},
        {"msgid": "r1", "user": "root", "ip": "10.0.0.1"},
    ]
