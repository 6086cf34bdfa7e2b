"""engine/api/es_bulk.py: an Elasticsearch bulk body read into the documents to store and the
per-item answers; bodies that are not bulk requests are BulkErrors naming the line."""

from __future__ import annotations

import json

import pytest

from engine.api.es_bulk import BulkError, answer, plan_bulk


def docs(body: bytes, plan) -> list[bytes]:
    return [body[s:e] for s, e in zip(plan.starts.tolist(), plan.ends.tolist())]


def items(plan) -> list[tuple[str, dict]]:
    return [next(iter(json.loads(it).items())) for it in plan.items]


def test_index_and_create_are_stored_with_their_index_and_id():
    body = (
        b'{"index":{"_index":"a","_id":"1"}}\n{"message":"one"}\r\n'
        b'{"create":{}}\n  {"message":"two"}  \n'
        b'{"create":{"_id":7}}\n{"message":"three"}'  # no final newline
    )
    plan = plan_bulk(body, 1000, "url-index")
    assert docs(body, plan) == [b'{"message":"one"}', b'{"message":"two"}', b'{"message":"three"}']
    got = items(plan)
    assert [(k, v["_index"], v.get("_id"), v["status"]) for k, v in got] == [
        ("index", "a", "1", 201),
        ("create", "url-index", None, 201),
        ("create", "url-index", "7", 201),
    ]
    assert plan.errors == 0 and plan.actions == 3
    reply = json.loads(answer(plan, 3))
    assert reply["took"] == 3 and reply["errors"] is False and len(reply["items"]) == 3


def test_refused_items_are_answered_each_and_not_stored():
    body = (
        b'{"delete":{"_index":"a","_id":"x"}}\n'
        b'{"update":{"_id":"y"}}\n{"doc":{}}\n'
        b'{"index":{}}\n"text"\n'
        b'{"index":{}}\n{"ok":1}\n'
        b'{"index":{}}\n{"unclosed":1\n'
    )
    plan = plan_bulk(body, 1000)
    assert docs(body, plan) == [b'{"ok":1}']
    got = items(plan)
    assert [(k, v["status"], v.get("error", {}).get("type")) for k, v in got] == [
        ("delete", 400, "illegal_argument_exception"),
        ("update", 400, "illegal_argument_exception"),
        ("index", 400, "document_parsing_exception"),
        ("index", 201, None),
        ("index", 400, "document_parsing_exception"),
    ]
    assert got[0][1]["_index"] == "a" and got[1][1]["_index"] == "logjet"
    assert "[5:1]" in got[2][1]["error"]["reason"]  # line 5 of the body
    assert plan.errors == 4 and json.loads(answer(plan, 0))["errors"] is True


def test_a_long_document_is_cut_and_flagged_not_refused():
    body = b'{"index":{}}\n{"message":"' + b"x" * 100 + b'"}\n'
    plan = plan_bulk(body, 40)
    assert len(docs(body, plan)[0]) == 40 and plan.flags.tolist() == [1] and plan.errors == 0


@pytest.mark.parametrize(
    "body,needle",
    [
        (b"", "no requests added"),
        (b"\n \n", "no requests added"),
        (b"[1]\n{}\n", "line [1]"),
        (b'{"index":{}}\n{}\n\n{"index":{}}\n{}\n{"frob":{}}\n{}\n', "line [6]"),
        (b'{"index":{}}\n', "has no document"),
        (b'{"index":[]}\n{}\n', "expected an object"),
        (b"{}\n{}\n", "expected one action"),
    ],
)
def test_bodies_that_are_not_bulk_requests(body, needle):
    with pytest.raises(BulkError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        plan_bulk(body, 1000)


def test_many_distinct_action_lines():
    """Each action with its own `_id` (Fluent Bit's Generate_ID): nothing is cached wrongly."""
    body = b"".join(b'{"create":{"_id":"%d"}}\n{"n":%d}\n' % (i, i) for i in range(3000))
    plan = plan_bulk(body, 1000)
    assert [v["_id"] for _, v in items(plan)] == [str(i) for i in range(3000)]
    assert docs(body, plan)[2999] == b'{"n":2999}'


def test_one_repeated_action_and_the_line_by_line_reading_agree():
    """Shippers repeat one action line: read with numpy, it must give what reading line by line
    gives (here forced by one different action line)."""
    docs_ = [b'{"n":%d}' % i for i in range(50)] + [b"[not an object]"]
    same = b"".join(b'{"create":{"_index":"x"}}\n' + d + b"\n" for d in docs_)
    mixed = same.replace(b'{"create":{"_index":"x"}}\n{"n":7}', b'{"create":{"_index":"x" }}\n{"n":7}')
    a, b = plan_bulk(same, 1000), plan_bulk(mixed, 1000)
    assert docs(same, a) == docs(mixed, b) == docs_[:50]
    assert a.items == b.items and (a.errors, a.actions) == (b.errors, b.actions) == (1, 51)
    assert items(a)[50][1]["error"]["type"] == "document_parsing_exception"


def test_filter_path_trims_the_answer_as_shippers_ask():
    from engine.api.es_bulk import response_filter

    body = b'{"create":{"_index":"x"}}\n{"a":1}\n{"create":{"_index":"x"}}\n"no"\n'
    top, fields = response_filter("errors,items.*.error,items.*.status")  # Filebeat's
    assert (top, fields) == ({"errors", "items"}, {"error", "status"})
    reply = json.loads(answer(plan_bulk(body, 1000, item_fields=fields), 5, top))
    assert reply["errors"] is True and "took" not in reply
    assert reply["items"][0] == {"create": {"status": 201}}
    assert set(reply["items"][1]["create"]) == {"status", "error"}
    assert response_filter("took") == ({"took"}, frozenset())
    assert json.loads(answer(plan_bulk(body, 1000), 5, frozenset({"took"}))) == {"took": 5}
    assert response_filter("items.*.*") == ({"items"}, None)
    assert response_filter("items.**.status") == (None, None)  # not understood: the whole answer
    assert response_filter("hits.total") == (None, None)
