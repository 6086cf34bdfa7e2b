"""docs/query.md is the language's manual: every example in its ```query blocks parses, and every
one in its ```query-error blocks is refused, so the page cannot drift from the parser."""

from __future__ import annotations

import pathlib
import re

import pytest

from engine.query.errors import QueryError
from engine.query.execute import PreparedQuery

DOC = pathlib.Path(__file__).resolve().parents[3] / "docs" / "query.md"
_BLOCK = re.compile(r"^```(query|query-error)\n(.*?)^```", re.M | re.S)


def _examples(kind: str) -> list[str]:
    return [
        line
        for lang, body in _BLOCK.findall(DOC.read_text())
        if lang == kind
        for line in body.splitlines()
        if line.strip()
    ]


def test_the_page_has_examples():
    assert len(_examples("query")) >= 40 and len(_examples("query-error")) >= 5


@pytest.mark.parametrize("query", _examples("query"))
def test_example_parses(query):
    PreparedQuery(query)


@pytest.mark.parametrize("query", _examples("query-error"))
def test_refused_example_is_refused(query):
    with pytest.raises(QueryError):
        PreparedQuery(query)
